import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { looksLikeCredential, readSettings } from '../../src/actions/setup-gke/inputs.js';
import type { KfopsError } from '../../src/common/errors.js';
import type { Logger } from '../../src/common/logger.js';
import { ContainerApi, requestFailureClass, type FetchLike } from '../../src/gke/api.js';
import { staticTokenSource } from '../../src/gke/auth.js';
import { describeProgress } from '../../src/gke/cluster.js';
import { chooseAuth, setupGke, writeKubeconfig, type KubeconfigDeps, type SetupSettings } from '../../src/gke/setup.js';
import { deniedPermission, explainApiError, findQuotaShortages, operationError } from '../../src/gke/errors.js';
import { renderKubeconfig, serviceAccountIssuer } from '../../src/gke/kubeconfig.js';
import { clusterForCreate, findDrift, isIpv4Cidr, isLocation, isZone } from '../../src/gke/spec.js';
import { configError } from '../support/config-error.js';
import { fakeInputs as inputs } from '../support/inputs-fake.js';

const base = { project: 'my-project-1', location: 'asia-northeast3', 'cluster-name': 'kubeflow' };

describe('setup-gke settings', () => {
  it('defaults to a Kubeflow-sized cluster: 3 nodes of e2-standard-8 in a region, Workload Identity on', () => {
    const s = readSettings(inputs(base), { RUNNER_TEMP: '/runner/tmp' });
    expect(s.spec).toMatchObject({
      machineType: 'e2-standard-8',
      nodeCount: 1,
      diskSizeGb: 100,
      diskType: 'pd-balanced',
      releaseChannel: 'REGULAR',
      workloadPool: 'my-project-1.svc.id.goog',
      privateNodes: false,
    });
    expect(isZone(s.spec.location)).toBe(false);
    expect(s.path).toBe('/runner/tmp/kfops-gke-kubeflow.kubeconfig');
    expect(readSettings(inputs({ ...base, location: 'asia-northeast3-a' })).spec.nodeCount).toBe(3);
  });

  it('requires confirm to repeat the cluster name for recreate, quoting what was given', () => {
    expect(configError(() => readSettings(inputs({ ...base, recreate: 'true' }))).message).toBe(
      'Input \'confirm\' is required: expected the cluster name "kubeflow" exactly: recreate: true deletes the cluster, so confirm must repeat its name.',
    );
    expect(
      configError(() => readSettings(inputs({ ...base, recreate: 'true', confirm: 'kubeflw' }))).message,
    ).toContain('has the value "kubeflw"');
    expect(readSettings(inputs({ ...base, recreate: 'true', confirm: 'kubeflow' })).recreate).toBe(true);
  });

  it('checks autoscaling bounds, labels, CIDRs and names', () => {
    expect(configError(() => readSettings(inputs({ ...base, 'autoscaling-min': '2' }))).input).toBe('autoscaling-max');
    expect(
      configError(() => readSettings(inputs({ ...base, 'autoscaling-min': '4', 'autoscaling-max': '2' }))).input,
    ).toBe('autoscaling-max');
    expect(readSettings(inputs({ ...base, 'autoscaling-min': '2', 'autoscaling-max': '5' })).spec.autoscaling).toEqual({
      min: 2,
      max: 5,
    });
    expect(readSettings(inputs({ ...base, labels: 'team=ml\nenv=prod' })).spec.labels).toEqual({
      team: 'ml',
      env: 'prod',
    });
    expect(configError(() => readSettings(inputs({ ...base, labels: 'Team=ML' }))).input).toBe('labels');
    expect(
      configError(() => readSettings(inputs({ ...base, 'master-authorized-networks': '10.0.0.0' }))).message,
    ).toContain('"10.0.0.0"');
    expect(configError(() => readSettings(inputs({ ...base, 'cluster-name': 'Kubeflow_1' }))).input).toBe(
      'cluster-name',
    );
    expect(configError(() => readSettings(inputs({ ...base, 'release-channel': 'beta' }))).input).toBe(
      'release-channel',
    );
    expect(readSettings(inputs({ ...base, 'private-nodes': 'true' })).spec.masterIpv4Cidr).toBe('172.16.0.32/28');
  });
});

