/**
 * The requests setup-gke builds, checked against Google's published Container API v1 discovery
 * document (google-api-python-client's container.v1.json, test/python/gapi.txt): every field exists,
 * has the documented type and enum value, and none is marked deprecated. And the fake Container API
 * answers an undocumented field as the API does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerApi, type FetchLike } from '../../src/gke/api.js';
import { staticTokenSource } from '../../src/gke/auth.js';
import { applyChange } from '../../src/gke/cluster.js';
import { clusterForCreate, findDrift, type ClusterSpec, type DriftChange } from '../../src/gke/spec.js';
import type { Cluster } from '../../src/gke/types.js';
import { FakeGke } from '../support/fake-gke.js';
import {
  containerDiscovery,
  deprecatedFields,
  DISCOVERY_REVISION,
  findMethod,
  validateSchema,
} from '../support/gke-discovery.js';

const doc = containerDiscovery();

const spec: ClusterSpec = {
  project: 'my-project-1',
  location: 'asia-northeast3',
  name: 'kubeflow',
  releaseChannel: 'REGULAR',
  nodePool: 'default-pool',
  machineType: 'e2-standard-8',
  nodeCount: 1,
  autoscaling: { min: 1, max: 4 },
  diskSizeGb: 100,
  diskType: 'pd-balanced',
  spot: true,
  network: 'default',
  subnetwork: 'default',
  privateNodes: true,
  masterIpv4Cidr: '172.16.0.0/28',
  authorizedNetworks: ['10.0.0.0/8', '192.168.0.0/16'],
  labels: { team: 'ml' },
  workloadPool: 'my-project-1.svc.id.goog',
  dnsEndpoint: true,
  serviceAccount: 'nodes@my-project-1.iam.gserviceaccount.com',
};

interface Sent {
  method: string;
  path: string;
  body: unknown;
}

/** A ContainerApi whose requests are recorded and answered with a DONE operation. */
function recordingApi(): { api: ContainerApi; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch: FetchLike = async (url, init) => {
    sent.push({
      method: init.method,
      path: new URL(url).pathname,
      body: init.body === undefined ? undefined : JSON.parse(init.body),
    });
    return { status: 200, text: async () => JSON.stringify({ name: 'operation-1', status: 'DONE' }) };
  };
  return {
    api: new ContainerApi({ endpoint: 'http://127.0.0.1:9/', tokens: staticTokenSource('t', 'test'), fetch }),
    sent,
  };
}

/** Each request checked against its method in the document: fields, types, enums, and deprecated fields. */
function check(sent: Sent[]): { violations: string[]; deprecated: string[] } {
  const violations: string[] = [];
  const deprecated: string[] = [];
  for (const r of sent) {
    const m = findMethod(doc, r.method, r.path);
    if (!m) {
      violations.push(`${r.method} ${r.path}: no such method in the document`);
      continue;
    }
    if (r.body === undefined) continue;
    if (!m.request) {
      violations.push(`${m.id} takes no body`);
      continue;
    }
    violations.push(...validateSchema(doc, m.request.$ref, r.body).map((v) => `${m.id}: ${v.description}`));
    deprecated.push(...deprecatedFields(doc, m.request.$ref, r.body).map((f) => `${m.id}: ${f}`));
  }
  return { violations, deprecated };
}

describe('the Container API v1 discovery document', () => {
  it('is the pinned revision, with the methods setup-gke calls', () => {
    expect(doc.revision).toBe(DISCOVERY_REVISION);
    expect(findMethod(doc, 'POST', '/v1/projects/p/locations/l/clusters:setResourceLabels')).toBeUndefined();
    expect(findMethod(doc, 'POST', '/v1/projects/p/locations/l/clusters/c:setResourceLabels')?.id).toBe(
      'container.projects.locations.clusters.setResourceLabels',
    );
    expect(findMethod(doc, 'PUT', '/v1/projects/p/locations/l/clusters/c')?.request?.$ref).toBe('UpdateClusterRequest');
  });

  it('names a misspelt, mistyped or unknown-enum field the way the API does', () => {
    const body = {
      cluster: {
        name: 'c',
        privateClusterConfig: { enablePrivateNodez: true },
        nodePools: [{ name: 'p', initialNodeCount: 'three' }],
        releaseChannel: { channel: 'FAST' },
      },
      bogus: 1,
    };
    expect(validateSchema(doc, 'CreateClusterRequest', body).map((v) => v.description)).toEqual([
      `Invalid JSON payload received. Unknown name "enablePrivateNodez" at 'cluster.private_cluster_config': Cannot find field.`,
      `Invalid value at 'cluster.node_pools[0].initial_node_count' (TYPE_INT32), "three"`,
      `Invalid value at 'cluster.release_channel.channel' (type.googleapis.com/google.container.v1.ReleaseChannel.Channel), "FAST"`,
      'Invalid JSON payload received. Unknown name "bogus": Cannot find field.',
    ]);
  });
});

