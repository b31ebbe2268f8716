import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DURATION_FORM } from '../../common/duration.js';
import { ConfigurationError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { splitUrlCredentials } from '../../common/redact.js';
import { DEFAULT_API_ENDPOINT } from '../../gke/api.js';
import type { SetupSettings } from '../../gke/setup.js';
import { isIpv4Cidr, isLocation, isZone, LOCATION_FORM, type ClusterSpec } from '../../gke/spec.js';
import type { ReleaseChannelName } from '../../gke/types.js';

/** The action's inputs, as action.yml names them. */
export const INPUT = {
  project: 'project',
  location: 'location',
  clusterName: 'cluster-name',
  releaseChannel: 'release-channel',
  nodePool: 'node-pool',
  machineType: 'machine-type',
  nodeCount: 'node-count',
  autoscalingMin: 'autoscaling-min',
  autoscalingMax: 'autoscaling-max',
  diskSizeGb: 'disk-size-gb',
  diskType: 'disk-type',
  spot: 'spot',
  nodeServiceAccount: 'node-service-account',
  network: 'network',
  subnetwork: 'subnetwork',
  privateNodes: 'private-nodes',
  masterIpv4Cidr: 'master-ipv4-cidr',
  masterAuthorizedNetworks: 'master-authorized-networks',
  labels: 'labels',
  workloadIdentity: 'workload-identity',
  dnsEndpoint: 'dns-endpoint',
  endpoint: 'endpoint',
  create: 'create',
  update: 'update',
  recreate: 'recreate',
  confirm: 'confirm',
  credentials: 'credentials',
  kubeconfigPath: 'kubeconfig-path',
  verify: 'verify',
  timeout: 'timeout',
  pollInterval: 'poll-interval',
  apiEndpoint: 'api-endpoint',
} as const;

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

export type Settings = SetupSettings & { apiEndpoint: string };

const NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;
const PROJECT = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
/** A VPC resource: its name, or its path within the project (projects/P/global/networks/N, projects/P/regions/R/subnetworks/S). */
const NETWORK_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NETWORK_PATH = /^projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/global\/networks\/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBNETWORK_PATH =
  /^projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/regions\/[a-z0-9-]+\/subnetworks\/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const CIDR_FORM =
  'an IPv4 CIDR block such as 203.0.113.0/24 (octets 0-255, prefix 0-32, no address bits past the prefix: 203.0.113.7/32 for one address)';

/**
 * A credential pasted into an input by mistake: a service-account key or external_account JSON, a
 * private key, an OAuth access or refresh token, a JWT. Such a value is never quoted, and is masked.
 */
export function looksLikeCredential(value: string): boolean {
  return (
    /"(private_key|private_key_id|client_secret|refresh_token|credential_source|subject_token_type)"\s*:/.test(value) ||
    /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value) ||
    /\bya29\.[\w-]{8,}/.test(value) ||
    /\b1\/\/0[\w-]{20,}/.test(value) ||
    /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/.test(value)
  );
}

