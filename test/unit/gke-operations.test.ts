/**
 * Operation and node-pool states against the fake Container API (no control plane needed): an
 * operation aborted (ABORTING, then DONE) is no success, a running ABORTING operation is waited for,
 * STATUS_UNSPECIFIED fails with a named cause, and node pools in ERROR / RUNNING_WITH_ERROR /
 * RECONCILING are read. Operation.error is a google.rpc.Status, the HTTP error body is not.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KfopsError } from '../../src/common/errors.js';
import type { Logger } from '../../src/common/logger.js';
import { ContainerApi } from '../../src/gke/api.js';
import { staticTokenSource } from '../../src/gke/auth.js';
import { ensureCluster, UNSPECIFIED_POLLS, type ClusterDeps } from '../../src/gke/cluster.js';
import { GkeApiError } from '../../src/gke/errors.js';
import { renderKubeconfig } from '../../src/gke/kubeconfig.js';
import { clusterForCreate, type ClusterSpec } from '../../src/gke/spec.js';
import { FakeGke } from '../support/fake-gke.js';
import { validateSchema } from '../support/gke-discovery.js';

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
    labels: {},
    dnsEndpoint: false,
    ...over,
  };
}

/** A create body as the fake takes it. */
const body = (s: ClusterSpec): Record<string, unknown> => ({ ...clusterForCreate(s) });

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug: ${m}`),
    info: (m) => lines.push(`info: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: (_n, fn) => fn(),
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

