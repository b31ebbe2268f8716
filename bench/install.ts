/**
 * npm run bench:install: installs the generated Kubeflow-shaped bundle (569 objects) on the local
 * control plane three ways, each from an empty cluster, and prints wall time, API requests sent and
 * the ratios:
 *   kfops          install-kubeflow (the committed dist bundle, as a workflow step runs it)
 *   loop sleep 20  the documented method adapted to server-side apply:
 *                  while ! kubectl apply --server-side --force-conflicts -f bundle.yaml; do sleep 20; done
 *   loop sleep 2   the same loop, tight
 *   loop 20 hooks first  the sleep-20 loop on the same objects with the webhook configurations moved
 *                  up front (after Namespaces and CRDs), so that no pod is created before the webhooks
 *                  that must see it (kustomize's order puts webhook configurations last: a plain loop's
 *                  first pass creates the workloads' pods before the sidecar injector exists)
 * kfops waits until every workload is ready; so that the three end in the same state, each loop is
 * followed by `kubectl wait` until every Deployment has its one replica available, and by
 * `kubectl rollout status` for the StatefulSet. (`kubectl wait --for=condition=Available` would not do:
 * a one-replica Deployment is "Available" with zero pods available, because the default maxUnavailable
 * of 25% rounds down to zero.)
 * It also shows that plain client-side `kubectl apply` cannot create the oversized KServe CRD.
 *
 * Requests are counted from the API server's audit log (KFOPS_AUDIT=1), for the installer's own
 * identity only (a client certificate for user bench-installer), so controllers, kwok and the webhook
 * stand-ins are not counted. The bench runs its own control plane (own directory and ports), so a
 * cluster started with `npm run cluster:up` is left alone.
 *
 * Two scenarios: pods ready as soon as they are scheduled (the simulated nodes' default), and pods that
 * take 30 s to become available (minReadySeconds on every workload, standing in for image pulls and
 * container start on fresh nodes), where a loop's re-runs meet webhooks that are not serving yet.
 *
 * Options: --runs N (default 1) repeats each method and reports the median; --methods kfops,loop20,loop2
 * picks methods (all by default; ratios need all three); --startup-seconds 0,30 picks the scenarios.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { applyObjects } from '../src/kube/apply.js';
import { KubeClient } from '../src/kube/client.js';
import type { KubeObject } from '../src/kube/types.js';
import { generateKubeflowBundle, WEBHOOK_BACKENDS } from '../test/support/kubeflow-bundle.js';
import { runAction } from '../test/support/run-action.js';
import { clusterCaBundle, MUTATED_BY, startWebhookStandins } from '../test/support/webhook-standin.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = process.env['KFOPS_CACHE'] ?? join(homedir(), '.cache', 'kfops');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 1;
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${process.argv[runsArg + 1]}`);

const methodsArg = process.argv.indexOf('--methods');
const ALL_METHODS = ['kfops', 'loop20', 'loop2', 'loop20h'];
const chosen = methodsArg > 0 ? (process.argv[methodsArg + 1] ?? '').split(',') : ALL_METHODS;
for (const m of chosen) if (!ALL_METHODS.includes(m)) throw new Error(`--methods takes ${ALL_METHODS.join(', ')} separated by commas, got ${m}`);

const startupArg = process.argv.indexOf('--startup-seconds');
const scenarios = (startupArg > 0 ? (process.argv[startupArg + 1] ?? '') : '0,30').split(',').map(Number);
if (scenarios.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--startup-seconds takes whole seconds separated by commas, got ${process.argv[startupArg + 1]}`);

const clusterEnv = {
  ...process.env,
  KFOPS_CLUSTER_DIR: join(cache, 'cluster-bench'),
  KFOPS_ETCD_PORT: '22790',
  KFOPS_API_PORT: '25443',
  KFOPS_CM_PORT: '21257',
  KFOPS_SCHEDULER_PORT: '21259',
  KFOPS_AUDIT: '1',
} as NodeJS.ProcessEnv;
const INSTALLER = 'bench-installer';
const bin = execFileSync('bash', [join(root, 'test/cluster/build.sh'), 'kubernetes'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop() as string;
const workDir = join(cache, 'bench');
mkdirSync(workDir, { recursive: true });

const cluster = (script: string, ...args: string[]): string =>
  execFileSync('bash', [join(root, 'test/cluster', script), ...args], { env: clusterEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

interface Cluster {
  admin: KubeClient;
  dir: string;
  /** Kubeconfig of the installer identity (system:masters), whose requests are counted. */
  installer: string;
  bundleFile: string;
  bundle: KubeObject[];
}