/** Reads and checks every input before any API call; env supplies RUNNER_TEMP for the default kubeconfig path. */
export function readSettings(inputs: Inputs, env: Record<string, string | undefined> = {}): Settings {
  for (const name of Object.values(INPUT)) {
    const v = inputs.optional(name);
    if (v !== undefined && looksLikeCredential(v)) {
      inputs.mask(v);
      throw new ConfigurationError(
        name,
        v,
        `${(EXPECTED as Partial<Record<string, string>>)[name] ?? 'a plain value'}, not a credential: credentials come from google-github-actions/auth (GOOGLE_APPLICATION_CREDENTIALS), never from an input`,
        { hideValue: true },
      );
    }
  }
  const project =
    inputs.matching(INPUT.project, PROJECT, EXPECTED.project) ?? inputs.required(INPUT.project, EXPECTED.project);
  const location = inputs.optional(INPUT.location) ?? inputs.required(INPUT.location, LOCATION_FORM);
  if (!isLocation(location)) throw new ConfigurationError(INPUT.location, location, LOCATION_FORM);
  const name =
    inputs.matching(INPUT.clusterName, NAME, EXPECTED['cluster-name']) ??
    inputs.required(INPUT.clusterName, EXPECTED['cluster-name']);
  const zone = isZone(location);

  const min = inputs.optional(INPUT.autoscalingMin);
  const max = inputs.optional(INPUT.autoscalingMax);
  if ((min === undefined) !== (max === undefined)) {
    const missing = min === undefined ? INPUT.autoscalingMin : INPUT.autoscalingMax;
    throw new ConfigurationError(
      missing,
      undefined,
      `a whole number: autoscaling needs both autoscaling-min and autoscaling-max (the other one is ${JSON.stringify(min ?? max)})`,
    );
  }
  const autoscaling =
    min !== undefined
      ? {
          min: inputs.integer(INPUT.autoscalingMin, 0, { min: 0, max: 1000 }),
          max: inputs.integer(INPUT.autoscalingMax, 1, { min: 1, max: 1000 }),
        }
      : undefined;
  if (autoscaling && autoscaling.max < autoscaling.min)
    throw new ConfigurationError(
      INPUT.autoscalingMax,
      String(autoscaling.max),
      `a number at least autoscaling-min (${autoscaling.min})`,
    );

  const labels: Record<string, string> = {};
  for (const item of inputs.list(INPUT.labels)) {
    const m = /^([^=]+)=(.*)$/.exec(item);
    const key = m?.[1]?.trim() ?? '';
    if (!m || !LABEL_KEY.test(key) || !LABEL_VALUE.test((m[2] as string).trim()))
      throw new ConfigurationError(INPUT.labels, item, EXPECTED.labels);
    if (key in labels)
      throw new ConfigurationError(INPUT.labels, item, `${EXPECTED.labels}, each key once (${key} is given twice)`);
    labels[key] = (m[2] as string).trim();
  }
  const authorizedNetworks = inputs.list(INPUT.masterAuthorizedNetworks);
  for (const c of authorizedNetworks)
    if (!isIpv4Cidr(c))
      throw new ConfigurationError(INPUT.masterAuthorizedNetworks, c, `${CIDR_FORM}, one per line or comma-separated`);

  const privateNodes = inputs.boolean(INPUT.privateNodes, false);
  const endpoint = inputs.choice(INPUT.endpoint, ['public', 'private', 'dns'] as const, 'public');
  const workloadIdentity = inputs.boolean(INPUT.workloadIdentity, true);
  const givenChannel = inputs.optional(INPUT.releaseChannel);
  const channel = (givenChannel ?? DEFAULTS.releaseChannel).toUpperCase();
  if (!['RAPID', 'REGULAR', 'STABLE', 'EXTENDED', 'UNSPECIFIED'].includes(channel))
    throw new ConfigurationError(INPUT.releaseChannel, givenChannel, EXPECTED['release-channel']);
  const network = inputs.optional(INPUT.network);
  if (network !== undefined && !NETWORK_NAME.test(network) && !NETWORK_PATH.test(network))
    throw new ConfigurationError(INPUT.network, network, EXPECTED.network);
  const subnetwork = inputs.optional(INPUT.subnetwork);
  if (subnetwork !== undefined && !NETWORK_NAME.test(subnetwork) && !SUBNETWORK_PATH.test(subnetwork))
    throw new ConfigurationError(INPUT.subnetwork, subnetwork, EXPECTED.subnetwork);
  const givenMasterCidr = inputs.optional(INPUT.masterIpv4Cidr);
  if (givenMasterCidr !== undefined && !privateNodes)
    throw new ConfigurationError(
      INPUT.masterIpv4Cidr,
      givenMasterCidr,
      'empty unless private-nodes is true (only a private cluster has a control plane range)',
    );
  if (givenMasterCidr !== undefined && !isIpv4Cidr(givenMasterCidr, 28))
    throw new ConfigurationError(INPUT.masterIpv4Cidr, givenMasterCidr, EXPECTED['master-ipv4-cidr']);
  const masterIpv4Cidr = privateNodes ? (givenMasterCidr ?? DEFAULTS.masterIpv4Cidr) : undefined;
  const serviceAccount = inputs.matching(
    INPUT.nodeServiceAccount,
    /^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9-]+\.iam\.gserviceaccount\.com$|^[0-9]+-compute@developer\.gserviceaccount\.com$|^default$/,
    EXPECTED['node-service-account'],
  );
  const dnsEndpoint = inputs.boolean(INPUT.dnsEndpoint, endpoint === 'dns');
  if (endpoint === 'dns' && !dnsEndpoint)
    throw new ConfigurationError(
      INPUT.dnsEndpoint,
      inputs.optional(INPUT.dnsEndpoint),
      '`true` (or empty) with endpoint: dns: the kubeconfig needs the DNS-based endpoint',
    );

  const spec: ClusterSpec = {
    project,
    location,
    name,
    releaseChannel: channel as ReleaseChannelName,
    nodePool: inputs.matching(INPUT.nodePool, NAME, EXPECTED['node-pool'], DEFAULTS.nodePool) as string,
    machineType: inputs.matching(
      INPUT.machineType,
      /^[a-z][a-z0-9]*(-[a-z0-9]+)+$/,
      EXPECTED['machine-type'],
      DEFAULTS.machineType,
    ) as string,
    nodeCount: inputs.integer(INPUT.nodeCount, zone ? DEFAULTS.nodesInZone : DEFAULTS.nodesPerZoneInRegion, {
      min: 0,
      max: 1000,
    }),
    ...(autoscaling ? { autoscaling } : {}),
    diskSizeGb: inputs.integer(INPUT.diskSizeGb, DEFAULTS.diskSizeGb, { min: 10, max: 65536 }),
    diskType: inputs.choice(
      INPUT.diskType,
      ['pd-balanced', 'pd-standard', 'pd-ssd', 'pd-extreme', 'hyperdisk-balanced'] as const,
      DEFAULTS.diskType as 'pd-balanced',
    ),
    spot: inputs.boolean(INPUT.spot, false),
    ...(network ? { network } : {}),
    ...(subnetwork ? { subnetwork } : {}),
    privateNodes,
    ...(masterIpv4Cidr ? { masterIpv4Cidr } : {}),
    authorizedNetworks,
    labels,
    ...(workloadIdentity ? { workloadPool: `${project}.svc.id.goog` } : {}),
    dnsEndpoint,
    ...(serviceAccount && serviceAccount !== 'default' ? { serviceAccount } : {}),
  };

  const create = inputs.boolean(INPUT.create, true);
  const recreate = inputs.boolean(INPUT.recreate, false);
  if (recreate && !create)
    throw new ConfigurationError(
      INPUT.create,
      inputs.optional(INPUT.create),
      '`true` (or empty) with recreate: true: recreate deletes the cluster and creates it again, which create: false forbids',
    );
  const confirm = inputs.optional(INPUT.confirm);
  if (recreate && confirm !== name) {
    throw new ConfigurationError(
      INPUT.confirm,
      confirm,
      `the cluster name ${JSON.stringify(name)} exactly: recreate: true deletes the cluster, so confirm must repeat its name`,
    );
  }
  const apiEndpoint = readApiEndpoint(inputs);
  const tempDir = env['RUNNER_TEMP'] ?? env['TMPDIR'] ?? '/tmp';
  const kubeconfigPath = inputs.optional(INPUT.kubeconfigPath) ?? join(tempDir, `kfops-gke-${name}.kubeconfig`);
  if (isDirectory(kubeconfigPath))
    throw new ConfigurationError(INPUT.kubeconfigPath, kubeconfigPath, EXPECTED['kubeconfig-path']);
  return {
    spec,
    create,
    update: inputs.boolean(INPUT.update, false),
    recreate,
    timeoutMs: inputs.duration(INPUT.timeout, '45m', { positive: true }),
    pollMs: inputs.duration(INPUT.pollInterval, '10s', { positive: true }),
    endpoint,
    credentials: inputs.choice(INPUT.credentials, ['auto', 'plugin', 'token'] as const, 'auto'),
    path: kubeconfigPath,
    apiEndpoint,
    verify: inputs.boolean(INPUT.verify, true),
  };
}

