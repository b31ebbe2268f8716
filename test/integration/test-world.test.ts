/**
 * The test world against the real API server: the webhook stand-ins and the CA injector must behave,
 * as far as the API server and kfops can tell, like the components they stand in for on a real cluster,
 * with the real Kubeflow 1.9.1 render installed once (beforeAll) and several checks on that state.
 */
import { connect as tcpConnect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import { install, type InstallReport } from '../../src/kube/install.js';
import { selectorMatches } from '../../src/kube/plan.js';
import { deploymentRule } from '../../src/kube/readiness.js';
import type { KubeObject } from '../../src/kube/types.js';
import { waitFor, waitForServiceEndpoints } from '../../src/kube/wait.js';
import { startCaInjector, type CaInjector } from '../support/ca-injector.js';
import { loadKubeflowRender } from '../support/kubeflow-render.js';
import { clusterCaBundle, MUTATED_BY, startWebhookStandins, type Standins } from '../support/webhook-standin.js';
import { adminClient, recordingLogger, sleep, uniqueName } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const clusterDir = dirname(kubeconfig);
const client = adminClient();
const ca = clusterCaBundle(clusterDir);
const render = loadKubeflowRender();
const logger = recordingLogger();

let standins: Standins;
let injector: CaInjector;
let report: InstallReport | undefined;
let installError: unknown;
let installMs = 0;

beforeAll(async () => {
  standins = startWebhookStandins(client, clusterDir, render);
  injector = startCaInjector(client, clusterDir);
  // The cluster's storage, as the default class (the render's PVCs name none). kwok provisions it.
  await applyObjects(
    client,
    [
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'kwok-volume', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
        provisioner: 'kwok.x-k8s.io/volume',
        volumeBindingMode: 'Immediate',
      } as KubeObject,
    ],
    { fieldManager: 'test-world', force: true },
  );
  const t0 = Date.now();
  try {
    // A copy: applying may edit the objects it is given (placeholders left to their owners).
    report = await install(client, loadKubeflowRender(), { timeoutMs: 270_000, logger, watchTimeoutSeconds: 60 });
  } catch (error) {
    installError = error;
  }
  installMs = Date.now() - t0;
  const notable = logger.lines.filter((l) => /^(warning|error)|retry|x509|refused|conflict/i.test(l));
  console.log(
    `test-world: install of the real render took ${(installMs / 1000).toFixed(1)} s${notable.length ? `; notable lines:\n${notable.slice(0, 30).join('\n')}` : ''}`,
  );
}, 300_000);

afterAll(async () => {
  await injector?.stop();
  await standins?.stop();
});

const webhookConfigs = render.filter(
  (o) => o.kind === 'ValidatingWebhookConfiguration' || o.kind === 'MutatingWebhookConfiguration',
);
const live = async (o: KubeObject): Promise<KubeObject> =>
  (await client.get({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name })) as KubeObject;
