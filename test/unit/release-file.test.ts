/**
 * Release files: the parser (src/release/file.ts) and the JSON Schema (schemas/release.schema.json)
 * agree on a table of valid and invalid files; every refusal names the file, the field and the form.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseReleaseDocument, parseReleaseText, ReleaseFileError } from '../../src/release/file.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schema = JSON.parse(readFileSync(join(root, 'schemas', 'release.schema.json'), 'utf8')) as object;
const validate = new Ajv2020({ strict: true, strictRequired: false, allErrors: true }).compile(schema);

const base = {
  service: 'wine',
  namespace: 'kubeflow-user-example-com',
  model: 'models:/wine@candidate',
  smoke: { payload: { inputs: [{ name: 'x', shape: [1], datatype: 'FP64', data: [0.9] }] } },
};
const files: Record<string, string> = { 'payload.json': '[[0.9, 0.4]]', 'broken.json': '{"a": [' };
const readFile = (p: string): string => {
  if (p in files) return files[p] as string;
  throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
};

type Case = [name: string, doc: unknown, error?: { path: string; text?: string }, parserOnly?: string];
const withSmoke = (smoke: Record<string, unknown>): unknown => ({ ...base, smoke });

const table: Case[] = [
  ['the minimum', base],
  [
    'every field',
    {
      ...base,
      model: 'models:/wine/3',
      format: 'mlflow',
      protocol: 'v2',
      runtime: 'kserve-mlserver',
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi', 'nvidia.com/gpu': 1 } },
      replicas: { min: 0, max: 3 },
      canary: 10,
      'deployment-mode': 'Serverless',
      alias: 'champion',
      smoke: {
        payload: [[0.9, 0.4]],
        expected: { outputs: [{ data: [1] }] },
        compare: 'tolerance',
        tolerance: 0.001,
        requests: 20,
        'max-p95-ms': 800,
        'max-error-rate': 0.01,
      },
    },
  ],
  ['a storage URI without alias', { ...base, model: 's3://models/wine/2' }],
  ['sklearn on v1', { ...base, model: 'gs://models/iris', format: 'sklearn', protocol: 'v1' }],
  ['payload from a file, relative tolerance', withSmoke({ 'payload-file': 'payload.json', tolerance: '1%' })],
  ['canary 0 (direct)', { ...base, canary: 0 }],
  ['not a mapping', ['wine'], { path: '(document)' }],
  ['service missing', { ...base, service: undefined }, { path: 'service', text: 'is missing' }],
  ['service with capitals', { ...base, service: 'Wine' }, { path: 'service' }],
  ['service starting with a digit', { ...base, service: '1wine' }, { path: 'service' }],
  ['service of 46 characters', { ...base, service: `w${'a'.repeat(45)}` }, { path: 'service' }],
  ['namespace missing', { ...base, namespace: undefined }, { path: 'namespace' }],
  ['namespace with _', { ...base, namespace: 'team_a' }, { path: 'namespace' }],
  ['an unknown field', { ...base, replica: 2 }, { path: 'replica', text: 'is not a field of a release file' }],
  ['an unknown smoke field', withSmoke({ ...base.smoke, threshold: 3 }), { path: 'smoke.threshold' }],
  ['model missing', { ...base, model: undefined }, { path: 'model' }],
  ['model a stage name', { ...base, model: 'models:/wine/Production' }, { path: 'model', text: 'deprecated' }],
  ['model an s3 URI without bucket', { ...base, model: 's3:///wine' }, { path: 'model' }],
  ['model a number', { ...base, model: 3 }, { path: 'model' }],
  [
    'model a URL with credentials (never quoted)',
    { ...base, model: 'https://ana:pw-9x@example.com/m' },
    { path: 'model', text: 'https://***@example.com/m' },
  ],
  [
    'model the MLmodel file',
    { ...base, model: 's3://models/wine/MLmodel' },
    { path: 'model' },
    'the schema cannot tell a file from a directory',
  ],
  ['mlflow on v1', { ...base, protocol: 'v1' }, { path: 'protocol', text: 'MLServer' }],
  ['mlflow (default format) on grpc-v1', { ...base, protocol: 'grpc-v1' }, { path: 'protocol' }],
  ['protocol v3', { ...base, format: 'sklearn', protocol: 'v3' }, { path: 'protocol' }],
  ['format with a space', { ...base, format: 'ml flow' }, { path: 'format' }],
  ['runtime with capitals', { ...base, runtime: 'MLServer' }, { path: 'runtime' }],
  ['resources unknown key', { ...base, resources: { request: { cpu: '1' } } }, { path: 'resources.request' }],
  [
    'resources a bad quantity',
    { ...base, resources: { requests: { cpu: 'lots' } } },
    { path: 'resources.requests.cpu' },
  ],
  ['replicas min negative', { ...base, replicas: { min: -1 } }, { path: 'replicas.min' }],
  ['replicas max 0', { ...base, replicas: { max: 0 } }, { path: 'replicas.max' }],
  [
    'replicas max below min',
    { ...base, replicas: { min: 3, max: 2 } },
    { path: 'replicas.max', text: 'at least replicas.min (3)' },
    'JSON Schema cannot compare two values',
  ],
  ['canary 100', { ...base, canary: 100 }, { path: 'canary' }],
  ['canary 12.5', { ...base, canary: 12.5 }, { path: 'canary' }],
  ['canary as text', { ...base, canary: '10%' }, { path: 'canary' }],
  ['RawDeployment without canary', { ...base, 'deployment-mode': 'RawDeployment', replicas: { min: 1 } }],
  ['deployment-mode unknown', { ...base, 'deployment-mode': 'Knative' }, { path: 'deployment-mode' }],
  ['RawDeployment with a canary', { ...base, 'deployment-mode': 'RawDeployment', canary: 10 }, { path: 'canary' }],
  [
    'RawDeployment scaling to zero',
    { ...base, 'deployment-mode': 'RawDeployment', replicas: { min: 0 } },
    { path: 'replicas.min' },
  ],
  ['alias with a space', { ...base, alias: 'my champ' }, { path: 'alias' }],
  ['alias with a storage URI', { ...base, model: 's3://models/wine/2', alias: 'champion' }, { path: 'alias' }],
  ['smoke missing', { ...base, smoke: undefined }, { path: 'smoke' }],
  ['smoke without payload', withSmoke({ requests: 3 }), { path: 'smoke.payload', text: 'is missing' }],
  [
    'payload and payload-file',
    withSmoke({ payload: [[1]], 'payload-file': 'payload.json' }),
    { path: 'smoke.payload-file' },
  ],
  ['an empty payload list', withSmoke({ payload: [] }), { path: 'smoke.payload' }],
  ['a payload that is a string', withSmoke({ payload: '1,2' }), { path: 'smoke.payload' }],
  [
    'expected and expected-file',
    withSmoke({ ...base.smoke, expected: 1, 'expected-file': 'payload.json' }),
    { path: 'smoke.expected-file' },
  ],
  ['payload-file absolute', withSmoke({ 'payload-file': '/etc/passwd' }), { path: 'smoke.payload-file' }],
  [
    'payload-file missing on disk',
    withSmoke({ 'payload-file': 'nope.json' }),
    { path: 'smoke.payload-file', text: 'ENOENT' },
    'the schema does not read files',
  ],
  [
    'payload-file not JSON or YAML',
    withSmoke({ 'payload-file': 'broken.json' }),
    { path: 'smoke.payload-file', text: 'the parser said' },
    'the schema does not read files',
  ],
  ['compare unknown', withSmoke({ ...base.smoke, compare: 'fuzzy' }), { path: 'smoke.compare' }],
  ['tolerance negative', withSmoke({ ...base.smoke, tolerance: -1 }), { path: 'smoke.tolerance' }],
  ['tolerance text', withSmoke({ ...base.smoke, tolerance: 'small' }), { path: 'smoke.tolerance' }],
  ['requests negative', withSmoke({ ...base.smoke, requests: -5 }), { path: 'smoke.requests' }],
  ['max-p95-ms zero', withSmoke({ ...base.smoke, 'max-p95-ms': 0 }), { path: 'smoke.max-p95-ms' }],
  ['max-p95-ms with a unit', withSmoke({ ...base.smoke, 'max-p95-ms': '800ms' }), { path: 'smoke.max-p95-ms' }],
  ['max-error-rate above 1', withSmoke({ ...base.smoke, 'max-error-rate': 5 }), { path: 'smoke.max-error-rate' }],
];

/** What a YAML file holding the case would parse to (undefined fields left out). */
const asYaml = (doc: unknown): unknown => JSON.parse(JSON.stringify(doc)) as unknown;

