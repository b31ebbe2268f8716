/**
 * The caller workflows of examples/callers run by nektos/act (test/support/act.ts): act reads the
 * caller's workflow, calls kfops' reusable workflow at a commit (a snapshot of this tree), and runs its
 * jobs in host mode: the kfops checkout, Google auth (stand-in: the real credentials file, the fake STS),
 * and the kfops actions from their dist bundles, against the fake Container API (test/support/fake-gke.ts)
 * whose clusters are the real local control plane.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_AUDIENCE } from '../../src/inference/endpoint.js';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { discoverIssuer } from '../../src/kubeflow/platform.js';
import { FakeGke } from '../support/fake-gke.js';
import { startGithubStandin, type GithubStandin } from '../support/github-standin.js';
import type { RunningController } from '../support/kserve-controller.js';
import { followInferenceService, startRealKServe } from '../support/kserve-world.js';
import { startGateway, type Gateway } from '../support/model-gateway.js';
import { startKserveModel, startMlflowModel, type ModelServer } from '../support/model-servers.js';
import {
  registerModelVersions,
  startEach,
  startMlflow,
  startS3,
  type MlflowServer,
  type S3Server,
} from '../support/servers.js';
import { controlPlaneOf, type ControlPlane } from '../support/gke-env.js';
import {
  callerFromExample,
  callerRepo,
  kfopsSnapshot,
  runAct,
  standardEnv,
  standardRepositories,
  startOidcStandin,
  type ActRun,
  type CallerRepo,
  type KfopsSnapshot,
  type OidcStandin,
} from '../support/act.js';
import { adminClient, uniqueName } from './helpers.js';

const PROJECT = 'kfops-act-test';
const ZONE = 'asia-northeast3-a';
const CLUSTER = 'kf-rebuild';

const admin = adminClient();
const ns = uniqueName('act');
let token: string;
let cp: ControlPlane;
let fake: FakeGke;
let oidc: OidcStandin;
let snapshot: KfopsSnapshot;
const timings: string[] = [];
const WIF_PROVIDER = 'projects/123456789/locations/global/workloadIdentityPools/github/providers/kfops';

beforeAll(async () => {
  // A ServiceAccount allowed to install and release (cluster-admin): the identity the fake STS hands out.
  await admin.request('POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
  });
  await admin.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci' } },
  });
  await admin.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${ns}-ci-admin` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace: ns }],
    },
  });
  const review = await admin.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${ns}/serviceaccounts/ci/token`,
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } } },
  );
  token = review.status.token;
  cp = controlPlaneOf(inject('kubeconfig'));
  fake = new FakeGke({ endpoint: cp.endpoint, caCertificate: cp.caCertificate, tokens: [token], pollsToDone: 2 });
  await fake.start();
  fake.stsToken = { token, expiresIn: 3599 };
  oidc = await startOidcStandin();
  snapshot = await kfopsSnapshot(['setup-gke', 'install-kubeflow', 'release-models']);
}, 600_000);

afterAll(async () => {
  console.log(`act flow timings:\n${timings.join('\n')}`);
  await fake?.stop();
  await oidc?.close();
  await admin
    .request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ns}-ci-admin`)
    .catch(() => undefined);
  await admin.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('rebuild-cluster through examples/callers/rebuild.yml under act', () => {
  let caller: CallerRepo;

  beforeAll(() => {
    const { text } = callerFromExample('rebuild', snapshot, {
      project: PROJECT,
      location: ZONE,
      'api-endpoint': fake.url,
      'manifests-file': 'platform/manifests.yaml',
      expose: 'none',
      domain: '',
      'm2m-auth': false,
      mlflow: false,
      'default-storage-class': '',
      timeout: '3m',
    });
    caller = callerRepo('acme/models', {
      '.github/workflows/rebuild-cluster.yml': text,
      // What the platform installs here: a namespace and a ConfigMap that names this run.
      'platform/manifests.yaml': [
        `{apiVersion: v1, kind: Namespace, metadata: {name: ${ns}-platform}}`,
        '---',
        `{apiVersion: v1, kind: ConfigMap, metadata: {name: platform, namespace: ${ns}-platform}, data: {cluster: ${CLUSTER}}}`,
        '',
      ].join('\n'),
    });
  });

  afterAll(async () => {
    await admin.request('DELETE', `/api/v1/namespaces/${ns}-platform`).catch(() => undefined);
  });

  const dispatch = (confirm: string) =>
    runAct({
      caller,
      event: 'workflow_dispatch',
      payload: { inputs: { cluster: CLUSTER, confirm }, ref: 'refs/heads/main' },
      localRepositories: standardRepositories(snapshot),
      env: standardEnv(snapshot, oidc, fake.url),
      secrets: {
        GCP_WORKLOAD_IDENTITY_PROVIDER:
          'projects/123456789/locations/global/workloadIdentityPools/github/providers/kfops',
      },
      timeoutMs: 300_000,
    });

  it('refuses a confirm that differs from the cluster name before any request reaches Google', async () => {
    fake.seedCluster(PROJECT, ZONE, CLUSTER, {});
    const [oidcBefore, fakeBefore] = [oidc.requests.length, fake.requests.length];
    const run = await dispatch('kf-rebuilt');
    timings.push(`rebuild, wrong confirm: ${run.durationMs} ms (exit ${run.code})`);
    expect(run.code, run.log).not.toBe(0);
    const confirm = run.job('confirm');
    expect(confirm?.result, run.log).toBe('failure');
    expect(run.log).toContain(
      'confirm must repeat the cluster name exactly to rebuild cluster kf-rebuild; nothing was changed',
    );
    // The platform job never started: no kfops checkout, no token request, no Container API request.
    expect(run.job('platform')?.steps ?? []).toEqual([]);
    expect(oidc.requests.slice(oidcBefore)).toEqual([]);
    expect(fake.requests.slice(fakeBefore)).toEqual([]);
    expect(fake.clusters.get(`projects/${PROJECT}/locations/${ZONE}/clusters/${CLUSTER}`)).toBeDefined();
  }, 320_000);

  it('with the right confirm deletes the cluster, creates it again and installs the platform on it', async () => {
    const [oidcBefore, fakeBefore] = [oidc.requests.length, fake.requests.length];
    const run = await dispatch(CLUSTER);
    const requests = fake.requests.slice(fakeBefore);
    timings.push(`rebuild: ${run.durationMs} ms (exit ${run.code})`);
    expect(run.code, run.log).toBe(0);
    const platform = run.job('platform');
    expect(platform?.result, run.log).toBe('success');
    // The auth stand-in took the job's OIDC token for the provider's audience and exchanged it at the fake STS.
    const tokenRequests = oidc.requests.slice(oidcBefore);
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests.every((r) => r.authorized)).toBe(true);
    expect(tokenRequests[0]?.audience).toBe(`https://iam.googleapis.com/${WIF_PROVIDER}`);
    const writes = requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    expect(writes).toEqual([
      `DELETE /v1/projects/${PROJECT}/locations/${ZONE}/clusters/${CLUSTER}`,
      `POST /v1/projects/${PROJECT}/locations/${ZONE}/clusters`,
    ]);
    expect(requests.every((r) => r.authorization === `Bearer ${token}`)).toBe(true);
    expect(platform?.outputs['gke']).toMatchObject({ result: 'recreated', 'cluster-name': CLUSTER });
    expect(platform?.outputs['kubeflow']).toMatchObject({ result: 'success', created: '2' });
    expect(platform?.summary).toContain('setup-gke: kf-rebuild recreated');
    const cm = await admin.request<{ data: Record<string, string> }>(
      'GET',
      `/api/v1/namespaces/${ns}-platform/configmaps/platform`,
    );
    expect(cm.data).toEqual({ cluster: CLUSTER });
  }, 320_000);
});

/**
 * The pull request and merge flows, through examples/callers/pull-request.yml and main.yml, on the local
 * control plane with KServe's real controller (RawDeployment), a real MLflow tracking server, the
 * S3-compatible server, real model servers behind the gateway stand-in (version 3 is broken), and the
 * GitHub REST stand-in for the pull request comment. The models repository is one git repository whose
 * main branch and pull request branch move as a user's would.
 */