describe('setup-gke requests against the discovery document', () => {
  it('the create request has only documented, non-deprecated fields', async () => {
    const { api, sent } = recordingApi();
    await api.createCluster(spec, clusterForCreate(spec));
    await api.createCluster(
      spec,
      clusterForCreate({
        ...spec,
        autoscaling: undefined,
        privateNodes: false,
        authorizedNetworks: [],
        labels: {},
        workloadPool: undefined,
        dnsEndpoint: false,
        spot: false,
      }),
    );
    expect(check(sent)).toEqual({ violations: [], deprecated: [] });
  });

  it('every in-place change, node pool call and read has only documented, non-deprecated fields', async () => {
    const { api, sent } = recordingApi();
    const live: Cluster = { name: 'kubeflow', labelFingerprint: 'abcd1234', resourceLabels: {}, nodePools: [] };
    const changes: DriftChange[] = [
      { kind: 'autoscaling', pool: 'default-pool', autoscaling: { enabled: false } },
      {
        kind: 'autoscaling',
        pool: 'default-pool',
        autoscaling: { enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 3, locationPolicy: 'BALANCED' },
      },
      { kind: 'size', pool: 'default-pool', nodeCount: 2 },
      { kind: 'releaseChannel', channel: 'STABLE' },
      { kind: 'workloadIdentity', workloadPool: 'my-project-1.svc.id.goog' },
      { kind: 'authorizedNetworks', cidrs: ['10.0.0.0/8'] },
      { kind: 'authorizedNetworks', cidrs: [] },
      { kind: 'labels', labels: { team: 'ml' } },
    ];
    for (const change of changes) await applyChange({ api }, spec, live, change);
    // The drift of a cluster that differs in everything yields changes of every kind, too.
    for (const d of findDrift(spec, { ...live, releaseChannel: { channel: 'RAPID' } }))
      if (d.change) await applyChange({ api }, spec, live, d.change);
    await api.getCluster(spec);
    await api.deleteCluster(spec);
    await api.getOperation(spec, 'operation-1');
    await api.listOperations(spec);
    expect(sent.length).toBeGreaterThan(changes.length + 4);
    expect(check(sent)).toEqual({ violations: [], deprecated: [] });
  });

  it('the label change sends the fingerprint the API requires, also when the live cluster reports none', async () => {
    const { api, sent } = recordingApi();
    await applyChange({ api }, spec, { name: 'kubeflow' }, { kind: 'labels', labels: { team: 'ml' } });
    expect(sent[0]?.body).toEqual({ resourceLabels: { team: 'ml' }, labelFingerprint: '' });
  });
});

describe('the fake Container API enforces the document', () => {
  const fake = new FakeGke({ endpoint: '127.0.0.1:1', caCertificate: 'Q0E=', tokens: ['t'] });
  let url = '';
  beforeAll(async () => {
    url = await fake.start();
  });
  afterAll(() => fake.stop());

  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${url}v1/projects/p/locations/asia-northeast3/${path}`, {
      method: 'POST',
      headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('answers a misspelt field with 400 INVALID_ARGUMENT and a google.rpc.BadRequest, creating nothing', async () => {
    const r = await post('clusters', { cluster: { name: 'kubeflow', releaseChanel: { channel: 'REGULAR' } } });
    const message = `Invalid JSON payload received. Unknown name "releaseChanel" at 'cluster': Cannot find field.`;
    expect(r).toEqual({
      status: 400,
      body: {
        error: {
          code: 400,
          message,
          status: 'INVALID_ARGUMENT',
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.BadRequest',
              fieldViolations: [{ field: 'cluster', description: message }],
            },
          ],
        },
      },
    });
    expect(fake.clusters.size).toBe(0);
  });

  it('answers a bad enum value and an unknown query parameter the same way', async () => {
    const r = await post('clusters', { cluster: { name: 'kubeflow', releaseChannel: { channel: 'FAST' } } });
    expect(r.status).toBe(400);
    expect((r.body['error'] as { message: string }).message).toContain(`'cluster.release_channel.channel'`);
    const q = await fetch(`${url}v1/projects/p/locations/asia-northeast3/clusters/kubeflow?clusterID=x`, {
      headers: { Authorization: 'Bearer t' },
      signal: AbortSignal.timeout(10_000),
    });
    expect(q.status).toBe(400);
    expect(((await q.json()) as { error: { status: string } }).error.status).toBe('INVALID_ARGUMENT');
  });

  it("accepts the action's create request and answers with documented fields only", async () => {
    const r = await post('clusters', { cluster: { ...clusterForCreate(spec), name: 'kubeflow' } });
    expect(r.status).toBe(200);
    const got = await fetch(`${url}v1/projects/p/locations/asia-northeast3/clusters/kubeflow`, {
      headers: { Authorization: 'Bearer t' },
      signal: AbortSignal.timeout(10_000),
    });
    const cluster = (await got.json()) as Record<string, unknown>;
    expect(validateSchema(doc, 'Cluster', cluster)).toEqual([]);
    expect(fake.undocumented).toEqual([]);
  });
});