const serviceSpec = async (
  namespace: string,
  name: string,
): Promise<{ clusterIP: string; ports: { port: number; targetPort?: number | string }[] }> =>
  (await client.get({ apiVersion: 'v1', kind: 'Service', name, namespace }))?.['spec'] as {
    clusterIP: string;
    ports: { port: number; targetPort?: number | string }[];
  };

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: Record<string, Record<string, unknown>>;
}
/** The managers (with their operation) owning webhooks[name].clientConfig.caBundle, from managedFields. */
function caBundleOwners(o: KubeObject, webhook: string): string[] {
  const entries = (o.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  return entries
    .filter((e) => {
      const item = (
        e.fieldsV1?.['f:webhooks'] as Record<string, Record<string, Record<string, unknown>>> | undefined
      )?.[`k:${JSON.stringify({ name: webhook })}`];
      return item?.['f:clientConfig']?.['f:caBundle'] !== undefined;
    })
    .map((e) => `${e.manager} ${e.operation}`);
}

/** Which component injects a configuration's CA on a real cluster (by its webhooks' Service, or cert-manager's annotation). */
const SELF_INJECTED: Record<string, string> = {
  'istio-sidecar-injector': 'pilot-discovery',
  'istio-validator-istio-system': 'pilot-discovery',
  'webhook.serving.knative.dev': 'webhook',
  'validation.webhook.serving.knative.dev': 'webhook',
  'config.webhook.serving.knative.dev': 'webhook',
  'webhook.istio.networking.internal.knative.dev': 'webhook',
  'config.webhook.istio.networking.internal.knative.dev': 'webhook',
  'validator.training-operator.kubeflow.org': 'training-operator',
};

/** Connects to ip:port; resolves 'connected' or the error code (e.g. ECONNREFUSED). */
const tryConnect = (ip: string, port: number): Promise<string> =>
  new Promise((resolve) => {
    const socket = tcpConnect({ host: ip, port }, () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });

/** POSTs JSON to a stand-in as the API server would (TLS verified against the cluster CA for <svc>.<ns>.svc). */
const post = (
  ip: string,
  port: number,
  servername: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: ip,
        port,
        path,
        method: 'POST',
        servername,
        ca: readFileSync(join(clusterDir, 'pki', 'ca.crt')),
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });

describe('the real Kubeflow 1.9.1 render on the test world', () => {
  it('installs, and every workload becomes ready', () => {
    expect(
      installError,
      `${String(installError)}\n${(installError as { details?: unknown })?.details ? JSON.stringify((installError as { details?: unknown }).details) : ''}\n${logger.lines
        .filter((l) => !l.startsWith('debug'))
        .slice(-40)
        .join('\n')}`,
    ).toBeUndefined();
    const workloads = render.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
    expect(report?.ready).toBe(workloads.length);
    expect(standins.problems).toEqual([]);
  });

  it("calls istiod's sidecar injector with admission.k8s.io/v1beta1 on /inject through Service port 443 (target 15017), not the first port 15010", async () => {
    const spec = await serviceSpec('istio-system', 'istiod');
    expect(spec.ports[0]?.port).toBe(15010);
    expect(spec.ports.find((p) => p.port === 443)?.targetPort).toBe(15017);
    expect(await tryConnect(spec.clusterIP, 443)).toBe('connected');
    expect(await tryConnect(spec.clusterIP, 15010)).toBe('ECONNREFUSED');
    // A Pod created now in an injected namespace goes through the injector (whoever installed first).
    const pod = await client.request<KubeObject>('POST', '/api/v1/namespaces/kubeflow/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: uniqueName('injected') },
        spec: { containers: [{ name: 'c', image: 'busybox' }] },
      },
    });
    try {
      expect(pod.metadata.annotations?.[MUTATED_BY]).toBe('istio-system/istiod');
    } finally {
      await client.remove({ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace: 'kubeflow' });
    }
    const seen = standins.seen.get('istio-system/istiod');
    expect([...(seen?.versions ?? [])]).toEqual(['admission.k8s.io/v1beta1']);
    expect([...(seen?.paths ?? [])]).toEqual(['/inject']);
    expect(standins.calls.get('istio-system/istiod')).toBeGreaterThan(0);
  });

  it('has every pod the injector selects in namespace kubeflow marked by istiod', async () => {
    const hook = (
      webhookConfigs.find((o) => o.metadata.name === 'istio-sidecar-injector')?.['webhooks'] as {
        name: string;
        objectSelector?: Parameters<typeof selectorMatches>[0];
      }[]
    ).find((w) => w.name === 'namespace.sidecar-injector.istio.io');
    const { items } = await client.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'kubeflow' });
    const selected = items.filter((p) => selectorMatches(hook?.objectSelector, p.metadata.labels ?? {}));
    expect(selected.length).toBeGreaterThan(20);
    expect(
      selected
        .filter((p) => p.metadata.annotations?.[MUTATED_BY] !== 'istio-system/istiod')
        .map((p) => p.metadata.name),
    ).toEqual([]);
    // Pods that opt out (sidecar.istio.io/inject: "false") are not sent to it.
    for (const p of items.filter((x) => !selected.includes(x)))
      expect(p.metadata.annotations?.[MUTATED_BY]).toBeUndefined();
  });

  it("calls KServe's validator on its own path with admission.k8s.io/v1beta1", async () => {
    const runtime = render.find(
      (o) => o.kind === 'ClusterServingRuntime' && o.metadata.name === 'kserve-sklearnserver',
    ) as KubeObject;
    await applyObjects(client, [runtime], { dryRun: true });
    const seen = standins.seen.get('kubeflow/kserve-webhook-server-service');
    expect(seen?.paths).toContain('/validate-serving-kserve-io-v1alpha1-clusterservingruntime');
    expect(seen?.versions).toEqual(new Set(['admission.k8s.io/v1beta1']));
  });

  it('answers the pvcviewers conversion webhook with the objects in the desired apiVersion', async () => {
    const spec = await serviceSpec('kubeflow', 'pvcviewer-webhook-service');
    const before = standins.calls.get('kubeflow/pvcviewer-webhook-service') ?? 0;
    const r = await post(spec.clusterIP, 443, 'pvcviewer-webhook-service.kubeflow.svc', '/convert', {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      request: {
        uid: 'u-1',
        desiredAPIVersion: 'kubeflow.org/v1beta1',
        objects: [
          { apiVersion: 'kubeflow.org/v1alpha1', kind: 'PVCViewer', metadata: { name: 'p' }, spec: { pvc: 'data' } },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: {
        uid: 'u-1',
        result: { status: 'Success' },
        convertedObjects: [
          { apiVersion: 'kubeflow.org/v1beta1', kind: 'PVCViewer', metadata: { name: 'p' }, spec: { pvc: 'data' } },
        ],
      },
    });
    expect(standins.calls.get('kubeflow/pvcviewer-webhook-service')).toBe(before + 1);
  });

  it('ends with the cluster CA in every webhook configuration, each under its real injector as an Update', async () => {
    // 9 configurations carry a caBundle placeholder in the render; the others carry none.
    const placeholders = webhookConfigs.filter((o) =>
      (o['webhooks'] as { clientConfig: { caBundle?: string } }[]).some((w) => w.clientConfig.caBundle !== undefined),
    );
    expect(placeholders).toHaveLength(9);
    expect(webhookConfigs).toHaveLength(22);
    for (const o of webhookConfigs) {
      const annotated = Object.keys(o.metadata.annotations ?? {}).some((k) =>
        k.startsWith('cert-manager.io/inject-ca-from'),
      );
      const manager = SELF_INJECTED[o.metadata.name] ?? 'cainjector';
      expect(annotated, o.metadata.name).toBe(manager === 'cainjector');
      const current = await live(o);
      for (const w of current['webhooks'] as { name: string; clientConfig: { caBundle?: string } }[]) {
        expect(w.clientConfig.caBundle, `${o.metadata.name}: ${w.name}`).toBe(ca);
        expect(caBundleOwners(current, w.name), `${o.metadata.name}: ${w.name}`).toEqual([`${manager} Update`]);
      }
    }
    // The one CRD with a conversion webhook, by cainjector.
    const crd = (await client.get({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: 'pvcviewers.kubeflow.org',
    })) as KubeObject;
    expect(
      (crd['spec'] as { conversion: { webhook: { clientConfig: { caBundle: string } } } }).conversion.webhook
        .clientConfig.caBundle,
    ).toBe(ca);
    const owners = ((crd.metadata.managedFields ?? []) as ManagedFieldsEntry[])
      .filter((e) => JSON.stringify(e.fieldsV1 ?? {}).includes('"f:caBundle"'))
      .map((e) => `${e.manager} ${e.operation}`);
    expect(owners).toEqual(['cainjector Update']);
  });

  it("injects again when someone resets a caBundle, as the components' controllers do", async () => {
    const targets = [
      {
        o: webhookConfigs.find(
          (o) =>
            o.kind === 'ValidatingWebhookConfiguration' && o.metadata.name === 'inferenceservice.serving.kserve.io',
        ) as KubeObject,
        manager: 'cainjector',
      },
      {
        o: webhookConfigs.find((o) => o.metadata.name === 'istio-sidecar-injector') as KubeObject,
        manager: 'pilot-discovery',
      },
    ];
    for (const { o, manager } of targets) {
      const before = injector.injected.length;
      const path = await client.objectPath({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name });
      await client.request('PATCH', path, {
        query: { fieldManager: 'someone-else' },
        body: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: 'Cg==' }],
        contentType: 'application/json-patch+json',
      });
      const name = (o['webhooks'] as { name: string }[])[0]?.name as string;
      const entry = `${o.kind} ${o.metadata.name}: ${name} by ${manager}`;
      let current = await live(o);
      for (
        let i = 0;
        i < 50 &&
        ((current['webhooks'] as { clientConfig: { caBundle?: string } }[])[0]?.clientConfig.caBundle !== ca ||
          !injector.injected.slice(before).includes(entry));
        i++
      ) {
        await sleep(200);
        current = await live(o);
      }
      const first = (current['webhooks'] as { name: string; clientConfig: { caBundle?: string } }[])[0];
      expect(first?.clientConfig.caBundle, o.metadata.name).toBe(ca);
      expect(caBundleOwners(current, first?.name as string)).toEqual([`${manager} Update`]);
      expect(injector.injected.slice(before)).toContain(entry);
    }
  });

  it('answers 404 on a path no webhook names, and records it', async () => {
    const spec = await serviceSpec('kubeflow', 'kserve-webhook-server-service');
    const r = await post(spec.clusterIP, 443, 'kserve-webhook-server-service.kubeflow.svc', '/validate-nothing', {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'x' },
    });
    expect(r.status).toBe(404);
    expect(standins.problems).toEqual([
      expect.stringContaining('kubeflow/kserve-webhook-server-service: POST /validate-nothing is not a webhook path'),
    ]);
  });
});

