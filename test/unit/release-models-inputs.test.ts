/** release-models inputs: every bad input named with its expected form, secrets masked and never quoted. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSettings, SECRET_INPUTS } from '../../src/actions/release-models/inputs.js';
import { ConfigurationError } from '../../src/common/errors.js';
import { fakeInputs } from '../support/inputs-fake.js';

const inline = {
  service: 'wine',
  namespace: 'team',
  model: 'models:/wine/2',
  'smoke-payload': '[[0.9, 0.4]]',
  'mlflow-tracking-uri': 'http://mlflow.example:5000',
};
const noEvent = {};
const read = (values: Record<string, string>, env: Record<string, string> = noEvent, masked: string[] = []) =>
  readSettings(fakeInputs(values, masked), env, () => {
    throw new Error('no file');
  });
const refusal = (values: Record<string, string>, env: Record<string, string> = noEvent): ConfigurationError => {
  try {
    read(values, env);
  } catch (e) {
    if (e instanceof ConfigurationError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
};

describe('release-models inputs', () => {
  it('inline: one release, numbers read as numbers, mode production outside pull requests', () => {
    const s = read({ ...inline, canary: '10', 'min-replicas': '1', 'smoke-tolerance': '1%' });
    expect(s.pipeline.mode).toBe('production');
    expect(s.which).toMatchObject({
      kind: 'inline',
      spec: { service: 'wine', canary: 10, replicas: { min: 1 }, smoke: { tolerance: { relative: 0.01 } } },
    });
    expect(s.pipeline.mlflow).toEqual({ url: 'http://mlflow.example:5000' });
    expect(s.pipeline.smokeAuth).toEqual({ kind: 'serviceaccount', serviceAccount: 'default-editor' });
  });

  it('auto mode on a pull_request event is candidate, numbered by the event', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfops-event-'));
    writeFileSync(join(dir, 'event.json'), JSON.stringify({ pull_request: { number: 17 } }));
    const s = readSettings(fakeInputs({ 'changed-since': 'abc123' }), {
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_EVENT_PATH: join(dir, 'event.json'),
    });
    expect(s.pipeline).toMatchObject({ mode: 'candidate', pullRequest: 17 });
    expect(s.which).toEqual({ kind: 'files', globs: ['models/*.yaml'], changedSince: 'abc123' });
  });

  it('an all-zero changed-since (a new branch) releases every file', () => {
    expect(read({ 'changed-since': '0000000000000000000000000000000000000000' }).which).toEqual({
      kind: 'files',
      globs: ['models/*.yaml'],
    });
  });

  it.each([
    [{ ...inline, canary: '150' }, 'canary', /whole number of percent from 0 to 99/],
    [{ ...inline, 'max-replicas': '0' }, 'max-replicas', /from 1 to 1000/],
    [{ ...inline, 'smoke-payload': '' }, 'smoke-payload', /request body/],
    [{ ...inline, 'smoke-max-p95-ms': '800ms' }, 'smoke-max-p95-ms', /positive number of milliseconds/],
    [{ ...inline, model: 's3:///x', alias: 'champion' }, 'model', /bucket is missing/],
    [{ ...inline, model: 's3://models/wine', alias: 'champion' }, 'alias', /no alias with a storage URI/],
    [{ ...inline, service: 'Wine' }, 'service', /lowercase DNS label/],
    [{ ...inline, 'deployment-mode': 'RawDeployment', canary: '5' }, 'canary', /RawDeployment/],
    [{ ...inline, 'mlflow-tracking-uri': '' }, 'mlflow-tracking-uri', /resolve models:\/ references/],
    [{ ...inline, 'changed-since': 'main' }, 'changed-since', /nothing with service/],
    [{ canary: '10' }, 'service', /when canary is given/],
    [{ 'changed-since': '--output=/tmp/x' }, 'changed-since', /without spaces or a leading -/],
    [{ mode: 'staging' }, 'mode', /`auto`, `production`, `candidate`/],
    [{ 'smoke-auth': 'bearer' }, 'smoke-token', /bearer token/],
    [{ 'pull-request': '0', mode: 'candidate' }, 'pull-request', /from 1/],
    [{ 'pull-request': '3', mode: 'production' }, 'pull-request', /nothing with mode production/],
    [{ comment: 'always' }, 'github-token', /pull request comments/],
    [{ 's3-endpoint': 'minio:9000' }, 's3-access-key-id', /credentials when s3-endpoint is given/],
    [{ kubeconfig: '/nonexistent/kubeconfig' }, 'kubeconfig', /a kubeconfig file that exists/],
    [{ 'ingress-address': 'u:p@1.2.3.4' }, 'ingress-address', /without credentials/],
    [{ timeout: '0s' }, 'timeout', /greater than zero/],
  ])('%j is refused, naming %s', (values, input, expected) => {
    const e = refusal(values as Record<string, string>);
    expect(e.input).toBe(input);
    expect(e.message).toMatch(expected);
  });

  it('secrets are masked first and never quoted', () => {
    const masked: string[] = [];
    const values = {
      ...inline,
      'mlflow-tracking-uri': 'http://ana:url-pw-1@mlflow.example',
      's3-access-key-id': 'AKIA-secret-2',
      's3-secret-access-key': 'secret-3',
      'smoke-token': 'tok-4',
      'github-token': 'ghs-5',
    };
    const s = read(values, noEvent, masked);
    for (const secret of ['url-pw-1', 'AKIA-secret-2', 'secret-3', 'tok-4', 'ghs-5']) expect(masked).toContain(secret);
    expect(s.pipeline.mlflow).toMatchObject({ url: 'http://mlflow.example', username: 'ana', password: 'url-pw-1' });
    expect(SECRET_INPUTS).toEqual(expect.arrayContaining(['smoke-token', 'github-token', 'mlflow-password']));
    const e = refusal({ ...values, 'smoke-auth': 'none' });
    expect(e.input).toBe('smoke-auth');
    expect(JSON.stringify(e.message)).not.toMatch(/url-pw-1|secret-3|tok-4|ghs-5/);
  });
});
