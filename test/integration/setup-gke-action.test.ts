/**
 * The setup-gke action run as a separate process (INPUT_* variables, GITHUB_OUTPUT, step summary)
 * against the fake Container API. Credentials are real Application Default Credentials in the
 * external_account (Workload Identity Federation) form, exchanged at the fake's token endpoint for a
 * ServiceAccount token of the real local control plane; the kubeconfig the action writes is used.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import { FakeGke } from '../support/fake-gke.js';
import { deprecatedFields, findMethod, type Discovery } from '../support/gke-discovery.js';
import {
  controlPlaneOf,
  externalAccountCredentials,
  pluginStandIn,
  refusedUrl,
  removeServiceAccount,
  serviceAccountToken,
  silentPeer,
  type ControlPlane,
} from '../support/gke-env.js';
import { runAction } from '../support/run-action.js';
import { adminClient, uniqueName } from './helpers.js';

const PROJECT = 'kfops-action-test';
const ZONE = 'asia-northeast3-a';

/** PATH without any directory that holds a real gke-gcloud-auth-plugin. */
const pathWithoutPlugin = (process.env['PATH'] ?? '')
  .split(delimiter)
  .filter((d) => d && !existsSync(join(d, 'gke-gcloud-auth-plugin')))
  .join(delimiter);
const realPlugin = (process.env['PATH'] ?? '')
  .split(delimiter)
  .map((d) => join(d, 'gke-gcloud-auth-plugin'))
  .find((f) => f.startsWith('/') && existsSync(f));