describe('operation and node pool states', () => {
  const fake = new FakeGke({ endpoint: '127.0.0.1:1', caCertificate: 'Q0E=', tokens: ['t'] });
  let deps: ClusterDeps & { logger: ReturnType<typeof recordingLogger> };
  const opts = { pollMs: 1, heartbeatMs: 60_000 };
  const key = (name: string) => `projects/${PROJECT}/locations/${REGION}/clusters/${name}`;
  const opPolls = (name: string) =>
    fake.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/operations/${name}`)).length;

  beforeAll(async () => {
    await fake.start();
  });
  afterAll(() => fake.stop());
  beforeEach(() => {
    const api = new ContainerApi({
      endpoint: fake.url,
      tokens: staticTokenSource('t', 'test'),
      retry: { sleep: async () => undefined },
    });
    deps = { api, logger: recordingLogger(), sleep: async () => undefined };
  });

  it('an update that ends DONE after ABORTING without an error fails as aborted, and nothing changed', async () => {
    fake.seedCluster(PROJECT, REGION, 'kf-abort', body(spec('kf-abort', { releaseChannel: 'RAPID' })));
    fake.abortNext.set('UPDATE_CLUSTER', {});
    const e = await failure(ensureCluster(deps, spec('kf-abort'), { ...opts, update: true }));
    expect(e.message).toMatch(/^UPDATE_CLUSTER operation-\S+ of cluster kf-abort was aborted \(ABORTING, then DONE\)$/);
    expect(e.details.cause).toContain('cancelled');
    expect(deps.logger.lines.some((l) => /UPDATE_CLUSTER operation-\S+: ABORTING/.test(l))).toBe(true);
    expect((fake.clusters.get(key('kf-abort'))?.['releaseChannel'] as { channel: string }).channel).toBe('RAPID');
  });

  it('an aborted operation with an error fails with that error', async () => {
    fake.seedCluster(PROJECT, REGION, 'kf-abort2', body(spec('kf-abort2', { releaseChannel: 'RAPID' })));
    fake.abortNext.set('UPDATE_CLUSTER', { error: { code: 1, message: 'Operation was cancelled by the user.' } });
    const e = await failure(ensureCluster(deps, spec('kf-abort2'), { ...opts, update: true }));
    expect(e.message).toContain('CANCELLED): Operation was cancelled by the user.');
  });

  it("waits for another client's operation that is ABORTING, then reuses the cluster", async () => {
    fake.seedCluster(PROJECT, REGION, 'kf-aborting', body(spec('kf-aborting')), { status: 'RECONCILING' });
    fake.abortNext.set('UPDATE_CLUSTER', {});
    const op = fake.startOperation(PROJECT, REGION, 'kf-aborting', 'UPDATE_CLUSTER');
    // Two polls by the other client: RUNNING, then ABORTING.
    for (let i = 0; i < 2; i++)
      await fetch(`${fake.url}v1/projects/${PROJECT}/locations/${REGION}/operations/${op.name}`, {
        headers: { Authorization: 'Bearer t' },
        signal: AbortSignal.timeout(10_000),
      });
    expect(op.status).toBe('ABORTING');
    const polls = opPolls(op.name);
    const r = await ensureCluster(deps, spec('kf-aborting'), opts);
    expect(r.action).toBe('reused');
    expect(op.status).toBe('DONE');
    expect(opPolls(op.name) - polls).toBe(2);
    expect(deps.logger.lines).toContain(
      `info: cluster kf-aborting is RECONCILING (UPDATE_CLUSTER ${op.name}); waiting`,
    );
    expect(deps.logger.lines).toContain(`info: UPDATE_CLUSTER ${op.name} was aborted; reading the cluster again`);
  });

  it('an operation that reports STATUS_UNSPECIFIED fails with a named cause after a few polls, not at the timeout', async () => {
    fake.unspecifiedNext.add('CREATE_CLUSTER');
    const started = Date.now();
    const e = await failure(ensureCluster(deps, spec('kf-unspecified'), { ...opts, timeoutMs: 45 * 60_000 }));
    expect(e.message).toMatch(
      new RegExp(
        `^CREATE_CLUSTER operation-\\S+ of cluster kf-unspecified reports no status \\(STATUS_UNSPECIFIED\\) after ${UNSPECIFIED_POLLS + 1} polls$`,
      ),
    );
    expect(e.details.cause).toContain('without a status');
    const name = /(operation-\S+) of/.exec(e.message)?.[1] as string;
    expect(opPolls(name)).toBe(UNSPECIFIED_POLLS + 1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a node pool in ERROR fails with its conditions', async () => {
    const c = fake.seedCluster(PROJECT, REGION, 'kf-pool-error', body(spec('kf-pool-error')));
    Object.assign((c['nodePools'] as Array<Record<string, unknown>>)[0] as object, {
      status: 'ERROR',
      conditions: [{ canonicalCode: 'RESOURCE_EXHAUSTED', message: 'Zone asia-northeast3-a is out of e2-standard-8.' }],
    });
    const e = await failure(ensureCluster(deps, spec('kf-pool-error'), opts));
    expect(e.message).toBe(
      'Node pool default-pool of cluster kf-pool-error is in state ERROR: RESOURCE_EXHAUSTED: Zone asia-northeast3-a is out of e2-standard-8.',
    );
    expect(e.details.fix).toContain('recreate: true');
  });

  it('a node pool RUNNING_WITH_ERROR is used with a warning naming why (the deprecated statusMessage for older clusters)', async () => {
    const c = fake.seedCluster(PROJECT, REGION, 'kf-pool-rwe', body(spec('kf-pool-rwe')));
    Object.assign((c['nodePools'] as Array<Record<string, unknown>>)[0] as object, {
      status: 'RUNNING_WITH_ERROR',
      statusMessage: 'Quota CPUS exceeded in asia-northeast3-c.',
    });
    const r = await ensureCluster(deps, spec('kf-pool-rwe'), opts);
    expect(r.action).toBe('reused');
    expect(deps.logger.lines).toContain(
      'warning: node pool default-pool of cluster kf-pool-rwe is RUNNING_WITH_ERROR: Quota CPUS exceeded in asia-northeast3-c.; some of its nodes are not running (often a zone out of capacity or quota); it is used as it is',
    );
  });

  it('a node pool RECONCILING is waited for through its operation', async () => {
    const c = fake.seedCluster(PROJECT, REGION, 'kf-pool-rec', body(spec('kf-pool-rec')));
    const pool = (c['nodePools'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    pool['status'] = 'RECONCILING';
    const op = fake.startOperation(PROJECT, REGION, 'kf-pool-rec', 'UPGRADE_NODES');
    fake.beforeRequest = () => {
      if (op.status === 'DONE') pool['status'] = 'RUNNING';
    };
    try {
      const r = await ensureCluster(deps, spec('kf-pool-rec'), opts);
      expect(r.action).toBe('reused');
      expect(opPolls(op.name)).toBeGreaterThanOrEqual(3);
      expect(deps.logger.lines).toContain(
        `info: node pool default-pool of cluster kf-pool-rec is RECONCILING (UPGRADE_NODES ${op.name}); waiting`,
      );
      expect(deps.logger.lines.filter((l) => l.startsWith('warning: node pool'))).toEqual([]);
    } finally {
      fake.beforeRequest = undefined;
    }
  });

  it('endpoint dns: a DNS endpoint without external traffic is drift, refused for the kubeconfig, and fixed by update', async () => {
    const s = spec('kf-dns', { dnsEndpoint: true });
    const c = fake.seedCluster(PROJECT, REGION, 'kf-dns', body(spec('kf-dns')));
    const dnsConfig = (c['controlPlaneEndpointsConfig'] as Record<string, Record<string, unknown>>)[
      'dnsEndpointConfig'
    ];
    // "Always present", also when the cluster was created without asking for it.
    expect(dnsConfig?.['endpoint']).toBe('gke-fake-kf-dns.asia-northeast3.gke.goog');
    const before = await ensureCluster(deps, s, opts);
    expect(before.drift).toEqual([
      {
        field: 'dns-endpoint',
        want: 'external traffic allowed',
        live: 'gke-fake-kf-dns.asia-northeast3.gke.goog, external traffic not allowed',
        change: { kind: 'dnsEndpoint' },
      },
    ]);
    expect(() => renderKubeconfig(before.cluster, s, 'dns', { kind: 'token', token: 't' })).toThrow(
      /does not allow external traffic/,
    );
    const after = await ensureCluster(deps, s, { ...opts, update: true });
    expect(after.applied.map((d) => d.field)).toEqual(['dns-endpoint']);
    expect(
      fake.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/clusters/kf-dns')).map((r) => r.body),
    ).toEqual([
      { update: { desiredControlPlaneEndpointsConfig: { dnsEndpointConfig: { allowExternalTraffic: true } } } },
    ]);
    expect(after.cluster.controlPlaneEndpointsConfig?.dnsEndpointConfig?.allowExternalTraffic).toBe(true);
    expect(renderKubeconfig(after.cluster, s, 'dns', { kind: 'token', token: 't' }).yaml).toContain(
      'server: https://gke-fake-kf-dns.asia-northeast3.gke.goog',
    );
    expect((await ensureCluster(deps, s, opts)).drift).toEqual([]);
  });

  it('labels: the fingerprint the cluster reports is sent; a stale or missing one is refused as by the API', async () => {
    const c = fake.seedCluster(PROJECT, REGION, 'kf-labels', body(spec('kf-labels')));
    const r = await ensureCluster(deps, spec('kf-labels', { labels: { team: 'ml' } }), { ...opts, update: true });
    expect(r.applied.map((d) => d.field)).toEqual(['labels']);
    expect(c['resourceLabels']).toEqual({ team: 'ml' });
    const ref = { project: PROJECT, location: REGION, name: 'kf-labels' };
    for (const stale of ['', 'deadbeef']) {
      const e = await failure(deps.api.setResourceLabels(ref, { team: 'ds' }, stale));
      expect(e).toBeInstanceOf(GkeApiError);
      expect(e.message).toBe(
        `Could not set resource labels: HTTP 400 FAILED_PRECONDITION: Labels could not be set due to fingerprint mismatch; try again with the proper fingerprint: incorrect fingerprint supplied was "${stale}", the expected one is "${String(c['labelFingerprint'])}".`,
      );
    }
  });

  it('Operation.error is a google.rpc.Status (numeric code, no status name); the HTTP error body names the status', async () => {
    fake.failNext.set('CREATE_CLUSTER', {
      code: 8,
      message: "Quota 'CPUS' exceeded.  Limit: 8.0 in region asia-northeast3.",
    });
    const e = await failure(ensureCluster(deps, spec('kf-op-error'), opts));
    expect(e.message).toContain('RESOURCE_EXHAUSTED');
    const op = [...fake.operations.values()].find((s) => s.op.targetLink.endsWith('/clusters/kf-op-error'))?.op;
    expect(op?.error).toEqual({ code: 8, message: expect.any(String), details: [] });
    expect(validateSchema(fake.discovery!, 'Operation', op)).toEqual([]);
    const httpError = await failure(
      deps.api
        .getCluster({ project: PROJECT, location: REGION, name: 'Bad_Name' })
        .then(() => deps.api.createCluster(spec('Bad_Name'), {})),
    );
    expect(httpError).toBeInstanceOf(GkeApiError);
    expect((httpError as GkeApiError).status).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
  });
});