describe('Container API errors', () => {
  it('finds the permission in an ErrorInfo or in the message, and names the role', () => {
    expect(
      deniedPermission({
        message: 'x',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            metadata: { permission: 'container.clusters.delete' },
          },
        ],
      }),
    ).toBe('container.clusters.delete');
    expect(
      deniedPermission({
        message: 'Required "container.clusters.get" permission(s) for "projects/p/locations/l/clusters/c".',
      }),
    ).toBe('container.clusters.get');
    const e = explainApiError(
      403,
      {
        code: 403,
        status: 'PERMISSION_DENIED',
        message: 'Required "container.clusters.get" permission(s) for "projects/p/locations/l/clusters/c".',
      },
      { what: 'get cluster', project: 'p', location: 'l', principal: 'ci@p.iam.gserviceaccount.com' },
    );
    expect(e.details.cause).toBe('ci@p.iam.gserviceaccount.com lacks the IAM permission container.clusters.get');
    expect(e.details.fix).toMatch(/^grant roles\/container\.clusterViewer \(it includes container\.clusters\.get\)/);
    const bare = explainApiError(
      403,
      { code: 403, status: 'PERMISSION_DENIED', message: 'The caller does not have permission' },
      { what: 'delete cluster', project: 'p', location: 'l' },
    );
    expect(bare.details.cause).toContain('container.clusters.delete');
  });

  it('reads quota shortages in both forms the API and Compute Engine write', () => {
    expect(
      findQuotaShortages(
        `Insufficient regional quota to satisfy request: resource "CPUS": request requires '24.0' and is short '16.0'. project has a quota of '8.0' with '8.0' available.`,
      ),
    ).toEqual([{ quota: 'CPUS', scope: 'regional', requires: '24.0', short: '16.0', limit: '8.0' }]);
    expect(
      findQuotaShortages(
        `Insufficient project quota to satisfy request: resource "CPUS_ALL_REGIONS": request requires '16.0' and is short '4.0'. project has a quota of '12.0' with '12.0' available.`,
      )[0]?.quota,
    ).toBe('CPUS_ALL_REGIONS');
    expect(findQuotaShortages("Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 8.0 in region europe-central2.")).toEqual([
      { quota: 'IN_USE_ADDRESSES', limit: '8.0', scope: 'region europe-central2' },
    ]);
    const e = explainApiError(
      403,
      {
        code: 403,
        status: 'PERMISSION_DENIED',
        message: `Insufficient regional quota to satisfy request: resource "CPUS": request requires '24.0' and is short '16.0'. project has a quota of '8.0' with '8.0' available.`,
      },
      { what: 'create cluster', project: 'p', location: 'asia-northeast3-a' },
    );
    expect(e.details.cause).toContain('quota CPUS in region asia-northeast3');
  });

  it('explains a failed operation with its google.rpc.Code name and conditions', () => {
    const e = operationError(
      {
        name: 'operation-1',
        operationType: 'CREATE_CLUSTER',
        status: 'DONE',
        error: { code: 13, message: 'Failed to create cluster' },
        clusterConditions: [
          { canonicalCode: 'INTERNAL', message: 'node pool default-pool: 3 nodes out of 3 are unhealthy' },
        ],
      },
      { project: 'p', location: 'l', cluster: 'c' },
    );
    expect(e.message).toBe('The create cluster of cluster c failed (operation-1, INTERNAL): Failed to create cluster');
    expect(e.details.cause).toBe(
      'cluster conditions: INTERNAL: node pool default-pool: 3 nodes out of 3 are unhealthy',
    );
    expect(
      describeProgress({
        metrics: [
          { name: 'CLUSTER_DEPLOYING', intValue: '2' },
          { name: 'CLUSTER_DEPLOYING_TOTAL', intValue: '6' },
        ],
      }),
    ).toBe('CLUSTER_DEPLOYING 2/6');
  });
});

