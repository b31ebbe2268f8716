/**
 * npm run bench:install: installs the real Kubeflow 1.9.1 render (kubectl kustomize example of
 * kubeflow/manifests v1.9.1, 569 objects) on the local control plane, each method from an empty
 * cluster, and prints time to all-ready, API requests sent and the ratios:
 *   kfops            install-kubeflow as a workflow step runs it (a separate process; the committed
 *                    dist bundle with KFOPS_ACTION_FROM_DIST=1, else the source through tsx)
 *   csa 20, csa 2    the documented loop, client-side: while ! kubectl apply -f render.yaml; do sleep N; done
 *   ssa 20, ssa 2    the same loop with server-side apply: kubectl apply --server-side --force-conflicts
 * kfops waits until every workload is ready; so that all end in the same state, each loop is followed by
 * `kubectl wait` until every Deployment and StatefulSet has all its replicas available. (`kubectl wait
 * --for=condition=Available` would not do: a one-replica Deployment is "Available" with zero pods
 * available, because the default maxUnavailable of 25% rounds down to zero.)
 *
 * The lower bound is the readiness critical path of kfops's own plan (planInstall): the longest chain of
 * gates whose providers are workloads (a webhook Service's pods must be ready before what the webhook
 * intercepts is applied), counted in workload-readiness links, plus the link of the final wait for every
 * workload, times the per-workload readiness delay of the scenario. No installer that honours the gates
 * can finish sooner.
 *
 * It also reports what one client-side `kubectl apply -f render.yaml` does on an empty cluster: the
 * custom resources refused because their CRD is not established yet, and the largest
 * last-applied-configuration annotation it wrote against the 262,144-byte limit. A SYNTHETIC case (the
 * generated bundle's InferenceService CRD, padded to the size of later KServe releases) shows the
 * "Too long" error that users of larger KServe CRDs meet; the real 1.9.1 render does not hit it.
 *
 * Webhooks are answered by stand-ins on the Services' loopback ClusterIPs once their workloads are ready,
 * and CA bundles are injected as cert-manager's cainjector, istiod, Knative and the training operator do
 * (test/support/webhook-standin.ts, ca-injector.ts), for every method alike.
 *
 * Requests are counted from the API server's audit log (KFOPS_AUDIT=1), for the installer's own
 * identity only (a client certificate for user bench-installer), so controllers, kwok, the stand-ins and
 * the CA injector are not counted. The bench runs its own control plane (own directory, ports and
 * Service range), so a cluster started with `npm run cluster:up` is left alone.
 *
 * Two scenarios: pods ready as soon as they are scheduled (the simulated nodes' default), and pods that
 * take 30 s (minReadySeconds: 30 on every workload of an in-memory copy of the render), which simulates
 * image pull and container start.
 *
 * Options: --runs N (default 1) repeats each method and reports the median; --methods
 * kfops,csa20,csa2,ssa20,ssa2 picks methods (all by default); --startup-seconds 0,30 picks the scenarios.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { applyObjects } from '../src/kube/apply.js';
import { KubeClient } from '../src/kube/client.js';
import { planInstall } from '../src/kube/plan.js';
import { describeRef, type KubeObject } from '../src/kube/types.js';
import { startCaInjector } from '../test/support/ca-injector.js';
import { generateKubeflowBundle } from '../test/support/kubeflow-bundle.js';
import { kubeflowRenderPath, loadKubeflowRender } from '../test/support/kubeflow-render.js';
import { runAction } from '../test/support/run-action.js';
import { MUTATED_BY, startWebhookStandins } from '../test/support/webhook-standin.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = process.env['KFOPS_CACHE'] ?? join(homedir(), '.cache', 'kfops');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const runs = Number(arg('--runs') ?? 1);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${arg('--runs')}`);

const ALL_METHODS = ['kfops', 'csa20', 'csa2', 'ssa20', 'ssa2'];
const chosen = (arg('--methods') ?? ALL_METHODS.join(',')).split(',');
for (const m of chosen)
  if (!ALL_METHODS.includes(m))
    throw new Error(`--methods takes ${ALL_METHODS.join(', ')} separated by commas, got ${m}`);

const scenarios = (arg('--startup-seconds') ?? '0,30').split(',').map(Number);
if (scenarios.some((n) => !Number.isInteger(n) || n < 0))
  throw new Error(`--startup-seconds takes whole seconds separated by commas, got ${arg('--startup-seconds')}`);

const fromDist = process.env['KFOPS_ACTION_FROM_DIST'] !== '0';
const clusterEnv = {
  ...process.env,
  KFOPS_CLUSTER_DIR: join(cache, 'cluster-bench'),
  KFOPS_ETCD_PORT: '22790',
  KFOPS_API_PORT: '25443',
  KFOPS_CM_PORT: '21257',
  KFOPS_SCHEDULER_PORT: '21259',
  KFOPS_SERVICE_CIDR: '127.0.144.0/20',
  KFOPS_AUDIT: '1',
} as NodeJS.ProcessEnv;
const INSTALLER = 'bench-installer';
const LIMIT = 262_144;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'];
const bin = execFileSync('bash', [join(root, 'test/cluster/build.sh'), 'kubernetes'], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'ignore'],
})
  .trim()
  .split('\n')
  .pop() as string;
const workDir = join(cache, 'bench');
mkdirSync(workDir, { recursive: true });

const cluster = (script: string, ...args: string[]): string =>
  execFileSync('bash', [join(root, 'test/cluster', script), ...args], {
    env: clusterEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();

/** The render as installed in a scenario: an in-memory copy, with minReadySeconds on every workload when pods take time. */
function renderFor(startupSeconds: number): { objects: KubeObject[]; file: string } {
  if (startupSeconds === 0) return { objects: loadKubeflowRender(), file: kubeflowRenderPath() };
  const objects = loadKubeflowRender();
  for (const o of objects)
    if (WORKLOAD_KINDS.includes(o.kind)) (o['spec'] as Record<string, unknown>)['minReadySeconds'] = startupSeconds;
  const file = join(workDir, `kubeflow-1.9.1-ready-after-${startupSeconds}s.yaml`);
  writeFileSync(file, objects.map((o) => dump(o, { lineWidth: -1, noRefs: true })).join('---\n'));
  return { objects, file };
}