describe('pull request and merge of a release file under act', () => {
  const RELEASE_CLUSTER = 'kf-models';
  const PR = 7;
  const ghToken = 'ghs_act_standin_token';
  let kserve: RunningController & { stopAll(): Promise<void> };
  let s3: S3Server;
  let mlflow: MlflowServer;
  // Model servers serve a model by its InferenceService's name (KServe's rule): wine and the candidate wine-pr-7.
  let good: ModelServer;
  let broken: ModelServer;
  let goodCandidate: ModelServer;
  let brokenCandidate: ModelServer;
  let gateway: Gateway;
  let github: GithubStandin;
  let caller: CallerRepo;
  const followers: { stop(): void }[] = [];
  const editor = (): string => `system:serviceaccount:${ns}:default-editor`;
  /** The model server for a storage URI: version 3 is the broken one. */
  const upstreamFor =
    (ok: () => ModelServer, bad: () => ModelServer) =>
    (uri: string): string | undefined =>
      /\/wine\/[12]$/.test(uri) ? ok().url : /\/wine\/3$/.test(uri) ? bad().url : undefined;

  const releaseFile = (version: string): string =>
    [
      'service: wine',
      `namespace: ${ns}`,
      `model: models:/wine/${version}`,
      'deployment-mode: RawDeployment',
      'alias: champion',
      'smoke:',
      '  payload: {inputs: [{name: x, shape: [2], datatype: FP64, data: [0.9, 0.1]}, {name: y, shape: [2], datatype: FP64, data: [0.8, 0.2]}]}',
      '  expected: {outputs: [{data: [1, 0]}]}',
      '  requests: 20',
      '',
    ].join('\n');

  beforeAll(async () => {
    // KServe first: the model servers' Python start-up takes both cores for a while, long enough for a TLS
    // handshake with the API server to time out.
    kserve = await startRealKServe(admin, inject('kubeconfig'));
    await startEach<[S3Server, MlflowServer, ModelServer, ModelServer, ModelServer, ModelServer]>(
      [
        startS3(),
        startMlflow('s3://mlflow-store/artifacts'),
        startMlflowModel('wine'),
        startKserveModel({ model: 'wine', broken: true }),
        startMlflowModel(`wine-pr-${PR}`),
        startKserveModel({ model: `wine-pr-${PR}`, broken: true }),
      ],
      ([b, c, d, e, f, g]) => {
        if (b) s3 = b;
        if (c) mlflow = c;
        if (d) good = d;
        if (e) broken = e;
        if (f) goodCandidate = f;
        if (g) brokenCandidate = g;
      },
    );
    gateway = await startGateway({ client: admin, audience: DEFAULT_AUDIENCE, issuer: await discoverIssuer(admin) });
    github = await startGithubStandin({ token: ghToken, repositories: ['acme/models'] });
    await applyObjects(
      admin,
      [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default-editor', namespace: ns } }],
      { fieldManager: 'test-setup' },
    );
    await registerModelVersions(s3, mlflow, 'wine', 3);
    for (const [name, ok, bad] of [
      ['wine', () => good, () => broken],
      [`wine-pr-${PR}`, () => goodCandidate, () => brokenCandidate],
    ] as const)
      followers.push(
        followInferenceService(
          admin,
          gateway,
          { namespace: ns, name, host: `${name}-${ns}.example.com` },
          upstreamFor(ok, bad),
          { allow: [editor()] },
        ),
      );
    fake.seedCluster(PROJECT, ZONE, RELEASE_CLUSTER, {});
    const settings = {
      project: PROJECT,
      location: ZONE,
      cluster: RELEASE_CLUSTER,
      'api-endpoint': fake.url,
      'ingress-address': gateway.url.replace('http://', ''),
      'mlflow-tracking-uri': mlflow.url,
      's3-endpoint': s3.url,
      timeout: '5m',
    };
    const secrets = {
      's3-access-key-id': '${{ secrets.S3_ACCESS_KEY_ID }}',
      's3-secret-access-key': '${{ secrets.S3_SECRET_ACCESS_KEY }}',
    };
    caller = callerRepo('acme/models', {
      '.github/workflows/models-pull-request.yml': callerFromExample('pull-request', snapshot, settings, secrets).text,
      '.github/workflows/models-main.yml': callerFromExample('main', snapshot, settings, secrets).text,
      'README.md': 'models\n',
    });
  }, 30 * 60_000);

  afterAll(async () => {
    for (const f of followers) f.stop();
    await Promise.all([
      kserve?.stopAll(),
      s3?.stop(),
      mlflow?.stop(),
      ...[good, broken, goodCandidate, brokenCandidate].map((m) => m?.stop()),
      gateway?.stop(),
      github?.close(),
    ]);
  }, 120_000);

  const champion = async (): Promise<string> =>
    (
      await mlflow.api<{ model_version: { version: string } }>(
        'GET',
        'registered-models/alias?name=wine&alias=champion',
      )
    ).model_version.version;
  const servedUri = async (name = 'wine'): Promise<string | undefined> => {
    const isvc: KubeObject | undefined = await admin.get({
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      namespace: ns,
      name,
    });
    return (isvc?.['spec'] as { predictor: { model: { storageUri: string } } } | undefined)?.predictor.model.storageUri;
  };
  const run = (event: 'push' | 'pull_request', payload: Record<string, unknown>): Promise<ActRun> =>
    runAct({
      caller,
      event,
      payload,
      localRepositories: standardRepositories(snapshot),
      env: { ...standardEnv(snapshot, oidc, fake.url), GITHUB_API_URL: github.url },
      secrets: {
        GCP_WORKLOAD_IDENTITY_PROVIDER: WIF_PROVIDER,
        GITHUB_TOKEN: ghToken,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
      timeoutMs: 600_000,
    });
  const git = (...args: string[]): string => caller.git(...args);
  const push = (before: string): Promise<ActRun> =>
    run('push', {
      ref: 'refs/heads/main',
      before,
      after: caller.head(),
      repository: { full_name: 'acme/models', name: 'models', owner: { login: 'acme' }, default_branch: 'main' },
    });
  const pullRequest = (base: string): Promise<ActRun> =>
    run('pull_request', {
      action: 'synchronize',
      number: PR,
      pull_request: {
        number: PR,
        base: { ref: 'main', sha: base, repo: { full_name: 'acme/models' } },
        head: { ref: 'wine-v2', sha: caller.head(), repo: { full_name: 'acme/models' } },
      },
      repository: { full_name: 'acme/models', name: 'models', owner: { login: 'acme' }, default_branch: 'main' },
    });
  const comments = () => github.comments({ repository: 'acme/models', issue: PR });
  const failureContext = (r: ActRun): string =>
    `${r.log.slice(-12_000)}\n--- controller ---\n${kserve.log().slice(-2000)}`;

  it('a push to main adding models/wine.yaml (v1) releases it: served, smoke-tested, champion -> v1', async () => {
    const before = caller.head();
    caller.commit({ 'models/wine.yaml': releaseFile('1') }, 'wine v1');
    const r = await push(before);
    timings.push(`merge flow (first release, v1): ${r.durationMs} ms (exit ${r.code})`);
    expect(r.code, failureContext(r)).toBe(0);
    expect(r.job('release')?.outputs['release']).toMatchObject({ result: 'passed' });
    expect(await champion()).toBe('1');
    expect(await servedUri()).toBe('s3://models/wine/1');
    expect(comments()).toEqual([]);
  }, 700_000);

  let base = '';
  let commentId = 0;
  it('a pull request to v3 (broken): the candidate fails its smoke test, the run fails, the comment names the cause', async () => {
    base = caller.head();
    git('checkout', '--quiet', '-b', 'wine-v2');
    caller.commit({ 'models/wine.yaml': releaseFile('3') }, 'wine v3');
    const r = await pullRequest(base);
    timings.push(`pull request flow (candidate v3, fails): ${r.durationMs} ms (exit ${r.code})`);
    expect(r.code, failureContext(r)).not.toBe(0);
    expect(r.job('release')?.result).toBe('failure');
    const [comment, ...more] = comments();
    expect(more).toEqual([]);
    expect(comment?.body).toContain('❌ failed');
    expect(comment?.body).toContain('smoke test failed');
    commentId = comment?.id ?? 0;
    expect(await servedUri(`wine-pr-${PR}`)).toBe('s3://models/wine/3');
    // Production and the alias are untouched by a pull request.
    expect(await servedUri()).toBe('s3://models/wine/1');
    expect(await champion()).toBe('1');
  }, 700_000);

  it('a second push to the pull request (v2) passes and updates the same comment', async () => {
    caller.commit({ 'models/wine.yaml': releaseFile('2') }, 'wine v2');
    const r = await pullRequest(base);
    timings.push(`pull request flow (candidate v2, passes): ${r.durationMs} ms (exit ${r.code})`);
    expect(r.code, failureContext(r)).toBe(0);
    const all = comments();
    expect(all.map((c) => c.id)).toEqual([commentId]);
    expect(all[0]?.body).not.toContain('smoke test failed');
    expect(all[0]?.body).toContain('✅ passed');
    expect(github.requests.filter((q) => q.method === 'POST').length).toBe(1);
    expect(await servedUri(`wine-pr-${PR}`)).toBe('s3://models/wine/2');
    expect(await champion()).toBe('1');
  }, 700_000);

  it('the merge to main releases v2 to production: promoted, champion reads v2', async () => {
    const before = base;
    git('checkout', '--quiet', 'main');
    git('merge', '--quiet', '--no-ff', '-m', 'Merge pull request #7', 'wine-v2');
    const r = await push(before);
    timings.push(`merge flow (v1 -> v2): ${r.durationMs} ms (exit ${r.code})`);
    expect(r.code, failureContext(r)).toBe(0);
    const results = JSON.parse(r.job('release')?.outputs['release']?.['results'] ?? '[]') as Array<
      Record<string, unknown>
    >;
    expect(results[0]).toMatchObject({
      outcome: 'passed',
      alias: { name: 'champion', version: '2', previousVersion: '1' },
    });
    expect(await champion()).toBe('2');
    expect(await servedUri()).toBe('s3://models/wine/2');
    expect(r.job('release')?.summary).toContain('champion');
  }, 700_000);

  it('a push of v3 (broken) to main is rolled back: v2 serves, champion still v2, the run fails with the cause', async () => {
    const before = caller.head();
    caller.commit({ 'models/wine.yaml': releaseFile('3') }, 'wine v3 on main');
    const r = await push(before);
    timings.push(`merge flow (v3, rolled back): ${r.durationMs} ms (exit ${r.code})`);
    expect(r.code, failureContext(r)).not.toBe(0);
    expect(r.job('release')?.outputs['release']).toMatchObject({ result: 'rolled-back' });
    expect(r.log).toContain('smoke test failed');
    expect(await champion()).toBe('2');
    expect(await servedUri()).toBe('s3://models/wine/2');
  }, 700_000);
});
