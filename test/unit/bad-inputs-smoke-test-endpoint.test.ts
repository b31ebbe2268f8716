import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { badInputProblems, SENTINEL, tryBadInput, type BadInput } from '../support/bad-inputs.js';

const dir = mkdtempSync(join(tmpdir(), 'kfops-bad-smoke-'));
const payloadFile = join(dir, 'payload.json');
writeFileSync(payloadFile, '[[1, 2]]');
// Port 9 (discard): nothing is called, every case must stop at the inputs.
const base = { url: 'http://127.0.0.1:9', 'model-name': 'iris', payload: '[[1, 2]]' };
const isvc = { inferenceservice: 'iris', namespace: 'team', payload: '[[1, 2]]' };
const withCredentials = `http://alice:${SENTINEL}@127.0.0.1:9`;
const sa = { ...base, auth: 'serviceaccount', 'service-account-namespace': 'team' };

const CASES: BadInput[] = [
  { what: 'a zero timeout', inputs: { ...base, timeout: '0s' }, input: 'timeout', expect: 'greater than zero' },
  { what: 'a bare zero timeout', inputs: { ...base, timeout: '0' }, input: 'timeout', expect: 'greater than zero' },
  { what: 'a timeout in words', inputs: { ...base, timeout: 'soon' }, input: 'timeout', expect: 'a duration such as' },
  {
    what: 'a zero request timeout (no per-call deadline)',
    inputs: { ...base, 'request-timeout': '0' },
    input: 'request-timeout',
    expect: 'greater than zero',
  },
  { what: 'a negative request timeout', inputs: { ...base, 'request-timeout': '-1s' }, input: 'request-timeout' },
  { what: 'a zero load duration', inputs: { ...base, duration: '0s' }, input: 'duration', expect: 'greater than zero' },
  {
    what: 'a token lifetime under the API minimum',
    inputs: { ...sa, 'token-expiration': '5m' },
    input: 'token-expiration',
    expect: '10m',
  },
  { what: 'a zero token lifetime', inputs: { ...sa, 'token-expiration': '0' }, input: 'token-expiration' },
  {
    what: 'an InferenceService name with capitals',
    inputs: { ...isvc, inferenceservice: 'Iris_Model' },
    input: 'inferenceservice',
    expect: 'the name of an InferenceService',
  },
  {
    what: 'a namespace with a space',
    inputs: { ...isvc, namespace: 'team a' },
    input: 'namespace',
    expect: 'the name of a namespace',
  },
  {
    what: 'a namespace longer than 63',
    inputs: { ...isvc, namespace: 'n'.repeat(64) },
    input: 'namespace',
    expect: 'at most 63',
  },
  {
    what: 'a ServiceAccount name with capitals',
    inputs: { ...sa, 'service-account': 'Default_Editor' },
    input: 'service-account',
    expect: 'the name of a ServiceAccount',
  },
  {
    what: 'a ServiceAccount namespace with a dot',
    inputs: { ...sa, 'service-account-namespace': 'team.a' },
    input: 'service-account-namespace',
  },
  {
    what: 'a url with a query',
    inputs: { ...base, url: 'http://127.0.0.1:9/?a=1' },
    input: 'url',
    expect: 'without query or fragment',
  },
  { what: 'an ftp url', inputs: { ...base, url: 'ftp://models.example.com' }, input: 'url' },
  {
    what: 'a url that is not one',
    inputs: { ...base, url: 'not a url' },
    input: 'url',
    expect: 'an http:// or https:// URL',
  },
  {
    what: 'a url with the protocol path',
    inputs: { ...base, url: 'http://127.0.0.1:9/v1/models/iris:predict' },
    input: 'url',
    expect: 'the base address only',
  },
  {
    what: 'credentials in a url with the protocol path',
    inputs: { ...base, url: `${withCredentials}/v2/models/iris/infer` },
    input: 'url',
    expect: 'not shown',
  },
  {
    what: 'credentials in a url that does not parse',
    inputs: { ...base, url: `http://alice:${SENTINEL}@[::1` },
    input: 'url',
    expect: 'not shown',
  },
  {
    what: 'credentials in the url and a bearer token',
    inputs: { ...base, url: withCredentials, token: 'abc' },
    input: 'url',
    expect: 'without user name and password',
  },
  {
    what: 'credentials in the url with a missing model name',
    inputs: { url: withCredentials, payload: '[[1, 2]]' },
    input: 'model-name',
  },
  {
    what: 'both url and inferenceservice',
    inputs: { ...base, inferenceservice: 'iris' },
    input: 'inferenceservice',
    expect: 'either url or inferenceservice',
  },
  { what: 'neither url nor inferenceservice', inputs: { payload: '[[1, 2]]' }, input: 'url' },
  { what: 'a url without model-name', inputs: { url: 'http://127.0.0.1:9', payload: '[[1, 2]]' }, input: 'model-name' },
  { what: 'a model name with a space', inputs: { ...base, 'model-name': 'my model' }, input: 'model-name' },
  {
    what: 'an ingress address with url',
    inputs: { ...base, 'ingress-address': '1.2.3.4' },
    input: 'ingress-address',
    expect: 'nothing with url',
  },
  { what: 'route cluster-local with url', inputs: { ...base, route: 'cluster-local' }, input: 'route' },
  {
    what: 'credentials in the ingress address',
    inputs: { ...isvc, 'ingress-address': `http://alice:${SENTINEL}@1.2.3.4` },
    input: 'ingress-address',
    expect: 'without credentials',
  },
  {
    what: 'a host header with inferenceservice',
    inputs: { ...isvc, 'host-header': 'iris.example.com' },
    input: 'host-header',
  },
  { what: 'a host header with a space', inputs: { ...base, 'host-header': 'bad host' }, input: 'host-header' },
  { what: 'an unknown route', inputs: { ...isvc, route: 'direct' }, input: 'route', expect: '`cluster-local`' },
  { what: 'no payload', inputs: { url: 'http://127.0.0.1:9', 'model-name': 'iris' }, input: 'payload' },
  { what: 'a payload that is not YAML', inputs: { ...base, payload: '{"instances": [1, 2' }, input: 'payload' },
  { what: 'a payload that is a number', inputs: { ...base, payload: '42' }, input: 'payload', expect: 'a JSON object' },
  { what: 'a payload with no rows', inputs: { ...base, payload: '[]' }, input: 'payload', expect: 'at least one row' },
  {
    what: 'payload and payload-file',
    inputs: { ...base, 'payload-file': payloadFile },
    input: 'payload-file',
    expect: 'not both',
  },
  {
    what: 'a payload file that does not exist',
    inputs: { url: base.url, 'model-name': 'iris', 'payload-file': join(dir, 'nope.json') },
    input: 'payload-file',
    expect: 'ENOENT',
  },
  {
    what: 'an expected file that does not exist',
    inputs: { ...base, 'expected-file': join(dir, 'nope.json') },
    input: 'expected-file',
  },
  { what: 'an unknown compare mode', inputs: { ...base, compare: 'fuzzy' }, input: 'compare' },
  { what: 'a tolerance in words', inputs: { ...base, tolerance: 'close' }, input: 'tolerance' },
  { what: 'a datatype that is not v2', inputs: { ...base, datatype: 'FLOAT' }, input: 'datatype', expect: 'FP32' },
  { what: 'an input name with a space', inputs: { ...base, 'input-name': 'input 0' }, input: 'input-name' },
  { what: 'an unknown auth', inputs: { ...base, auth: 'oauth' }, input: 'auth' },
  { what: 'auth bearer without a token', inputs: { ...base, auth: 'bearer' }, input: 'token' },
  {
    what: 'a token with the Bearer prefix',
    inputs: { ...base, token: `Bearer ${SENTINEL}` },
    input: 'token',
    expect: 'without the `Bearer ` prefix',
  },
  {
    what: 'a token with a line break',
    inputs: { ...base, token: `${SENTINEL}\nx` },
    input: 'token',
    expect: 'without spaces, line breaks',
  },
  { what: 'a token with auth none', inputs: { ...base, token: SENTINEL, auth: 'none' }, input: 'auth' },
  { what: 'a token with auth serviceaccount', inputs: { ...sa, token: SENTINEL }, input: 'auth' },
  { what: 'a token and a bad timeout', inputs: { ...base, token: SENTINEL, timeout: '0' }, input: 'timeout' },
  { what: 'an audience with spaces', inputs: { ...sa, audience: 'a b' }, input: 'audience' },
  {
    what: 'assert-token-required without auth',
    inputs: { ...base, 'assert-token-required': 'true' },
    input: 'assert-token-required',
  },
  {
    what: 'assert-token-required yes',
    inputs: { ...base, token: SENTINEL, 'assert-token-required': 'yes' },
    input: 'assert-token-required',
  },
  { what: 'negative requests', inputs: { ...base, requests: '-1' }, input: 'requests' },
  { what: 'zero concurrency', inputs: { ...base, concurrency: '0' }, input: 'concurrency' },
  { what: 'huge concurrency', inputs: { ...base, concurrency: '1000' }, input: 'concurrency' },
  { what: 'a zero p95 limit', inputs: { ...base, 'max-p95-ms': '0' }, input: 'max-p95-ms' },
  { what: 'an error rate above 1', inputs: { ...base, 'max-error-rate': '5' }, input: 'max-error-rate' },
  {
    what: 'insecure maybe',
    inputs: { ...base, 'insecure-skip-tls-verify': 'maybe' },
    input: 'insecure-skip-tls-verify',
  },
  { what: 'protocol v3', inputs: { ...base, protocol: 'v3' }, input: 'protocol' },
  {
    what: 'a kubeconfig that does not exist',
    inputs: { ...isvc, kubeconfig: join(dir, 'nope') },
    input: 'kubeconfig',
    expect: 'that exists',
  },
];

describe('smoke-test-endpoint with bad inputs (the bundle as a process, as the runner runs it)', () => {
  it(`has at least 30 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(30));
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await tryBadInput('smoke-test-endpoint', c);
    expect(badInputProblems(c, r), r.log).toEqual([]);
  });
});
