/**
 * ensureCluster against the fake Container API, whose clusters point at the real local control plane:
 * create (operation PENDING -> RUNNING -> DONE with progress), reuse with and without drift, update in
 * place, concurrent create (409), 403, quota, failed operation, recreate; the kubeconfig built from
 * the API's endpoint and CA is used for real.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { KfopsError } from '../../src/common/errors.js';
import { ContainerApi } from '../../src/gke/api.js';
import { staticTokenSource } from '../../src/gke/auth.js';
import { ensureCluster, type ClusterDeps } from '../../src/gke/cluster.js';
import { renderKubeconfig } from '../../src/gke/kubeconfig.js';
import { clusterForCreate, findDrift, type ClusterSpec } from '../../src/gke/spec.js';
import { KubeClient } from '../../src/kube/client.js';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeGke, type RecordedRequest } from '../support/fake-gke.js';
import { deprecatedFields, findMethod, type Discovery } from '../support/gke-discovery.js';
import { controlPlaneOf, removeServiceAccount, serviceAccountToken } from '../support/gke-env.js';
import { adminClient, recordingLogger, uniqueName } from './helpers.js';

const PROJECT = 'kfops-test-project';
const REGION = 'asia-northeast3';

function spec(name: string, over: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    project: PROJECT,
    location: REGION,
    name,
    releaseChannel: 'REGULAR',
    nodePool: 'default-pool',
    machineType: 'e2-standard-8',
    nodeCount: 1,
    diskSizeGb: 100,
    diskType: 'pd-balanced',
    spot: false,
    privateNodes: false,
    authorizedNetworks: [],
    labels: { team: 'ml' },
    workloadPool: `${PROJECT}.svc.id.goog`,
    dnsEndpoint: false,
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<KfopsError> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(e instanceof KfopsError)) throw new Error(`expected a KfopsError, got ${String(e)}`);
  return e;
}

describe('ensureCluster against the fake Container API', () => {
  const admin = adminClient();
  const ns = uniqueName('gke-sa');
  let fake: FakeGke;
  let token: string;
  let username: string;
  let deps: ClusterDeps & { logger: ReturnType<typeof recordingLogger> };
  const opts = { pollMs: 1, heartbeatMs: 60_000 };

  beforeAll(async () => {
    const sa = await serviceAccountToken(admin, ns);
    token = sa.token;
    username = sa.username;
    const cp = controlPlaneOf(inject('kubeconfig'));
    fake = new FakeGke({ endpoint: cp.endpoint, caCertificate: cp.caCertificate, tokens: [token] });
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
    await removeServiceAccount(admin, ns);
  });
  /** Every request of the tests so far (each test starts with fake.requests empty). */
  const allRequests: RecordedRequest[] = [];
  beforeEach(() => {
    allRequests.push(...fake.requests);
    fake.requests.length = 0;
    fake.denied.clear();
    fake.cpuQuota.clear();
    fake.beforeRequest = undefined;
    fake.injected.length = 0;
    deps = {
      api: new ContainerApi({ endpoint: fake.url, tokens: staticTokenSource(token, 'test token'), retryBudgetMs: 0 }),
      logger: recordingLogger(),
      sleep: async () => undefined,
    };
  });

  it('creates a missing cluster, following the operation with progress, and its kubeconfig works for real', async () => {
    const s = spec('kf-create');
    const r = await ensureCluster(deps, s, opts);
    expect(r.action).toBe('created');
    expect(r.cluster.status).toBe('RUNNING');
    const create = fake.requests.find((q) => q.method === 'POST' && q.path.endsWith('/clusters'));
    const sent = (create?.body as { cluster: ReturnType<typeof clusterForCreate> }).cluster;
    expect(sent.nodePools?.[0]?.config?.machineType).toBe('e2-standard-8');
    expect(sent.nodePools?.[0]?.initialNodeCount).toBe(1);
    expect(sent.workloadIdentityConfig?.workloadPool).toBe(`${PROJECT}.svc.id.goog`);
    expect(sent.nodePools?.[0]?.config?.workloadMetadataConfig?.mode).toBe('GKE_METADATA');
    expect(sent.releaseChannel?.channel).toBe('REGULAR');
    const progress = deps.logger.lines.filter((l) => l.includes('CREATE_CLUSTER'));
    expect(progress.some((l) => /PENDING/.test(l))).toBe(true);
    expect(progress.some((l) => /RUNNING \(CLUSTER_DEPLOYING 1\/3\)/.test(l))).toBe(true);
    expect(progress.some((l) => /DONE/.test(l))).toBe(true);
    expect(create?.authorization).toBe(`Bearer ${token}`);

    const { yaml, server } = renderKubeconfig(r.cluster, s, 'public', { kind: 'token', token });
    expect(server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const kc = new KubeConfig();
    kc.loadFromString(yaml);
    const client = new KubeClient(kc);
    const who = await client.request<{ status: { userInfo: { username: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    expect(who.status.userInfo.username).toBe(username);
    const list = await client.list({ apiVersion: 'v1', kind: 'Namespace' });
    expect(list.items.map((n) => n.metadata.name)).toContain(ns);
  });

  it('reuses a cluster that matches the inputs without writing anything', async () => {
    const s = spec('kf-reuse');
    fake.seedCluster(PROJECT, REGION, s.name, clusterForCreate(s) as Record<string, unknown>);
    const r = await ensureCluster(deps, s, opts);
    expect(r.action).toBe('reused');
    expect(r.drift).toEqual([]);
    expect(fake.requests.filter((q) => q.method !== 'GET')).toEqual([]);
    expect(deps.logger.lines).toContain('info: cluster kf-reuse matches the inputs');
  });

  it('reports drift without changing anything unless update is true, then changes what the API allows', async () => {
    const s = spec('kf-drift', { autoscaling: { min: 3, max: 6 } });
    const old = clusterForCreate(
      spec('kf-drift', { machineType: 'e2-standard-4', releaseChannel: 'STABLE' }),
    ) as Record<string, unknown>;
    fake.seedCluster(PROJECT, REGION, s.name, old);

    const report = await ensureCluster(deps, s, opts);
    expect(report.action).toBe('reused');
    expect(report.drift.map((d) => `${d.field}: ${d.live} -> ${d.want}`).sort()).toEqual([
      'autoscaling: off -> 3-6 nodes',
      'machine-type: e2-standard-4 -> e2-standard-8',
      'release-channel: STABLE -> REGULAR',
    ]);
    expect(report.applied).toEqual([]);
    expect(fake.requests.filter((q) => q.method !== 'GET')).toEqual([]);
    expect(
      deps.logger.lines.some((l) =>
        l.startsWith(
          'warning: cluster kf-drift differs from the inputs: machine-type: e2-standard-4 -> e2-standard-8 (only a rebuild changes it',
        ),
      ),
    ).toBe(true);

    const updated = await ensureCluster(deps, s, { ...opts, update: true });
    expect(updated.applied.map((d) => d.field).sort()).toEqual(['autoscaling', 'release-channel']);
    const autoscale = fake.requests.find((q) => q.path.endsWith('/nodePools/default-pool:setAutoscaling'));
    expect(autoscale?.body).toEqual({
      autoscaling: { enabled: true, totalMinNodeCount: 3, totalMaxNodeCount: 6, locationPolicy: 'BALANCED' },
    });
    expect(fake.requests.find((q) => q.method === 'PUT')?.body).toEqual({
      update: { desiredReleaseChannel: { channel: 'REGULAR' } },
    });
    expect(updated.cluster.releaseChannel?.channel).toBe('REGULAR');

    const again = await ensureCluster(deps, s, { ...opts, update: true });
    expect(again.drift.map((d) => d.field)).toEqual(['machine-type']);
  });

  it('waits for the other run when a concurrent create answers 409, and reuses its cluster', async () => {
    const s = spec('kf-race');
    fake.beforeRequest = (method, path) => {
      if (method === 'POST' && path.endsWith('/clusters')) {
        fake.beforeRequest = undefined;
        fake.startCreate(PROJECT, REGION, s.name, clusterForCreate(s) as Record<string, unknown>);
      }
    };
    const r = await ensureCluster(deps, s, opts);
    expect(r.concurrent).toBe(true);
    expect(r.action).toBe('reused');
    expect(r.cluster.status).toBe('RUNNING');
    expect(deps.logger.lines.some((l) => /is being created by another run \(CREATE_CLUSTER operation-/.test(l))).toBe(
      true,
    );
    expect(fake.requests.some((q) => q.method === 'GET' && q.path.includes('/operations/'))).toBe(true);
  });

  it('waits for a cluster that another run is still provisioning', async () => {
    const s = spec('kf-provisioning');
    fake.startCreate(PROJECT, REGION, s.name, clusterForCreate(s) as Record<string, unknown>);
    const r = await ensureCluster(deps, s, opts);
    expect(r.action).toBe('reused');
    expect(r.cluster.status).toBe('RUNNING');
    expect(
      deps.logger.lines.some((l) => /cluster kf-provisioning is PROVISIONING \(CREATE_CLUSTER operation-/.test(l)),
    ).toBe(true);
  });

  it('names the missing permission and the role that grants it on 403', async () => {
    fake.denied.add('container.clusters.create');
    const e = await failure(ensureCluster(deps, spec('kf-denied'), opts));
    expect(e.message).toContain(
      'Could not create cluster: HTTP 403 PERMISSION_DENIED: Required "container.clusters.create" permission(s)',
    );
    expect(e.details.cause).toContain('lacks the IAM permission container.clusters.create');
    expect(e.details.fix).toContain('grant roles/container.clusterAdmin');
    expect(e.details.fix).toContain(`project ${PROJECT}`);
  });

  it('names the quota and the region when the project is short of CPUs', async () => {
    fake.cpuQuota.set(REGION, 12);
    const e = await failure(ensureCluster(deps, spec('kf-quota'), opts));
    expect(e.message).toContain('Insufficient regional quota');
    expect(e.details.cause).toBe(
      `not enough Compute Engine quota: quota CPUS in region ${REGION} (needs 24.0, short by 12.0, limit 12.0)`,
    );
    expect(e.details.fix).toContain(`CPUS quota for project ${PROJECT} in ${REGION}`);
    expect(fake.clusters.has(`projects/${PROJECT}/locations/${REGION}/clusters/kf-quota`)).toBe(false);
  });

  it('shows the error of a failed operation, then refuses to reuse the broken cluster', async () => {
    fake.failNext.set('CREATE_CLUSTER', {
      code: 8,
      message: `Instance 'gke-kf-failed-default-pool-1' creation failed: Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 8.0 in region ${REGION}.`,
    });
    const e = await failure(ensureCluster(deps, spec('kf-failed'), opts));
    expect(e.message).toMatch(
      /^The create cluster of cluster kf-failed failed \(operation-[\w-]+, RESOURCE_EXHAUSTED\): Instance .* Quota 'IN_USE_ADDRESSES' exceeded/,
    );
    expect(e.details.cause).toContain(`quota IN_USE_ADDRESSES in region ${REGION} (limit 8.0)`);
    const again = await failure(ensureCluster(deps, spec('kf-failed'), opts));
    expect(again.message).toContain('Cluster kf-failed is in state ERROR');
    expect(again.details.fix).toContain('recreate: true and confirm: kf-failed');
  });

  it('recreates: deletes the existing cluster, waits, creates it again', async () => {
    const s = spec('kf-rebuild');
    const old = fake.seedCluster(
      PROJECT,
      REGION,
      s.name,
      clusterForCreate(spec('kf-rebuild', { machineType: 'n2-standard-4' })) as Record<string, unknown>,
    );
    const r = await ensureCluster(deps, s, { ...opts, recreate: true });
    expect(r.action).toBe('recreated');
    const writes = fake.requests
      .filter((q) => q.method !== 'GET')
      .map((q) => `${q.method} ${q.path.split('/locations/')[1]}`);
    expect(writes).toEqual([`DELETE ${REGION}/clusters/kf-rebuild`, `POST ${REGION}/clusters`]);
    expect(r.cluster.nodePools?.[0]?.config?.machineType).toBe('e2-standard-8');
    expect(r.cluster).not.toBe(old);
    expect(deps.logger.lines.some((l) => /DELETE_CLUSTER operation-[\w-]+: DONE/.test(l))).toBe(true);
  });

  it('creates a private cluster and its kubeconfig uses the private endpoint for real', async () => {
    const s = spec('kf-private', {
      privateNodes: true,
      masterIpv4Cidr: '172.16.0.32/28',
      authorizedNetworks: ['10.0.0.0/8'],
    });
    const r = await ensureCluster(deps, s, opts);
    const sent = (
      fake.requests.find((q) => q.method === 'POST')?.body as { cluster: ReturnType<typeof clusterForCreate> }
    ).cluster;
    // The documented successors of the deprecated privateClusterConfig.enablePrivateNodes and
    // masterAuthorizedNetworksConfig; the live cluster reports them back (no drift).
    expect(sent.networkConfig).toEqual({ defaultEnablePrivateNodes: true });
    expect(sent.privateClusterConfig).toEqual({ masterIpv4CidrBlock: '172.16.0.32/28' });
    expect(sent.masterAuthorizedNetworksConfig).toBeUndefined();
    expect(sent.controlPlaneEndpointsConfig).toEqual({
      ipEndpointsConfig: { authorizedNetworksConfig: { enabled: true, cidrBlocks: [{ cidrBlock: '10.0.0.0/8' }] } },
    });
    expect(findDrift(s, r.cluster)).toEqual([]);
    expect(fake.undocumented).toEqual([]);
    const kc = new KubeConfig();
    kc.loadFromString(renderKubeconfig(r.cluster, s, 'private', { kind: 'token', token }).yaml);
    const who = await new KubeClient(kc).request<{ status: { userInfo: { username: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    expect(who.status.userInfo.username).toBe(username);
  });

  it('retries a 503 from the API, and waits for an operation that holds the cluster (400 FAILED_PRECONDITION) before updating', async () => {
    const s = spec('kf-busy', { autoscaling: { min: 1, max: 3 } });
    fake.seedCluster(PROJECT, REGION, s.name, clusterForCreate(spec('kf-busy')) as Record<string, unknown>);
    fake.injected.push({
      method: 'GET',
      pathEnds: '/clusters/kf-busy',
      code: 503,
      status: 'UNAVAILABLE',
      message: 'The service is currently unavailable.',
    });
    let upgrade: string | undefined;
    fake.beforeRequest = (method, path) => {
      if (method === 'POST' && path.endsWith(':setAutoscaling') && !upgrade)
        upgrade = fake.startOperation(PROJECT, REGION, s.name, 'UPGRADE_MASTER').name;
    };
    const retrying = {
      ...deps,
      api: new ContainerApi({
        endpoint: fake.url,
        tokens: staticTokenSource(token, 'test token'),
        retryBudgetMs: 10_000,
        retry: { sleep: async () => undefined },
      }),
    };
    const r = await ensureCluster(retrying, s, { ...opts, update: true });
    expect(r.applied.map((d) => d.field)).toEqual(['autoscaling']);
    const calls = fake.requests.map((q) => `${q.method} ${q.path.split('/locations/')[1]}`);
    expect(calls.filter((c) => c === `GET ${REGION}/clusters/kf-busy`).length).toBeGreaterThanOrEqual(2);
    expect(calls.filter((c) => c.endsWith(':setAutoscaling'))).toHaveLength(2);
    expect(calls).toContain(`GET ${REGION}/operations/${upgrade}`);
    expect(
      deps.logger.lines.some((l) =>
        l.includes(`cluster kf-busy is busy with UPGRADE_MASTER ${upgrade}; waiting for it`),
      ),
    ).toBe(true);
    expect(r.cluster.nodePools?.[0]?.autoscaling).toEqual({
      enabled: true,
      totalMinNodeCount: 1,
      totalMaxNodeCount: 3,
      locationPolicy: 'BALANCED',
    });
  });

  it('sent only documented, non-deprecated fields and got only documented fields back (discovery document)', () => {
    const doc = fake.discovery as Discovery;
    const sent = [...allRequests, ...fake.requests].filter((r) => r.body !== undefined);
    expect(sent.length).toBeGreaterThan(5);
    const deprecated = sent.flatMap((r) => {
      const m = findMethod(doc, r.method, r.path);
      return m?.request ? deprecatedFields(doc, m.request.$ref, r.body).map((f) => `${m.id}: ${f}`) : [];
    });
    expect(deprecated).toEqual([]);
    expect(fake.undocumented).toEqual([]);
  });

  it('rejects a token the API does not accept with the fix', async () => {
    const bad = {
      ...deps,
      api: new ContainerApi({ endpoint: fake.url, tokens: staticTokenSource('not-a-token', 'test'), retryBudgetMs: 0 }),
    };
    const e = await failure(ensureCluster(bad, spec('kf-unauth'), opts));
    expect(e.message).toContain('HTTP 401 UNAUTHENTICATED');
    expect(e.details.fix).toContain('google-github-actions/auth');
  });
});
