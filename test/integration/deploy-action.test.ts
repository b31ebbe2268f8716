/**
 * deploy-inferenceservice against the real local control plane: the action as a process (models:/ alias
 * resolved by a real MLflow server, credentials checked against a real S3 server), the release cycle
 * (re-deploy, canary, promote, rollback), and each failure class produced on the cluster for real.
 * No KServe controller runs here: KServeStandin (test/support) writes what it would write, from its own
 * identity; failure tests write kubelet-like pod statuses and Events.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { release, type ReleaseSettings } from '../../src/kserve/deploy.js';
import { APPLIED_ANNOTATION, PREVIOUS_ANNOTATION } from '../../src/kserve/inferenceservice.js';
import { InferenceServiceError } from '../../src/kserve/wait.js';
import {
  authorizationPolicyCrd,
  inferenceServiceCrd,
  installTestCrds,
  removeTestCrds,
} from '../support/kserve-crds.js';
import {
  ensureStaticNode,
  KServeStandin,
  predictorPodWithStatus,
  recordEvent,
  standinRbac,
  writeIsvcStatus,
} from '../support/kserve-standin.js';
import { runAction, type ActionRun } from '../support/run-action.js';
import { startMlflow, startEach, startS3, type MlflowServer, type S3Server } from '../support/servers.js';
import { adminClient, recordingLogger, sleep, uniqueName, userClient } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const admin = adminClient();
const ISVC = 'serving.kserve.io/v1beta1';
const ARTIFACTS = 's3://mlflow-store/artifacts';

let s3: S3Server;
let mlflow: MlflowServer;
let controller: ReturnType<typeof userClient>;
const standins: KServeStandin[] = [];
let runId = '';
let modelId = '';

async function namespace(prefix: string, profile = false): Promise<string> {
  const ns = uniqueName(prefix);
  await applyObjects(
    admin,
    [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns, ...(profile ? { labels: { 'app.kubernetes.io/part-of': 'kubeflow-profile' } } : {}) },
      },
    ],
    { fieldManager: 'test-setup' },
  );
  return ns;
}

async function withStandin(ns: string): Promise<KServeStandin> {
  const s = new KServeStandin(controller, ns);
  await s.start();
  standins.push(s);
  return s;
}

const getIsvc = (ns: string, name: string): Promise<KubeObject | undefined> =>
  admin.get({ apiVersion: ISVC, kind: 'InferenceService', name, namespace: ns });

beforeAll(async () => {
  await startEach<[S3Server, MlflowServer]>([startS3(), startMlflow(ARTIFACTS)], ([a, b]) => {
    if (a) s3 = a;
    if (b) mlflow = b;
  });
  await installTestCrds(admin, [inferenceServiceCrd, authorizationPolicyCrd]);
  await applyObjects(admin, standinRbac('kserve-controller'), { fieldManager: 'test-setup' });
  controller = userClient('kserve-controller');
  await ensureStaticNode(admin);

  // The registry: version 1 from a run (MLflow 2.x layout), version 2 a logged model (MLflow 3.x), alias champion -> 2.
  await mlflow.api('POST', 'registered-models/create', { name: 'wine' });
  runId = (await mlflow.api<{ run: { info: { run_id: string } } }>('POST', 'runs/create', { experiment_id: '0' })).run
    .info.run_id;
  await mlflow.api('POST', 'model-versions/create', { name: 'wine', source: `runs:/${runId}/model`, run_id: runId });
  modelId = (
    await mlflow.api<{ model: { info: { model_id: string } } }>('POST', 'logged-models', {
      experiment_id: '0',
      name: 'wine',
    })
  ).model.info.model_id;
  await mlflow.api('POST', 'model-versions/create', { name: 'wine', source: `models:/${modelId}`, model_id: modelId });
  await mlflow.api('POST', 'registered-models/alias', { name: 'wine', alias: 'champion', version: '2' });
  await mlflow.api('POST', 'registered-models/alias', { name: 'wine', alias: 'empty', version: '1' });
  // The artifacts where the tracking server's destination puts them: version 2 complete, version 1 too.
  await s3.put('mlflow-store', {
    [`artifacts/0/models/${modelId}/artifacts/MLmodel`]: 'flavors: {python_function: {}}',
    [`artifacts/0/${runId}/artifacts/model/MLmodel`]: 'flavors: {python_function: {}}',
    [`artifacts/0/models/${modelId}/artifacts/model.pkl`]: 'x',
  });
}, 240_000);

afterAll(async () => {
  for (const s of standins) s.stop();
  await Promise.all([s3?.stop(), mlflow?.stop()]);
  // Other test files install their own versions of these CRDs on the shared control plane.
  await removeTestCrds(admin, [inferenceServiceCrd, authorizationPolicyCrd]);
}, 120_000);

const deployInputs = (ns: string, extra: Record<string, string> = {}): Record<string, string> => ({
  name: 'wine',
  namespace: ns,
  'model-uri': 'models:/wine@champion',
  'mlflow-tracking-uri': mlflow.url,
  'mlflow-artifact-root': ARTIFACTS,
  's3-endpoint': s3.url,
  's3-access-key-id': s3.accessKeyId,
  's3-secret-access-key': s3.secretAccessKey,
  timeout: '60s',
  ...extra,
});

const run = (inputs: Record<string, string>): Promise<ActionRun> =>
  runAction('deploy-inferenceservice', inputs, { KUBECONFIG: kubeconfig });

describe('the deploy-inferenceservice action (a real process, MLflow, S3 and API servers)', () => {
  let ns = '';
  let first: ActionRun;
  const protectedPolicies: Record<string, string> = {};

  beforeAll(async () => {
    ns = await namespace('kubeflow-user', true);
    await withStandin(ns);
    // The gateway's policies in istio-system, which the action must leave alone.
    // Owning no field of it: the Kubeflow-shaped install of other test files owns its labels.
    await applyObjects(admin, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } }], {
      fieldManager: 'test-setup',
      markManaged: false,
    });
    for (const name of ['istio-ingressgateway-require-jwt', 'istio-ingressgateway-oauth2-proxy']) {
      const r = await applyObjects(
        admin,
        [
          {
            apiVersion: 'security.istio.io/v1beta1',
            kind: 'AuthorizationPolicy',
            metadata: { name, namespace: 'istio-system' },
            spec: {
              action: name.endsWith('jwt') ? 'DENY' : 'CUSTOM',
              selector: { matchLabels: { app: 'istio-ingressgateway' } },
              rules: [{}],
            },
          },
        ],
        { fieldManager: 'test-setup' },
      );
      protectedPolicies[name] = r.applied[0]?.object.metadata.resourceVersion as string;
    }
    first = await run(deployInputs(ns));
  }, 120_000);

  it('resolves models:/wine@champion, checks the location, deploys and reports the endpoint', async () => {
    expect(first.code, first.log).toBe(0);
    const uri = `${ARTIFACTS}/0/models/${modelId}/artifacts`;
    expect(first.log).toContain(
      `models:/wine@champion -> version 2 (logged model ${modelId}): ${uri} (registry: mlflow-artifacts:/0/models/${modelId}/artifacts)`,
    );
    expect(first.log).toMatch(
      new RegExp(`${uri.replace(/[/.]/g, '\\$&')} holds MLmodel \\(2 file\\(s\\), 0 folder\\(s\\)\\)`),
    );
    // The secret reaches the log only as the runner's mask command, before anything else is printed.
    expect(new Set(first.log.split('\n').filter((l) => l.includes(s3.secretAccessKey)))).toEqual(
      new Set([`::add-mask::${s3.secretAccessKey}`]),
    );
    expect(first.outputs).toMatchObject({
      'model-uri': uri,
      'model-version': '2',
      changed: 'true',
      url: `http://wine.${ns}.example.com`,
      host: `wine.${ns}.example.com`,
      address: `http://wine-predictor.${ns}.svc.cluster.local`,
      'latest-revision': 'wine-predictor-00001',
      'auth-policy': 'wine-predictor-allow',
    });
    expect(JSON.parse(first.outputs['traffic'] as string)).toEqual([
      { revision: 'wine-predictor-00001', percent: 100, latest: true },
    ]);
    expect(first.summary).toContain('<td>models:/wine@champion</td><td>2</td>');
    expect(first.summary).toContain('wine-predictor-00001 100% (latest)');

    const isvc = await getIsvc(ns, 'wine');
    expect((isvc?.['spec'] as Record<string, unknown>)['predictor']).toEqual({
      serviceAccountName: 'wine-sa',
      model: { modelFormat: { name: 'mlflow' }, protocolVersion: 'v2', storageUri: uri },
    });
    expect(isvc?.metadata.annotations?.['serving.kserve.io/deploymentMode']).toBe('Serverless');
  });

  it('stores the credentials in a Secret with KServe S3 annotations, listed by the ServiceAccount', async () => {
    const secret = await admin.get({ apiVersion: 'v1', kind: 'Secret', name: 'wine-s3', namespace: ns });
    expect(secret?.metadata.annotations).toMatchObject({
      'serving.kserve.io/s3-endpoint': `127.0.0.1:${s3.port}`,
      'serving.kserve.io/s3-usehttps': '0',
      'serving.kserve.io/s3-region': 'us-east-1',
      'serving.kserve.io/s3-verifyssl': '1',
    });
    const data = secret?.['data'] as Record<string, string>;
    expect(Buffer.from(data['AWS_ACCESS_KEY_ID'] as string, 'base64').toString()).toBe(s3.accessKeyId);
    expect(Buffer.from(data['AWS_SECRET_ACCESS_KEY'] as string, 'base64').toString()).toBe(s3.secretAccessKey);
    const sa = await admin.get({ apiVersion: 'v1', kind: 'ServiceAccount', name: 'wine-sa', namespace: ns });
    expect(sa?.['secrets']).toEqual([{ name: 'wine-s3' }]);
  });

  it('adds only a narrow ALLOW policy in the profile namespace and leaves the gateway policies alone', async () => {
    const policy = await admin.get({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'AuthorizationPolicy',
      name: 'wine-predictor-allow',
      namespace: ns,
    });
    expect(policy?.['spec']).toEqual({
      action: 'ALLOW',
      selector: { matchLabels: { 'serving.knative.dev/service': 'wine-predictor' } },
      rules: [{}],
    });
    for (const [name, rv] of Object.entries(protectedPolicies)) {
      const live = await admin.get({
        apiVersion: 'security.istio.io/v1beta1',
        kind: 'AuthorizationPolicy',
        name,
        namespace: 'istio-system',
      });
      expect(live?.metadata.resourceVersion, name).toBe(rv);
    }
    const all = await admin.list({ apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy' });
    const ours = all.items.filter((p) => p.metadata.managedFields?.some((f) => f.manager === 'kfops'));
    expect(ours.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toContain(`${ns}/wine-predictor-allow`);
    expect(
      ours.filter((p) => p.metadata.namespace === 'istio-system' || !p.metadata.name.endsWith('-predictor-allow')),
    ).toEqual([]);
  });

  it('re-deploying the same inputs changes nothing', async () => {
    const before = await getIsvc(ns, 'wine');
    const again = await run(deployInputs(ns));
    expect(again.code, again.log).toBe(0);
    expect(again.outputs['changed']).toBe('false');
    expect(again.log).toContain(`InferenceService ${ns}/wine unchanged (generation 1)`);
    expect(again.log).toMatch(/: Ready \(revision wine-predictor-00001\) \(wine-predictor-00001 100%\)/);
    expect(again.log).toContain("wine-predictor-allow (ALLOW, only this model's predictor pods) unchanged");
    const after = await getIsvc(ns, 'wine');
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  });

  it('canary, promote, rollback: the previous release serves again', async () => {
    const canary = await run(deployInputs(ns, { 'model-uri': 'models:/wine/1', 'canary-traffic-percent': '20' }));
    expect(canary.code, canary.log).toBe(0);
    expect(canary.outputs).toMatchObject({
      'model-version': '1',
      'latest-revision': 'wine-predictor-00002',
      'previous-revision': 'wine-predictor-00001',
      'model-uri': `${ARTIFACTS}/0/${runId}/artifacts/model`,
    });
    expect(JSON.parse(canary.outputs['traffic'] as string)).toEqual([
      { revision: 'wine-predictor-00002', percent: 20, latest: true },
      { revision: 'wine-predictor-00001', percent: 80, latest: false },
    ]);
    const previous = JSON.parse((await getIsvc(ns, 'wine'))?.metadata.annotations?.[PREVIOUS_ANNOTATION] as string);
    expect(previous).toMatchObject({ revision: 'wine-predictor-00001', model: { version: '2' } });

    const promoted = await run({ name: 'wine', namespace: ns, action: 'promote', timeout: '60s' });
    expect(promoted.code, promoted.log).toBe(0);
    expect(JSON.parse(promoted.outputs['traffic'] as string)).toEqual([
      { revision: 'wine-predictor-00002', percent: 100, latest: true },
    ]);
    expect((await getIsvc(ns, 'wine'))?.['spec']).not.toHaveProperty('predictor.canaryTrafficPercent');

    const rolled = await run({ name: 'wine', namespace: ns, action: 'rollback', timeout: '60s' });
    expect(rolled.code, rolled.log).toBe(0);
    const live = await getIsvc(ns, 'wine');
    expect((live?.['spec'] as { predictor: { model: { storageUri: string } } }).predictor.model.storageUri).toBe(
      `${ARTIFACTS}/0/models/${modelId}/artifacts`,
    );
    expect(rolled.outputs).toMatchObject({ 'model-version': '2', 'latest-revision': 'wine-predictor-00003' });
    expect(JSON.parse(rolled.outputs['traffic'] as string)).toEqual([
      { revision: 'wine-predictor-00003', percent: 100, latest: true },
    ]);
    expect(rolled.summary).toContain('Rolled back from wine-predictor-00002.');
    expect(JSON.parse(live?.metadata.annotations?.[APPLIED_ANNOTATION] as string)).toMatchObject({
      model: { version: '2' },
    });
    expect(JSON.parse(live?.metadata.annotations?.[PREVIOUS_ANNOTATION] as string)).toMatchObject({
      model: { version: '1' },
      revision: 'wine-predictor-00002',
    });
  }, 120_000);

  it('wrong credentials fail before anything is applied, in seconds, with the S3 error', async () => {
    const other = await namespace('wrongkey');
    const started = Date.now();
    const r = await run(deployInputs(other, { 's3-secret-access-key': 'not-the-secret' }));
    expect(r.code).toBe(1);
    expect(r.log).toContain('::error::deploy-inferenceservice: The S3 check of bucket "mlflow-store" at');
    expect(r.log).toContain('failed: SignatureDoesNotMatch (HTTP 403)');
    expect(r.log).toContain('Fix: the secret key does not match the access key id: check s3-secret-access-key');
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(await getIsvc(other, 'wine')).toBeUndefined();
    expect(await admin.get({ apiVersion: 'v1', kind: 'Secret', name: 'wine-s3', namespace: other })).toBeUndefined();
  });

  it('a missing alias fails with the aliases the model has', async () => {
    const r = await run(deployInputs(ns, { 'model-uri': 'models:/wine@production' }));
    expect(r.code).toBe(1);
    expect(r.log).toContain('::error::deploy-inferenceservice: Registered model "wine" has no alias "production"');
    expect(r.log).toContain('Cause: its aliases are @champion (version 2), @empty (version 1)');
  });
});

describe('failures on the cluster are named with their cause and fix', () => {
  const base = (ns: string, name: string, extra: Partial<ReleaseSettings> = {}): ReleaseSettings => ({
    action: 'deploy',
    service: { name, namespace: ns, deploymentMode: 'Serverless', annotations: {}, labels: {} },
    predictor: { storageUri: 's3://models/wine/1', modelFormat: 'mlflow', protocol: 'v2' },
    model: { uri: 's3://models/wine/1' },
    auth: { mode: 'auto', fromNamespaces: [] },
    wait: true,
    timeoutMs: 45_000,
    forceConflicts: false,
    ...extra,
  });

  /** Starts a release and, once the InferenceService exists, plays the controller's and kubelet's part. */
  async function failWhile(
    settings: ReleaseSettings,
    act: (ns: string, name: string) => Promise<void>,
  ): Promise<InferenceServiceError> {
    const { namespace: ns, name } = settings.service;
    const logger = recordingLogger();
    const started = Date.now();
    const pending = release(admin, settings, { logger }).then(
      () => undefined,
      (e: unknown) => e,
    );
    while (!(await getIsvc(ns, name))) await sleep(100);
    await act(ns, name);
    const error = await pending;
    expect(error, logger.lines.join('\n')).toBeInstanceOf(InferenceServiceError);
    // Fails as soon as the cause is visible, well before the 45 s deadline.
    expect(Date.now() - started).toBeLessThan(30_000);
    return error as InferenceServiceError;
  }

  const revisionStarted = (ns: string, name: string): Promise<void> =>
    writeIsvcStatus(controller, ns, name, {
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'Unknown', reason: 'RevisionPending' }],
      components: { predictor: { latestCreatedRevision: `${name}-predictor-00001` } },
    });

  it('storage-initializer failure: its output, the events, and the credentials fix', async () => {
    const ns = await namespace('fail-storage');
    const e = await failWhile(base(ns, 'wine'), async (n, name) => {
      await revisionStarted(n, name);
      await predictorPodWithStatus(
        controller,
        n,
        name,
        `${name}-predictor-00001`,
        {
          phase: 'Pending',
          initContainerStatuses: [
            {
              name: 'storage-initializer',
              image: 'kserve/storage-initializer:v0.13.1',
              imageID: '',
              ready: false,
              restartCount: 2,
              started: false,
              state: {
                waiting: {
                  reason: 'CrashLoopBackOff',
                  message: 'back-off 20s restarting failed container=storage-initializer',
                },
              },
              lastState: {
                terminated: {
                  exitCode: 1,
                  reason: 'Error',
                  message:
                    'botocore.exceptions.ClientError: An error occurred (InvalidAccessKeyId) when calling the ListObjectsV2 operation: The AWS Access Key Id you provided does not exist in our records.',
                  startedAt: new Date().toISOString(),
                  finishedAt: new Date().toISOString(),
                },
              },
            },
          ],
          containerStatuses: [
            {
              name: 'kserve-container',
              image: 'docker.io/seldonio/mlserver:1.3.2',
              imageID: '',
              ready: false,
              restartCount: 0,
              started: false,
              state: { waiting: { reason: 'PodInitializing' } },
            },
          ],
        },
        (pod) =>
          recordEvent(
            controller,
            n,
            { kind: 'Pod', name: pod },
            'Warning',
            'BackOff',
            'Back-off restarting failed container storage-initializer in pod',
          ),
      );
    });
    expect(e.kind).toBe('storage-initializer');
    expect(e.message).toMatch(
      /^InferenceService fail-storage-[\w-]+\/wine failed: the storage-initializer could not download the model \(pod wine-predictor-00001-deployment-\w+, exit code 1, Error\)$/,
    );
    expect(e.details.cause).toContain('(InvalidAccessKeyId) when calling the ListObjectsV2 operation');
    expect(e.details.cause).toContain(
      'Event: BackOff: Back-off restarting failed container storage-initializer in pod',
    );
    // No kubelet runs here, so the log endpoint cannot answer; the error says so instead of hiding it.
    expect(e.details.cause).toMatch(/\(log of wine-predictor-00001-deployment-\w+\/storage-initializer unavailable: /);
    expect(e.details.fix).toMatch(/^the storage credentials are missing or wrong: set s3-access-key-id/);
  });

  it('image pull failure', async () => {
    const ns = await namespace('fail-pull');
    const e = await failWhile(
      base(ns, 'wine', {
        predictor: {
          storageUri: 's3://models/wine/1',
          modelFormat: 'mlflow',
          protocol: 'v2',
          runtime: 'custom-mlserver',
        },
      }),
      async (n, name) => {
        await revisionStarted(n, name);
        await predictorPodWithStatus(
          controller,
          n,
          name,
          `${name}-predictor-00001`,
          {
            phase: 'Pending',
            initContainerStatuses: [
              {
                name: 'storage-initializer',
                image: 'kserve/storage-initializer:v0.13.1',
                imageID: '',
                ready: true,
                restartCount: 0,
                state: { terminated: { exitCode: 0, reason: 'Completed' } },
              },
            ],
            containerStatuses: [
              {
                name: 'kserve-container',
                image: 'registry.example.com/mlserver:9.9',
                imageID: '',
                ready: false,
                restartCount: 0,
                started: false,
                state: {
                  waiting: {
                    reason: 'ImagePullBackOff',
                    message: 'Back-off pulling image "registry.example.com/mlserver:9.9"',
                  },
                },
              },
            ],
          },
          (pod) =>
            recordEvent(
              controller,
              n,
              { kind: 'Pod', name: pod },
              'Warning',
              'Failed',
              'Failed to pull image "registry.example.com/mlserver:9.9": rpc error: code = NotFound desc = manifest unknown',
            ),
        );
      },
    );
    expect(e.kind).toBe('image-pull');
    expect(e.message).toContain('the image of container kserve-container cannot be pulled');
    expect(e.details.cause).toContain('Back-off pulling image "registry.example.com/mlserver:9.9"');
    expect(e.details.cause).toContain(
      'Event: Failed: Failed to pull image "registry.example.com/mlserver:9.9": rpc error: code = NotFound desc = manifest unknown',
    );
    expect(e.details.fix).toContain('check that image registry.example.com/mlserver:9.9 exists');
  });

  it('crash loop of the model server', async () => {
    const ns = await namespace('fail-crash');
    const e = await failWhile(base(ns, 'wine'), async (n, name) => {
      await revisionStarted(n, name);
      await predictorPodWithStatus(controller, n, name, `${name}-predictor-00001`, {
        phase: 'Running',
        initContainerStatuses: [
          {
            name: 'storage-initializer',
            image: 'kserve/storage-initializer:v0.13.1',
            imageID: '',
            ready: true,
            restartCount: 0,
            state: { terminated: { exitCode: 0, reason: 'Completed' } },
          },
        ],
        containerStatuses: [
          {
            name: 'kserve-container',
            image: 'docker.io/seldonio/mlserver:1.3.2',
            imageID: '',
            ready: false,
            restartCount: 4,
            started: false,
            state: {
              waiting: {
                reason: 'CrashLoopBackOff',
                message: 'back-off 1m20s restarting failed container=kserve-container',
              },
            },
            lastState: {
              terminated: { exitCode: 1, reason: 'Error', message: "ModuleNotFoundError: No module named 'xgboost'" },
            },
          },
        ],
      });
    });
    expect(e.kind).toBe('crash-loop');
    expect(e.message).toMatch(
      /container kserve-container of pod wine-predictor-00001-deployment-\w+ keeps crashing \(CrashLoopBackOff \(last exit: Error 1\), 4 restart\(s\)\)/,
    );
    expect(e.details.cause).toContain("ModuleNotFoundError: No module named 'xgboost'");
    expect(e.details.fix).toContain('requirements.txt');
  });

  it('unschedulable: the real scheduler finds no node with 64 CPUs', async () => {
    const ns = await namespace('fail-sched');
    await withStandin(ns);
    const settings = base(ns, 'big', {
      predictor: {
        storageUri: 's3://models/wine/1',
        modelFormat: 'mlflow',
        protocol: 'v2',
        resources: { requests: { cpu: '64', memory: '1Gi' } },
      },
      unschedulableGraceMs: 0,
    });
    const error = await release(admin, settings, { logger: recordingLogger() }).then(
      () => undefined,
      (x: unknown) => x as InferenceServiceError,
    );
    expect(error).toBeInstanceOf(InferenceServiceError);
    expect(error?.kind).toBe('unschedulable');
    expect(error?.details.cause).toMatch(/Insufficient cpu/);
    expect(error?.details.fix).toMatch(/^no node has enough free cpu: lower the pod's resources.requests/);
  });

  it('RevisionFailed: "Initial scale was never achieved" points at the storage credentials', async () => {
    const ns = await namespace('fail-rev');
    const e = await failWhile(base(ns, 'wine'), async (n, name) => {
      await recordEvent(
        controller,
        n,
        { kind: 'InferenceService', name, apiVersion: ISVC },
        'Warning',
        'InternalError',
        'fails to reconcile predictor: Initial scale was never achieved',
        'v1beta1Controllers',
      );
      await writeIsvcStatus(controller, n, name, {
        observedGeneration: 1,
        conditions: [
          {
            type: 'PredictorReady',
            status: 'False',
            reason: 'RevisionFailed',
            message: `Revision "${name}-predictor-00001" failed with message: Initial scale was never achieved.`,
          },
          {
            type: 'Ready',
            status: 'False',
            reason: 'RevisionFailed',
            message: `Revision "${name}-predictor-00001" failed with message: Initial scale was never achieved.`,
          },
        ],
        components: { predictor: { latestCreatedRevision: `${name}-predictor-00001` } },
      });
    });
    expect(e.kind).toBe('revision-failed');
    expect(e.details.cause).toContain('Initial scale was never achieved');
    expect(e.details.cause).toContain('Event: InternalError: fails to reconcile predictor');
    expect(e.details.fix).toContain('missing or wrong S3 credentials');
  });

  it('a timeout with no controller at work says so', async () => {
    const ns = await namespace('fail-timeout');
    const error = await release(admin, base(ns, 'idle', { timeoutMs: 1500 }), { logger: recordingLogger() }).then(
      () => undefined,
      (x: unknown) => x as InferenceServiceError,
    );
    expect(error?.kind).toBe('timeout');
    expect(error?.message).toBe(`InferenceService ${ns}/idle did not become ready within 1.5s`);
    expect(error?.details.cause).toBe(
      'last observed: waiting for the KServe controller to reconcile the change (no status yet)',
    );
    expect(error?.details.fix).toMatch(/^no KServe controller wrote a status/);
  });

  it('RevisionMissing that lasts, and modelStatus.lastFailureInfo', async () => {
    const ns = await namespace('fail-missing');
    const missing = await failWhile(base(ns, 'wine', { revisionMissingGraceMs: 2000 }), (n, name) =>
      writeIsvcStatus(controller, n, name, {
        observedGeneration: 1,
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'RevisionMissing',
            message: `Configuration "${name}-predictor" does not have any ready Revision.`,
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      }),
    );
    expect(missing.kind).toBe('revision-missing');
    expect(missing.details.cause).toBe('Configuration "wine-predictor" does not have any ready Revision.');

    const model = await failWhile(base(ns, 'other'), (n, name) =>
      writeIsvcStatus(controller, n, name, {
        observedGeneration: 1,
        conditions: [{ type: 'Ready', status: 'False', reason: 'PredictorNotReady' }],
        modelStatus: {
          transitionStatus: 'InvalidSpec',
          lastFailureInfo: {
            reason: 'NoSupportingRuntime',
            message: 'Specified runtime does not support specified framework/version',
          },
        },
      }),
    );
    expect(model.kind).toBe('model-load');
    expect(model.message).toContain('KServe reports NoSupportingRuntime for the model (transition status InvalidSpec)');
    expect(model.details.fix).toContain('set runtime (e.g. kserve-mlserver for mlflow)');
  });
});