describe('kubeconfig', () => {
  const ref = { project: 'p1', location: 'asia-northeast3', name: 'kf' };
  const cluster = {
    endpoint: '34.1.2.3',
    masterAuth: { clusterCaCertificate: 'Q0E=' },
    privateClusterConfig: { privateEndpoint: '10.0.0.2' },
    controlPlaneEndpointsConfig: {
      dnsEndpointConfig: { endpoint: 'gke-abc.asia-northeast3.gke.goog', allowExternalTraffic: true },
    },
  };

  it('uses the exec plugin with its install hint, or a token', () => {
    const exec = load(
      renderKubeconfig(cluster, ref, 'public', {
        kind: 'exec',
        command: 'gke-gcloud-auth-plugin',
        args: ['--use_application_default_credentials'],
      }).yaml,
    ) as Record<string, unknown>;
    expect(exec).toMatchObject({
      'current-context': 'gke_p1_asia-northeast3_kf',
      clusters: [
        {
          name: 'gke_p1_asia-northeast3_kf',
          cluster: { server: 'https://34.1.2.3', 'certificate-authority-data': 'Q0E=' },
        },
      ],
      users: [
        {
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1beta1',
              command: 'gke-gcloud-auth-plugin',
              args: ['--use_application_default_credentials'],
              provideClusterInfo: true,
            },
          },
        },
      ],
    });
    const token = load(renderKubeconfig(cluster, ref, 'private', { kind: 'token', token: 'ya29.x' }).yaml) as {
      users: Array<{ user: unknown }>;
      clusters: Array<{ cluster: { server: string } }>;
    };
    expect(token.users[0]?.user).toEqual({ token: 'ya29.x' });
    expect(token.clusters[0]?.cluster.server).toBe('https://10.0.0.2');
    const dns = load(renderKubeconfig(cluster, ref, 'dns', { kind: 'token', token: 't' }).yaml) as {
      clusters: Array<{ cluster: Record<string, string> }>;
    };
    expect(dns.clusters[0]?.cluster).toEqual({ server: 'https://gke-abc.asia-northeast3.gke.goog' });
    // The DNS endpoint is "Always present"; without external traffic it refuses the runner.
    expect(() =>
      renderKubeconfig(
        {
          ...cluster,
          controlPlaneEndpointsConfig: { dnsEndpointConfig: { endpoint: 'gke-abc.asia-northeast3.gke.goog' } },
        },
        ref,
        'dns',
        { kind: 'token', token: 't' },
      ),
    ).toThrow(/DNS-based control plane endpoint does not allow external traffic/);
    expect(() =>
      renderKubeconfig({ ...cluster, privateClusterConfig: {} }, ref, 'private', { kind: 'token', token: 't' }),
    ).toThrow(/no private control plane endpoint/);
    // controlPlaneEndpointsConfig.ipEndpointsConfig.privateEndpoint before the deprecated privateClusterConfig one.
    const both = {
      ...cluster,
      controlPlaneEndpointsConfig: { ipEndpointsConfig: { privateEndpoint: '10.0.0.9' } },
    };
    expect(renderKubeconfig(both, ref, 'private', { kind: 'token', token: 't' }).yaml).toContain(
      'server: https://10.0.0.9',
    );
    expect(serviceAccountIssuer(ref)).toBe(
      'https://container.googleapis.com/v1/projects/p1/locations/asia-northeast3/clusters/kf',
    );
  });
});

describe('drift', () => {
  const spec = readSettings(inputs({ ...base, labels: 'team=ml' })).spec;
  it('finds nothing on the cluster the spec creates, and each difference with its in-place change', () => {
    const created = {
      ...clusterForCreate(spec),
      nodePools: clusterForCreate(spec).nodePools?.map((p) => ({ ...p, locations: ['a', 'b', 'c'] })),
    };
    expect(findDrift(spec, created)).toEqual([]);
    const live = {
      ...created,
      resourceLabels: { team: 'data', owner: 'x' },
      labelFingerprint: 'f1',
      masterAuthorizedNetworksConfig: { enabled: true, cidrBlocks: [{ cidrBlock: '1.2.3.0/24' }] },
    };
    const d = findDrift(spec, live);
    expect(d.map((x) => x.field)).toEqual(['master-authorized-networks', 'labels']);
    expect(d[1]?.change).toEqual({ kind: 'labels', labels: { team: 'ml', owner: 'x' } });
    expect(findDrift({ ...spec, spot: true }, created).map((x) => [x.field, Boolean(x.change)])).toEqual([
      ['spot', false],
    ]);
  });

  it('reads the current fields first and the deprecated ones only when the current ones are absent', () => {
    const nets = (cidr: string) => ({ enabled: true, cidrBlocks: [{ cidrBlock: cidr }] });
    const created = clusterForCreate({ ...spec, authorizedNetworks: ['10.0.0.0/8'] });
    const withBoth = {
      ...created,
      controlPlaneEndpointsConfig: { ipEndpointsConfig: { authorizedNetworksConfig: nets('10.0.0.0/8') } },
      masterAuthorizedNetworksConfig: nets('1.2.3.0/24'),
      networkConfig: { defaultEnablePrivateNodes: false },
      privateClusterConfig: { enablePrivateNodes: true },
    };
    const s2 = { ...spec, authorizedNetworks: ['10.0.0.0/8'] };
    expect(findDrift(s2, withBoth).map((x) => x.field)).toEqual([]);
    const older = {
      ...created,
      controlPlaneEndpointsConfig: {},
      masterAuthorizedNetworksConfig: nets('1.2.3.0/24'),
      privateClusterConfig: { enablePrivateNodes: true },
    };
    expect(findDrift(s2, older).map((x) => `${x.field}: ${x.live}`)).toEqual([
      'master-authorized-networks: 1.2.3.0/24',
      'private-nodes: true',
    ]);
  });
});

