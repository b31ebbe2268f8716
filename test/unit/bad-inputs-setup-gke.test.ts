import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { badInputProblems, SENTINEL, tryBadInput, type BadInput } from '../support/bad-inputs.js';

const dir = mkdtempSync(join(tmpdir(), 'kfops-bad-gke-'));
// Nothing listens on port 9 of loopback: a bad input that got through would fail at the first call,
// with a message about the API instead of the input.
const base = {
  project: 'kfops-bad-inputs',
  location: 'us-central1',
  'cluster-name': 'kf',
  'api-endpoint': 'http://127.0.0.1:9/',
  'kubeconfig-path': join(dir, 'kubeconfig'),
};
// The access token the step would use: it must never reach the log, outputs or summary.
const env = { CLOUDSDK_AUTH_ACCESS_TOKEN: SENTINEL };
const key = JSON.stringify({
  type: 'service_account',
  project_id: 'kfops-bad-inputs',
  private_key_id: 'abc',
  private_key: `-----BEGIN PRIVATE KEY-----\n${SENTINEL}\n-----END PRIVATE KEY-----\n`,
  client_email: 'ci@kfops-bad-inputs.iam.gserviceaccount.com',
});
const wif = JSON.stringify({
  type: 'external_account',
  audience: `//iam.googleapis.com/${SENTINEL}`,
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  token_url: 'https://sts.googleapis.com/v1/token',
  credential_source: { file: '/tmp/x' },
});

