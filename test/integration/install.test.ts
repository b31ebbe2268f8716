/**
 * The installer on the real Kubeflow 1.9.1 render (../shared/fixtures), with webhook stand-ins on the
 * ports, paths and AdmissionReview versions the render's webhooks name, and CA bundles injected as
 * cert-manager's cainjector, istiod, Knative and the training operator inject them.
 */
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { install, InstallError, type InstallReport } from '../../src/kube/install.js';
import { isPlaceholder } from '../../src/kube/owned-fields.js';
import type { KubeObject } from '../../src/kube/types.js';
import { startCaInjector, type CaInjector } from '../support/ca-injector.js';
import { loadKubeflowRender } from '../support/kubeflow-render.js';
import { clusterCaBundle, MUTATED_BY, startWebhookStandins, type Standins } from '../support/webhook-standin.js';
import { adminClient, ensureDefaultStorageClass, recordingLogger, uniqueName, userClient } from './helpers.js';

const clusterDir = dirname(inject('kubeconfig'));
const client = adminClient();
const render = loadKubeflowRender();
const WORKLOADS = render.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)).length;
let standins: Standins;
let injector: CaInjector;
let first: InstallReport;

/** resourceVersion of every object of the render, read from the cluster. */
async function versions(objects: readonly KubeObject[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const groups = new Map<string, KubeObject[]>();
  for (const o of objects)
    groups.set(`${o.apiVersion}|${o.kind}`, [...(groups.get(`${o.apiVersion}|${o.kind}`) ?? []), o]);
  for (const list of groups.values()) {
    const sample = list[0] as KubeObject;
    const live = await client.listMetadata({ apiVersion: sample.apiVersion, kind: sample.kind });
    for (const o of list)
      out.set(
        `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`,
        live.get(o.metadata.name)?.resourceVersion ?? 'absent',
      );
  }
  return out;
}

const webhookCa = async (name: string): Promise<string[]> => {
  const live = await client.get({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    name,
  });
  return ((live?.['webhooks'] as { clientConfig: { caBundle?: string } }[] | undefined) ?? []).map(
    (w) => w.clientConfig.caBundle ?? '',
  );
};
const rulesOf = async (name: string): Promise<unknown[]> =>
  ((await client.get({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name }))?.['rules'] as
    unknown[] | undefined) ?? [];

beforeAll(async () => {
  // The render's three PVCs name no StorageClass: the cluster needs a default one (the action's preflight sets it).
  await ensureDefaultStorageClass(client);
  standins = startWebhookStandins(client, clusterDir, render);
  injector = startCaInjector(client, clusterDir);
  first = await install(client, render, { timeoutMs: 240_000, logger: recordingLogger() });
  console.log(
    `real render: first install ${first.durationMs} ms in ${first.phases.length} phases: ${JSON.stringify(first.counts)}`,
  );
}, 300_000);

afterAll(async () => {
  await standins?.stop();
  await injector?.stop();
});

describe('install-kubeflow on the real Kubeflow 1.9.1 render', () => {
  it('installs all 569 objects until every workload is ready, with every injected pod through the sidecar injector', async () => {
    expect(first.counts.created + first.counts.configured + first.counts.unchanged).toBe(569);
    expect(first.ready).toBe(WORKLOADS);
    expect(WORKLOADS).toBe(45);
    expect(standins.problems).toEqual([]);
    const pods = await client.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'kubeflow' });
    expect(pods.items.length).toBeGreaterThan(20);
    expect(
      pods.items
        .filter((p) => p.metadata.annotations?.[MUTATED_BY] !== 'istio-system/istiod')
        .map((p) => p.metadata.name),
    ).toEqual([]);
  });

  it('a re-run changes nothing: 0 created, 0 configured, 569 unchanged, no resourceVersion moved, and injected fields are left to their owners', async () => {
    const before = await versions(render);
    const logger = recordingLogger();
    const again = await install(client, render, { timeoutMs: 120_000, logger });
    expect(again.counts).toEqual({ created: 0, configured: 0, unchanged: 569 });
    expect(again.ready).toBe(WORKLOADS);
    const after = await versions(render);
    expect([...after].filter(([k, v]) => before.get(k) !== v)).toEqual([]);
    // The 9 caBundle placeholders and the 12 `rules: []` of aggregated ClusterRoles were not applied over
    // what cainjector and the clusterrole-aggregation-controller wrote.
    const fields = again.yielded.flatMap((y) =>
      y.fields.map((f) => `${y.ref.kind} ${y.ref.name}: ${f.path} (${f.managers.join(',')})`),
    );
    const placeholders = render
      .filter((o) => o.kind.endsWith('WebhookConfiguration'))
      .flatMap((o) =>
        ((o['webhooks'] as { clientConfig: Record<string, unknown> }[] | undefined) ?? []).filter(
          (w) => 'caBundle' in w.clientConfig && isPlaceholder(w.clientConfig['caBundle']),
        ),
      );
    const aggregated = render.filter(
      (o) =>
        o.kind === 'ClusterRole' &&
        o['aggregationRule'] &&
        Array.isArray(o['rules']) &&
        (o['rules'] as unknown[]).length === 0,
    );
    expect([placeholders.length, aggregated.length]).toEqual([11, 12]);
    expect(fields.filter((f) => f.includes('.caBundle (cainjector)')).length).toBe(placeholders.length);
    expect(fields.filter((f) => /^ClusterRole .*: rules \(clusterrole-aggregation-controller\)$/.test(f)).length).toBe(
      aggregated.length,
    );
    expect(fields.length).toBe(placeholders.length + aggregated.length);
  });

  it('with force-conflicts the injected CA bundles and aggregated rules survive', async () => {
    const ca = clusterCaBundle(clusterDir);
    expect(await webhookCa('servingruntime.serving.kserve.io')).toEqual([ca]);
    expect((await rulesOf('kubeflow-edit')).length).toBeGreaterThan(0);
    const forced = await install(client, render, { timeoutMs: 120_000, force: true });
    expect(forced.counts.configured).toBe(0);
    expect(await webhookCa('servingruntime.serving.kserve.io')).toEqual([ca]);
    expect((await rulesOf('kubeflow-edit')).length).toBeGreaterThan(0);
  });

  it('a webhook that refuses while its Service has ready endpoints fails the install within seconds, with that cause, and stops every wait', async () => {
    await standins.stop();
    standins = startWebhookStandins(client, clusterDir, render, { refuse: ['kubeflow/kserve-webhook-server-service'] });
    const started = Date.now();
    const err = await install(client, render, {
      timeoutMs: 300_000,
      refusedGraceMs: 10_000,
      logger: recordingLogger(),
    }).catch((e: unknown) => e);
    const took = Date.now() - started;
    console.log(`refused webhook: failed after ${took} ms`);
    expect(err).toBeInstanceOf(InstallError);
    const e = err as InstallError;
    expect(took).toBeLessThan(60_000);
    expect(e.message).toContain('although Service kubeflow/kserve-webhook-server-service has ready endpoints');
    expect(e.details.cause).toMatch(
      /Service kubeflow\/kserve-webhook-server-service has \d+ ready endpoint\(s\), yet the API server could not call webhook "[a-z.-]+kserve-webhook-server[a-z.-]*".*connection refused/s,
    );
    expect(e.details.fix).toContain('allow traffic from the control plane to that port');
    expect(e.details.fix).not.toContain('wait until');
    // What did not go in is in the report: the 10 ClusterServingRuntimes (and the other kserve objects).
    expect(e.report.notApplied.filter((r) => r.kind === 'ClusterServingRuntime').length).toBe(10);
    await standins.stop();
    standins = startWebhookStandins(client, clusterDir, render);
  });

  it('stops within a minute when the sidecar injector refuses pods behind ready endpoints, and names the workloads from their ReplicaSets', async () => {
    const ns = uniqueName('injected');
    await standins.stop();
    standins = startWebhookStandins(client, clusterDir, render, { refuse: ['istio-system/istiod'] });
    // The injector's configuration, Service and Deployment come with the objects (unchanged on the
    // cluster), so the plan knows the webhook that intercepts the new pods and its gate.
    const istio = render.filter(
      (o) =>
        (o.kind === 'MutatingWebhookConfiguration' && o.metadata.name === 'istio-sidecar-injector') ||
        (o.metadata.namespace === 'istio-system' &&
          o.metadata.name === 'istiod' &&
          ['Service', 'Deployment'].includes(o.kind)) ||
        (o.kind === 'Namespace' && o.metadata.name === 'istio-system'),
    );
    expect(istio.length).toBe(4);
    const objects: KubeObject[] = [
      ...istio,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'istio-injection': 'enabled' } } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
          },
        },
      },
    ];
    const started = Date.now();
    const err = await install(client, objects, { timeoutMs: 180_000, refusedGraceMs: 5_000 }).catch((e: unknown) => e);
    const took = Date.now() - started;
    console.log(`refused pods: failed after ${took} ms`);
    await standins.stop();
    standins = startWebhookStandins(client, clusterDir, render);
    expect(err).toBeInstanceOf(InstallError);
    expect(took).toBeLessThan(60_000);
    const text = (err as InstallError).describe();
    expect(text).toMatch(
      new RegExp(
        `pods of ReplicaSet ${ns}/web-[a-z0-9]+ are refused by admission webhook "[a-z.]*sidecar-injector\\.istio\\.io" for more than 5s although its Service has ready endpoints`,
      ),
    );
    expect(text).toContain('allow traffic from the control plane to that port');
    expect(text).toContain(`Deployment ${ns}/web: 0 pod(s), 1 problem(s)`);
    expect(text).toMatch(
      /✗ ReplicaSet\/web-[a-z0-9]+: FailedCreate: admission webhook not reachable: .*sidecar-injector\.istio\.io/,
    );
    await client.remove({ apiVersion: 'v1', kind: 'Namespace', name: ns });
  }, 120_000);

  it('gives a restricted user a readable RBAC error', async () => {
    const carol = userClient('carol@example.com');
    const err = await install(carol, render.slice(0, 10), { timeoutMs: 10_000, waitForReady: false }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InstallError);
    expect((err as InstallError).message).toMatch(/forbidden: user "carol@example.com" may not (get|list) /);
    expect((err as InstallError).details.fix).toContain('grant "');
  });
});