/**
 * The readiness critical path of kfops's plan: links = the longest chain of workload readiness that
 * gates must wait for, plus the final wait's link (every workload ready). Returns the chain by name.
 */
function readinessCriticalPath(objects: readonly KubeObject[]): { links: number; chain: string[] } {
  const plan = planInstall(objects);
  const byRef = new Map(plan.objects.map((p) => [describeRef(p.ref), p] as const));
  // Links of workload readiness that must complete before an object can be applied.
  const memo = new Map<string, { links: number; chain: string[] }>();
  const before = (key: string): { links: number; chain: string[] } => {
    const known = memo.get(key);
    if (known) return known;
    const p = byRef.get(key);
    let best = { links: 0, chain: [] as string[] };
    for (const g of p?.gates ?? []) {
      for (const r of plan.gates.get(g)?.providers ?? []) {
        const k = describeRef(r);
        if (!byRef.has(k)) continue;
        const upstream = before(k);
        const workload = WORKLOAD_KINDS.includes(r.kind);
        const candidate = {
          links: upstream.links + (workload ? 1 : 0),
          chain: workload ? [...upstream.chain, `${r.namespace}/${r.name}`] : upstream.chain,
        };
        if (candidate.links > best.links) best = candidate;
      }
    }
    memo.set(key, best);
    return best;
  };
  let worst = { links: 0, chain: [] as string[] };
  for (const p of plan.objects) {
    if (!WORKLOAD_KINDS.includes(p.ref.kind)) continue;
    const b = before(describeRef(p.ref));
    if (b.links + 1 > worst.links)
      worst = { links: b.links + 1, chain: [...b.chain, `${p.ref.namespace}/${p.ref.name}`] };
  }
  return worst;
}

interface Cluster {
  admin: KubeClient;
  dir: string;
  /** Kubeconfig of the installer identity (system:masters), whose requests are counted. */
  installer: string;
}

