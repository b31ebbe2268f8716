/**
 * release-models on Serverless InferenceServices (Knative's canary split), on the local control plane
 * with KServeStandin writing what KServe with Knative would (revisions, traffic split, status), a real
 * MLflow tracking server, the S3-compatible server and real model servers behind the gateway stand-in:
 * a serving service gets the new model as a canary of the file's percent, then is promoted with the alias
 * moved, or rolled back with the alias untouched. (KServe's real controller, RawDeployment only, runs in
 * release-action.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_AUDIENCE } from '../../src/inference/endpoint.js';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { discoverIssuer } from '../../src/kubeflow/platform.js';
import type { ServiceRelease } from '../../src/release/types.js';
import {
  authorizationPolicyCrd,
  inferenceServiceCrd,
  installTestCrds,
  removeTestCrds,
} from '../support/kserve-crds.js';
import { ensureStaticNode, KServeStandin, standinRbac } from '../support/kserve-standin.js';
import { followInferenceService } from '../support/kserve-world.js';
import { startGateway, type Gateway } from '../support/model-gateway.js';
import { startKserveModel, startMlflowModel, type ModelServer } from '../support/model-servers.js';
import { runAction, type ActionRun } from '../support/run-action.js';
import {
  registerModelVersions,
  startEach,
  startMlflow,
  startS3,
  type MlflowServer,
  type S3Server,
} from '../support/servers.js';
import { adminClient, uniqueName, userClient } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const admin = adminClient();
const ns = uniqueName('canary');
const editor = `system:serviceaccount:${ns}:default-editor`;

let s3: S3Server;
let mlflow: MlflowServer;
let good: ModelServer;
let broken: ModelServer;
let gateway: Gateway;
let standin: KServeStandin | undefined;
let follower: { stop(): void; served: () => string[] } | undefined;

beforeAll(async () => {
  await startEach<[S3Server, MlflowServer, ModelServer, ModelServer]>(
    [
      startS3(),
      startMlflow('s3://mlflow-store/artifacts'),
      startMlflowModel('wine'),
      startKserveModel({ model: 'wine', broken: true }),
    ],
    ([a, b, c, d]) => {
      if (a) s3 = a;
      if (b) mlflow = b;
      if (c) good = c;
      if (d) broken = d;
    },
  );
  await installTestCrds(admin, [inferenceServiceCrd, authorizationPolicyCrd]);
  await applyObjects(admin, standinRbac('kserve-controller'), { fieldManager: 'test-setup' });
  await ensureStaticNode(admin);
  await applyObjects(
    admin,
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default-editor', namespace: ns } },
    ],
    { fieldManager: 'test-setup' },
  );
  standin = new KServeStandin(userClient('kserve-controller'), ns);
  await standin.start();
  gateway = await startGateway({ client: admin, audience: DEFAULT_AUDIENCE, issuer: await discoverIssuer(admin) });
  await registerModelVersions(s3, mlflow, 'wine', 3);
  // The canary's share of calls is what the smoke test must catch: here it reaches the new model's server.
  follower = followInferenceService(
    admin,
    gateway,
    { namespace: ns, name: 'wine', host: `wine.${ns}.example.com` },
    (uri) => (/\/wine\/[12]$/.test(uri) ? good.url : /\/wine\/3$/.test(uri) ? broken.url : undefined),
    { allow: [editor] },
  );
}, 10 * 60_000);

afterAll(async () => {
  follower?.stop();
  standin?.stop();
  await Promise.all([s3?.stop(), mlflow?.stop(), good?.stop(), broken?.stop(), gateway?.stop()]);
  await removeTestCrds(admin, [inferenceServiceCrd, authorizationPolicyCrd]);
}, 120_000);

const champion = async (): Promise<string> =>
  (await mlflow.api<{ model_version: { version: string } }>('GET', 'registered-models/alias?name=wine&alias=champion'))
    .model_version.version;

const predictor = async (): Promise<Record<string, unknown> | undefined> => {
  const isvc: KubeObject | undefined = await admin.get({
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    namespace: ns,
    name: 'wine',
  });
  return (isvc?.['spec'] as { predictor?: Record<string, unknown> } | undefined)?.predictor;
};

const release = (model: string): Promise<ActionRun> =>
  runAction(
    'release-models',
    {
      mode: 'production',
      service: 'wine',
      namespace: ns,
      model,
      canary: '20',
      alias: 'champion',
      'smoke-payload': JSON.stringify({
        inputs: [
          { name: 'x', shape: [2], datatype: 'FP64', data: [0.9, 0.1] },
          { name: 'y', shape: [2], datatype: 'FP64', data: [0.8, 0.2] },
        ],
      }),
      'smoke-expected': JSON.stringify({ outputs: [{ data: [1, 0] }] }),
      'ingress-address': gateway.url.replace('http://', ''),
      'mlflow-tracking-uri': mlflow.url,
      's3-endpoint': s3.url,
      's3-access-key-id': s3.accessKeyId,
      's3-secret-access-key': s3.secretAccessKey,
      'auth-policy': 'skip',
      timeout: '90s',
      'smoke-timeout': '30s',
    },
    { KUBECONFIG: kubeconfig },
  );

const record = (r: ActionRun): ServiceRelease | undefined =>
  (JSON.parse(r.outputs['results'] ?? '[]') as ServiceRelease[])[0];

describe('release-models with a Serverless canary', () => {
  it('the first release deploys directly (nothing to split with)', async () => {
    const r = await release('models:/wine/1');
    expect(r.code, r.log).toBe(0);
    expect(r.log).not.toMatch(/as a \d+(%|%25) canary/);
    expect(await champion()).toBe('1');
  }, 180_000);

  it('v2 goes out as a 20% canary, passes, is promoted (no split left) and becomes champion', async () => {
    const r = await release('models:/wine/2');
    expect(r.code, r.log).toBe(0);
    // A group title is a workflow command: its % is written %25.
    expect(r.log).toMatch(/deploy models:\/wine\/2 as a 20(%|%25) canary/);
    expect(r.log).toMatch(/promote InferenceService/);
    expect(record(r)).toMatchObject({ outcome: 'passed', alias: { version: '2', previousVersion: '1' } });
    const p = await predictor();
    expect(p).not.toHaveProperty('canaryTrafficPercent');
    expect((p?.['model'] as { storageUri: string }).storageUri).toBe('s3://models/wine/2');
    expect(await champion()).toBe('2');
  }, 180_000);

  it('a broken v3 canary is rolled back: v2 serves all traffic again, champion still v2', async () => {
    const r = await release('models:/wine/3');
    expect(r.code, r.log).toBe(1);
    // A group title is a workflow command: its % is written %25.
    expect(r.log).toMatch(/deploy models:\/wine\/3 as a 20(%|%25) canary/);
    expect(record(r)).toMatchObject({ outcome: 'rolled-back', current: { version: '2' }, candidate: { version: '3' } });
    expect(record(r)?.cause).toMatch(/answered 500 .*; the previous release serves again, alias untouched$/);
    const p = await predictor();
    expect(p).not.toHaveProperty('canaryTrafficPercent');
    expect((p?.['model'] as { storageUri: string }).storageUri).toBe('s3://models/wine/2');
    expect(await champion()).toBe('2');
    // The gateway's backend changed twice: to the broken server with the canary, and back with the rollback.
    expect(follower?.served()).toEqual(['s3://models/wine/1', 's3://models/wine/3', 's3://models/wine/2']);
  }, 180_000);
});