describe('locations and CIDR blocks', () => {
  it('accepts region and zone names and refuses other forms', () => {
    for (const ok of [
      'us-central1',
      'asia-northeast3',
      'europe-west12',
      'northamerica-northeast2',
      'me-central1',
      'africa-south1',
      'us-central1-f',
      'australia-southeast1-a',
    ])
      expect(isLocation(ok), ok).toBe(true);
    for (const bad of [
      'us-centrl1',
      'a-b0',
      'us-central0',
      'US-CENTRAL1',
      'us-central1-ab',
      'us-central1-',
      'global',
      'us-central01',
      'uscentral1',
    ])
      expect(isLocation(bad), bad).toBe(false);
    expect(isZone('us-central1-a')).toBe(true);
    expect(isZone('us-central1')).toBe(false);
  });

  it('checks octets, prefix length and host bits', () => {
    for (const ok of ['10.0.0.0/8', '203.0.113.7/32', '0.0.0.0/0', '172.16.0.32/28'])
      expect(isIpv4Cidr(ok), ok).toBe(true);
    for (const bad of [
      '999.0.0.0/99',
      '10.0.0.0/33',
      '256.1.1.0/24',
      '10.0.0.1/8',
      '10.0.0.0',
      '010.0.0.0/8',
      '10.0.0.0/08',
      '1.2.3/24',
    ])
      expect(isIpv4Cidr(bad), bad).toBe(false);
    expect(isIpv4Cidr('172.16.0.32/28', 28)).toBe(true);
    expect(isIpv4Cidr('172.16.0.0/24', 28)).toBe(false);
  });

  it('refuses a zero timeout and poll interval, a master range without private nodes, and a pasted credential without quoting it', () => {
    expect(configError(() => readSettings(inputs({ ...base, timeout: '0s' }))).input).toBe('timeout');
    expect(configError(() => readSettings(inputs({ ...base, 'poll-interval': '0' }))).input).toBe('poll-interval');
    expect(configError(() => readSettings(inputs({ ...base, 'master-ipv4-cidr': '172.16.0.32/28' }))).input).toBe(
      'master-ipv4-cidr',
    );
    expect(configError(() => readSettings(inputs({ ...base, location: 'us-centrl1' }))).input).toBe('location');
    const masked: string[] = [];
    const key = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----Zq7hidden"}';
    const e = configError(() => readSettings(inputs({ ...base, project: key }, masked)));
    expect(e.input).toBe('project');
    expect(e.message).not.toContain('Zq7hidden');
    expect(masked).toEqual([key]);
    expect(looksLikeCredential('ya29.a0AfH6SMBx-abcdefgh')).toBe(true);
    expect(looksLikeCredential('my-project-1')).toBe(false);
    const url = configError(() =>
      readSettings(inputs({ ...base, 'api-endpoint': 'https://me:hunter2@container.example/' }, masked)),
    );
    expect(url.message).not.toContain('hunter2');
    expect(masked).toContain('hunter2');
  });
});

/** A fetch that fails every call the way undici does for the given code, counting calls. */
function failingFetch(code: string, name = 'Error'): FetchLike & { calls: number } {
  const f = (async () => {
    f.calls++;
    throw new TypeError('fetch failed', { cause: Object.assign(new Error(`${code} 127.0.0.1:9`), { code, name }) });
  }) as unknown as FetchLike & { calls: number };
  f.calls = 0;
  return f;
}