/** A fresh, empty control plane with a default StorageClass, and the bundle for its CA. */
async function freshCluster(startupSeconds: number): Promise<Cluster> {
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
  const bundle = generateKubeflowBundle({ caBundle: clusterCaBundle(dir), startupSeconds });
  // The loops' wait counts one available replica per Deployment.
  for (const o of bundle) if (o.kind === 'Deployment' && (o['spec'] as { replicas?: number }).replicas !== 1) throw new Error(`Deployment ${o.metadata.name} does not have 1 replica`);
  const bundleFile = join(workDir, 'kubeflow-bundle.yaml');
  writeFileSync(bundleFile, bundle.map((o) => dump(o, { lineWidth: -1, noRefs: true })).join('---\n'));
  return { admin, dir, installer, bundleFile, bundle };
}

interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string };
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
  const namespaces = await c.admin.list({ apiVersion: 'v1', kind: 'Namespace' }, { labelSelector: 'istio-injection=enabled' });
  let pods = 0;
  let uninjected = 0;
  for (const ns of namespaces.items) {
    const list = await c.admin.list({ apiVersion: 'v1', kind: 'Pod', namespace: ns.metadata.name });
    pods += list.items.length;
    uninjected += list.items.filter((p) => p.metadata.annotations?.[MUTATED_BY] !== 'istio-system/istiod').length;
  }
  return { uninjected, pods };
}

async function kfops(c: Cluster): Promise<Measure> {
  const t0 = performance.now();
  const trace: string[] = [];
  const run = await runAction('install-kubeflow', { 'manifests-file': c.bundleFile, timeout: '10m' }, { KUBECONFIG: c.installer, KFOPS_ACTION_FROM_DIST: '1' }, (line) =>
    trace.push(`${((performance.now() - t0) / 1000).toFixed(2).padStart(6)} ${line}`),
  );
  const totalMs = performance.now() - t0;
  writeFileSync(join(workDir, 'kfops.log'), `${trace.join('\n')}\n`);
  if (run.code !== 0) throw new Error(`install-kubeflow failed (exit ${run.code}); log in ${join(workDir, 'kfops.log')}`);
  const outputs = run.outputs;
  if (Number(outputs['created']) !== c.bundle.length) throw new Error(`install-kubeflow created ${outputs['created']} objects, expected ${c.bundle.length}`);
  // The action applies and waits in one pass; its duration output covers both, so apply ≈ total here.
  const { total, byVerb } = countRequests(c.dir);
  return { method: 'kfops', applyMs: totalMs, totalMs, requests: total, byVerb, ...(await uninjectedPods(c)) };
}

async function loop(c: Cluster, sleepSeconds: number, hooksFirst = false): Promise<Measure> {
  const env = { ...process.env, KUBECONFIG: c.installer, PATH: `${bin}:${process.env['PATH'] ?? ''}` };
  let file = c.bundleFile;
  if (hooksFirst) {
    const rank = (o: KubeObject): number => (o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : /WebhookConfiguration$/.test(o.kind) ? 2 : 3);
    const ordered = c.bundle.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map((x) => x.o);
    file = join(workDir, 'kubeflow-bundle-hooks-first.yaml');
    writeFileSync(file, ordered.map((o) => dump(o, { lineWidth: -1, noRefs: true })).join('---\n'));
  }
  const label = `${sleepSeconds}${hooksFirst ? '-hooks-first' : ''}`;
  const t0 = performance.now();
  const applied = await sh(
    `n=0; while n=$((n + 1)); echo "attempt $n" >&2; ! kubectl apply --server-side --force-conflicts -f '${file}'; do sleep ${sleepSeconds}; done`,
    env,
    join(workDir, `loop-${label}.log`),
  );
  const applyMs = performance.now() - t0;
  if (applied.code !== 0) throw new Error(`the kubectl loop exited ${applied.code}`);
  const waited = await sh(
    "kubectl wait --for=jsonpath='{.status.availableReplicas}'=1 deployment --all --all-namespaces --timeout=10m && kubectl rollout status statefulset/metacontroller -n kubeflow --timeout=10m",
    env,
    join(workDir, `loop-${label}-wait.log`),
  );
  const totalMs = performance.now() - t0;
  if (waited.code !== 0) throw new Error(`kubectl wait exited ${waited.code}: ${waited.stderr.slice(-500)}`);
  const attempts = (applied.stderr.match(/^attempt \d+$/gm) ?? []).length;
  // The distinct reasons the failed attempts gave, shortened.
  const failures = [
    ...new Set(
      applied.stderr
        .split('\n')
        .filter((l) => /^Error from server|^error:|resource mapping not found/.test(l))
        .map((l) =>
          /failed calling webhook "([^"]+)"/.test(l)
            ? `webhook not reachable: ${/failed calling webhook "([^"]+)"/.exec(l)?.[1]}`
            : /resource mapping not found .*kind "(\w+)"/.test(l)
              ? 'no matches for kind (CRD not established yet)'
              : l.slice(0, 120),
        ),
    ),
  ];
  const { total, byVerb } = countRequests(c.dir);
  return { method: `loop sleep ${sleepSeconds}${hooksFirst ? ' hooks first' : ''}`, applyMs, totalMs, requests: total, byVerb, attempts, failures, ...(await uninjectedPods(c)) };
}