describe('setup-gke action (a separate process)', () => {
  const admin = adminClient();
  const ns = uniqueName('gke-action');
  let fake: FakeGke;
  let cp: ControlPlane;
  let sa: { token: string; expiresAt: string; username: string };
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'kfops-setup-gke-'));
  const common = (name: string, extra: Record<string, string> = {}): Record<string, string> => ({
    project: PROJECT,
    location: ZONE,
    'cluster-name': name,
    'api-endpoint': fake.url,
    'poll-interval': '20ms',
    'kubeconfig-path': join(dir, `${name}.kubeconfig`),
    ...extra,
  });

  beforeAll(async () => {
    sa = await serviceAccountToken(admin, ns);
    cp = controlPlaneOf(inject('kubeconfig'));
    fake = new FakeGke({
      endpoint: cp.endpoint,
      caCertificate: cp.caCertificate,
      dnsEndpoint: `localhost:${cp.port}`,
      tokens: [sa.token],
    });
    await fake.start();
    fake.stsToken = { token: sa.token, expiresIn: 3599 };
    env = {
      GOOGLE_APPLICATION_CREDENTIALS: externalAccountCredentials(join(dir, 'adc'), fake.url),
      PATH: pathWithoutPlugin,
    };
  });
  afterAll(async () => {
    await fake.stop();
    await removeServiceAccount(admin, ns);
  });

  it('creates the cluster with Workload Identity Federation credentials and writes a token kubeconfig that works, warning when it expires', async () => {
    const run = await runAction('setup-gke', common('kf-action'), env);
    expect(run.code, run.log).toBe(0);
    expect(run.log).toMatch(/CREATE_CLUSTER operation-[\w-]+: RUNNING \(CLUSTER_DEPLOYING 1\/3\)/);
    expect(run.log).toMatch(/CREATE_CLUSTER operation-[\w-]+: DONE/);
    expect(run.outputs).toMatchObject({
      'cluster-name': 'kf-action',
      location: ZONE,
      result: 'created',
      endpoint: `https://${cp.endpoint}`,
      'ca-certificate': cp.caCertificate,
      issuer: `https://container.googleapis.com/v1/projects/${PROJECT}/locations/${ZONE}/clusters/kf-action`,
      'kubeconfig-path': join(dir, 'kf-action.kubeconfig'),
    });
    // The token came from the STS exchange of the external_account credentials.
    expect(fake.requests.some((r) => r.authorization === `Bearer ${sa.token}`)).toBe(true);
    const warning = run.log.split('\n').find((l) => l.startsWith('::warning::gke-gcloud-auth-plugin is not installed'));
    expect(warning).toMatch(
      /holds an access token that expires at \d{4}-\d\d-\d\dT[\d:.]+Z \(in 59m[\d.]+s\); later steps get 401 Unauthorized/,
    );
    expect(run.log).toContain(`::add-mask::${sa.token}`);
    expect(run.log).toMatch(new RegExp(`::set-env name=KUBECONFIG::${join(dir, 'kf-action.kubeconfig')}`));
    expect(run.log).toContain(`authenticates it as ${sa.username}`);
    expect(run.summary).toContain('setup-gke: kf-action created');
    expect(run.summary).toContain('default-pool: e2-standard-8, 3 node(s) per zone in 1 zone(s)');

    const kc = load(readFileSync(run.outputs['kubeconfig-path'] as string, 'utf8')) as {
      users: Array<{ user: Record<string, unknown> }>;
    };
    expect(kc.users[0]?.user).toEqual({ token: sa.token });
    const client = KubeClient.fromSources({ kubeconfig: run.outputs['kubeconfig-path'] });
    const namespaces = await client.list({ apiVersion: 'v1', kind: 'Namespace' });
    expect(namespaces.items.map((n) => n.metadata.name)).toContain(ns);
  });

  it('reuses it, reports drift, and writes an exec-plugin kubeconfig that gets its token from the plugin', async () => {
    const plugin = pluginStandIn(sa.token, sa.expiresAt);
    const before = fake.requests.length;
    const run = await runAction(
      'setup-gke',
      common('kf-action', { 'machine-type': 'e2-standard-4', labels: 'team=ml' }),
      { ...env, PATH: `${plugin.dir}${delimiter}${pathWithoutPlugin}` },
    );
    expect(run.code, run.log).toBe(0);
    expect(run.outputs['result']).toBe('reused');
    expect(JSON.parse(run.outputs['drift'] as string)).toEqual([
      { field: 'machine-type', want: 'e2-standard-4', live: 'e2-standard-8', applied: false },
      { field: 'labels', want: 'team=ml', live: 'team=(unset)', applied: false },
    ]);
    expect(run.log).toContain(
      '::warning::cluster kf-action differs from the inputs: labels: team=(unset) -> team=ml (update: true changes it in place)',
    );
    expect(fake.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(run.log).not.toContain('gke-gcloud-auth-plugin is not installed');
    expect(run.summary).toContain('Differences from the inputs');

    const kc = load(readFileSync(run.outputs['kubeconfig-path'] as string, 'utf8')) as {
      users: Array<{ user: { exec?: { command: string; args: string[] } } }>;
    };
    expect(kc.users[0]?.user.exec).toMatchObject({
      command: 'gke-gcloud-auth-plugin',
      args: ['--use_application_default_credentials'],
    });
    // The action's own check already went through the plugin; so does this client.
    // client-node runs the exec plugin with this process's environment.
    const client = KubeClient.fromSources({ kubeconfig: run.outputs['kubeconfig-path'] });
    const originalPath = process.env['PATH'];
    process.env['PATH'] = `${plugin.dir}${delimiter}${pathWithoutPlugin}`;
    try {
      const namespaces = await client.list({ apiVersion: 'v1', kind: 'Namespace' });
      expect(namespaces.items.map((n) => n.metadata.name)).toContain(ns);
    } finally {
      process.env['PATH'] = originalPath;
    }
    const calls = readFileSync(plugin.calls, 'utf8').trim().split('\n');
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((c) => c === '--use_application_default_credentials')).toBe(true);

    const updated = await runAction('setup-gke', common('kf-action', { labels: 'team=ml', update: 'true' }), env);
    expect(updated.code, updated.log).toBe(0);
    expect(JSON.parse(updated.outputs['drift'] as string)).toEqual([
      { field: 'labels', want: 'team=ml', live: 'team=(unset)', applied: true },
    ]);
    expect(fake.requests.some((r) => r.path.endsWith('/clusters/kf-action:setResourceLabels'))).toBe(true);
  });

  it('create: false reuses an existing cluster, and fails at once on an absent one without any create request', async () => {
    const before = fake.requests.length;
    const reused = await runAction('setup-gke', common('kf-action', { create: 'false' }), env);
    expect(reused.code, reused.log).toBe(0);
    expect(reused.outputs['result']).toBe('reused');
    expect(fake.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);

    const start = fake.requests.length;
    const missing = await runAction('setup-gke', common('kf-never-made', { create: 'false' }), env);
    expect(missing.code).toBe(1);
    const error = missing.log.split('\n').find((l) => l.startsWith('::error::')) ?? '';
    expect(error).toContain(`setup-gke: Cluster kf-never-made does not exist in ${PROJECT}/${ZONE}`);
    expect(error).toContain('run the platform workflow');
    const sent = fake.requests.slice(start);
    expect(sent.filter((r) => r.path.includes('/clusters')).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /v1/projects/${PROJECT}/locations/${ZONE}/clusters/kf-never-made`,
    ]);
    expect(sent.filter((r) => r.method === 'POST' && r.path.includes('/clusters'))).toEqual([]);
    expect(fake.clusters.has(`projects/${PROJECT}/locations/${ZONE}/clusters/kf-never-made`)).toBe(false);
    expect(missing.summary).toContain('kf-never-made');
  });

  it('refuses recreate without the right confirm before any API call', async () => {
    const before = fake.requests.length;
    const run = await runAction('setup-gke', common('kf-action', { recreate: 'true', confirm: 'kf-actoin' }), env);
    expect(run.code).toBe(1);
    expect(run.log).toContain(
      '::error::setup-gke: Input \'confirm\' has the value "kf-actoin": expected the cluster name "kf-action" exactly',
    );
    expect(fake.requests.length).toBe(before);
    expect(fake.clusters.has(`projects/${PROJECT}/locations/${ZONE}/clusters/kf-action`)).toBe(true);
  });

  it('recreates with the right confirm: delete, create, outputs', async () => {
    const before = fake.requests.length;
    const run = await runAction('setup-gke', common('kf-action', { recreate: 'true', confirm: 'kf-action' }), env);
    expect(run.code, run.log).toBe(0);
    expect(run.outputs['result']).toBe('recreated');
    expect(
      fake.requests
        .slice(before)
        .filter((r) => r.method !== 'GET')
        .map((r) => r.method),
    ).toEqual(['DELETE', 'POST']);
    expect(run.log).toMatch(/DELETE_CLUSTER operation-[\w-]+: DONE/);
    expect(run.summary).toContain('setup-gke: kf-action recreated');
  });

  it('fails a 403 with the permission and the role, and nothing else happens', async () => {
    fake.denied.add('container.clusters.get');
    try {
      const run = await runAction('setup-gke', common('kf-denied'), env);
      expect(run.code).toBe(1);
      const error = run.log.split('\n').find((l) => l.startsWith('::error::')) ?? '';
      expect(error).toContain(
        'setup-gke: Could not get cluster: HTTP 403 PERMISSION_DENIED: Required "container.clusters.get" permission(s)',
      );
      expect(error).toContain('lacks the IAM permission container.clusters.get');
      expect(error).toContain('grant roles/container.clusterViewer');
    } finally {
      fake.denied.clear();
    }
  });

  // The real plugin (Google Cloud CLI component) is not installed by this repository's scripts; when a
  // machine has it, this checks that it works with the kubeconfig and the external_account ADC.
  it.skipIf(realPlugin === undefined)(
    'works with the real gke-gcloud-auth-plugin, which exchanges the same ADC at the token endpoint (runs only where the plugin is installed)',
    async () => {
      const home = mkdtempSync(join(tmpdir(), 'kfops-gke-home-'));
      const pluginPath = `${dirname(realPlugin as string)}${delimiter}${pathWithoutPlugin}`;
      const run = await runAction('setup-gke', common('kf-action', { credentials: 'plugin' }), {
        ...env,
        PATH: pluginPath,
        HOME: home,
      });
      expect(run.code, run.log).toBe(0);
      expect(run.log).toContain(`the gke-gcloud-auth-plugin exec plugin (${realPlugin})`);
      expect(run.log).toContain(`authenticates it as ${sa.username}`);
    },
  );

  it('uses the DNS endpoint when asked (no cluster CA: the endpoint has a publicly trusted certificate)', async () => {
    const run = await runAction('setup-gke', common('kf-dns', { endpoint: 'dns' }), {
      ...env,
      NODE_EXTRA_CA_CERTS: cp.caFile,
    });
    expect(run.code, run.log).toBe(0);
    expect(run.outputs['endpoint']).toBe(`https://localhost:${cp.port}`);
    const create = fake.requests.find(
      (r) => r.method === 'POST' && r.path.endsWith('/clusters') && JSON.stringify(r.body).includes('kf-dns'),
    );
    expect(
      (create?.body as { cluster: { controlPlaneEndpointsConfig?: unknown } }).cluster.controlPlaneEndpointsConfig,
    ).toEqual({ dnsEndpointConfig: { allowExternalTraffic: true } });
    const kc = load(readFileSync(run.outputs['kubeconfig-path'] as string, 'utf8')) as {
      clusters: Array<{ cluster: Record<string, string> }>;
    };
    expect(kc.clusters[0]?.cluster).toEqual({ server: `https://localhost:${cp.port}` });
    expect(run.log).toContain(`authenticates it as ${sa.username}`);
  });

  it('sent only documented, non-deprecated fields and got only documented fields back (discovery document)', () => {
    const doc = fake.discovery as Discovery;
    const sent = fake.requests.filter((r) => r.body !== undefined && r.path.startsWith('/v1/projects/'));
    expect(sent.length).toBeGreaterThanOrEqual(4);
    const deprecated = sent.flatMap((r) => {
      const m = findMethod(doc, r.method, r.path);
      return m?.request ? deprecatedFields(doc, m.request.$ref, r.body).map((f) => `${m.id}: ${f}`) : [];
    });
    expect(deprecated).toEqual([]);
    expect(fake.undocumented).toEqual([]);
  });
});