/** A fresh, empty control plane with a default StorageClass. */
async function freshCluster(): Promise<Cluster> {
  try {
    cluster('down.sh');
  } catch {
    // Nothing was running.
  }
  cluster('up.sh');
  const kubeconfig = cluster('status.sh');
  const dir = dirname(kubeconfig);
  const installer = cluster('user-kubeconfig.sh', INSTALLER, 'system:masters');
  const admin = KubeClient.fromSources({ kubeconfig });
  await applyObjects(admin, [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'kwok-volume', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: 'kwok.x-k8s.io/volume',
      volumeBindingMode: 'Immediate',
    } as never,
  ]);
  return { admin, dir, installer };
}

/** Stand-ins for the webhook pods and the CA injectors, on the admin identity, for as long as f runs. */
async function withStandins<T>(
  c: Cluster,
  objects: readonly KubeObject[],
  f: () => Promise<T>,
): Promise<{ result: T; problems: string[] }> {
  const standins = startWebhookStandins(c.admin, c.dir, objects);
  const injector = startCaInjector(c.admin, c.dir);
  try {
    return { result: await f(), problems: standins.problems };
  } finally {
    await injector.stop();
    await standins.stop();
  }
}

interface AuditEvent {
  auditID: string;
  verb: string;
  user: { username: string };
}

/** Requests the installer identity sent, by verb, from the audit log. */
function countRequests(dir: string): { total: number; byVerb: Record<string, number> } {
  const seen = new Set<string>();
  const byVerb: Record<string, number> = {};
  for (const line of readFileSync(join(dir, 'audit.log'), 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as AuditEvent;
    if (e.user.username !== INSTALLER || seen.has(e.auditID)) continue;
    seen.add(e.auditID);
    byVerb[e.verb] = (byVerb[e.verb] ?? 0) + 1;
  }
  return { total: seen.size, byVerb };
}

function sh(command: string, env: NodeJS.ProcessEnv, logFile: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      writeFileSync(logFile, `${out}\n--- stderr ---\n${stderr}`);
      resolve({ code: code ?? 1, stderr });
    });
  });
}

/**
 * kubectl's environment for one cluster: the installer's kubeconfig and a discovery cache of its own.
 * kubectl caches API discovery per host:port for hours; every bench cluster has the same address, so a
 * shared cache would let a later method map custom kinds the fresh cluster does not serve yet (a CI
 * runner starts with no cache).
 */
const kubectlEnv = (c: Cluster): NodeJS.ProcessEnv => ({
  ...process.env,
  KUBECONFIG: c.installer,
  KUBECACHEDIR: join(c.dir, 'kubectl-cache'),
  PATH: `${bin}:${process.env['PATH'] ?? ''}`,
});

interface Measure {
  method: string;
  /** Until the last object was accepted. */
  applyMs: number;
  /** Until every workload was ready. */
  totalMs: number;
  requests: number;
  byVerb: Record<string, number>;
  attempts?: number;
  failures?: string[];
  /** Pods in sidecar-injected namespaces that the injector never saw (created before its webhook). */
  uninjected: number;
  pods: number;
}

/**
 * Pods in namespaces labelled istio-injection=enabled without the injector's mark: on a real cluster
 * these run without an Istio sidecar (no mTLS identity, so AuthorizationPolicies deny their traffic).
 */
async function uninjectedPods(c: Cluster): Promise<{ uninjected: number; pods: number }> {
  const namespaces = await c.admin.list(
    { apiVersion: 'v1', kind: 'Namespace' },
    { labelSelector: 'istio-injection=enabled' },
  );
  let pods = 0;
  let uninjected = 0;
  for (const ns of namespaces.items) {
    const list = await c.admin.list({ apiVersion: 'v1', kind: 'Pod', namespace: ns.metadata.name });
    pods += list.items.length;
    uninjected += list.items.filter((p) => p.metadata.annotations?.[MUTATED_BY] !== 'istio-system/istiod').length;
  }
  return { uninjected, pods };
}

