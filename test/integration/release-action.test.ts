/**
 * The release-models action as a process, on the local control plane with KServe's real controller
 * (RawDeployment), a real MLflow tracking server (registry and aliases), the S3-compatible server the
 * model location is checked against, and real model servers behind the gateway stand-in (which checks
 * ServiceAccount tokens minted by the control plane). The gateway sends the InferenceService's Host to the
 * model server of the version its spec names, as the rolled-out Deployment would serve it.
 *
 * v1 is released first and becomes champion; a broken v3 fails its smoke test and is rolled back (champion
 * still v1, exit non-zero with the cause); v2 passes and champion then reads v2; a pull request's candidate
 * runs beside production without touching it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_AUDIENCE } from '../../src/inference/endpoint.js';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { discoverIssuer } from '../../src/kubeflow/platform.js';
import type { ServiceRelease } from '../../src/release/types.js';
import type { RunningController } from '../support/kserve-controller.js';
import { startGithubStandin } from '../support/github-standin.js';
import { followInferenceService, startRealKServe } from '../support/kserve-world.js';
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
import { adminClient, uniqueName } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const admin = adminClient();
const ns = uniqueName('release');
const editor = `system:serviceaccount:${ns}:default-editor`;

let kserve: RunningController & { stopAll(): Promise<void> };
let s3: S3Server;
let mlflow: MlflowServer;
let good: ModelServer;
let broken: ModelServer;
/** KServe names the model after the InferenceService: the candidate's server serves "wine-pr-5". */
let candidate: ModelServer;
let gateway: Gateway;
const followers: { stop(): void }[] = [];

/** The model server for a storage URI: version 3 is the broken one. */
const upstreamFor = (uri: string): string | undefined =>
  /\/wine\/[12]$/.test(uri) ? good.url : /\/wine\/3$/.test(uri) ? broken.url : undefined;
const candidateUpstreamFor = (uri: string): string | undefined =>
  /\/wine\/[12]$/.test(uri) ? candidate.url : /\/wine\/3$/.test(uri) ? broken.url : undefined;

beforeAll(async () => {
  await startEach<
    [RunningController & { stopAll(): Promise<void> }, S3Server, MlflowServer, ModelServer, ModelServer, ModelServer]
  >(
    [
      startRealKServe(admin, kubeconfig),
      startS3(),
      startMlflow('s3://mlflow-store/artifacts'),
      startMlflowModel('wine'),
      startKserveModel({ model: 'wine', broken: true }),
      startMlflowModel('wine-pr-5'),
    ],
    ([a, b, c, d, e, f]) => {
      if (a) kserve = a;
      if (b) s3 = b;
      if (c) mlflow = c;
      if (d) good = d;
      if (e) broken = e;
      if (f) candidate = f;
    },
  );
  gateway = await startGateway({ client: admin, audience: DEFAULT_AUDIENCE, issuer: await discoverIssuer(admin) });
  await applyObjects(
    admin,
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default-editor', namespace: ns } },
    ],
    { fieldManager: 'test-setup' },
  );
  await registerModelVersions(s3, mlflow, 'wine', 3);
  for (const [name, upstream] of [
    ['wine', upstreamFor],
    ['wine-pr-5', candidateUpstreamFor],
  ] as const)
    followers.push(
      followInferenceService(admin, gateway, { namespace: ns, name, host: `${name}-${ns}.example.com` }, upstream, {
        allow: [editor],
      }),
    );
}, 30 * 60_000);

afterAll(async () => {
  for (const f of followers) f.stop();
  await Promise.all([
    kserve?.stopAll(),
    s3?.stop(),
    mlflow?.stop(),
    good?.stop(),
    broken?.stop(),
    candidate?.stop(),
    gateway?.stop(),
  ]);
}, 120_000);

const champion = async (): Promise<string> =>
  (await mlflow.api<{ model_version: { version: string } }>('GET', 'registered-models/alias?name=wine&alias=champion'))
    .model_version.version;

const servedUri = async (name = 'wine'): Promise<string | undefined> => {
  const isvc: KubeObject | undefined = await admin.get({
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    namespace: ns,
    name,
  });
  return (isvc?.['spec'] as { predictor: { model: { storageUri: string } } } | undefined)?.predictor.model.storageUri;
};

const release = (inputs: Record<string, string>, env: Record<string, string> = {}): Promise<ActionRun> =>
  runAction(
    'release-models',
    {
      mode: 'production',
      service: 'wine',
      namespace: ns,
      'deployment-mode': 'RawDeployment',
      alias: 'champion',
      'smoke-payload': JSON.stringify({
        inputs: [
          { name: 'x', shape: [2], datatype: 'FP64', data: [0.9, 0.1] },
          { name: 'y', shape: [2], datatype: 'FP64', data: [0.8, 0.2] },
        ],
      }),
      'smoke-expected': JSON.stringify({ outputs: [{ data: [1, 0] }] }),
      'smoke-requests': '20',
      'ingress-address': gateway.url.replace('http://', ''),
      'mlflow-tracking-uri': mlflow.url,
      's3-endpoint': s3.url,
      's3-access-key-id': s3.accessKeyId,
      's3-secret-access-key': s3.secretAccessKey,
      'auth-policy': 'skip',
      timeout: '120s',
      'smoke-timeout': '60s',
      ...inputs,
    },
    { KUBECONFIG: kubeconfig, ...env },
  );

const results = (r: ActionRun): ServiceRelease[] => JSON.parse(r.outputs['results'] ?? '[]') as ServiceRelease[];

