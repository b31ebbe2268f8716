/**
 * deploy-inferenceservice with KServe's real controller (v0.13.1, built from its Go module) reconciling
 * RawDeployment InferenceServices on the local control plane: the controller creates the predictor
 * Deployment, Service and HPA, kwok runs the pods, and the readiness the action waits for is the status
 * KServe itself writes.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { release } from '../../src/kserve/deploy.js';
import { InferenceServiceError } from '../../src/kserve/wait.js';
import {
  authorizationPolicyCrd,
  inferenceServiceCrd,
  installTestCrds,
  removeTestCrds,
} from '../support/kserve-crds.js';
import { kserveSupportCrds, startKServeController, type RunningController } from '../support/kserve-controller.js';
import { runAction, type ActionRun } from '../support/run-action.js';
import { startEach, startS3, type S3Server } from '../support/servers.js';
import { adminClient, recordingLogger, uniqueName } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const admin = adminClient();
let controller: RunningController;
let s3: S3Server;

beforeAll(async () => {
  // KServe's controller watches Knative Services when their CRD is served, which this build's scheme
  // lacks (RawDeployment only): the Kubeflow render that other files install leaves that CRD behind.
  const knativeServices = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    name: 'services.serving.knative.dev',
  };
  await admin.remove(knativeServices);
  for (const until = Date.now() + 60_000; await admin.get(knativeServices);) {
    if (Date.now() > until) throw new Error('CRD services.serving.knative.dev was not deleted within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  await installTestCrds(admin, [inferenceServiceCrd, authorizationPolicyCrd, ...kserveSupportCrds]);
  await startEach<[RunningController, S3Server]>([startKServeController(admin, kubeconfig), startS3()], ([a, b]) => {
    if (a) controller = a;
    if (b) s3 = b;
  });
  await s3.put('models', {
    'wine/1/MLmodel': 'flavors: {python_function: {}}',
    'wine/2/MLmodel': 'flavors: {python_function: {}}',
  });
}, 20 * 60_000);

afterAll(async () => {
  await Promise.all([controller?.stop(), s3?.stop()]);
  // Other test files install their own versions of these CRDs on the shared control plane.
  await removeTestCrds(admin, [inferenceServiceCrd, authorizationPolicyCrd, ...kserveSupportCrds]);
}, 120_000);

const run = (inputs: Record<string, string>): Promise<ActionRun> =>
  runAction('deploy-inferenceservice', inputs, { KUBECONFIG: kubeconfig });
const deployment = (ns: string): Promise<KubeObject | undefined> =>
  admin.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'wine-predictor', namespace: ns });

describe('with the real KServe controller (RawDeployment)', () => {
  let ns = '';
  const inputs = (extra: Record<string, string> = {}): Record<string, string> => ({
    name: 'wine',
    namespace: ns,
    'deployment-mode': 'RawDeployment',
    'model-uri': 's3://models/wine/1',
    's3-endpoint': s3.url,
    's3-access-key-id': s3.accessKeyId,
    's3-secret-access-key': s3.secretAccessKey,
    timeout: '90s',
    ...extra,
  });

  beforeAll(async () => {
    ns = uniqueName('kubeflow-raw');
    await applyObjects(
      admin,
      [
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns, labels: { 'app.kubernetes.io/part-of': 'kubeflow-profile' } },
        },
      ],
      { fieldManager: 'test-setup' },
    );
  });

  it('deploys, and is Ready when KServe says so; the narrow policy selects the pods KServe made', async () => {
    const r = await run(inputs());
    expect(r.code, `${r.log}\n--- controller ---\n${controller.log().slice(-3000)}`).toBe(0);
    expect(r.outputs).toMatchObject({
      url: `http://wine-${ns}.example.com`,
      address: `http://wine-predictor.${ns}.svc.cluster.local`,
      host: `wine-${ns}.example.com`,
      changed: 'true',
      'auth-policy': 'wine-predictor-allow',
    });
    expect(r.log).toMatch(/: Ready \(revision 1\)/);

    const dep = await deployment(ns);
    const template = (
      dep?.['spec'] as {
        template: {
          metadata: { labels: Record<string, string>; annotations: Record<string, string> };
          spec: { serviceAccountName?: string };
        };
      }
    ).template;
    expect(template.spec.serviceAccountName).toBe('wine-sa');
    expect(template.metadata.annotations['internal.serving.kserve.io/storage-initializer-sourceuri']).toBe(
      's3://models/wine/1',
    );
    const policy = await admin.get({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'AuthorizationPolicy',
      name: 'wine-predictor-allow',
      namespace: ns,
    });
    const selector = (policy?.['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
    // The policy's selector matches the labels KServe put on the predictor pods, and the pods exist.
    expect(selector).toEqual({ app: 'isvc.wine-predictor' });
    for (const [k, v] of Object.entries(selector)) expect(template.metadata.labels[k]).toBe(v);
    const pods = await admin.list(
      { apiVersion: 'v1', kind: 'Pod', namespace: ns },
      { labelSelector: 'app=isvc.wine-predictor' },
    );
    expect(pods.items.length).toBeGreaterThan(0);
    expect(pods.items[0]?.metadata.labels?.['serving.kserve.io/inferenceservice']).toBe('wine');
  });

  it('re-deploying the same inputs changes nothing', async () => {
    const r = await run(inputs());
    expect(r.code, r.log).toBe(0);
    expect(r.outputs['changed']).toBe('false');
  });

  it('a new model, then rollback: KServe rolls the Deployment back to the previous model', async () => {
    const next = await run(inputs({ 'model-uri': 's3://models/wine/2' }));
    expect(next.code, next.log).toBe(0);
    expect((await deployment(ns))?.['spec']).toMatchObject({
      template: {
        metadata: { annotations: { 'internal.serving.kserve.io/storage-initializer-sourceuri': 's3://models/wine/2' } },
      },
    });
    const back = await run({ name: 'wine', namespace: ns, action: 'rollback', timeout: '90s' });
    expect(back.code, back.log).toBe(0);
    expect(back.outputs['model-uri']).toBe('s3://models/wine/1');
    expect(back.outputs['previous-revision']).toBe('2');
    expect(back.summary).toContain('Rolled back from 2.');
    expect(back.log).toMatch(/: Ready \(revision 3\)/);
    expect((await deployment(ns))?.['spec']).toMatchObject({
      template: {
        metadata: { annotations: { 'internal.serving.kserve.io/storage-initializer-sourceuri': 's3://models/wine/1' } },
      },
    });
  }, 120_000);

  it('fails fast when the pods KServe creates cannot be scheduled', async () => {
    const other = uniqueName('raw-big');
    await applyObjects(admin, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: other } }], {
      fieldManager: 'test-setup',
    });
    const started = Date.now();
    const error = await release(
      admin,
      {
        action: 'deploy',
        service: { name: 'big', namespace: other, deploymentMode: 'RawDeployment', annotations: {}, labels: {} },
        predictor: {
          storageUri: 's3://models/wine/1',
          modelFormat: 'mlflow',
          protocol: 'v2',
          resources: { requests: { cpu: '64', memory: '1Gi' }, limits: { cpu: '64', memory: '1Gi' } },
        },
        model: { uri: 's3://models/wine/1' },
        auth: { mode: 'skip', fromNamespaces: [] },
        wait: true,
        timeoutMs: 60_000,
        forceConflicts: false,
        unschedulableGraceMs: 0,
      },
      { logger: recordingLogger() },
    ).then(
      () => undefined,
      (e: unknown) => e as InferenceServiceError,
    );
    expect(error, controller.log().slice(-3000)).toBeInstanceOf(InferenceServiceError);
    expect(error?.kind).toBe('unschedulable');
    expect(error?.message).toMatch(
      /^InferenceService raw-big-[\w-]+\/big failed: pod big-predictor-[\w-]+ cannot be scheduled$/,
    );
    expect(error?.details.cause).toMatch(/Insufficient cpu/);
    expect(Date.now() - started).toBeLessThan(50_000);
  });
});
