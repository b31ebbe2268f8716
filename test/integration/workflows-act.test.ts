/**
 * The caller workflows of examples/callers run by nektos/act (test/support/act.ts): act reads the
 * caller's workflow, calls kfops' reusable workflow at a commit (a snapshot of this tree), and runs its
 * jobs in host mode: the kfops checkout, Google auth (stand-in: the real credentials file, the fake STS),
 * and the kfops actions from their dist bundles, against the fake Container API (test/support/fake-gke.ts)
 * whose clusters are the real local control plane.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FakeGke } from '../support/fake-gke.js';
import { controlPlaneOf, type ControlPlane } from '../support/gke-env.js';
import {
  callerFromExample,
  callerRepo,
  kfopsSnapshot,
  runAct,
  standardEnv,
  standardRepositories,
  startOidcStandin,
  type CallerRepo,
  type KfopsSnapshot,
  type OidcStandin,
} from '../support/act.js';
import { adminClient, uniqueName } from './helpers.js';

const PROJECT = 'kfops-act-test';
const ZONE = 'asia-northeast3-a';
const CLUSTER = 'kf-rebuild';

describe('rebuild-cluster through examples/callers/rebuild.yml under act', () => {
  const admin = adminClient();
  const ns = uniqueName('act-rebuild');
  let token: string;
  let cp: ControlPlane;
  let fake: FakeGke;
  let oidc: OidcStandin;
  let snapshot: KfopsSnapshot;
  let caller: CallerRepo;
  const timings: string[] = [];

  beforeAll(async () => {
    // A ServiceAccount allowed to install (cluster-admin): the identity the fake STS hands out.
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
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } } },
    );
    token = review.status.token;
    cp = controlPlaneOf(inject('kubeconfig'));
    fake = new FakeGke({ endpoint: cp.endpoint, caCertificate: cp.caCertificate, tokens: [token], pollsToDone: 2 });
    await fake.start();
    fake.stsToken = { token, expiresIn: 3599 };
    oidc = await startOidcStandin();
    snapshot = kfopsSnapshot(['setup-gke', 'install-kubeflow']);
    const { text } = callerFromExample('rebuild', snapshot, {
      project: PROJECT,
      location: ZONE,
      'api-endpoint': fake.url,
      'manifests-file': 'platform/manifests.yaml',
      expose: 'none',
      domain: '',
      'm2m-auth': false,
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
  }, 300_000);

  afterAll(async () => {
    console.log(`act rebuild flow timings:\n${timings.join('\n')}`);
    await fake?.stop();
    await oidc?.close();
    await admin
      .request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ns}-ci-admin`)
      .catch(() => undefined);
    await admin.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
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
    const run = await dispatch('kf-rebuilt');
    timings.push(`wrong confirm: ${run.durationMs} ms (exit ${run.code})`);
    expect(run.code, run.log).not.toBe(0);
    const confirm = run.job('confirm');
    expect(confirm?.result, run.log).toBe('failure');
    expect(run.log).toContain(
      'confirm must repeat the cluster name exactly to rebuild cluster kf-rebuild; nothing was changed',
    );
    // The platform job never started: no kfops checkout, no token request, no Container API request.
    expect(run.job('platform')?.steps ?? []).toEqual([]);
    expect(oidc.requests).toEqual([]);
    expect(fake.requests).toEqual([]);
    expect(fake.clusters.get(`projects/${PROJECT}/locations/${ZONE}/clusters/${CLUSTER}`)).toBeDefined();
  }, 320_000);

  it('with the right confirm deletes the cluster, creates it again and installs the platform on it', async () => {
    const run = await dispatch(CLUSTER);
    timings.push(`rebuild: ${run.durationMs} ms (exit ${run.code})`);
    expect(run.code, run.log).toBe(0);
    const platform = run.job('platform');
    expect(platform?.result, run.log).toBe('success');
    // The auth stand-in took the job's OIDC token for the provider's audience and exchanged it at the fake STS.
    expect(oidc.requests.length).toBeGreaterThan(0);
    expect(oidc.requests.every((r) => r.authorized)).toBe(true);
    expect(oidc.requests[0]?.audience).toBe(
      'https://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/github/providers/kfops',
    );
    const writes = fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    expect(writes).toEqual([
      `DELETE /v1/projects/${PROJECT}/locations/${ZONE}/clusters/${CLUSTER}`,
      `POST /v1/projects/${PROJECT}/locations/${ZONE}/clusters`,
    ]);
    expect(fake.requests.every((r) => r.authorization === `Bearer ${token}`)).toBe(true);
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
