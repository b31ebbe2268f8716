import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { readSettings } from '../../src/actions/setup-gke/main.js';
import { Inputs } from '../../src/common/inputs.js';
import { describeProgress } from '../../src/gke/cluster.js';
import { deniedPermission, explainApiError, findQuotaShortages, operationError } from '../../src/gke/errors.js';
import { renderKubeconfig, serviceAccountIssuer } from '../../src/gke/kubeconfig.js';
import { clusterForCreate, findDrift, isZone } from '../../src/gke/spec.js';
import { configError } from '../support/config-error.js';

const inputs = (values: Record<string, string>): Inputs => new Inputs((n) => values[n] ?? '');
const base = { project: 'my-project-1', location: 'asia-northeast3', 'cluster-name': 'kubeflow' };

describe('setup-gke settings', () => {
  it('defaults to a Kubeflow-sized cluster: 3 nodes of e2-standard-8 in a region, Workload Identity on', () => {
    const s = readSettings(inputs(base), { RUNNER_TEMP: '/runner/tmp' });
    expect(s.spec).toMatchObject({ machineType: 'e2-standard-8', nodeCount: 1, diskSizeGb: 100, diskType: 'pd-balanced', releaseChannel: 'REGULAR', workloadPool: 'my-project-1.svc.id.goog', privateNodes: false });
    expect(isZone(s.spec.location)).toBe(false);
    expect(s.kubeconfigPath).toBe('/runner/tmp/kfops-gke-kubeflow.kubeconfig');
    expect(readSettings(inputs({ ...base, location: 'asia-northeast3-a' })).spec.nodeCount).toBe(3);
  });

  it('requires confirm to repeat the cluster name for recreate, quoting what was given', () => {
    expect(configError(() => readSettings(inputs({ ...base, recreate: 'true' }))).message).toBe(
      'Input \'confirm\' is required: expected the cluster name "kubeflow" exactly: recreate: true deletes the cluster, so confirm must repeat its name.',
    );
    expect(configError(() => readSettings(inputs({ ...base, recreate: 'true', confirm: 'kubeflw' }))).message).toContain('has the value "kubeflw"');
    expect(readSettings(inputs({ ...base, recreate: 'true', confirm: 'kubeflow' })).recreate).toBe(true);
  });

  it('checks autoscaling bounds, labels, CIDRs and names', () => {
    expect(configError(() => readSettings(inputs({ ...base, 'autoscaling-min': '2' }))).input).toBe('autoscaling-max');
    expect(configError(() => readSettings(inputs({ ...base, 'autoscaling-min': '4', 'autoscaling-max': '2' }))).input).toBe('autoscaling-max');
    expect(readSettings(inputs({ ...base, 'autoscaling-min': '2', 'autoscaling-max': '5' })).spec.autoscaling).toEqual({ min: 2, max: 5 });
    expect(readSettings(inputs({ ...base, labels: 'team=ml\nenv=prod' })).spec.labels).toEqual({ team: 'ml', env: 'prod' });
    expect(configError(() => readSettings(inputs({ ...base, labels: 'Team=ML' }))).input).toBe('labels');
    expect(configError(() => readSettings(inputs({ ...base, 'master-authorized-networks': '10.0.0.0' }))).message).toContain('"10.0.0.0"');
    expect(configError(() => readSettings(inputs({ ...base, 'cluster-name': 'Kubeflow_1' }))).input).toBe('cluster-name');
    expect(configError(() => readSettings(inputs({ ...base, 'release-channel': 'beta' }))).input).toBe('release-channel');
    expect(readSettings(inputs({ ...base, 'private-nodes': 'true' })).spec.masterIpv4Cidr).toBe('172.16.0.32/28');
  });
});