/**
 * Peers that refuse the connection, or accept it and never answer, on each network path of the action
 * (the Container API, and the STS token exchange of Workload Identity Federation credentials). The
 * action runs as a process; it must end by itself within its timeout plus a little, naming the peer.
 * (Before deadlines held, these runs took 137 s, 139 s, 649 s and more than 10 minutes.)
 */
describe('setup-gke against peers that refuse or never answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kfops-setup-gke-peers-'));
  let fake: FakeGke;
  let silent: Awaited<ReturnType<typeof silentPeer>>;
  let refused: string;
  // The action's own deadline, and what process start-up (tsx compiles the source) may add to it.
  const TIMEOUT_S = 5;
  const SLACK_MS = 15_000;
  const inputs = (api: string): Record<string, string> => ({
    project: PROJECT,
    location: ZONE,
    'cluster-name': 'kf-peer',
    'api-endpoint': api,
    timeout: `${TIMEOUT_S}s`,
    'kubeconfig-path': join(dir, 'kubeconfig'),
  });
  const adc = (tokenUrl: string): Record<string, string> => ({
    GOOGLE_APPLICATION_CREDENTIALS: externalAccountCredentials(
      join(dir, `adc-${tokenUrl.replace(/\W/g, '')}`),
      tokenUrl,
    ),
    PATH: pathWithoutPlugin,
  });
  const timed = async (
    api: string,
    tokenUrl: string,
  ): Promise<Awaited<ReturnType<typeof runAction>> & { ms: number; error: string }> => {
    const started = Date.now();
    const run = await runAction('setup-gke', inputs(api), adc(tokenUrl));
    return {
      ...run,
      ms: Date.now() - started,
      error: run.log.split('\n').find((l) => l.startsWith('::error::')) ?? '',
    };
  };

  beforeAll(async () => {
    fake = new FakeGke({ endpoint: '127.0.0.1:1', caCertificate: 'Q0E=', tokens: ['sts-token'] });
    await fake.start();
    fake.stsToken = { token: 'sts-token', expiresIn: 3599 };
    silent = await silentPeer();
    refused = await refusedUrl();
  });
  afterAll(async () => {
    await silent.close();
    await fake.stop();
  });

  it('a Container API that refuses the connection fails at once, naming it', async () => {
    const run = await timed(refused, fake.url);
    expect(run.code, run.log).toBe(1);
    expect(run.error).toContain(
      `the request to ${refused}v1/projects/${PROJECT}/locations/${ZONE}/clusters/kf-peer failed`,
    );
    expect(run.error).toContain(`nothing accepts connections at ${new URL(refused).host} (connection refused)`);
    expect(run.log).not.toMatch(/retry \d+ in/);
    expect(run.ms).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
  });

  it('a Container API that accepts and never answers: the step ends at its timeout, naming the endpoint', async () => {
    const before = silent.connections();
    const run = await timed(silent.url, fake.url);
    expect(run.code, run.log).toBe(1);
    expect(silent.connections()).toBeGreaterThan(before);
    expect(run.error).toContain(
      `Could not get cluster: GET ${silent.url}v1/projects/${PROJECT}/locations/${ZONE}/clusters/kf-peer had no answer when the overall timeout ran out`,
    );
    expect(run.summary).toContain('setup-gke: kf-peer failed');
    expect(run.outputs['result']).toBe('failure');
    expect(run.ms).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
  });

  it('a token endpoint (STS) that refuses the connection fails at once, naming it', async () => {
    const run = await timed(fake.url, refused);
    expect(run.code, run.log).toBe(1);
    expect(run.error).toContain('Could not get Google credentials');
    expect(run.error).toContain(`${refused}v1/token`);
    expect(run.error).toContain('ECONNREFUSED');
    expect(run.ms).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
  });

  it('a token endpoint (STS) that accepts and never answers: the step ends at its timeout, naming it', async () => {
    const before = silent.connections();
    const run = await timed(fake.url, silent.url);
    expect(run.code, run.log).toBe(1);
    expect(silent.connections()).toBeGreaterThan(before);
    expect(run.error).toContain(
      `Could not get Google credentials: the token request to ${silent.url}v1/token had no answer when the overall timeout ran out`,
    );
    expect(run.ms).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
  });
});