describe('release-models on a control plane with KServe, MLflow, S3 and a model server behind the gateway', () => {
  it('a first release of v1: deployed directly, smoke-tested through the gateway, champion set to v1', async () => {
    const r = await release({ model: 'models:/wine/1' });
    expect(r.code, `${r.log}\n--- controller ---\n${kserve.log().slice(-3000)}`).toBe(0);
    expect(r.outputs).toMatchObject({ result: 'passed', 'model-version': '1', url: `http://wine-${ns}.example.com` });
    expect(await champion()).toBe('1');
    expect(await servedUri()).toBe('s3://models/wine/1');
    const [rec] = results(r);
    expect(rec).toMatchObject({ outcome: 'passed', alias: { name: 'champion', version: '1' } });
    expect(rec?.current).toBeUndefined();
    expect(Number(r.outputs['p95-ms'])).toBeGreaterThan(0);
    expect(r.outputs['error-rate']).toBe('0');
    // The S3 secret reaches the log only as the runner's mask command.
    expect(new Set(r.log.split('\n').filter((l) => l.includes(s3.secretAccessKey)))).toEqual(
      new Set([`::add-mask::${s3.secretAccessKey}`]),
    );
  }, 300_000);

  it('a broken v3: its smoke test fails, it is rolled back, champion still v1, the step fails with the cause', async () => {
    const r = await release({ model: 'models:/wine/3' });
    expect(r.code, r.log).toBe(1);
    expect(r.outputs['result']).toBe('rolled-back');
    const [rec] = results(r);
    expect(rec).toMatchObject({
      outcome: 'rolled-back',
      current: { version: '1' },
      candidate: { version: '3', uri: 's3://models/wine/3' },
    });
    expect(rec?.cause).toMatch(
      /^smoke test failed: POST \S+\/v2\/models\/wine\/infer .* answered 500 \(RuntimeError : model weights are corrupt: cannot predict\).*; the previous release serves again, alias untouched$/,
    );
    expect(rec?.alias).toBeUndefined();
    expect(r.log).toMatch(/::error::release-models: 1 of 1 release\(s\) did not pass: .*wine rolled-back/);
    expect(r.log).toContain('smoke test failed');
    expect(await champion()).toBe('1');
    expect(await servedUri()).toBe('s3://models/wine/1');
  }, 300_000);

  it('v2: passes, promoted, champion moves from v1 to v2 (read back), previous version reported', async () => {
    const r = await release({ model: 'models:/wine/2' });
    expect(r.code, r.log).toBe(0);
    expect(r.outputs).toMatchObject({ result: 'passed', 'model-version': '2', 'previous-version': '1' });
    expect(results(r)[0]).toMatchObject({
      outcome: 'passed',
      current: { version: '1' },
      candidate: { version: '2' },
      alias: { name: 'champion', version: '2', previousVersion: '1' },
      modelVersionUrl: `${mlflow.url}/#/models/wine/versions/2`,
    });
    expect(r.log).toContain('MLflow alias wine@champion: 1 -> 2 (read back)');
    expect(await champion()).toBe('2');
    expect(await servedUri()).toBe('s3://models/wine/2');
    expect(r.summary).toContain('<td>champion: 1 → 2</td>');
  }, 300_000);

  it('a pull request (event, token): the candidate runs beside production as wine-pr-5, one comment kept up to date', async () => {
    const github = await startGithubStandin({ repositories: ['octo-org/models'] });
    const dir = mkdtempSync(join(tmpdir(), 'kfops-pr-event-'));
    writeFileSync(join(dir, 'event.json'), JSON.stringify({ pull_request: { number: 5 } }));
    const pr = (inputs: Record<string, string>): Promise<ActionRun> =>
      release(
        { mode: 'auto', 'github-token': 'ghs_standin_token', ...inputs },
        {
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_EVENT_PATH: join(dir, 'event.json'),
          GITHUB_REPOSITORY: 'octo-org/models',
          GITHUB_API_URL: github.url,
          GITHUB_SERVER_URL: 'https://github.example',
          GITHUB_RUN_ID: '77',
        },
      );
    try {
      const r = await pr({ model: 'models:/wine/1' });
      expect(r.code, r.log).toBe(0);
      expect(results(r)[0]).toMatchObject({
        mode: 'candidate',
        deployedAs: 'wine-pr-5',
        outcome: 'passed',
        current: { version: '2', uri: 's3://models/wine/2' },
        candidate: { version: '1', uri: 's3://models/wine/1' },
        url: `http://wine-pr-5-${ns}.example.com`,
      });
      expect(results(r)[0]?.alias).toBeUndefined();
      expect(await servedUri('wine-pr-5')).toBe('s3://models/wine/1');
      expect(await servedUri()).toBe('s3://models/wine/2');
      expect(await champion()).toBe('2');
      expect(r.log).toContain('pull request comment created');
      const [first] = github.comments({ issue: 5 });
      expect(first?.body).toContain('<!-- kfops:release-models -->');
      expect(first?.body).toContain('https://github.example/octo-org/models/actions/runs/77');

      // A second push whose candidate fails: the same comment, updated with the cause; the step fails.
      const bad = await pr({ model: 'models:/wine/3', 'smoke-timeout': '5s' });
      expect(bad.code, bad.log).toBe(1);
      expect(bad.log).toContain('pull request comment updated');
      const comments = github.comments({ issue: 5 });
      expect(comments).toHaveLength(1);
      expect(comments[0]?.id).toBe(first?.id);
      expect(comments[0]?.body).toContain('smoke test failed');
      expect(github.requests.filter((q) => q.method === 'POST')).toHaveLength(1);
      expect(await servedUri()).toBe('s3://models/wine/2');
      expect(await champion()).toBe('2');
    } finally {
      await github.close();
    }
  }, 300_000);
});