async function kfops(c: Cluster, render: { objects: KubeObject[]; file: string }): Promise<Measure> {
  const t0 = performance.now();
  const trace: string[] = [];
  const run = await runAction(
    'install-kubeflow',
    { 'manifests-file': render.file, timeout: '10m' },
    { KUBECONFIG: c.installer, KFOPS_ACTION_FROM_DIST: fromDist ? '1' : '0' },
    (line) => trace.push(`${((performance.now() - t0) / 1000).toFixed(2).padStart(6)} ${line}`),
  );
  const totalMs = performance.now() - t0;
  writeFileSync(join(workDir, 'kfops.log'), `${trace.join('\n')}\n`);
  if (run.code !== 0)
    throw new Error(`install-kubeflow failed (exit ${run.code}); log in ${join(workDir, 'kfops.log')}`);
  const outputs = run.outputs;
  if (Number(outputs['created']) !== render.objects.length)
    throw new Error(`install-kubeflow created ${outputs['created']} objects, expected ${render.objects.length}`);
  // The action applies and waits in one pass; apply ≈ total here.
  const { total, byVerb } = countRequests(c.dir);
  return { method: 'kfops', applyMs: totalMs, totalMs, requests: total, byVerb, ...(await uninjectedPods(c)) };
}

/** One wait per namespace and replica count: `kubectl wait` until every workload has all its replicas available. */
function waitCommand(objects: readonly KubeObject[]): string {
  const groups = new Map<string, string[]>();
  for (const o of objects) {
    if (!['Deployment', 'StatefulSet'].includes(o.kind)) continue;
    const replicas = (o['spec'] as { replicas?: number }).replicas ?? 1;
    const key = `${o.metadata.namespace ?? 'default'} ${replicas}`;
    groups.set(key, [...(groups.get(key) ?? []), `${o.kind.toLowerCase()}/${o.metadata.name}`]);
  }
  return [...groups]
    .map(([key, names]) => {
      const [ns, replicas] = key.split(' ');
      return `kubectl wait -n ${ns} --for=jsonpath='{.status.availableReplicas}'=${replicas} --timeout=10m ${names.join(' ')} >/dev/null`;
    })
    .join(' && ');
}

/** The distinct reasons failed attempts gave, shortened. */
function failureReasons(stderr: string): string[] {
  const reasons = new Map<string, number>();
  for (const l of stderr.split('\n')) {
    if (!/^Error from server|^error:|resource mapping not found/.test(l)) continue;
    const reason = /failed calling webhook "([^"]+)"/.test(l)
      ? `webhook not reachable: ${/failed calling webhook "([^"]+)"/.exec(l)?.[1]}`
      : /no matches for kind/.test(l)
        ? 'no matches for kind (CRD not established yet)'
        : /Too long/.test(l)
          ? 'metadata.annotations: Too long'
          : l.slice(0, 120);
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  return [...reasons].map(([r, n]) => `${n}x ${r}`);
}

async function loop(
  c: Cluster,
  render: { objects: KubeObject[]; file: string },
  sleepSeconds: number,
  serverSide: boolean,
): Promise<Measure> {
  const env = kubectlEnv(c);
  const label = `${serverSide ? 'ssa' : 'csa'}-${sleepSeconds}`;
  const apply = serverSide
    ? `kubectl apply --server-side --force-conflicts -f '${render.file}'`
    : `kubectl apply -f '${render.file}'`;
  const t0 = performance.now();
  const applied = await sh(
    `n=0; while n=$((n + 1)); echo "attempt $n" >&2; ! ${apply}; do sleep ${sleepSeconds}; done`,
    env,
    join(workDir, `loop-${label}.log`),
  );
  const applyMs = performance.now() - t0;
  if (applied.code !== 0) throw new Error(`the kubectl loop exited ${applied.code}`);
  const waited = await sh(waitCommand(render.objects), env, join(workDir, `loop-${label}-wait.log`));
  const totalMs = performance.now() - t0;
  if (waited.code !== 0) throw new Error(`kubectl wait exited ${waited.code}: ${waited.stderr.slice(-500)}`);
  const attempts = (applied.stderr.match(/^attempt \d+$/gm) ?? []).length;
  const { total, byVerb } = countRequests(c.dir);
  return {
    method: `loop ${serverSide ? 'server-side' : 'client-side'} sleep ${sleepSeconds}`,
    applyMs,
    totalMs,
    requests: total,
    byVerb,
    attempts,
    failures: failureReasons(applied.stderr),
    ...(await uninjectedPods(c)),
  };
}