describe('Container API request failures', () => {
  const ref = { project: 'p-123456', location: 'us-central1', name: 'kf' };
  const tokens = staticTokenSource('t', 'test');
  const noSleep = { sleep: async () => undefined };

  it('classes a refused connection as permanent, a silent peer as a timeout, a reset as a connection error', () => {
    expect(
      requestFailureClass(
        new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }),
      ),
    ).toBeUndefined();
    expect(
      requestFailureClass(
        new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }) }),
      ),
    ).toBe('timeout');
    expect(requestFailureClass(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe(
      'timeout',
    );
    expect(
      requestFailureClass(
        new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
      ),
    ).toBe('connection');
  });

  it('fails a refused connection at once, naming the endpoint', async () => {
    const fetch = failingFetch('ECONNREFUSED');
    const api = new ContainerApi({ endpoint: 'http://127.0.0.1:9/', tokens, fetch, retry: noSleep });
    const e = await api.getCluster(ref).then(
      () => undefined,
      (x: unknown) => x as KfopsError,
    );
    expect(fetch.calls).toBe(1);
    expect(e?.message).toContain(
      'the request to http://127.0.0.1:9/v1/projects/p-123456/locations/us-central1/clusters/kf failed',
    );
    expect(e?.details.cause).toBe('nothing accepts connections at 127.0.0.1:9 (connection refused)');
  });

  it('tries a peer that does not answer once more, and a reset connection within its budget', async () => {
    const silent = failingFetch('UND_ERR_HEADERS_TIMEOUT');
    const e = await new ContainerApi({
      endpoint: 'http://127.0.0.1:9/',
      tokens,
      fetch: silent,
      requestTimeoutMs: 5000,
      retry: noSleep,
    })
      .getCluster(ref)
      .then(
        () => undefined,
        (x: unknown) => x as KfopsError,
      );
    expect(silent.calls).toBe(2);
    expect(e?.message).toContain('did not answer within 5s');
    let t = 0;
    const reset = failingFetch('ECONNRESET');
    await new ContainerApi({
      endpoint: 'http://127.0.0.1:9/',
      tokens,
      fetch: reset,
      retryBudgetMs: 10_000,
      retry: { sleep: async (ms) => void (t += ms), now: () => t },
    })
      .getCluster(ref)
      .catch(() => undefined);
    expect(reset.calls).toBeGreaterThan(2);
  });

  it('gives each request a signal that ends with the overall deadline, and retries nothing after it', async () => {
    const overall = new AbortController();
    const seen: AbortSignal[] = [];
    const fetch: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => {
        seen.push(init.signal as AbortSignal);
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        overall.abort(new DOMException('deadline', 'TimeoutError'));
      });
    const e = await new ContainerApi({
      endpoint: 'http://127.0.0.1:9/',
      tokens,
      fetch,
      signal: overall.signal,
      retry: noSleep,
    })
      .getCluster(ref)
      .then(
        () => undefined,
        (x: unknown) => x as KfopsError,
      );
    expect(seen).toHaveLength(1);
    expect(e?.message).toBe(
      'Could not get cluster: GET http://127.0.0.1:9/v1/projects/p-123456/locations/us-central1/clusters/kf had no answer when the overall timeout ran out',
    );
  });
});