describe('stand-ins that refuse, stay silent, or cannot be reached', () => {
  const ns = uniqueName('world');
  const labels = { app: 'backend' };
  const hook = (name: string, service: string) => ({
    name: `${name}.test-world.kfops.test`,
    clientConfig: { service: { namespace: ns, name: service, path: '/validate' }, caBundle: ca },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    objectSelector: { matchLabels: { hook: name } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    timeoutSeconds: 2,
    admissionReviewVersions: ['v1'],
  });
  const service = (name: string, targetPort: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: labels, ports: [{ name: 'https', port: 443, targetPort }] },
  });
  const objects: KubeObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'backend', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: 'server', image: 'backend', ports: [{ name: 'https', containerPort: 8443 }] }] },
        },
      },
    },
    service('refused', 'https'),
    service('silent', 'https'),
    service('misnamed', 'webhook-server'),
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: `${ns}.test-world.kfops.test` },
      webhooks: [hook('refused', 'refused'), hook('silent', 'silent'), hook('misnamed', 'misnamed')],
    },
  ];
  let world: Standins;
  const configMap = (hookName: string): Promise<unknown> =>
    client
      .request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
        body: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: uniqueName(hookName), labels: { hook: hookName } },
        },
      })
      .then(
        () => 'created',
        (e: { body?: { message?: string } }) => e.body?.message ?? String(e),
      );

  beforeAll(async () => {
    world = startWebhookStandins(client, clusterDir, objects, { refuse: [`${ns}/refused`], silent: [`${ns}/silent`] });
    await applyObjects(client, objects.slice(0, 1), { fieldManager: 'test-world' });
    await waitFor(
      client,
      { apiVersion: 'v1', kind: 'Namespace', name: ns },
      { name: 'exists', check: () => ({ state: 'ready', message: '' }) },
      { timeoutMs: 30_000 },
    );
    await applyObjects(client, objects.slice(1), { fieldManager: 'test-world' });
    await waitFor(
      client,
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'backend', namespace: ns },
      deploymentRule,
      { timeoutMs: 60_000 },
    );
    await waitForServiceEndpoints(client, ns, 'silent', { timeoutMs: 30_000 });
    // The stand-ins listen right after the workload is ready; give them that moment.
    for (let i = 0; i < 50 && !world.problems.some((p) => p.includes('misnamed')); i++) await sleep(100);
  }, 120_000);
  afterAll(async () => {
    await world?.stop();
    await client.remove({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      name: `${ns}.test-world.kfops.test`,
    });
    await client.remove({ apiVersion: 'v1', kind: 'Namespace', name: ns });
  });

  it('refuses connections while the Service has ready endpoints, and the API server says so', async () => {
    await waitForServiceEndpoints(client, ns, 'refused', { timeoutMs: 10_000 });
    const { clusterIP } = await serviceSpec(ns, 'refused');
    expect(await tryConnect(clusterIP, 443)).toBe('ECONNREFUSED');
    expect(await configMap('refused')).toMatch(
      /failed calling webhook "refused\.test-world\.kfops\.test".*connection refused/,
    );
    expect(world.calls.get(`${ns}/refused`)).toBeUndefined();
  });

  it('accepts and never answers when silent: the API server gives up at the webhook timeout', async () => {
    const t0 = Date.now();
    expect(await configMap('silent')).toMatch(
      /failed calling webhook "silent\.test-world\.kfops\.test".*(deadline|timeout|Timeout)/,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(world.seen.get(`${ns}/silent`)?.versions).toEqual(new Set(['admission.k8s.io/v1']));
    expect(world.calls.get(`${ns}/silent`)).toBeUndefined();
  });

  it('never serves a port whose targetPort no container declares, and records why', async () => {
    expect(world.problems).toEqual([
      `Service ${ns}/misnamed port 443 targets port "webhook-server", which no container of Deployment ${ns}/backend declares (called by ValidatingWebhookConfiguration ${ns}.test-world.kfops.test: misnamed.test-world.kfops.test)`,
    ]);
    const { clusterIP } = await serviceSpec(ns, 'misnamed');
    expect(await tryConnect(clusterIP, 443)).toBe('ECONNREFUSED');
    expect(await configMap('misnamed')).toMatch(/failed calling webhook "misnamed\.test-world\.kfops\.test"/);
  });
});
