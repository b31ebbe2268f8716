import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import * as core from '@actions/core';
import { formatDuration } from '../../common/duration.js';
import { ConfigurationError, KfopsError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { ContainerApi, DEFAULT_API_ENDPOINT, type TokenSource } from '../../gke/api.js';
import { adcTokenSource, staticTokenSource } from '../../gke/auth.js';
import { ensureCluster, type EnsureResult } from '../../gke/cluster.js';
import { AUTH_PLUGIN, renderKubeconfig, serviceAccountIssuer, type EndpointMode, type KubeconfigAuth } from '../../gke/kubeconfig.js';
import { describePools, isZone, type ClusterSpec } from '../../gke/spec.js';
import type { ReleaseChannelName } from '../../gke/types.js';
import { KubeClient } from '../../kube/client.js';
import { explainKubeError, statusCodeOf } from '../../kube/errors.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';

/** Defaults sized for Kubeflow 1.9 (about 16 vCPU and 32 GB in total): 3 nodes of 8 vCPU / 32 GB. */
export const DEFAULTS = {
  machineType: 'e2-standard-8',
  nodesInZone: 3,
  nodesPerZoneInRegion: 1,
  diskSizeGb: 100,
  diskType: 'pd-balanced',
  releaseChannel: 'REGULAR' as ReleaseChannelName,
  nodePool: 'default-pool',
  masterIpv4Cidr: '172.16.0.32/28',
};

export interface Settings {
  spec: ClusterSpec;
  update: boolean;
  recreate: boolean;
  timeoutMs: number;
  pollMs: number;
  endpoint: EndpointMode;
  credentials: 'auto' | 'plugin' | 'token';
  kubeconfigPath: string;
  apiEndpoint: string;
  verify: boolean;
}

const NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;
const PROJECT = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const LOCATION = /^[a-z]+-[a-z]+\d+(-[a-z])?$/;
const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

/** Reads and checks every input before any API call; env supplies RUNNER_TEMP for the default kubeconfig path. */
export function readSettings(inputs: Inputs, env: Record<string, string | undefined> = {}): Settings {
  const project = inputs.matching('project', PROJECT, 'a Google Cloud project ID (6-30 lowercase letters, digits and hyphens)') ?? inputs.required('project', 'a Google Cloud project ID');
  const location = inputs.matching('location', LOCATION, 'a region such as asia-northeast3 or a zone such as asia-northeast3-a') ?? inputs.required('location', 'a region or zone');
  const name = inputs.matching('cluster-name', NAME, 'a cluster name: lowercase letters, digits and hyphens, starting with a letter, at most 40 characters') ?? inputs.required('cluster-name', 'a cluster name');
  const zone = isZone(location);

  const min = inputs.optional('autoscaling-min');
  const max = inputs.optional('autoscaling-max');
  if ((min === undefined) !== (max === undefined)) {
    const missing = min === undefined ? 'autoscaling-min' : 'autoscaling-max';
    throw new ConfigurationError(missing, undefined, `a whole number: autoscaling needs both autoscaling-min and autoscaling-max (the other one is ${JSON.stringify(min ?? max)})`);
  }
  const autoscaling = min !== undefined ? { min: inputs.integer('autoscaling-min', 0, { min: 0, max: 1000 }), max: inputs.integer('autoscaling-max', 1, { min: 1, max: 1000 }) } : undefined;
  if (autoscaling && autoscaling.max < autoscaling.min) throw new ConfigurationError('autoscaling-max', String(autoscaling.max), `a number at least autoscaling-min (${autoscaling.min})`);

  const labels: Record<string, string> = {};
  for (const item of inputs.list('labels')) {
    const m = /^([^=]+)=(.*)$/.exec(item);
    if (!m || !LABEL_KEY.test((m[1] as string).trim()) || !LABEL_VALUE.test((m[2] as string).trim())) {
      throw new ConfigurationError('labels', item, 'key=value pairs, one per line or comma-separated (lowercase letters, digits, _ and -; keys start with a letter)');
    }
    labels[(m[1] as string).trim()] = (m[2] as string).trim();
  }
  const authorizedNetworks = inputs.list('master-authorized-networks');
  for (const c of authorizedNetworks) if (!CIDR.test(c)) throw new ConfigurationError('master-authorized-networks', c, 'CIDR blocks such as 203.0.113.0/24, one per line or comma-separated');

  const privateNodes = inputs.boolean('private-nodes', false);
  const endpoint = inputs.choice('endpoint', ['public', 'private', 'dns'] as const, 'public');
  const workloadIdentity = inputs.boolean('workload-identity', true);
  const channel = (inputs.optional('release-channel') ?? DEFAULTS.releaseChannel).toUpperCase();
  if (!['RAPID', 'REGULAR', 'STABLE', 'EXTENDED', 'UNSPECIFIED'].includes(channel)) {
    throw new ConfigurationError('release-channel', inputs.optional('release-channel'), 'one of rapid, regular, stable, extended, or unspecified (no channel)');
  }
  const network = inputs.optional('network');
  const subnetwork = inputs.optional('subnetwork');
  const masterIpv4Cidr = inputs.matching('master-ipv4-cidr', /^(\d{1,3}\.){3}\d{1,3}\/28$/, 'a /28 CIDR block for the control plane, such as 172.16.0.32/28', privateNodes ? DEFAULTS.masterIpv4Cidr : undefined);
  const serviceAccount = inputs.matching('node-service-account', /^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$|^default$/, 'a service account email such as nodes@PROJECT.iam.gserviceaccount.com');

  const spec: ClusterSpec = {
    project,
    location,
    name,
    releaseChannel: channel as ReleaseChannelName,
    nodePool: inputs.matching('node-pool', NAME, 'a node pool name: lowercase letters, digits and hyphens', DEFAULTS.nodePool) as string,
    machineType: inputs.matching('machine-type', /^[a-z0-9]+(-[a-z0-9]+)+$/, 'a Compute Engine machine type such as e2-standard-8', DEFAULTS.machineType) as string,
    nodeCount: inputs.integer('node-count', zone ? DEFAULTS.nodesInZone : DEFAULTS.nodesPerZoneInRegion, { min: 0, max: 1000 }),
    ...(autoscaling ? { autoscaling } : {}),
    diskSizeGb: inputs.integer('disk-size-gb', DEFAULTS.diskSizeGb, { min: 10, max: 65536 }),
    diskType: inputs.choice('disk-type', ['pd-balanced', 'pd-standard', 'pd-ssd', 'pd-extreme', 'hyperdisk-balanced'] as const, DEFAULTS.diskType as 'pd-balanced'),
    spot: inputs.boolean('spot', false),
    ...(network ? { network } : {}),
    ...(subnetwork ? { subnetwork } : {}),
    privateNodes,
    ...(masterIpv4Cidr ? { masterIpv4Cidr } : {}),
    authorizedNetworks,
    labels,
    ...(workloadIdentity ? { workloadPool: `${project}.svc.id.goog` } : {}),
    dnsEndpoint: inputs.boolean('dns-endpoint', endpoint === 'dns'),
    ...(serviceAccount && serviceAccount !== 'default' ? { serviceAccount } : {}),
  };

  const recreate = inputs.boolean('recreate', false);
  const confirm = inputs.optional('confirm');
  if (recreate && confirm !== name) {
    throw new ConfigurationError('confirm', confirm, `the cluster name ${JSON.stringify(name)} exactly: recreate: true deletes the cluster, so confirm must repeat its name`);
  }
  const apiEndpoint = inputs.matching('api-endpoint', /^https?:\/\/[^\s/]+(\/[^\s]*)?$/, 'an http(s) URL such as https://container.googleapis.com/', DEFAULT_API_ENDPOINT) as string;
  const tempDir = env['RUNNER_TEMP'] ?? env['TMPDIR'] ?? '/tmp';
  return {
    spec,
    update: inputs.boolean('update', false),
    recreate,
    timeoutMs: inputs.duration('timeout', '45m'),
    pollMs: inputs.duration('poll-interval', '10s'),
    endpoint,
    credentials: inputs.choice('credentials', ['auto', 'plugin', 'token'] as const, 'auto'),
    kubeconfigPath: inputs.optional('kubeconfig-path') ?? join(tempDir, `kfops-gke-${name}.kubeconfig`),
    apiEndpoint,
    verify: inputs.boolean('verify', true),
  };
}

/** The path of an executable named command on PATH, or undefined. */
export function findOnPath(command: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function run(): Promise<void> {
  return runAction('setup-gke', async () => {
    const settings = readSettings(actionInputs(), process.env);
    const { spec } = settings;
    const envToken = process.env['CLOUDSDK_AUTH_ACCESS_TOKEN'];
    if (envToken) core.setSecret(envToken);
    const tokens: TokenSource = envToken ? staticTokenSource(envToken, 'the access token in CLOUDSDK_AUTH_ACCESS_TOKEN') : adcTokenSource({ projectId: spec.project });
    const api = new ContainerApi({ endpoint: settings.apiEndpoint, tokens, retry: { logger: coreLogger } });
    core.info(`Container API ${api.endpoint}, credentials: ${tokens.description}`);

    const result: EnsureResult = await core.group(`cluster ${spec.name} in ${spec.project}/${spec.location}`, () =>
      ensureCluster({ api, logger: coreLogger }, spec, { update: settings.update, recreate: settings.recreate, timeoutMs: settings.timeoutMs, pollMs: settings.pollMs }),
    );
    const { cluster } = result;
    const ref = { project: spec.project, location: spec.location, name: spec.name };
    core.info(`cluster ${spec.name} ${result.action}${result.concurrent ? ' (created by a concurrent run)' : ''} in ${formatDuration(result.durationMs)}: ${cluster.status ?? ''} ${cluster.currentMasterVersion ?? ''}`.trim());

    const credentials = await core.group('kubeconfig', async () => {
      const plugin = findOnPath(AUTH_PLUGIN, process.env['PATH']);
      if (settings.credentials === 'plugin' && !plugin) {
        throw new KfopsError(`${AUTH_PLUGIN} is not on PATH`, { cause: 'credentials: plugin was asked for', fix: 'install it (google-github-actions/setup-gcloud with install_components: gke-gcloud-auth-plugin) or use credentials: auto' });
      }
      let auth: KubeconfigAuth;
      let note: string;
      let expiresAt: Date | undefined;
      if (plugin && settings.credentials !== 'token') {
        auth = { kind: 'exec', command: AUTH_PLUGIN, args: ['--use_application_default_credentials'] };
        note = `${AUTH_PLUGIN} (refreshes its token)`;
        core.info(`user: the ${AUTH_PLUGIN} exec plugin (${plugin}); it refreshes tokens, so the kubeconfig keeps working in long steps`);
      } else {
        const t = await tokens.token();
        core.setSecret(t.token);
        auth = { kind: 'token', token: t.token };
        expiresAt = t.expiresAt;
        const left = t.expiresAt ? t.expiresAt.getTime() - Date.now() : undefined;
        note = t.expiresAt ? `access token, expires ${t.expiresAt.toISOString()}` : 'access token (expiry unknown)';
        core.warning(
          `${AUTH_PLUGIN} is not installed${settings.credentials === 'token' ? ' or not wanted (credentials: token)' : ''}, so the kubeconfig holds an access token that ` +
            (t.expiresAt ? `expires at ${t.expiresAt.toISOString()} (in ${formatDuration(Math.max(0, left ?? 0))})` : 'expires after its lifetime (usually 1 hour; its expiry is unknown)') +
            `; later steps get 401 Unauthorized after that. Install ${AUTH_PLUGIN} before this step (google-github-actions/setup-gcloud with install_components: gke-gcloud-auth-plugin) for a kubeconfig that refreshes itself.`,
        );
      }
      const { yaml, server, context } = renderKubeconfig(cluster, ref, settings.endpoint, auth);
      mkdirSync(dirname(settings.kubeconfigPath), { recursive: true });
      writeFileSync(settings.kubeconfigPath, yaml, { mode: 0o600 });
      core.exportVariable('KUBECONFIG', settings.kubeconfigPath);
      core.info(`wrote ${settings.kubeconfigPath} (context ${context}, server ${server}); KUBECONFIG is set for the next steps`);
      let user: string | undefined;
      if (settings.verify) {
        const client = KubeClient.fromSources({ kubeconfig: settings.kubeconfigPath });
        try {
          const review = await client.request<{ status?: { userInfo?: { username?: string } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
          user = review.status?.userInfo?.username;
          core.info(`the kubeconfig works: ${server} authenticates it as ${user ?? '(unknown user)'}`);
        } catch (error) {
          const e = explainKubeError(error, { action: `check the new kubeconfig against ${server}`, server });
          throw settings.endpoint === 'private' && statusCodeOf(error) === undefined
            ? new KfopsError(e.message, { cause: 'the private endpoint is only reachable from inside the VPC', fix: 'run on a runner inside the VPC, use endpoint: dns, or set verify: false' })
            : e;
        }
      }
      return { note, expiresAt, server, user };
    });

    const issuer = serviceAccountIssuer(ref);
    core.setOutput('cluster-name', spec.name);
    core.setOutput('location', spec.location);
    core.setOutput('endpoint', credentials.server);
    core.setOutput('ca-certificate', cluster.masterAuth?.clusterCaCertificate ?? '');
    core.setOutput('kubeconfig-path', settings.kubeconfigPath);
    core.setOutput('issuer', issuer);
    core.setOutput('result', result.action);
    core.setOutput('drift', JSON.stringify(result.drift.map((d) => ({ field: d.field, want: d.want, live: d.live, applied: result.applied.includes(d) }))));
    await writeSummary(settings, result, issuer, credentials);
  });
}

async function writeSummary(settings: Settings, result: EnsureResult, issuer: string, credentials: { note: string; server: string; user: string | undefined }): Promise<void> {
  const { spec } = settings;
  const pools = describePools(result.cluster);
  core.summary
    .addHeading(`setup-gke: ${spec.name} ${result.action}`, 2)
    .addTable([
      [{ data: 'cluster', header: true }, { data: 'value', header: true }],
      ['result', `${result.action}${result.concurrent ? ' (created by a concurrent run)' : ''}`],
      ['project / location', `${spec.project} / ${spec.location}`],
      ['status', `${result.cluster.status ?? '?'} ${result.cluster.currentMasterVersion ?? ''}`.trim()],
      ['node pools', pools.join('<br>') || '-'],
      ['machine types', [...new Set((result.cluster.nodePools ?? []).map((p) => p.config?.machineType ?? '?'))].join(', ') || '-'],
      ['endpoint', `${credentials.server} (${settings.endpoint})`],
      ['kubeconfig', `${settings.kubeconfigPath}: ${credentials.note}${credentials.user ? `, works as ${credentials.user}` : ''}`],
      ['issuer', issuer],
      ['time taken', formatDuration(result.durationMs)],
    ]);
  if (result.drift.length) {
    core.summary.addHeading('Differences from the inputs', 3).addTable([
      [{ data: 'setting', header: true }, { data: 'inputs', header: true }, { data: 'cluster', header: true }, { data: 'what happened', header: true }],
      ...result.drift.map((d) => [d.field, d.want, d.live, result.applied.includes(d) ? 'changed in place' : d.change ? 'not changed (update: true changes it)' : 'not changed (only recreate changes it)']),
    ]);
  }
  await core.summary.write();
}