function readApiEndpoint(inputs: Inputs): string {
  const value = inputs.optional(INPUT.apiEndpoint);
  if (value === undefined) return DEFAULT_API_ENDPOINT;
  const { username, password } = splitUrlCredentials(value);
  if (username !== undefined || password !== undefined) {
    if (password) inputs.mask(password);
    throw new ConfigurationError(
      INPUT.apiEndpoint,
      value,
      `${EXPECTED['api-endpoint']} without user:password@ (the API takes the OAuth token from the credentials, never URL credentials)`,
      { hideValue: true },
    );
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || !url.hostname || url.search || url.hash)
    throw new ConfigurationError(INPUT.apiEndpoint, value, EXPECTED['api-endpoint']);
  return value;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The expected form of each input, for error messages. */
const EXPECTED = {
  project: 'a Google Cloud project ID (6-30 lowercase letters, digits and hyphens, starting with a letter)',
  location: LOCATION_FORM,
  'cluster-name':
    'a cluster name: lowercase letters, digits and hyphens, starting with a letter, at most 40 characters',
  'release-channel': 'one of rapid, regular, stable, extended, or unspecified (no channel)',
  'node-pool': 'a node pool name: lowercase letters, digits and hyphens, starting with a letter, at most 40 characters',
  'machine-type': 'a Compute Engine machine type such as e2-standard-8',
  labels:
    'key=value pairs, one per line or comma-separated (lowercase letters, digits, _ and -; keys start with a letter)',
  network: 'a VPC network name such as default, or projects/PROJECT/global/networks/NAME',
  subnetwork: 'a subnetwork name, or projects/PROJECT/regions/REGION/subnetworks/NAME',
  'master-ipv4-cidr': `a /28 block for the control plane, such as 172.16.0.32/28 (${CIDR_FORM})`,
  'master-authorized-networks': CIDR_FORM,
  'node-service-account': 'a service account email such as nodes@PROJECT.iam.gserviceaccount.com, or default',
  'kubeconfig-path': 'the path of a file to write (not a directory)',
  'api-endpoint': 'an http(s) URL such as https://container.googleapis.com/',
  timeout: `${DURATION_FORM}, greater than zero`,
  'poll-interval': `${DURATION_FORM}, greater than zero`,
} as const;
