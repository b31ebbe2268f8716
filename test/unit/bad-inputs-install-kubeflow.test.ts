import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { badInputProblems, SENTINEL, tryBadInput, type BadInput } from '../support/bad-inputs.js';

const dir = mkdtempSync(join(tmpdir(), 'kfops-bad-'));
const file = join(dir, 'manifests.yaml');
writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n');
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
const base = { 'manifests-file': file, kubeconfig };
const user = (extra: string): string => `- email: alice@example.com\n  password-env: ALICE_PW\n${extra}`;
const env = { ALICE_PW: SENTINEL };

const CASES: BadInput[] = [
  { what: 'a zero timeout', inputs: { ...base, timeout: '0s' }, input: 'timeout', expect: 'greater than zero' },
  { what: 'a bare zero timeout', inputs: { ...base, timeout: '0' }, input: 'timeout', expect: 'greater than zero' },
  { what: 'a timeout in words', inputs: { ...base, timeout: 'soon' }, input: 'timeout', expect: 'a duration such as' },
  { what: 'a negative timeout', inputs: { ...base, timeout: '-5m' }, input: 'timeout' },
  { what: 'zero concurrency', inputs: { ...base, concurrency: '0' }, input: 'concurrency' },
  { what: 'huge concurrency', inputs: { ...base, concurrency: '1000' }, input: 'concurrency' },
  { what: 'concurrency in words', inputs: { ...base, concurrency: 'eight' }, input: 'concurrency' },
  {
    what: 'an unknown expose mode',
    inputs: { ...base, expose: 'nodeport' },
    input: 'expose',
    expect: '`loadbalancer`',
  },
  { what: 'a domain with spaces', inputs: { ...base, domain: 'not a domain' }, input: 'domain' },
  {
    what: 'sslip without a load balancer',
    inputs: { ...base, domain: 'sslip' },
    input: 'domain',
    expect: 'together with expose: loadbalancer',
  },
  { what: 'm2m-auth yes', inputs: { ...base, 'm2m-auth': 'yes' }, input: 'm2m-auth' },
  { what: 'plan-only maybe', inputs: { ...base, 'plan-only': 'maybe' }, input: 'plan-only' },
  { what: 'force-conflicts 1', inputs: { ...base, 'force-conflicts': '1' }, input: 'force-conflicts' },
  {
    what: 'a StorageClass with capitals',
    inputs: { ...base, 'default-storage-class': 'Fast_SSD' },
    input: 'default-storage-class',
    expect: 'the name of a StorageClass',
  },
  {
    what: 'a StorageClass with an empty part',
    inputs: { ...base, 'default-storage-class': 'a..b' },
    input: 'default-storage-class',
  },
  {
    what: 'a version with shell in it',
    inputs: { kubeconfig, 'kubeflow-version': 'v1.9.1; rm -rf /' },
    input: 'kubeflow-version',
  },
  {
    what: 'two manifest sources',
    inputs: { ...base, 'manifests-path': dir },
    input: 'manifests-path',
    expect: 'only one of',
  },
  {
    what: 'a version and a file',
    inputs: { ...base, 'kubeflow-version': 'v1.9.1' },
    input: 'kubeflow-version',
    expect: 'only one of',
  },
  { what: 'components with a rendered file', inputs: { ...base, components: 'apps/one' }, input: 'components' },
  {
    what: 'a manifests file that does not exist',
    inputs: { kubeconfig, 'manifests-file': join(dir, 'nope.yaml') },
    input: 'manifests-file',
    expect: 'that exists',
  },
  {
    what: 'a manifests path that does not exist',
    inputs: { kubeconfig, 'manifests-path': join(dir, 'nope') },
    input: 'manifests-path',
    expect: 'that exists',
  },
  {
    what: 'a kubeconfig that does not exist',
    inputs: { ...base, kubeconfig: join(dir, 'nope') },
    input: 'kubeconfig',
    expect: 'that exists',
  },
  {
    what: 'users that are not YAML (holding a secret)',
    inputs: { ...base, users: `- email: a@example.com\n  password: "${SENTINEL}\n    - [` },
    input: 'users',
    expect: 'not shown',
  },
  {
    what: 'users as a mapping',
    inputs: { ...base, users: `{email: a@example.com, password-env: ${SENTINEL}}` },
    input: 'users',
  },
  {
    what: 'a user entry that is a string',
    inputs: { ...base, users: `- alice@example.com:${SENTINEL}` },
    input: 'users[0]',
  },
  { what: 'a user without an email', inputs: { ...base, users: '- password-env: ALICE_PW' }, input: 'users[0].email' },
  {
    what: 'a user with a bad email',
    inputs: { ...base, users: '- email: alice\n  password-env: ALICE_PW' },
    input: 'users[0].email',
  },
  {
    what: 'a password pasted into password-env',
    inputs: { ...base, users: `- email: alice@example.com\n  password-env: "${SENTINEL}!"` },
    input: 'users[0].password-env',
    expect: 'the NAME of an environment variable',
  },
  {
    what: 'an inline password',
    inputs: { ...base, users: user(`  password: ${SENTINEL}`) },
    env,
    input: 'users[0].password',
    expect: 'no password in the users input',
  },
  {
    what: 'an inline bcrypt hash',
    inputs: { ...base, users: user(`  hash: ${SENTINEL}`) },
    env,
    input: 'users[0].hash',
  },
  {
    what: 'an unknown user field',
    inputs: { ...base, users: user('  profle: team-a') },
    env,
    input: 'users[0]',
    expect: 'unknown field "profle"',
  },
  {
    what: 'a password variable that is not set',
    inputs: { ...base, users: '- email: alice@example.com\n  password-env: NOT_SET_PW' },
    input: 'users[0].password-env',
    expect: 'is not set for this step',
  },
  {
    what: 'a contributor role that does not exist',
    inputs: { ...base, users: user('  contributors: [{email: bob@example.com, role: admin}]') },
    env,
    input: 'users[0].contributors[0].role',
  },
  {
    what: 'contributors without a profile',
    inputs: { ...base, users: user('  profile: false\n  contributors: [{email: bob@example.com}]') },
    env,
    input: 'users[0].contributors',
  },
  {
    what: 'a profile name with capitals',
    inputs: { ...base, users: user('  profile: Team_A') },
    env,
    input: 'users[0].profile',
  },
  {
    what: 'the same user twice',
    inputs: { ...base, users: `${user('')}- email: alice@example.com\n  password-env: ALICE_PW\n` },
    env,
    input: 'users[1].email',
    expect: 'each user once',
  },
  {
    what: 'a GCP service account that is not one',
    inputs: { ...base, users: user('  gcp-service-account: alice@example.com') },
    env,
    input: 'users[0].gcp-service-account',
  },
  {
    what: 'a resource quota as a list',
    inputs: { ...base, users: user('  resource-quota: [cpu]') },
    env,
    input: 'users[0].resource-quota',
  },
];

describe('install-kubeflow with bad inputs (the bundle as a process, as the runner runs it)', () => {
  it(`has at least 30 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(30));
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await tryBadInput('install-kubeflow', c);
    expect(badInputProblems(c, r), r.log).toEqual([]);
  });
});
