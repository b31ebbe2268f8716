import { describe, expect, it } from 'vitest';
import { readSettings } from '../../src/actions/deploy-inferenceservice/inputs.js';
import { isProfileNamespace, predictorPolicy } from '../../src/kserve/auth.js';
import { stableJson } from '../../src/common/json.js';
import {
  APPLIED_ANNOTATION,
  planRelease,
  PREVIOUS_ANNOTATION,
  protocolProblem,
  renderInferenceService,
  renderPredictor,
  type PredictorSettings,
} from '../../src/kserve/inferenceservice.js';
import { DeadlineError, releaseModel, type ReleaseModelSettings } from '../../src/kserve/release.js';
import { ModelSourceError, parseModelSource } from '../../src/kserve/source.js';
import { parseEndpoint, S3_ANNOTATIONS, storageObjects } from '../../src/kserve/storage.js';
import { assess, storageFix, type AssessOptions, type WatchState } from '../../src/kserve/wait.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { KubeObject } from '../../src/kube/types.js';
import {
  mapArtifactUri,
  MlflowClient,
  MlflowError,
  parseTrackingUri,
  type FetchLike,
} from '../../src/mlflow/registry.js';
import { fakeInputs as inputs } from '../support/inputs-fake.js';

describe('model references', () => {
  it('parses aliases and versions, and refuses stages with a hint', () => {
    expect(parseModelSource('models:/wine@champion')).toEqual({
      kind: 'registry',
      uri: 'models:/wine@champion',
      ref: { name: 'wine', alias: 'champion' },
    });
    expect(parseModelSource('models:/wine/12')).toMatchObject({
      kind: 'registry',
      ref: { name: 'wine', version: '12' },
    });
    expect(() => parseModelSource('models:/wine/Production')).toThrow(
      /stages such as "Production" are deprecated in MLflow: give an alias, e.g. models:\/wine@champion/,
    );
    expect(() => parseModelSource('models:/')).toThrow(ModelSourceError);
    expect(() => parseModelSource('models:/%E0@x')).toThrow(/valid percent-encoding/);
  });

  it('parses each storage kind once, into its parts', () => {
    expect(parseModelSource('s3://models/a/b/')).toEqual({
      kind: 's3',
      uri: 's3://models/a/b/',
      bucket: 'models',
      prefix: 'a/b',
    });
    expect(parseModelSource('gs://bucket_1/m')).toEqual({
      kind: 'gcs',
      uri: 'gs://bucket_1/m',
      bucket: 'bucket_1',
      prefix: 'm',
    });
    expect(parseModelSource('pvc://models-claim/wine/1')).toEqual({
      kind: 'pvc',
      uri: 'pvc://models-claim/wine/1',
      claim: 'models-claim',
      path: 'wine/1',
    });
    expect(parseModelSource('https://example.com/m.joblib')).toEqual({
      kind: 'uri',
      uri: 'https://example.com/m.joblib',
      scheme: 'https',
    });
  });

  it('refuses a missing bucket, a bad bucket, the MLmodel file, credentials in a URL and unknown schemes', () => {
    const problem = (text: string): string => {
      try {
        parseModelSource(text);
      } catch (error) {
        expect(error).toBeInstanceOf(ModelSourceError);
        return (error as ModelSourceError).expected;
      }
      throw new Error(`${text} was accepted`);
    };
    expect(problem('s3:///x')).toContain('the bucket is missing');
    expect(problem('gs:///x')).toContain('the bucket is missing');
    expect(problem('s3://Bad_Bucket/x')).toContain('bucket name');
    expect(problem('s3://models/wine/1/MLmodel')).toContain('the directory that holds MLmodel (s3://models/wine/1)');
    expect(problem('pvc://Claim/x')).toContain('PersistentVolumeClaim');
    expect(problem('ftp://host/x')).toContain('a storage URI');
    expect(problem('https://user:hunter2@example.com/m')).toContain('without credentials');
    try {
      parseModelSource('https://user:hunter2@example.com/m');
    } catch (error) {
      expect((error as ModelSourceError).value).toBe('https://***@example.com/m');
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('a tracking URI with credentials gives them as basic auth, never in the URL', async () => {
    expect(parseTrackingUri('https://ana:s%3Acret@mlflow.example.com/')).toEqual({
      url: 'https://mlflow.example.com',
      username: 'ana',
      password: 's:cret',
    });
    expect(() => parseTrackingUri('ftp://mlflow')).toThrow(/the http\(s\) URL of the MLflow tracking server/);
    const seen: { url: string; auth?: string }[] = [];
    const fetch: FetchLike = async (url, init) => {
      seen.push({ url, ...(init?.headers?.['Authorization'] ? { auth: init.headers['Authorization'] } : {}) });
      return { status: 200, text: async () => '{"model_version": {"name": "wine", "version": "2"}}' };
    };
    const client = new MlflowClient({ trackingUri: 'https://ana:secret@mlflow.example.com', fetch });
    expect(client.url).toBe('https://mlflow.example.com');
    await client.version('wine', '2');
    expect(seen).toEqual([
      {
        url: 'https://mlflow.example.com/api/2.0/mlflow/model-versions/get?name=wine&version=2',
        auth: `Basic ${Buffer.from('ana:secret').toString('base64')}`,
      },
    ]);
  });

  it('a request to a server that never answers ends at its own deadline, saying so', async () => {
    const fetch: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    const started = Date.now();
    const e = await new MlflowClient({ trackingUri: 'http://mlflow.example.com', fetch, timeoutMs: 200 })
      .version('wine', '1')
      .then(
        () => undefined,
        (x: unknown) => x,
      );
    expect(e).toBeInstanceOf(MlflowError);
    expect((e as MlflowError).message).toBe(
      'The MLflow tracking server at http://mlflow.example.com did not answer within 200ms',
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('maps proxied artifact URIs onto the artifact root, with or without a host', () => {
    expect(mapArtifactUri('mlflow-artifacts:/1/abc/artifacts/model', 's3://mlflow/artifacts/')).toBe(
      's3://mlflow/artifacts/1/abc/artifacts/model',
    );
    expect(mapArtifactUri('mlflow-artifacts://mlflow.example.com:5000/1/models/m-1/artifacts', 's3://mlflow')).toBe(
      's3://mlflow/1/models/m-1/artifacts',
    );
    expect(mapArtifactUri('s3://b/x', undefined)).toBe('s3://b/x');
  });
});

describe('storage', () => {
  it('endpoints and URIs', () => {
    expect(parseEndpoint('minio-service.kubeflow:9000')).toEqual({ host: 'minio-service.kubeflow:9000' });
    expect(parseEndpoint('https://s3.example.com/')).toEqual({ host: 's3.example.com', useHttps: true });
    expect(parseEndpoint('ftp://x')).toBeUndefined();
    expect(parseEndpoint('minio:99999')).toBeUndefined();
  });

  it('the Secret carries the keys in data with KServe annotations; the ServiceAccount lists it', () => {
    const [secret, sa] = storageObjects({ secret: 'wine-s3', serviceAccount: 'wine-sa' }, 'ns', {
      endpoint: 'minio:9000',
      region: 'us-east-1',
      useHttps: false,
      verifySsl: true,
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
    });
    expect(secret?.metadata.annotations).toEqual({
      [S3_ANNOTATIONS.endpoint]: 'minio:9000',
      [S3_ANNOTATIONS.useHttps]: '0',
      [S3_ANNOTATIONS.region]: 'us-east-1',
      [S3_ANNOTATIONS.verifySsl]: '1',
    });
    expect(secret?.['data']).toEqual({ AWS_ACCESS_KEY_ID: 'QUs=', AWS_SECRET_ACCESS_KEY: 'U0s=' });
    expect(secret?.['stringData']).toBeUndefined();
    expect(sa?.['secrets']).toEqual([{ name: 'wine-s3' }]);
  });
});

describe('inputs', () => {
  const base = { name: 'wine', namespace: 'team', 'model-uri': 's3://models/wine/1' };

  it('defaults: mlflow, v2, Serverless; credentials masked and stored for a ServiceAccount', () => {
    const masked: string[] = [];
    const s = readSettings(
      inputs(
        {
          ...base,
          's3-access-key-id': 'AKID',
          's3-secret-access-key': 'SECRET',
          's3-endpoint': 'http://minio.kubeflow:9000',
        },
        masked,
      ),
    );
    expect(masked).toEqual(['AKID', 'SECRET']);
    expect(s.releaseModel.model?.source).toEqual({
      kind: 's3',
      uri: 's3://models/wine/1',
      bucket: 'models',
      prefix: 'wine/1',
    });
    expect(s.releaseModel.model?.predictor).toMatchObject({
      modelFormat: 'mlflow',
      protocol: 'v2',
      serviceAccountName: 'wine-sa',
    });
    expect(s.releaseModel.release.s3?.settings).toMatchObject({
      endpoint: 'minio.kubeflow:9000',
      useHttps: false,
      region: 'us-east-1',
    });
    expect(s.releaseModel.release.service.deploymentMode).toBe('Serverless');
    expect(s.releaseModel.timeoutMs).toBe(600_000);
  });

  it('credentials in the tracking URI become basic auth, masked, and are refused next to mlflow-username', () => {
    const masked: string[] = [];
    const s = readSettings(
      inputs(
        { ...base, 'model-uri': 'models:/wine@champion', 'mlflow-tracking-uri': 'https://ana:pw-1@mlflow.example.com' },
        masked,
      ),
    );
    expect(s.releaseModel.mlflow).toEqual({ url: 'https://mlflow.example.com', username: 'ana', password: 'pw-1' });
    expect(masked).toEqual(['pw-1']);
    expect(() =>
      readSettings(
        inputs({
          ...base,
          'model-uri': 'models:/wine@champion',
          'mlflow-tracking-uri': 'https://ana:pw-1@mlflow.example.com',
          'mlflow-username': 'bob',
          'mlflow-password': 'x',
        }),
      ),
    ).toThrow(
      /^Input 'mlflow-tracking-uri' has the value "https:\/\/mlflow.example.com": expected credentials either in the URL/,
    );
    expect(() =>
      readSettings(
        inputs({
          ...base,
          'model-uri': 'models:/wine@champion',
          'mlflow-tracking-uri': 'https://mlflow.example.com',
          'mlflow-password': 'x',
        }),
      ),
    ).toThrow(/Input 'mlflow-username' is required/);
  });

  it('refuses v1 with mlflow and says why', () => {
    expect(() => readSettings(inputs({ ...base, protocol: 'v1' }))).toThrow(
      /Input 'protocol' has the value "v1": expected `v2` \(or `grpc-v2`\) for model-format mlflow: KServe serves MLflow models only with the MLServer runtime/,
    );
    expect(protocolProblem('sklearn', 'v1')).toBeUndefined();
  });

  it('refuses a canary with RawDeployment, half a credential pair, and a models:/ URI without a tracking server', () => {
    expect(() =>
      readSettings(inputs({ ...base, 'canary-traffic-percent': '10', 'deployment-mode': 'RawDeployment' })),
    ).toThrow(/traffic split of a canary rollout is done by Knative/);
    expect(() => readSettings(inputs({ ...base, 's3-access-key-id': 'AKID' }))).toThrow(
      /Input 's3-secret-access-key' is required: expected both s3-access-key-id and s3-secret-access-key/,
    );
    expect(() => readSettings(inputs({ ...base, 'model-uri': 'models:/wine@champion' }))).toThrow(
      /Input 'mlflow-tracking-uri' is required/,
    );
    expect(() => readSettings(inputs({ ...base, 'model-uri': 'ftp://x' }))).toThrow(
      /Input 'model-uri' has the value "ftp:\/\/x"/,
    );
    expect(() => readSettings(inputs({ ...base, name: 'Wine_1' }))).toThrow(/Input 'name' has the value "Wine_1"/);
  });

  it('promote and rollback need no model', () => {
    expect(readSettings(inputs({ name: 'wine', action: 'rollback' })).releaseModel.model).toBeUndefined();
  });

  it('resources, annotations and labels', () => {
    const read = (extra: Record<string, string>) => readSettings(inputs({ ...base, ...extra }));
    expect(
      read({ resources: '{requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 1}}' }).releaseModel.model?.predictor
        .resources,
    ).toEqual({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1' } });
    expect(() => read({ resources: '{request: {}}' })).toThrow(/unknown key "request"/);
    expect(() => read({ resources: '{limits: {memory: lots}}' })).toThrow(
      /limits.memory: "lots" is not a Kubernetes quantity/,
    );
    expect(read({ labels: 'team=ml\nowner=ana' }).releaseModel.release.service.labels).toEqual({
      team: 'ml',
      owner: 'ana',
    });
    expect(
      read({ annotations: "{'autoscaling.knative.dev/target': 5}" }).releaseModel.release.service.annotations,
    ).toEqual({ 'autoscaling.knative.dev/target': '5' });
    expect(() => read({ labels: 'team=not ok' })).toThrow(/label values of at most 63/);
    expect(() => read({ annotations: 'serving.kserve.io/deploymentMode=RawDeployment' })).toThrow(
      /is set by this action/,
    );
  });
});

describe('releaseModel (fake clients)', () => {
  const service = { name: 'wine', namespace: 'ns', deploymentMode: 'Serverless' as const, annotations: {}, labels: {} };
  const settings = (over: Partial<ReleaseModelSettings> = {}): ReleaseModelSettings => ({
    release: {
      action: 'deploy',
      service,
      auth: { mode: 'skip', fromNamespaces: [] },
      wait: false,
      forceConflicts: false,
    },
    model: { source: parseModelSource('models:/wine@champion'), predictor: { modelFormat: 'mlflow', protocol: 'v2' } },
    mlflow: { url: 'http://mlflow.example.com', artifactRoot: 's3://mlflow/artifacts' },
    s3Check: true,
    timeoutMs: 300,
    ...over,
  });
  const noKube = (): KubeClient => {
    throw new Error('the cluster must not be reached');
  };

  it('the overall deadline ends a registry call that never answers, naming the server', async () => {
    const silent: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    const started = Date.now();
    const e = await releaseModel(settings(), {
      kube: noKube,
      mlflow: (o) => new MlflowClient({ ...o, fetch: silent }),
    }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(DeadlineError);
    expect((e as DeadlineError).message).toBe(
      'The 300ms deadline passed while waiting for models:/wine@champion to resolve',
    );
    expect((e as DeadlineError).details.cause).toBe(
      'the MLflow tracking server at http://mlflow.example.com did not answer before the deadline',
    );
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('the overall deadline ends an S3 listing that never answers, and the report says where it stopped', async () => {
    const report = { action: 'deploy' as const, step: 'resolve' as const, startedAt: Date.now() };
    const s3 = {
      settings: {
        endpoint: '127.0.0.1:9',
        region: 'us-east-1',
        useHttps: false,
        verifySsl: true,
        accessKeyId: 'a',
        secretAccessKey: 'b',
      },
      secretName: 'wine-s3',
      serviceAccountName: 'wine-sa',
    };
    const e = await releaseModel(
      settings({
        model: { source: parseModelSource('s3://models/wine/1'), predictor: { modelFormat: 'mlflow', protocol: 'v2' } },
        release: { ...settings().release, s3 },
      }),
      { kube: noKube, s3: () => ({ list: () => new Promise(() => undefined) }) },
      { report },
    ).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as DeadlineError).details.cause).toBe(
      'the S3 server at http://127.0.0.1:9 did not answer before the deadline',
    );
    expect(report).toMatchObject({
      step: 'check',
      model: { uri: 's3://models/wine/1', source: { kind: 's3', bucket: 'models' } },
    });
  });

  it('a registry answer KServe cannot read is refused before the cluster is reached', async () => {
    const answers: Record<string, string> = {
      'registered-models/alias': '{"model_version": {"name": "wine", "version": "3", "status": "READY"}}',
      'model-versions/get-download-uri': '{"artifact_uri": "s3:///no-bucket/model"}',
    };
    const fetch: FetchLike = async (url) => ({
      status: 200,
      text: async () => answers[new URL(url).pathname.replace('/api/2.0/mlflow/', '')] ?? '{}',
    });
    const e = await releaseModel(settings({ timeoutMs: 5_000 }), {
      kube: noKube,
      mlflow: (o) => new MlflowClient({ ...o, fetch }),
    }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ModelSourceError);
    expect((e as ModelSourceError).expected).toContain('the bucket is missing');
  });
});

describe('releases', () => {
  const p = (uri: string, extra: Partial<PredictorSettings> = {}): Record<string, unknown> =>
    renderPredictor({ storageUri: uri, modelFormat: 'mlflow', protocol: 'v2', ...extra });
  const service = { name: 'wine', namespace: 'ns', deploymentMode: 'Serverless' as const, annotations: {}, labels: {} };
  const live = (
    predictor: Record<string, unknown>,
    previous?: unknown,
    revision = 'wine-predictor-00001',
  ): KubeObject => {
    const plan = planRelease('deploy', undefined, {
      predictor,
      model: { uri: String((predictor['model'] as Record<string, unknown>)['storageUri']) },
    });
    const obj = renderInferenceService(service, predictor, { applied: plan.applied });
    if (previous) (obj.metadata.annotations as Record<string, string>)[PREVIOUS_ANNOTATION] = JSON.stringify(previous);
    return { ...obj, status: { components: { predictor: { latestReadyRevision: revision } } } };
  };

  it('a first deploy has no previous release; a new model makes the live one previous, with its revision', () => {
    expect(
      planRelease('deploy', undefined, { predictor: p('s3://m/1'), model: { uri: 's3://m/1' } }).previous,
    ).toBeUndefined();
    const plan = planRelease('deploy', live(p('s3://m/1')), { predictor: p('s3://m/2'), model: { uri: 's3://m/2' } });
    expect(plan.changed).toBe(true);
    expect(plan.previous).toEqual({
      predictor: p('s3://m/1'),
      model: { uri: 's3://m/1' },
      revision: 'wine-predictor-00001',
    });
  });

  it('the same spec again changes nothing and keeps the previous release', () => {
    const prev = { predictor: p('s3://m/0'), revision: 'wine-predictor-00000' };
    const plan = planRelease('deploy', live(p('s3://m/1'), prev), {
      predictor: p('s3://m/1'),
      model: { uri: 's3://m/1' },
    });
    expect(plan.changed).toBe(false);
    expect(plan.previous).toEqual(prev);
  });

  it('changing only the canary percent keeps the release it is measured against', () => {
    const prev = { predictor: p('s3://m/0'), revision: 'wine-predictor-00001' };
    const plan = planRelease(
      'deploy',
      live(p('s3://m/1', { canaryTrafficPercent: 10 }), prev, 'wine-predictor-00002'),
      { predictor: p('s3://m/1', { canaryTrafficPercent: 50 }), model: { uri: 's3://m/1' } },
    );
    expect(plan.previous).toEqual(prev);
  });

  it('promote drops the canary; rollback restores the previous predictor and keeps the current one as previous', () => {
    const prev = { predictor: p('s3://m/0'), model: { uri: 's3://m/0' }, revision: 'wine-predictor-00001' };
    const obj = live(p('s3://m/1', { canaryTrafficPercent: 10 }), prev, 'wine-predictor-00002');
    const promoted = planRelease('promote', obj);
    expect(promoted.predictor['canaryTrafficPercent']).toBeUndefined();
    expect(promoted.previous).toEqual(prev);
    const rolled = planRelease('rollback', obj);
    expect(rolled.predictor).toEqual(p('s3://m/0'));
    expect(rolled.previous?.predictor).toEqual(p('s3://m/1', { canaryTrafficPercent: 10 }));
    expect(rolled.previous?.revision).toBe('wine-predictor-00002');
    expect(() => planRelease('rollback', live(p('s3://m/1')))).toThrow('There is no previous release to roll back to');
    expect(() => planRelease('promote', undefined)).toThrow('There is no InferenceService to promote');
  });

  it('annotations hold the records', () => {
    const obj = renderInferenceService(service, p('s3://m/1'), { applied: { predictor: p('s3://m/1') } });
    expect(JSON.parse(obj.metadata.annotations?.[APPLIED_ANNOTATION] as string)).toEqual({ predictor: p('s3://m/1') });
    expect(obj.metadata.annotations?.['serving.kserve.io/deploymentMode']).toBe('Serverless');
  });
});

describe('auth policy', () => {
  it('selects only the predictor pods of this model, per mode', () => {
    expect(predictorPolicy('wine', 'ns', 'Serverless')['spec'] as Record<string, unknown>).toEqual({
      action: 'ALLOW',
      selector: { matchLabels: { 'serving.knative.dev/service': 'wine-predictor' } },
      rules: [{}],
    });
    expect(predictorPolicy('wine', 'ns', 'RawDeployment', ['kubeflow'])['spec'] as Record<string, unknown>).toEqual({
      action: 'ALLOW',
      selector: { matchLabels: { app: 'isvc.wine-predictor' } },
      rules: [{ from: [{ source: { namespaces: ['kubeflow'] } }] }],
    });
    expect(
      isProfileNamespace({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'x', labels: { 'app.kubernetes.io/part-of': 'kubeflow-profile' } },
      }),
    ).toBe(true);
    expect(isProfileNamespace({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } })).toBe(false);
  });
});

describe('assess', () => {
  const opts: AssessOptions = {
    changed: true,
    baselineStatus: 'null',
    since: Date.parse('2026-01-01T00:00:00Z'),
    now: Date.parse('2026-01-01T00:01:00Z'),
    unschedulableGraceMs: 30_000,
    revisionMissingGraceMs: 60_000,
    latestPercent: 100,
  };
  const isvc = (status: Record<string, unknown>): KubeObject => ({
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: 'wine', namespace: 'ns', generation: 2 },
    status,
  });
  const state = (status: Record<string, unknown>, pods: KubeObject[] = []): WatchState => ({
    isvc: isvc(status),
    pods: new Map(pods.map((x) => [x.metadata.name, x])),
    events: new Map(),
  });

  it('after a change, is ready only on a status written since the apply, with a new revision and the expected traffic', () => {
    const ready = {
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'True' }],
      components: {
        predictor: {
          latestCreatedRevision: 'r2',
          traffic: [{ revisionName: 'r2', percent: 100, latestRevision: true }],
        },
      },
    };
    const old = {
      ...ready,
      components: {
        predictor: {
          latestCreatedRevision: 'r1',
          traffic: [{ revisionName: 'r1', percent: 100, latestRevision: true }],
        },
      },
    };
    // The status the apply returned is the old one: not yet reconciled.
    expect(assess(state(old), { ...opts, baselineStatus: stableJson(old) }).message).toBe(
      'waiting for the KServe controller to reconcile the change (no status written since the apply)',
    );
    // A status was written, but still for the old revision.
    expect(
      assess(state({ ...old, conditions: [{ type: 'Ready', status: 'True', reason: 'x' }] }), {
        ...opts,
        baselineStatus: stableJson(old),
        expectNewRevision: { previous: 'r1' },
      }).message,
    ).toBe('waiting for a new predictor revision (latest created: r1)');
    expect(
      assess(state(ready), { ...opts, baselineStatus: stableJson(old), expectNewRevision: { previous: 'r1' } }),
    ).toEqual({ state: 'ready', message: 'Ready (revision r2) (r2 100%)' });
    expect(assess(state(ready), { ...opts, latestPercent: 10 }).message).toBe(
      'Ready, waiting for traffic: the latest revision has 100% (want 10%)',
    );
    // Nothing changed: the live status counts as it is.
    expect(assess(state(old), { ...opts, changed: false, baselineStatus: stableJson(old) }).state).toBe('ready');
  });

  it('RawDeployment: Ready also needs the predictor Deployment rolled out', () => {
    const ready = {
      conditions: [{ type: 'Ready', status: 'True' }],
      components: { predictor: { latestCreatedRevision: '2' } },
    };
    const dep = (updated: number): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'wine-predictor', generation: 2 },
      spec: { replicas: 1 },
      status: {
        observedGeneration: 2,
        replicas: 1 + (1 - updated),
        updatedReplicas: updated,
        availableReplicas: 1,
        conditions: [{ type: 'Available', status: 'True' }],
      },
    });
    const raw = { ...opts, deploymentMode: 'RawDeployment' as const };
    expect(assess({ ...state(ready), deployment: dep(0) }, raw).message).toMatch(
      /^Ready, waiting for the predictor Deployment's rollout: 1\/1 available, 0 updated/,
    );
    expect(assess({ ...state(ready), deployment: dep(1) }, raw).state).toBe('ready');
  });

  it('RevisionFailed with "Initial scale was never achieved" points at the storage credentials first', () => {
    const a = assess(
      state({
        conditions: [
          {
            type: 'PredictorReady',
            status: 'False',
            reason: 'RevisionFailed',
            message: 'Revision "wine-predictor-00002" failed with message: Initial scale was never achieved.',
          },
          { type: 'Ready', status: 'False', reason: 'RevisionFailed' },
        ],
      }),
      opts,
    );
    expect(a.failure?.kind).toBe('revision-failed');
    expect(a.failure?.fix).toMatch(
      /^no pod of the revision ever became ready. Most often the storage-initializer could not download the model/,
    );
  });

  it('RevisionMissing fails only after its grace period', () => {
    const cond = (t: string) => ({
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'RevisionMissing',
          message: 'Configuration "wine-predictor" does not have any ready Revision.',
          lastTransitionTime: t,
        },
      ],
    });
    expect(assess(state(cond('2026-01-01T00:00:30Z')), opts).state).toBe('pending');
    expect(assess(state(cond('2026-01-01T00:00:00Z')), opts).failure?.kind).toBe('revision-missing');
  });

  it('lastFailureInfo names the reason and its fix', () => {
    const a = assess(
      state({
        modelStatus: {
          transitionStatus: 'InvalidSpec',
          lastFailureInfo: {
            reason: 'NoSupportingRuntime',
            message: 'Specified runtime does not support specified framework/version',
          },
        },
      }),
      opts,
    );
    expect(a.failure).toMatchObject({
      kind: 'model-load',
      headline: 'KServe reports NoSupportingRuntime for the model (transition status InvalidSpec)',
    });
    expect(a.failure?.fix).toContain('kserve-mlserver');
  });

  it('a pod the scheduler cannot place fails after the grace period, naming the resource', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'wine-predictor-00002-deployment-1',
        creationTimestamp: '2026-01-01T00:00:10Z' as unknown as Date,
        labels: { 'serving.knative.dev/revision': 'wine-predictor-00002' },
      },
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.',
            lastTransitionTime: '2026-01-01T00:00:10Z',
          },
        ],
      },
    };
    const st = (extra: Record<string, unknown> = {}) =>
      state({ components: { predictor: { latestCreatedRevision: 'wine-predictor-00002' } }, ...extra }, [pod]);
    expect(assess(st(), { ...opts, now: Date.parse('2026-01-01T00:00:20Z') }).state).toBe('pending');
    const a = assess(st(), opts);
    expect(a.failure?.kind).toBe('unschedulable');
    expect(a.failure?.fix).toMatch(/^no node has enough free cpu: /);
    // Pods of other revisions do not count.
    expect(
      assess(state({ components: { predictor: { latestCreatedRevision: 'wine-predictor-00003' } } }, [pod]), opts)
        .state,
    ).toBe('pending');
  });

  it('Ready with a restarting model server is ready, with a warning', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'wine-predictor-00002-deployment-1', labels: { 'serving.knative.dev/revision': 'r2' } },
      status: {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'kserve-container',
            image: 'mlserver',
            imageID: '',
            ready: false,
            restartCount: 2,
            state: { running: {} },
            lastState: { terminated: { exitCode: 1, reason: 'Error' } },
          },
        ],
      },
    };
    const a = assess(
      state(
        { conditions: [{ type: 'Ready', status: 'True' }], components: { predictor: { latestCreatedRevision: 'r2' } } },
        [pod],
      ),
      { ...opts, latestPercent: undefined },
    );
    expect(a.state).toBe('ready');
    expect(a.warning).toMatch(
      /^InferenceService is Ready, but container kserve-container of pod wine-predictor-00002-deployment-1 is failing \(Error \(exit code 1\), 2 restart\(s\)\)/,
    );
  });

  it('storage-initializer output decides the fix', () => {
    expect(storageFix('botocore.exceptions.ClientError: An error occurred (InvalidAccessKeyId)')).toContain(
      'credentials',
    );
    expect(storageFix('RuntimeError: Failed to fetch model. No model found in s3://models/x.')).toContain(
      'does not exist',
    );
    expect(storageFix('Could not connect to the endpoint URL: "http://minio:9000/models"')).toContain(
      'not reachable from the cluster',
    );
  });
});
