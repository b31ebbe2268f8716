/**
 * release-models with bad inputs and bad release files: the bundle as a process, as the runner runs it.
 * Release files live in a real git repository (GITHUB_WORKSPACE); every refusal comes before any cluster,
 * registry or storage call, names the input (or the file and field) and never shows a secret.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badInputProblems, SENTINEL, tryBadInput, type BadInput } from '../support/bad-inputs.js';

const inline = {
  mode: 'production',
  service: 'wine',
  namespace: 'team',
  model: 'models:/wine/2',
  'smoke-payload': '[[0.9, 0.4]]',
  'mlflow-tracking-uri': 'http://127.0.0.1:9',
  'mlflow-password': SENTINEL,
  'mlflow-username': 'ana',
};

const CASES: BadInput[] = [
  { what: 'canary above 99', inputs: { ...inline, canary: '100' }, input: 'canary', expect: 'from 0 to 99' },
  { what: 'canary as a percentage', inputs: { ...inline, canary: '10%' }, input: 'canary' },
  { what: 'a service name with capitals', inputs: { ...inline, service: 'Wine' }, input: 'service' },
  { what: 'a namespace with _', inputs: { ...inline, namespace: 'a_b' }, input: 'namespace' },
  { what: 'a stage instead of an alias', inputs: { ...inline, model: 'models:/wine/Production' }, input: 'model' },
  { what: 'an alias with a storage URI', inputs: { ...inline, model: 's3://models/wine', alias: 'x' }, input: 'alias' },
  { what: 'a payload that is not JSON', inputs: { ...inline, 'smoke-payload': '[[1, 2' }, input: 'smoke-payload' },
  { what: 'no payload', inputs: { ...inline, 'smoke-payload': '' }, input: 'smoke-payload' },
  { what: 'max-p95 with a unit', inputs: { ...inline, 'smoke-max-p95-ms': '800ms' }, input: 'smoke-max-p95-ms' },
  { what: 'an error rate of 5', inputs: { ...inline, 'smoke-max-error-rate': '5' }, input: 'smoke-max-error-rate' },
  { what: 'mlflow v1', inputs: { ...inline, protocol: 'v1' }, input: 'protocol', expect: 'MLServer' },
  { what: 'a mode that does not exist', inputs: { ...inline, mode: 'staging' }, input: 'mode' },
  {
    what: 'changed-since with an inline release',
    inputs: { ...inline, 'changed-since': 'main' },
    input: 'changed-since',
  },
  {
    what: 'a password without a tracking URI',
    inputs: { ...inline, 'mlflow-tracking-uri': '' },
    input: 'mlflow-tracking-uri',
  },
  {
    what: 'credentials in the URL and in mlflow-username',
    inputs: { ...inline, 'mlflow-tracking-uri': `http://u:${SENTINEL}@127.0.0.1:9` },
    input: 'mlflow-tracking-uri',
  },
  {
    what: 'a smoke token with auth none',
    inputs: { ...inline, 'smoke-token': SENTINEL, 'smoke-auth': 'none' },
    input: 'smoke-auth',
  },
  { what: 'a zero timeout', inputs: { ...inline, timeout: '0' }, input: 'timeout' },
  { what: 'a zero smoke-timeout', inputs: { ...inline, 'smoke-timeout': '0s' }, input: 'smoke-timeout' },
  {
    what: 'an S3 endpoint without keys',
    inputs: { ...inline, 's3-endpoint': 'minio:9000' },
    input: 's3-access-key-id',
  },
  { what: 'one S3 key', inputs: { ...inline, 's3-secret-access-key': SENTINEL }, input: 's3-access-key-id' },
  {
    what: 'a kubeconfig that does not exist',
    inputs: { ...inline, kubeconfig: '/nonexistent/k' },
    input: 'kubeconfig',
  },
  { what: 'comment always without a token', inputs: { ...inline, comment: 'always' }, input: 'github-token' },
];

describe('release-models with bad inputs (the bundle as a process)', () => {
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await tryBadInput('release-models', { ...c, env: { KUBECONFIG: '/nonexistent/kubeconfig', ...c.env } });
    const lines = r.log.split('\n');
    expect(
      lines.filter((l) => l.includes(SENTINEL) && l !== `::add-mask::${SENTINEL}`),
      r.log,
    ).toEqual([]);
    const shown = { ...r, log: lines.filter((l) => !l.startsWith('::add-mask::')).join('\n') };
    expect(badInputProblems(c, shown), r.log).toEqual([]);
  });
});

describe('release-models with release files in a git repository', () => {
  let repo = '';
  let base = '';
  const git = (...args: string[]): string =>
    execFileSync('git', args, {
      cwd: repo,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@x',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@x',
      },
    }).trim();
  const write = (path: string, text: string): void => {
    mkdirSync(join(repo, path, '..'), { recursive: true });
    writeFileSync(join(repo, path), text);
  };
  const file = (service: string, extra = ''): string =>
    `service: ${service}\nnamespace: team\nmodel: models:/${service}/2\nsmoke:\n  payload: [[0.9, 0.4]]\n${extra}`;
  const run = (inputs: Record<string, string>) =>
    tryBadInput('release-models', {
      what: '',
      input: '',
      inputs: { mode: 'production', ...inputs },
      env: { GITHUB_WORKSPACE: repo, KUBECONFIG: '/nonexistent/kubeconfig' },
    });

  beforeAll(() => {
    repo = mkdtempSync(join(tmpdir(), 'kfops-release-repo-'));
    git('init', '-q', '-b', 'main');
    write('models/wine.yaml', file('wine'));
    write('models/iris.yaml', file('iris'));
    git('add', '.');
    git('commit', '-qm', 'base');
    base = git('rev-parse', 'HEAD');
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it('nothing changed since the base: nothing released, result none, the step passes', async () => {
    const r = await run({ 'changed-since': base });
    expect(r.code, r.log).toBe(0);
    expect(r.outputs).toMatchObject({ result: 'none', results: '[]' });
    expect(r.summary).toContain(`No release file matching models/*.yaml changed since ${base}`);
  });

  it('a changed file with an unknown field: refused naming the file and the field, before any call', async () => {
    write('models/wine.yaml', file('wine', 'replica: 2\n'));
    git('commit', '-qam', 'bad field');
    const r = await run({ 'changed-since': base });
    expect(r.code).toBe(1);
    expect(r.log).toContain(
      '::error::release-models: models/wine.yaml: replica is not a field of a release file: expected one of service, namespace, model,',
    );
    expect(r.log).not.toMatch(/Kubernetes|MLflow tracking server/);
    expect(r.log).not.toContain('models/iris.yaml:');
  });

  it('registry references without a tracking server: the input is named with the files that need it', async () => {
    write('models/wine.yaml', file('wine', 'canary: 10\n'));
    git('commit', '-qam', 'canary');
    const r = await run({ 'changed-since': base });
    expect(r.code).toBe(1);
    expect(r.log).toMatch(
      /::error::release-models: Input 'mlflow-tracking-uri' is required: .*models:\/ references of models\/wine\.yaml\./,
    );
  });

  it('two files releasing one service are refused', async () => {
    write('models/wine-copy.yaml', file('wine'));
    const r = await run({ 'mlflow-tracking-uri': 'http://127.0.0.1:9' });
    expect(r.code).toBe(1);
    expect(r.log).toContain(
      'models/wine.yaml: service has the value "wine": expected a service no other release file names in namespace team (models/wine-copy.yaml releases team/wine too)',
    );
    rmSync(join(repo, 'models/wine-copy.yaml'));
  });

  it('a base the checkout does not have: the fix says to fetch the history', async () => {
    const r = await run({ 'changed-since': 'f'.repeat(40) });
    expect(r.code).toBe(1);
    expect(r.log).toContain(`git could not list the files changed since ${'f'.repeat(40)}`);
    expect(r.log).toContain('fetch-depth: 0');
    expect(r.summary).toContain('<h2>release-models failed</h2>');
    expect(r.summary).toContain('git could not list the files changed since');
  });

  it('the changed file is released (and fails at the cluster here, with the cause in the results)', async () => {
    const r = await run({ 'changed-since': base, 'mlflow-tracking-uri': 'http://127.0.0.1:9' });
    expect(r.code).toBe(1);
    const results = JSON.parse(r.outputs['results'] ?? '[]') as { file: string; outcome: string; cause: string }[];
    expect(results.map((x) => [x.file, x.outcome])).toEqual([['models/wine.yaml', 'failed']]);
    expect(results[0]?.cause).toMatch(
      /^could not read InferenceService team\/wine: No usable Kubernetes configuration/,
    );
  });
});