const CASES: BadInput[] = [
  { what: 'no project', inputs: { ...base, project: '' }, env, input: 'project', expect: 'a Google Cloud project ID' },
  { what: 'a project with capitals', inputs: { ...base, project: 'My-Project' }, env, input: 'project' },
  { what: 'a project that is too short', inputs: { ...base, project: 'abc' }, env, input: 'project' },
  {
    what: 'a service-account key pasted into project',
    inputs: { ...base, project: key },
    env,
    input: 'project',
    expect: 'not a credential',
  },
  {
    what: 'Workload Identity Federation JSON pasted into project',
    inputs: { ...base, project: wif },
    env,
    input: 'project',
    expect: 'not shown',
  },
  {
    what: 'an access token pasted into cluster-name',
    inputs: { ...base, 'cluster-name': `ya29.${SENTINEL}` },
    env,
    input: 'cluster-name',
    expect: 'not a credential',
  },
  {
    what: 'no location',
    inputs: { ...base, location: '' },
    env,
    input: 'location',
    expect: 'a region such as us-central1',
  },
  {
    what: 'a misspelt region',
    inputs: { ...base, location: 'us-centrl1' },
    env,
    input: 'location',
    expect: 'a zone such as us-central1-a',
  },
  { what: 'a location that is not a region form', inputs: { ...base, location: 'a-b0' }, env, input: 'location' },
  { what: 'a region with capitals', inputs: { ...base, location: 'US-CENTRAL1' }, env, input: 'location' },
  { what: 'a zone with two letters', inputs: { ...base, location: 'us-central1-ab' }, env, input: 'location' },
  { what: 'a region numbered 0', inputs: { ...base, location: 'us-central0' }, env, input: 'location' },
  {
    what: 'a cluster name with capitals',
    inputs: { ...base, 'cluster-name': 'Kubeflow_1' },
    env,
    input: 'cluster-name',
    expect: 'at most 40 characters',
  },
  {
    what: 'a cluster name of 41 characters',
    inputs: { ...base, 'cluster-name': `k${'f'.repeat(40)}` },
    env,
    input: 'cluster-name',
  },
  {
    what: 'an unknown release channel',
    inputs: { ...base, 'release-channel': 'beta' },
    env,
    input: 'release-channel',
    expect: 'rapid, regular, stable',
  },
  { what: 'a node pool name with capitals', inputs: { ...base, 'node-pool': 'Pool_1' }, env, input: 'node-pool' },
  { what: 'a machine type in words', inputs: { ...base, 'machine-type': 'big' }, env, input: 'machine-type' },
  {
    what: 'a negative node count',
    inputs: { ...base, 'node-count': '-1' },
    env,
    input: 'node-count',
    expect: 'a whole number from 0 to 1000',
  },
  { what: 'a node count in words', inputs: { ...base, 'node-count': 'three' }, env, input: 'node-count' },
  { what: 'autoscaling-min without max', inputs: { ...base, 'autoscaling-min': '1' }, env, input: 'autoscaling-max' },
  {
    what: 'autoscaling-max below min',
    inputs: { ...base, 'autoscaling-min': '4', 'autoscaling-max': '2' },
    env,
    input: 'autoscaling-max',
    expect: 'at least autoscaling-min',
  },
  {
    what: 'autoscaling past 1000 nodes',
    inputs: { ...base, 'autoscaling-min': '1', 'autoscaling-max': '1001' },
    env,
    input: 'autoscaling-max',
  },
  { what: 'a 5 GB disk', inputs: { ...base, 'disk-size-gb': '5' }, env, input: 'disk-size-gb' },
  {
    what: 'an unknown disk type',
    inputs: { ...base, 'disk-type': 'ssd' },
    env,
    input: 'disk-type',
    expect: '`pd-balanced`',
  },
  { what: 'spot yes', inputs: { ...base, spot: 'yes' }, env, input: 'spot' },
  { what: 'private-nodes maybe', inputs: { ...base, 'private-nodes': 'maybe' }, env, input: 'private-nodes' },
  {
    what: 'a control plane range that is not /28',
    inputs: { ...base, 'private-nodes': 'true', 'master-ipv4-cidr': '172.16.0.0/24' },
    env,
    input: 'master-ipv4-cidr',
    expect: 'a /28 block',
  },
  {
    what: 'a control plane range with octets past 255',
    inputs: { ...base, 'private-nodes': 'true', 'master-ipv4-cidr': '999.16.0.32/28' },
    env,
    input: 'master-ipv4-cidr',
  },
  {
    what: 'a control plane range without private nodes',
    inputs: { ...base, 'master-ipv4-cidr': '172.16.0.32/28' },
    env,
    input: 'master-ipv4-cidr',
    expect: 'unless private-nodes is true',
  },
  {
    what: 'authorized network 999.0.0.0/99',
    inputs: { ...base, 'master-authorized-networks': '999.0.0.0/99' },
    env,
    input: 'master-authorized-networks',
    expect: 'octets 0-255, prefix 0-32',
  },
  {
    what: 'an authorized network with prefix 33',
    inputs: { ...base, 'master-authorized-networks': '10.0.0.0/8\n10.0.0.0/33' },
    env,
    input: 'master-authorized-networks',
    expect: '"10.0.0.0/33"',
  },
  {
    what: 'an authorized network without a prefix',
    inputs: { ...base, 'master-authorized-networks': '10.0.0.0' },
    env,
    input: 'master-authorized-networks',
  },
  {
    what: 'an authorized network with host bits',
    inputs: { ...base, 'master-authorized-networks': '203.0.113.7/24' },
    env,
    input: 'master-authorized-networks',
    expect: 'no address bits past the prefix',
  },
  {
    what: 'labels with capitals',
    inputs: { ...base, labels: 'Team=ML' },
    env,
    input: 'labels',
    expect: 'key=value pairs',
  },
  { what: 'a label without a value', inputs: { ...base, labels: 'team' }, env, input: 'labels' },
  {
    what: 'a label key twice',
    inputs: { ...base, labels: 'team=a, team=b' },
    env,
    input: 'labels',
    expect: 'each key once',
  },
  {
    what: 'a node service account that is not one',
    inputs: { ...base, 'node-service-account': 'nodes@example.com' },
    env,
    input: 'node-service-account',
  },
  {
    what: 'a network name with a space',
    inputs: { ...base, network: 'my net' },
    env,
    input: 'network',
    expect: 'a VPC network name',
  },
  {
    what: 'a subnetwork URL of another kind',
    inputs: { ...base, subnetwork: 'projects/p-1234/global/networks/default' },
    env,
    input: 'subnetwork',
  },
  { what: 'an unknown endpoint', inputs: { ...base, endpoint: 'internal' }, env, input: 'endpoint', expect: '`dns`' },
  {
    what: 'the DNS endpoint turned off with endpoint: dns',
    inputs: { ...base, endpoint: 'dns', 'dns-endpoint': 'false' },
    env,
    input: 'dns-endpoint',
  },
  {
    what: 'unknown credentials',
    inputs: { ...base, credentials: 'key' },
    env,
    input: 'credentials',
    expect: '`plugin`',
  },
  { what: 'a zero timeout', inputs: { ...base, timeout: '0s' }, env, input: 'timeout', expect: 'greater than zero' },
  {
    what: 'a timeout in words',
    inputs: { ...base, timeout: 'soon' },
    env,
    input: 'timeout',
    expect: 'a duration such as',
  },
  {
    what: 'a zero poll interval',
    inputs: { ...base, 'poll-interval': '0' },
    env,
    input: 'poll-interval',
    expect: 'greater than zero',
  },
  { what: 'a negative poll interval', inputs: { ...base, 'poll-interval': '-1s' }, env, input: 'poll-interval' },
  {
    what: 'recreate without confirm',
    inputs: { ...base, recreate: 'true' },
    env,
    input: 'confirm',
    expect: 'the cluster name "kf" exactly',
  },
  {
    what: 'recreate with create: false (a reuse-only step cannot delete and create)',
    inputs: { ...base, recreate: 'true', confirm: 'kf', create: 'false' },
    env,
    input: 'create',
    expect: 'create: false forbids',
  },
  { what: 'create that is not a boolean', inputs: { ...base, create: 'no' }, env, input: 'create' },
  { what: 'recreate with another name', inputs: { ...base, recreate: 'true', confirm: 'kf2' }, env, input: 'confirm' },
  { what: 'update on', inputs: { ...base, update: 'on' }, env, input: 'update' },
  { what: 'verify no', inputs: { ...base, verify: 'no' }, env, input: 'verify' },
  {
    what: 'an API endpoint that is not http',
    inputs: { ...base, 'api-endpoint': 'ftp://container.example/' },
    env,
    input: 'api-endpoint',
    expect: 'an http(s) URL',
  },
  {
    what: 'an API endpoint with credentials in it',
    inputs: { ...base, 'api-endpoint': `https://ci:${SENTINEL}@container.example/` },
    env,
    input: 'api-endpoint',
    expect: 'without user:password@',
  },
  {
    what: 'a kubeconfig path that is a directory',
    inputs: { ...base, 'kubeconfig-path': dir },
    env,
    input: 'kubeconfig-path',
    expect: 'not a directory',
  },
];

describe('setup-gke with bad inputs (the bundle as a process, as the runner runs it)', () => {
  it(`has at least 30 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(30));
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await tryBadInput('setup-gke', c);
    // The runner consumes ::add-mask:: commands: they never show in the log, so they are not leaks.
    const shown = {
      ...r,
      log: r.log
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    };
    expect(badInputProblems(c, shown), r.log).toEqual([]);
  });
});