describe('Container API errors', () => {
  it('finds the permission in an ErrorInfo or in the message, and names the role', () => {
    expect(deniedPermission({ message: 'x', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', metadata: { permission: 'container.clusters.delete' } }] })).toBe('container.clusters.delete');
    expect(deniedPermission({ message: 'Required "container.clusters.get" permission(s) for "projects/p/locations/l/clusters/c".' })).toBe('container.clusters.get');
    const e = explainApiError(403, { code: 403, status: 'PERMISSION_DENIED', message: 'Required "container.clusters.get" permission(s) for "projects/p/locations/l/clusters/c".' }, { what: 'get cluster', project: 'p', location: 'l', principal: 'ci@p.iam.gserviceaccount.com' });
    expect(e.details.cause).toBe('ci@p.iam.gserviceaccount.com lacks the IAM permission container.clusters.get');
    expect(e.details.fix).toMatch(/^grant roles\/container\.clusterViewer \(it includes container\.clusters\.get\)/);
    const bare = explainApiError(403, { code: 403, status: 'PERMISSION_DENIED', message: 'The caller does not have permission' }, { what: 'delete cluster', project: 'p', location: 'l' });
    expect(bare.details.cause).toContain('container.clusters.delete');
  });

  it('reads quota shortages in both forms the API and Compute Engine write', () => {
    expect(findQuotaShortages(`Insufficient regional quota to satisfy request: resource "CPUS": request requires '24.0' and is short '16.0'. project has a quota of '8.0' with '8.0' available.`)).toEqual([
      { quota: 'CPUS', scope: 'regional', requires: '24.0', short: '16.0', limit: '8.0' },
    ]);
    expect(findQuotaShortages(`Insufficient project quota to satisfy request: resource "CPUS_ALL_REGIONS": request requires '16.0' and is short '4.0'. project has a quota of '12.0' with '12.0' available.`)[0]?.quota).toBe('CPUS_ALL_REGIONS');
    expect(findQuotaShortages("Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 8.0 in region europe-central2.")).toEqual([{ quota: 'IN_USE_ADDRESSES', limit: '8.0', scope: 'region europe-central2' }]);
    const e = explainApiError(403, { code: 403, status: 'PERMISSION_DENIED', message: `Insufficient regional quota to satisfy request: resource "CPUS": request requires '24.0' and is short '16.0'. project has a quota of '8.0' with '8.0' available.` }, { what: 'create cluster', project: 'p', location: 'asia-northeast3-a' });
    expect(e.details.cause).toContain('quota CPUS in region asia-northeast3');
  });

  it('explains a failed operation with its google.rpc.Code name and conditions', () => {
    const e = operationError({ name: 'operation-1', operationType: 'CREATE_CLUSTER', status: 'DONE', error: { code: 13, message: 'Failed to create cluster' }, clusterConditions: [{ canonicalCode: 'INTERNAL', message: 'node pool default-pool: 3 nodes out of 3 are unhealthy' }] }, { project: 'p', location: 'l', cluster: 'c' });
    expect(e.message).toBe('The create cluster of cluster c failed (operation-1, INTERNAL): Failed to create cluster');
    expect(e.details.cause).toBe('cluster conditions: INTERNAL: node pool default-pool: 3 nodes out of 3 are unhealthy');
    expect(describeProgress({ metrics: [{ name: 'CLUSTER_DEPLOYING', intValue: '2' }, { name: 'CLUSTER_DEPLOYING_TOTAL', intValue: '6' }] })).toBe('CLUSTER_DEPLOYING 2/6');
  });
});

describe('kubeconfig', () => {
  const ref = { project: 'p1', location: 'asia-northeast3', name: 'kf' };
  const cluster = { endpoint: '34.1.2.3', masterAuth: { clusterCaCertificate: 'Q0E=' }, privateClusterConfig: { privateEndpoint: '10.0.0.2' }, controlPlaneEndpointsConfig: { dnsEndpointConfig: { endpoint: 'gke-abc.asia-northeast3.gke.goog' } } };

  it('uses the exec plugin with its install hint, or a token', () => {
    const exec = load(renderKubeconfig(cluster, ref, 'public', { kind: 'exec', command: 'gke-gcloud-auth-plugin', args: ['--use_application_default_credentials'] }).yaml) as Record<string, unknown>;
    expect(exec).toMatchObject({
      'current-context': 'gke_p1_asia-northeast3_kf',
      clusters: [{ name: 'gke_p1_asia-northeast3_kf', cluster: { server: 'https://34.1.2.3', 'certificate-authority-data': 'Q0E=' } }],
      users: [{ user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'gke-gcloud-auth-plugin', args: ['--use_application_default_credentials'], provideClusterInfo: true } } }],
    });
    const token = load(renderKubeconfig(cluster, ref, 'private', { kind: 'token', token: 'ya29.x' }).yaml) as { users: Array<{ user: unknown }>; clusters: Array<{ cluster: { server: string } }> };
    expect(token.users[0]?.user).toEqual({ token: 'ya29.x' });
    expect(token.clusters[0]?.cluster.server).toBe('https://10.0.0.2');
    const dns = load(renderKubeconfig(cluster, ref, 'dns', { kind: 'token', token: 't' }).yaml) as { clusters: Array<{ cluster: Record<string, string> }> };
    expect(dns.clusters[0]?.cluster).toEqual({ server: 'https://gke-abc.asia-northeast3.gke.goog' });
    expect(() => renderKubeconfig({ ...cluster, privateClusterConfig: {} }, ref, 'private', { kind: 'token', token: 't' })).toThrow(/no private control plane endpoint/);
    expect(serviceAccountIssuer(ref)).toBe('https://container.googleapis.com/v1/projects/p1/locations/asia-northeast3/clusters/kf');
  });
});

describe('drift', () => {
  const spec = readSettings(inputs({ ...base, labels: 'team=ml' })).spec;
  it('finds nothing on the cluster the spec creates, and each difference with its in-place change', () => {
    const created = { ...clusterForCreate(spec), nodePools: clusterForCreate(spec).nodePools?.map((p) => ({ ...p, locations: ['a', 'b', 'c'] })) };
    expect(findDrift(spec, created)).toEqual([]);
    const live = { ...created, resourceLabels: { team: 'data', owner: 'x' }, labelFingerprint: 'f1', masterAuthorizedNetworksConfig: { enabled: true, cidrBlocks: [{ cidrBlock: '1.2.3.0/24' }] } };
    const d = findDrift(spec, live);
    expect(d.map((x) => x.field)).toEqual(['master-authorized-networks', 'labels']);
    expect(d[1]?.change).toEqual({ kind: 'labels', labels: { team: 'ml', owner: 'x' } });
    expect(findDrift({ ...spec, spot: true }, created).map((x) => [x.field, Boolean(x.change)])).toEqual([['spot', false]]);
  });
});