const quietLogger = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  return {
    lines,
    debug: () => undefined,
    info: (m) => lines.push(`info: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: (_n, fn) => fn(),
  };
};

describe('writeKubeconfig and setupGke with fakes of their clients', () => {
  const ref = { project: 'p1', location: 'asia-northeast3', name: 'kf' };
  const cluster = { endpoint: '34.1.2.3', masterAuth: { clusterCaCertificate: 'Q0E=' }, status: 'RUNNING' as const };
  const options = { endpoint: 'public' as const, credentials: 'auto' as const, path: '/x/kubeconfig', verify: true };
  const fakes = (
    plugin: string | undefined,
    over: Partial<Omit<KubeconfigDeps, 'logger'>> = {},
  ): KubeconfigDeps & {
    files: Map<string, string>;
    masked: string[];
    checks: Array<[string, number]>;
    logger: ReturnType<typeof quietLogger>;
  } => {
    const files = new Map<string, string>();
    const masked: string[] = [];
    const checks: Array<[string, number]> = [];
    return {
      files,
      masked,
      checks,
      tokens: staticTokenSource('ya29.token', 'test', new Date(Date.UTC(2030, 0, 1, 1))),
      findPlugin: () => plugin,
      writeFile: (path, text) => void files.set(path, text),
      whoAmI: async (path, timeoutMs) => {
        checks.push([path, timeoutMs]);
        return 'ci@p1.iam.gserviceaccount.com';
      },
      mask: (v) => void masked.push(v),
      logger: quietLogger(),
      now: () => Date.UTC(2030, 0, 1),
      ...over,
    };
  };

  it('chooses the exec plugin when it is there, a token otherwise, and refuses plugin without one', () => {
    expect(chooseAuth('auto', '/bin/p')).toBe('exec');
    expect(chooseAuth('token', '/bin/p')).toBe('token');
    expect(chooseAuth('auto', undefined)).toBe('token');
    expect(() => chooseAuth('plugin', undefined)).toThrow(/gke-gcloud-auth-plugin is not on PATH/);
  });

  it('writes an exec-plugin kubeconfig and checks it within the time left', async () => {
    const deps = fakes('/opt/bin/gke-gcloud-auth-plugin');
    const r = await writeKubeconfig(deps, cluster, ref, options, 12_000);
    expect(r).toEqual({
      path: '/x/kubeconfig',
      server: 'https://34.1.2.3',
      context: 'gke_p1_asia-northeast3_kf',
      auth: 'exec',
      note: 'gke-gcloud-auth-plugin (refreshes its token)',
      user: 'ci@p1.iam.gserviceaccount.com',
    });
    expect(
      (load(deps.files.get('/x/kubeconfig') as string) as { users: Array<{ user: { exec: { command: string } } }> })
        .users[0]?.user.exec.command,
    ).toBe('gke-gcloud-auth-plugin');
    expect(deps.checks).toEqual([['/x/kubeconfig', 12_000]]);
    expect(deps.masked).toEqual([]);
  });

  it('writes a token kubeconfig: masks the token first, warns when it expires, and skips the check when not asked', async () => {
    const deps = fakes(undefined);
    const r = await writeKubeconfig(deps, cluster, ref, { ...options, verify: false }, 1000);
    expect(r.auth).toBe('token');
    expect(deps.masked).toEqual(['ya29.token']);
    expect(deps.logger.lines.find((l) => l.startsWith('warning:'))).toContain(
      'expires at 2030-01-01T01:00:00.000Z (in 1h)',
    );
    expect(deps.checks).toEqual([]);
  });

  it('explains a kubeconfig the private endpoint cannot be reached with', async () => {
    const deps = fakes('/p', {
      whoAmI: async () =>
        Promise.reject(
          Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) }),
        ),
    });
    const e = await writeKubeconfig(
      deps,
      { ...cluster, privateClusterConfig: { privateEndpoint: '10.0.0.2' } },
      ref,
      { ...options, endpoint: 'private' },
      1000,
    ).then(
      () => undefined,
      (x: unknown) => x as KfopsError,
    );
    expect(e?.details.cause).toBe('the private endpoint is only reachable from inside the VPC');
  });

  it('setupGke: ensures the cluster through the API, then writes the kubeconfig, and reports both', async () => {
    const calls: string[] = [];
    const fetch: FetchLike = async (url, init) => {
      calls.push(`${init.method} ${url.replace('http://api.test/v1/', '')}`);
      return {
        status: 200,
        text: async () =>
          JSON.stringify({
            ...cluster,
            name: 'kf',
            nodePools: [
              {
                name: 'default-pool',
                initialNodeCount: 1,
                config: { machineType: 'e2-standard-8', diskSizeGb: 100, diskType: 'pd-balanced' },
              },
            ],
            releaseChannel: { channel: 'REGULAR' },
            workloadIdentityConfig: { workloadPool: 'p1-123.svc.id.goog' },
          }),
      };
    };
    const settings = {
      ...readSettings(inputs({ project: 'p1-123', location: 'asia-northeast3', 'cluster-name': 'kf' })),
      path: '/x/kc',
    } satisfies SetupSettings;
    const deps = fakes('/p');
    const progress = {};
    const report = await setupGke(
      settings,
      { ...deps, api: new ContainerApi({ endpoint: 'http://api.test/', tokens: deps.tokens, fetch }) },
      progress,
    );
    expect(calls).toEqual(['GET projects/p1-123/locations/asia-northeast3/clusters/kf']);
    expect(report.ensured.action).toBe('reused');
    expect(report.kubeconfig.path).toBe('/x/kc');
    expect(report.issuer).toBe(
      'https://container.googleapis.com/v1/projects/p1-123/locations/asia-northeast3/clusters/kf',
    );
    expect(progress).toEqual({ ensured: report.ensured });
  });

  describe('create: false (reuse only)', () => {
    const notFound = { status: 404, text: async () => JSON.stringify({ error: { code: 404, status: 'NOT_FOUND' } }) };
    const settingsOf = (given: Record<string, string>): SetupSettings => ({
      ...readSettings(inputs({ project: 'p1-123', location: 'asia-northeast3', 'cluster-name': 'kf', ...given })),
      path: '/x/kc',
      pollMs: 1,
    });
    const failure = async (p: Promise<unknown>): Promise<KfopsError> =>
      p.then(
        () => {
          throw new Error('expected a failure');
        },
        (e: unknown) => e as KfopsError,
      );

    it('reads create: true by default, false when given, and refuses it with recreate', () => {
      expect(settingsOf({}).create).toBe(true);
      expect(settingsOf({ create: 'false' }).create).toBe(false);
      expect(configError(() => settingsOf({ create: 'false', recreate: 'true', confirm: 'kf' }))).toMatchObject({
        input: 'create',
      });
    });

    it('an absent cluster fails at once, naming it and the platform workflow, after one GET and no POST', async () => {
      const calls: string[] = [];
      const fetch: FetchLike = async (url, init) => {
        calls.push(`${init.method} ${url.replace('http://api.test/v1/', '')}`);
        return notFound;
      };
      const deps = fakes('/p');
      const progress = {};
      const e = await failure(
        setupGke(
          settingsOf({ create: 'false' }),
          { ...deps, api: new ContainerApi({ endpoint: 'http://api.test/', tokens: deps.tokens, fetch }) },
          progress,
        ),
      );
      expect(e.message).toBe('Cluster kf does not exist in p1-123/asia-northeast3');
      expect(e.details.fix).toContain('run the platform workflow');
      expect(calls).toEqual(['GET projects/p1-123/locations/asia-northeast3/clusters/kf']);
      expect(deps.files.size).toBe(0);
      expect(progress).toEqual({});
    });

    it('a cluster deleted while the step waits for it is not created again (no POST)', async () => {
      const calls: string[] = [];
      let gets = 0;
      const fetch: FetchLike = async (url, init) => {
        calls.push(`${init.method} ${url.replace('http://api.test/v1/', '')}`);
        if (init.method === 'GET' && url.endsWith('/clusters/kf'))
          // First seen while being deleted (STOPPING), then gone.
          return ++gets <= 2
            ? { status: 200, text: async () => JSON.stringify({ name: 'kf', status: 'STOPPING' }) }
            : notFound;
        if (url.endsWith('/operations')) return { status: 200, text: async () => JSON.stringify({ operations: [] }) };
        return notFound;
      };
      const deps = fakes('/p');
      const e = await failure(
        setupGke(settingsOf({ create: 'false' }), {
          ...deps,
          sleep: async () => undefined,
          api: new ContainerApi({ endpoint: 'http://api.test/', tokens: deps.tokens, fetch }),
        }),
      );
      expect(e.message).toBe('Cluster kf does not exist in p1-123/asia-northeast3');
      expect(calls.filter((c) => !c.startsWith('GET '))).toEqual([]);
      expect(gets).toBe(3);
    });

    it('the same absent cluster is created with create: true (the default)', async () => {
      const calls: string[] = [];
      const fetch: FetchLike = async (url, init) => {
        calls.push(`${init.method} ${url.replace('http://api.test/v1/', '')}`);
        if (init.method === 'POST')
          return {
            status: 400,
            text: async () => JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT' } }),
          };
        return notFound;
      };
      const deps = fakes('/p');
      await failure(
        setupGke(settingsOf({ 'poll-interval': '1ms' }), {
          ...deps,
          api: new ContainerApi({ endpoint: 'http://api.test/', tokens: deps.tokens, fetch }),
        }),
      );
      expect(calls).toContain('POST projects/p1-123/locations/asia-northeast3/clusters');
    });
  });
});