/**
 * One client-side `kubectl apply -f render.yaml` on an empty cluster: its exit code, the custom resources
 * refused for want of their CRD, and the largest last-applied annotation it wrote (all CRDs are created
 * in that pass; they are the largest objects).
 */
async function clientSideOnce(c: Cluster, render: { objects: KubeObject[]; file: string }): Promise<string[]> {
  const r = await sh(`kubectl apply -f '${render.file}'`, kubectlEnv(c), join(workDir, 'client-side-once.log'));
  const noMatches = r.stderr.match(/no matches for kind "[^"]+"/g) ?? [];
  const kinds = new Map<string, number>();
  for (const m of noMatches) {
    const kind = m.slice('no matches for kind "'.length, -1);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const otherErrors = r.stderr
    .split('\n')
    .filter((l) => /^Error from server|^error:/.test(l) && !/no matches for kind/.test(l));
  const crds = await c.admin.list({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' });
  const sizes = crds.items
    .map((o) => ({ name: o.metadata.name, bytes: Buffer.byteLength(o.metadata.annotations?.[LAST_APPLIED] ?? '') }))
    .sort((a, b) => b.bytes - a.bytes);
  const kserve = sizes.find((s) => s.name === 'inferenceservices.serving.kserve.io');
  return [
    `client-side kubectl apply -f (one pass) of the real render on an empty cluster: exit ${r.code}`,
    `  ${noMatches.length} object(s) refused with "no matches for kind ... ensure CRDs are installed first" (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`,
    `  ${otherErrors.length} other error(s)${otherErrors.length ? `: ${[...new Set(otherErrors.map((l) => l.slice(0, 140)))].slice(0, 3).join(' | ')}` : ''}`,
    `  ${crds.items.length} CRDs created; largest last-applied annotation ${sizes[0]?.bytes ?? 0} bytes (${sizes[0]?.name}); inferenceservices.serving.kserve.io ${kserve?.bytes ?? 'not created'} bytes; limit ${LIMIT}`,
  ];
}

/**
 * SYNTHETIC: the generated bundle's InferenceService CRD (padded past the limit, the size later KServe
 * releases reach), applied client-side: the "Too long" error users of those releases meet.
 */
async function clientSideTooLong(c: Cluster): Promise<string> {
  const crd = generateKubeflowBundle({}).find(
    (o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === 'inferenceservices.serving.kserve.io',
  ) as KubeObject;
  const file = join(workDir, 'synthetic-inferenceservices-crd.yaml');
  writeFileSync(file, dump(crd, { lineWidth: -1, noRefs: true }));
  const bytes = Buffer.byteLength(JSON.stringify(crd));
  // Remove the real CRD of the same name first, so the apply is a creation.
  await c.admin
    .remove({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crd.metadata.name })
    .catch(() => undefined);
  const r = await sh(`kubectl apply -f '${file}'`, kubectlEnv(c), join(workDir, 'client-side-synthetic.log'));
  const reason = r.stderr.trim().split('\n').pop() ?? '';
  return `SYNTHETIC (generated, not the 1.9.1 render): client-side kubectl apply of a ${bytes}-byte InferenceService CRD: exit ${r.code}\n  ${reason.length > 300 ? `${reason.slice(0, 150)} ... ${reason.slice(-150)}` : reason}`;
}

console.log(
  `bench:install: the real Kubeflow 1.9.1 render (${kubeflowRenderPath()}), ${runs} run(s) per method, each on an empty local control plane (kube-apiserver ${bin.split('/').at(-2)}); kfops from ${fromDist ? 'the committed dist bundle' : 'the source (tsx)'}`,
);
{
  const render = renderFor(0);
  const c0 = await freshCluster();
  const { result } = await withStandins(c0, render.objects, () => clientSideOnce(c0, render));
  for (const line of result) console.log(line);
  console.log(await clientSideTooLong(c0));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const METHODS: [string, (c: Cluster, render: { objects: KubeObject[]; file: string }) => Promise<Measure>][] = [
  ['kfops', kfops],
  ['csa20', (c, r) => loop(c, r, 20, false)],
  ['csa2', (c, r) => loop(c, r, 2, false)],
  ['ssa20', (c, r) => loop(c, r, 20, true)],
  ['ssa2', (c, r) => loop(c, r, 2, true)],
];

for (const startupSeconds of scenarios) {
  const render = renderFor(startupSeconds);
  const path = readinessCriticalPath(render.objects);
  const boundMs = path.links * startupSeconds * 1000;
  console.log(
    `\n== ${startupSeconds ? `pods ready ${startupSeconds} s after they start (minReadySeconds: ${startupSeconds} on every workload; simulates image pull and container start)` : 'pods ready as soon as they are scheduled'}`,
  );
  console.log(
    `lower bound (readiness critical path of kfops's plan): ${path.links} workload-readiness link(s) (${path.chain.join(' ready, then ')} ready; the last is the final wait's link) x ${startupSeconds} s = ${secs(boundMs)}`,
  );
  const results = new Map<string, Measure[]>();
  for (let r = 0; r < runs; r++) {
    for (const [name, method] of METHODS) {
      if (!chosen.includes(name)) continue;
      const c = await freshCluster();
      const { result: m, problems } = await withStandins(c, render.objects, () => method(c, render));
      results.set(name, [...(results.get(name) ?? []), m]);
      console.log(
        `run ${r + 1} ${m.method.padEnd(28)} applied ${secs(m.applyMs).padStart(7)}  all ready ${secs(m.totalMs).padStart(7)}  requests ${String(m.requests).padStart(5)}  pods without sidecar ${m.uninjected}/${m.pods}` +
          (m.attempts ? `  attempts ${m.attempts}${m.failures?.length ? ` (${m.failures.join('; ')})` : ''}` : ''),
      );
      if (problems.length) console.log(`  stand-in problems: ${problems.join('; ')}`);
    }
  }
  const summary = [...results.values()].map((ms) => ({
    method: ms[0]?.method as string,
    applyMs: median(ms.map((m) => m.applyMs)),
    totalMs: median(ms.map((m) => m.totalMs)),
    requests: median(ms.map((m) => m.requests)),
    byVerb: ms[0]?.byVerb ?? {},
    uninjected: `${median(ms.map((m) => m.uninjected))}/${ms[0]?.pods ?? 0}`,
  }));
  console.log('\nmethod                        applied   all ready  requests  no sidecar  (requests by verb)');
  for (const x of summary) {
    const verbs = Object.entries(x.byVerb)
      .sort((a, b) => b[1] - a[1])
      .map(([v, n]) => `${v} ${n}`)
      .join(', ');
    console.log(
      `${x.method.padEnd(28)} ${secs(x.applyMs).padStart(8)} ${secs(x.totalMs).padStart(10)} ${String(x.requests).padStart(9)} ${x.uninjected.padStart(11)}  (${verbs})`,
    );
  }
  const k = summary.find((x) => x.method === 'kfops');
  if (k) {
    console.log(
      boundMs > 0
        ? `kfops against the lower bound: ${secs(k.totalMs)} / ${secs(boundMs)} = ${ratio(k.totalMs, boundMs)} (1.00x is the best any gate-honouring installer can do)`
        : `kfops against the lower bound: the bound is 0 s (no readiness delay); all of kfops's ${secs(k.totalMs)} is API and controller work`,
    );
    console.log('ratios (baseline / kfops; above 1 means kfops is faster or sends fewer requests):');
    for (const x of summary) {
      if (x === k) continue;
      console.log(
        `  vs ${x.method.padEnd(28)} time to all ready ${ratio(x.totalMs, k.totalMs)}, requests ${ratio(x.requests, k.requests)}`,
      );
    }
  }
}
cluster('down.sh');
console.log(`\nlogs: ${workDir}`);