describe('release files: parser and JSON Schema agree', () => {
  it.each(table)('%s', (_name, raw, error, parserOnly) => {
    const doc = asYaml(raw);
    let thrown: unknown;
    try {
      parseReleaseDocument(doc, { file: 'models/wine.yaml', readFile });
    } catch (e) {
      thrown = e;
    }
    const schemaOk = validate(doc);
    if (!error) {
      expect(thrown).toBeUndefined();
      expect(schemaOk, JSON.stringify(validate.errors)).toBe(true);
      return;
    }
    expect(thrown).toBeInstanceOf(ReleaseFileError);
    const e = thrown as ReleaseFileError;
    expect(e.file).toBe('models/wine.yaml');
    expect(e.path).toBe(error.path);
    expect(e.message).toMatch(new RegExp(`^models/wine\\.yaml: ${error.path.replace(/[.()]/g, '\\$&')} `));
    expect(e.message).toContain('expected ');
    if (error.text) expect(e.message).toContain(error.text);
    expect(e.message).not.toContain('pw-9x');
    // The schema refuses the same files, except those it cannot judge (named in the table).
    expect(schemaOk).toBe(parserOnly !== undefined);
  });

  it('the table covers every field of the schema', () => {
    const s = schema as { properties: Record<string, { properties?: Record<string, unknown> }> };
    const named = table.map(([, , err]) => err?.path ?? '').join(' ');
    for (const field of Object.keys(s.properties)) expect(named, field).toContain(field);
    for (const field of Object.keys(s.properties['smoke']?.properties ?? {}))
      if (!['expected'].includes(field)) expect(named, `smoke.${field}`).toContain(`smoke.${field}`);
  });

  it('fills the defaults: format mlflow, its protocol v2, canary 0', () => {
    const r = parseReleaseDocument(asYaml(base), { file: 'models/wine.yaml' });
    expect(r).toMatchObject({
      format: 'mlflow',
      protocol: 'v2',
      canary: 0,
      deploymentMode: 'Serverless',
      source: { kind: 'registry' },
    });
    expect(parseReleaseDocument(asYaml({ ...base, format: 'sklearn' }), { file: 'f' }).protocol).toBe('v1');
  });

  it('YAML text: a syntax error names the file and the position, not the text', () => {
    const text = dump(base).replace('service: wine', 'service: [wine\n  token: s3cr3t');
    const e = (() => {
      try {
        parseReleaseText(text, { file: 'models/wine.yaml' });
      } catch (x) {
        return x as Error;
      }
      throw new Error('expected a failure');
    })();
    expect(e.message).toMatch(
      /^models\/wine\.yaml is not valid YAML at line 2, column 8: missed comma between flow collection entries\.$/,
    );
    expect(e.message).not.toContain('s3cr3t');
    expect(parseReleaseText(dump(base), { file: 'models/wine.yaml' }).service).toBe('wine');
  });
});