/** Client-side apply of the oversized CRD on an empty cluster: the error it gets, and that nothing was created. */
async function clientSideApply(c: Cluster): Promise<string> {
  const crd = c.bundle.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === 'inferenceservices.serving.kserve.io') as KubeObject;
  const file = join(workDir, 'inferenceservices-crd.yaml');
  writeFileSync(file, dump(crd, { lineWidth: -1, noRefs: true }));
  const bytes = Buffer.byteLength(JSON.stringify(crd));
  const r = await sh(`kubectl apply -f '${file}'`, { ...process.env, KUBECONFIG: c.installer, PATH: `${bin}:${process.env['PATH'] ?? ''}` }, join(workDir, 'client-side.log'));
  const created = await c.admin.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crd.metadata.name });
  const reason = r.stderr.trim().split('\n').pop() ?? '';
  return `kubectl apply (client-side) of the ${bytes}-byte CRD: exit ${r.code}, CRD ${created ? 'created' : 'not created'}\n  ${reason.length > 300 ? `${reason.slice(0, 150)} ... ${reason.slice(-150)}` : reason}`;
}

console.log(`bench:install: ${runs} run(s) per method, each on an empty local control plane (kube-apiserver ${bin.split('/').at(-2)})`);
const c0 = await freshCluster(0);
console.log(await clientSideApply(c0));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const METHODS = [
  ['kfops', kfops],
  ['loop20', (c: Cluster) => loop(c, 20)],
  ['loop2', (c: Cluster) => loop(c, 2)],
  ['loop20h', (c: Cluster) => loop(c, 20, true)],
] as const;

for (const startupSeconds of scenarios) {
  console.log(`\n== pods available ${startupSeconds ? `${startupSeconds} s after they start (minReadySeconds)` : 'as soon as they are scheduled'}`);
  const results = new Map<string, Measure[]>();
  for (let r = 0; r < runs; r++) {
    for (const [name, method] of METHODS) {
      if (!chosen.includes(name)) continue;
      const c = await freshCluster(startupSeconds);
      const standins = startWebhookStandins(c.admin, c.dir, WEBHOOK_BACKENDS);
      try {
        const m = await method(c);
        results.set(name, [...(results.get(name) ?? []), m]);
        console.log(
          `run ${r + 1} ${m.method.padEnd(25)} applied ${secs(m.applyMs).padStart(7)}  all ready ${secs(m.totalMs).padStart(7)}  requests ${String(m.requests).padStart(5)}  pods without sidecar ${m.uninjected}/${m.pods}` +
            (m.attempts ? `  attempts ${m.attempts}${m.failures?.length ? ` (${m.failures.join('; ')})` : ''}` : ''),
        );
      } finally {
        await standins.stop();
      }
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
  console.log('\nmethod                     applied   all ready  requests  no sidecar  (requests by verb)');
  for (const x of summary) {
    const verbs = Object.entries(x.byVerb)
      .sort((a, b) => b[1] - a[1])
      .map(([v, n]) => `${v} ${n}`)
      .join(', ');
    console.log(`${x.method.padEnd(25)} ${secs(x.applyMs).padStart(8)} ${secs(x.totalMs).padStart(10)} ${String(x.requests).padStart(9)} ${x.uninjected.padStart(11)}  (${verbs})`);
  }
  const [k, l20, l2, l20h] = ['kfops', 'loop sleep 20', 'loop sleep 2', 'loop sleep 20 hooks first'].map((n) => summary.find((x) => x.method === n));
  if (k && l20 && l2) {
    console.log('ratios (baseline / kfops; above 1 means kfops is faster or sends fewer requests):');
    console.log(`  vs loop sleep 20: time to all ready ${ratio(l20.totalMs, k.totalMs)}, requests ${ratio(l20.requests, k.requests)}  (target: time >= 5x)`);
    console.log(`  vs loop sleep 2:  time to all ready ${ratio(l2.totalMs, k.totalMs)}, requests ${ratio(l2.requests, k.requests)}  (target: time >= 2x)`);
  }
  if (k && l20h) console.log(`  vs loop sleep 20 hooks first (every pod injected, as with kfops): time to all ready ${ratio(l20h.totalMs, k.totalMs)}, requests ${ratio(l20h.requests, k.requests)}`);
}
cluster('down.sh');
console.log(`\nlogs: ${workDir}`);
