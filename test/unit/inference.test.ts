import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/common/errors.js';
import { inputOf, readSettings } from '../../src/actions/smoke-test-endpoint/inputs.js';
import { failureMarkdown, redactError } from '../../src/actions/smoke-test-endpoint/outputs.js';
import { KfopsError } from '../../src/common/errors.js';
import { Caller, callTimeout, type Auth } from '../../src/inference/endpoint.js';
import type { HttpClient, HttpRequest, HttpResponse } from '../../src/inference/http.js';
import { SettingError, smokeTest, type SmokeClients, type SmokeTestSettings } from '../../src/inference/smoke-test.js';
import type { KubeClient } from '../../src/kube/client.js';
import { compare, formatDifferences, parseTolerance } from '../../src/inference/compare.js';
import { latencyStats, percentile } from '../../src/inference/load.js';
import { pathsFor, requestBody, responseProblems, shapeOf, v2RequestFromRows } from '../../src/inference/protocol.js';
import { reportMarkdown, type SmokeReport } from '../../src/inference/smoke.js';
import { addressBase, gatewayBase, isClusterLocal, protocolOf } from '../../src/inference/target.js';
import type { KubeObject } from '../../src/kube/types.js';
import { fakeInputs as inputs } from '../support/inputs-fake.js';

describe('protocol paths and payloads', () => {
  it('spells the v1 and v2 paths', () => {
    expect(pathsFor('v1', 'iris')).toMatchObject({ ready: '/v1/models/iris', infer: '/v1/models/iris:predict' });
    expect(pathsFor('v2', 'iris')).toMatchObject({
      ready: '/v2/models/iris/ready',
      infer: '/v2/models/iris/infer',
      metadata: '/v2/models/iris',
    });
  });

  it('builds a v2 request from list rows: one tensor, data flattened row-major, datatype inferred', () => {
    expect(
      v2RequestFromRows([
        [5.1, 3.5],
        [6.2, 2],
      ]),
    ).toEqual({ inputs: [{ name: 'input-0', shape: [2, 2], datatype: 'FP64', data: [5.1, 3.5, 6.2, 2] }] });
    expect(v2RequestFromRows([1, 2, 3], { name: 'x' })).toEqual({
      inputs: [{ name: 'x', shape: [3], datatype: 'INT64', data: [1, 2, 3] }],
    });
    expect(v2RequestFromRows([[true], [false]]).inputs[0]?.datatype).toBe('BOOL');
    expect(v2RequestFromRows([['a'], ['b']], { datatype: 'BYTES' }).inputs[0]?.datatype).toBe('BYTES');
    expect(v2RequestFromRows([[1, 2]], { datatype: 'FP32' }).inputs[0]?.datatype).toBe('FP32');
  });

  it('builds one v2 input per column from object rows, for the pandas codec', () => {
    expect(
      v2RequestFromRows([
        { x: 0.9, y: 1 },
        { x: 0.1, y: 0.2 },
      ]),
    ).toEqual({
      parameters: { content_type: 'pd' },
      inputs: [
        { name: 'x', shape: [2], datatype: 'FP64', data: [0.9, 0.1] },
        { name: 'y', shape: [2], datatype: 'FP64', data: [1, 0.2] },
      ],
    });
  });

  it('refuses ragged, mixed or missing-column rows with the reason', () => {
    expect(() => v2RequestFromRows([[1, 2], [3]])).toThrow(/different lengths/);
    expect(() => v2RequestFromRows([[1, 'a']])).toThrow(/mixes value types \(number, string\)/);
    expect(() => v2RequestFromRows([{ x: 1 }, { y: 2 }])).toThrow(/row 1 has no column "x"/);
    expect(() => v2RequestFromRows([])).toThrow(/non-empty/);
  });

  it('wraps rows for v1, passes bodies through, and refuses a body of the other protocol', () => {
    expect(requestBody('v1', [[1, 2]])).toEqual({ instances: [[1, 2]] });
    expect(requestBody('v2', { inputs: [] })).toEqual({ inputs: [] });
    expect(() => requestBody('v1', { inputs: [] })).toThrow(/V2 request .* protocol is v1/);
    expect(() => requestBody('v2', { instances: [] })).toThrow(/V1 request .* protocol is v2/);
  });

  it('finds answers that break the protocol', () => {
    expect(responseProblems('v1', { predictions: [1] })).toEqual([]);
    expect(responseProblems('v1', { outputs: [] })[0]).toMatch(/needs "predictions"/);
    expect(
      responseProblems('v2', { outputs: [{ name: 'o', shape: [2, 1], datatype: 'INT64', data: [1, 0] }] }),
    ).toEqual([]);
    expect(responseProblems('v2', { outputs: [{ name: 'o', shape: [3], datatype: 'FP64', data: [1, 2] }] })[0]).toMatch(
      /shape \[3\] \(3 values\) but 2 values/,
    );
    expect(responseProblems('v2', { outputs: [{ name: 'o', shape: [1], datatype: 'FLOAT', data: [1] }] })[0]).toMatch(
      /datatype "FLOAT"/,
    );
    expect(
      shapeOf([
        [1, 2],
        [3, 4],
        [5, 6],
      ]),
    ).toEqual([3, 2]);
    expect(shapeOf([[1], [2, 3]])).toBeUndefined();
  });
});

describe('comparing answers', () => {
  const v2 = {
    model_name: 'm',
    id: 'x',
    outputs: [
      { name: 'score', shape: [2], datatype: 'FP64', data: [3, 9.004] },
      { name: 'label', shape: [2], datatype: 'BYTES', data: ['a', 'b'] },
    ],
  };

  it('subset: expected keys present, extra keys allowed, outputs matched by name', () => {
    expect(compare('v2', v2, { outputs: [{ name: 'label', data: ['a', 'b'] }] }, 'subset')).toEqual([]);
    const d = compare('v2', v2, { outputs: [{ name: 'score', data: [3, 9] }] }, 'subset');
    expect(formatDifferences(d)).toBe(
      '  $.outputs[name=score].data[1]: expected 9, got 9.004 (off by 0.004, tolerance 0.000001)',
    );
  });

  it('tolerance: absolute or relative', () => {
    expect(
      compare('v2', v2, { outputs: [{ name: 'score', data: [3, 9] }] }, 'tolerance', parseTolerance('0.01')),
    ).toEqual([]);
    expect(
      compare('v2', v2, { outputs: [{ name: 'score', data: [3, 9] }] }, 'tolerance', parseTolerance('0.01%')),
    ).toHaveLength(1);
    expect(
      compare('v2', v2, { outputs: [{ name: 'score', data: [3, 9] }] }, 'tolerance', parseTolerance('1%')),
    ).toEqual([]);
    expect(parseTolerance('x')).toBeUndefined();
  });

  it('exact: extra keys and items are differences', () => {
    const d = compare('v1', { predictions: [1, 2], model: 'm' }, { predictions: [1, 2] }, 'exact');
    expect(formatDifferences(d)).toBe('  $.model: not expected (got "m")');
    expect(compare('v1', { predictions: [1, 2] }, { predictions: [1, 2] }, 'exact')).toEqual([]);
  });

  it('a plain list is the v1 predictions or the first v2 output data; nested data compares flat', () => {
    expect(compare('v1', { predictions: [1, 0] }, [1, 1], 'subset')[0]).toMatchObject({ path: '$.predictions[1]' });
    expect(
      compare('v2', { outputs: [{ name: 'o', shape: [2, 1], datatype: 'INT64', data: [1, 0] }] }, [[1], [0]], 'subset'),
    ).toEqual([]);
    expect(formatDifferences(compare('v1', { predictions: [1] }, [1, 2], 'subset'))).toMatch(
      /expected 2 item\(s\), got 1/,
    );
  });

  it('shape: names, shapes and datatypes only', () => {
    expect(compare('v2', v2, { outputs: [{ name: 'score', shape: [2], datatype: 'FP64' }] }, 'shape')).toEqual([]);
    const d = compare(
      'v2',
      v2,
      { outputs: [{ name: 'score', shape: [2, 1], datatype: 'FP32' }, { name: 'proba' }] },
      'shape',
    );
    expect(d.map((x) => x.path)).toEqual([
      '$.outputs[name=score].shape',
      '$.outputs[name=score].datatype',
      '$.outputs[name=proba]',
    ]);
    expect(compare('v1', { predictions: [[0.1, 0.9]] }, { predictions: [[0, 1]] }, 'shape')).toEqual([]);
    expect(compare('v1', { predictions: ['a'] }, { predictions: [1] }, 'shape')[0]?.message).toMatch(
      /type number, got string/,
    );
  });
});

describe('load statistics', () => {
  it('nearest-rank percentiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 50), percentile(sorted, 95), percentile(sorted, 99), percentile(sorted, 100)]).toEqual([
      50, 95, 99, 100,
    ]);
    expect(latencyStats(Float64Array.from([3, 1, 2]))).toMatchObject({ p50: 2, min: 1, max: 3, mean: 2 });
    expect(latencyStats(new Float64Array(0))).toBeUndefined();
  });
});

describe('targets', () => {
  const isvc = (predictor: Record<string, unknown>): KubeObject => ({
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: 'm', namespace: 'ns' },
    spec: { predictor },
  });
  it('reads the protocol: explicit, mlflow means v2, default v1, gRPC refused', () => {
    expect(protocolOf(isvc({ model: { modelFormat: { name: 'sklearn' }, protocolVersion: 'v2' } })).protocol).toBe(
      'v2',
    );
    expect(protocolOf(isvc({ model: { modelFormat: { name: 'mlflow' }, storageUri: 's3://b/m' } })).protocol).toBe(
      'v2',
    );
    expect(protocolOf(isvc({ sklearn: { storageUri: 's3://b/m' } })).protocol).toBe('v1');
    expect(() => protocolOf(isvc({ model: { protocolVersion: 'grpc-v2' } }))).toThrow(/grpc-v2/);
  });
  it('finds the gateway address and port for the scheme', () => {
    const svc = (ports: { name: string; port: number }[], ingress: unknown[]): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'g' },
      spec: { ports },
      status: { loadBalancer: { ingress } },
    });
    expect(
      gatewayBase(
        svc(
          [
            { name: 'status-port', port: 15021 },
            { name: 'http2', port: 80 },
            { name: 'https', port: 443 },
          ],
          [{ ip: '34.1.2.3' }],
        ),
        'http',
      ),
    ).toBe('http://34.1.2.3');
    expect(gatewayBase(svc([{ name: 'http2', port: 8080 }], [{ hostname: 'lb.example.com' }]), 'http')).toBe(
      'http://lb.example.com:8080',
    );
    expect(gatewayBase(svc([{ name: 'http2', port: 80 }], []), 'http')).toBeUndefined();
    expect(addressBase('127.0.0.1:8080', 'http')).toBe('http://127.0.0.1:8080');
    expect(isClusterLocal('http://m.ns.svc.cluster.local')).toBe(true);
    expect(isClusterLocal('http://m.ns.1.2.3.4.sslip.io')).toBe(false);
  });
});

describe('readSettings', () => {
  const config = (values: Record<string, string>): ConfigurationError => {
    try {
      readSettings(inputs(values), () => {
        throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      });
    } catch (e) {
      if (e instanceof ConfigurationError) return e;
      throw e;
    }
    throw new Error('no ConfigurationError');
  };

  it('reads a url target with rows, expected and thresholds', () => {
    const s = readSettings(
      inputs({
        url: 'http://127.0.0.1:8080/',
        'model-name': 'iris',
        payload: '[[1, 2]]',
        expected: '[3]',
        'max-error-rate': '1%',
        'max-p95-ms': '250',
        token: 't0ken',
      }),
    );
    expect(s.target).toEqual({ type: 'url', url: 'http://127.0.0.1:8080', model: 'iris' });
    expect(s.auth).toEqual({ kind: 'bearer', token: 't0ken' });
    expect(s).toMatchObject({
      payload: [[1, 2]],
      expected: [3],
      maxErrorRate: 0.01,
      maxP95Ms: 250,
      requests: 100,
      concurrency: 4,
      compare: 'subset',
      protocol: 'auto',
    });
  });

  it('names the input, quotes the value and states the form', () => {
    expect(config({ url: 'http://gw/v2/models/m/infer', 'model-name': 'm', payload: '[1]' }).message).toBe(
      'Input \'url\' has the value "http://gw/v2/models/m/infer": expected the base address only (scheme, host, port and any gateway prefix): the /v1/models/... or /v2/models/... paths are added for the protocol.',
    );
    expect(config({ url: 'http://gw', payload: '[1]' }).input).toBe('model-name');
    expect(config({ inferenceservice: 'iris', payload: '[1]' }).input).toBe('namespace');
    expect(config({ inferenceservice: 'iris', namespace: 'ns' }).input).toBe('payload');
    expect(config({ inferenceservice: 'iris', namespace: 'ns', 'payload-file': 'x.json' }).message).toMatch(
      /'payload-file' has the value "x.json": expected a readable file \(ENOENT\)/,
    );
    expect(config({ inferenceservice: 'iris', namespace: 'ns', payload: '[1]', auth: 'bearer' }).input).toBe('token');
    expect(
      config({
        inferenceservice: 'iris',
        namespace: 'ns',
        payload: '[1]',
        auth: 'serviceaccount',
        'token-expiration': '5m',
      }).message,
    ).toMatch(/10m \(the TokenRequest API's minimum\)/);
    expect(
      config({ inferenceservice: 'iris', namespace: 'ns', payload: '[1]', 'assert-token-required': 'true' }).input,
    ).toBe('assert-token-required');
    expect(config({ inferenceservice: 'iris', namespace: 'ns', payload: '[1]', 'max-error-rate': '5' }).input).toBe(
      'max-error-rate',
    );
    expect(config({ inferenceservice: 'iris', namespace: 'ns', payload: '[1]', tolerance: 'close' }).input).toBe(
      'tolerance',
    );
    expect(config({ url: 'http://gw', 'model-name': 'm', payload: '[1]', 'ingress-address': '1.2.3.4' }).input).toBe(
      'ingress-address',
    );
  });

  it('the defaults of action.yml (as the runner sets them) are valid with url and with inferenceservice', () => {
    const defaults = {
      route: 'gateway',
      protocol: 'auto',
      compare: 'subset',
      'service-account': 'default-editor',
      audience: 'istio-ingressgateway.istio-system.svc.cluster.local',
      'token-expiration': '10m',
      'assert-token-required': 'false',
      timeout: '5m',
      'request-timeout': '30s',
      requests: '100',
      concurrency: '4',
      'max-error-rate': '0',
      'insecure-skip-tls-verify': 'false',
    };
    expect(readSettings(inputs({ ...defaults, url: 'http://gw', 'model-name': 'm', payload: '[1]' })).target.type).toBe(
      'url',
    );
    expect(
      readSettings(
        inputs({ ...defaults, inferenceservice: 'm', namespace: 'ns', payload: '[1]', auth: 'serviceaccount' }),
      ).auth,
    ).toMatchObject({
      kind: 'serviceaccount',
      serviceAccount: 'default-editor',
      namespace: 'ns',
      expirationSeconds: 600,
    });
    expect(
      config({ ...defaults, url: 'http://gw', 'model-name': 'm', payload: '[1]', route: 'cluster-local' }).input,
    ).toBe('route');
    expect(
      readSettings(inputs({ url: 'http://gw', 'model-name': 'm', payload: '[1]', compare: 'exact' })).tolerance,
    ).toEqual({ absolute: 0, relative: 0 });
  });

  it('a secret is never quoted', () => {
    const e = config({ inferenceservice: 'iris', namespace: 'ns', payload: '[1]', token: 'sekrit', auth: 'none' });
    expect(e.message).not.toContain('sekrit');
  });
});

describe('report markdown', () => {
  it('renders the figures as a table a PR comment can reuse', () => {
    const r: SmokeReport = {
      protocol: 'v2',
      url: 'http://gw/v2/models/m/infer',
      hostHeader: 'm.ns.example.com',
      model: 'm',
      via: 'x',
      readyMs: 1500,
      readyAttempts: 3,
      tokenlessStatus: 302,
      responseStatus: 200,
      response: {},
      inferenceMs: 5,
      differences: [],
      failures: [],
      load: {
        requests: 100,
        succeeded: 100,
        failed: 0,
        errorRate: 0,
        outcomes: { '200': 100 },
        elapsedMs: 1000,
        throughput: 100,
        concurrency: 4,
        latency: { p50: 10, p95: 20, p99: 30, mean: 12, min: 5, max: 40 },
      },
    };
    const md = reportMarkdown(r);
    expect(md).toContain('#### Smoke test of `m`: passed');
    expect(md).toContain('| p50 / p95 / p99 | 10.0 ms / 20.0 ms / 30.0 ms |');
    expect(md).toContain('| call without token | refused (302) |');
    expect(md).toContain('| throughput | 100.0 req/s |');
  });
});

describe('readSettings: credentials in url', () => {
  const read = (values: Record<string, string>, masked: string[] = []) =>
    readSettings(
      inputs(values, masked),
      () => '',
      () => true,
    );
  it('takes them out of the URL, sends them as Basic authorization and masks the password', () => {
    const masked: string[] = [];
    const s = read(
      { url: 'https://alice:s%40cret@models.example.com/', 'model-name': 'iris', payload: '[[1]]' },
      masked,
    );
    expect(s.target).toEqual({ type: 'url', url: 'https://models.example.com', model: 'iris' });
    expect(s.auth).toEqual({ kind: 'basic', username: 'alice', password: 's@cret' });
    expect(masked).toContain('s@cret');
    expect(masked).not.toContain('alice');
  });
  it('never quotes them in an error', () => {
    for (const url of [
      'https://alice:s3cret@gw/v2/models/m/infer',
      'http://alice:s3cret@[::1',
      'ftp://alice:s3cret@gw',
    ]) {
      let message = '';
      try {
        read({ url, 'model-name': 'm', payload: '[1]' });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^Input 'url'/);
      expect(message).not.toContain('s3cret');
    }
  });
  it('refuses them together with a token (a call carries one Authorization header)', () => {
    expect(() => read({ url: 'https://alice:s3cret@gw', 'model-name': 'm', payload: '[1]', token: 't' })).toThrow(
      /without user name and password when auth is bearer/,
    );
  });
  it('refuses zero deadlines', () => {
    expect(() => read({ url: 'http://gw', 'model-name': 'm', payload: '[1]', 'request-timeout': '0' })).toThrow(
      /'request-timeout'.*greater than zero/,
    );
    expect(() => read({ url: 'http://gw', 'model-name': 'm', payload: '[1]', timeout: '0s' })).toThrow(
      /'timeout'.*greater than zero/,
    );
  });
  it('maps a refused domain field to the input that gave it', () => {
    expect(inputOf('payload', { payloadInput: 'payload-file' })).toBe('payload-file');
    expect(inputOf('datatype', { payloadInput: 'payload' })).toBe('datatype');
  });
});

describe('redaction at the outputs', () => {
  it('takes credentials out of errors and the failure report', () => {
    const e = redactError(
      new KfopsError('GET https://u:pw@gw/v1/models/m got no answer', {
        cause: 'nothing at https://u:pw@gw',
        fix: 'x',
      }),
    ) as KfopsError;
    expect(e.describe()).not.toContain('pw');
    expect(e.describe()).toContain('https://***@gw');
    expect(failureMarkdown('m', new KfopsError('at http://a:pw@h', { cause: 'c' }))).toBe(
      '#### Smoke test of `m`: failed\n\nat http://***@h\n\n- Cause: c\n',
    );
    const plain = new Error('nothing to hide');
    expect(redactError(plain)).toBe(plain);
  });
});

/** A model server answering in memory: readiness 200, v1 predictions; records every request. */
function fakeHttp(
  answer: (r: HttpRequest) => Promise<HttpResponse> = async () => ({
    status: 200,
    headers: {},
    body: '{"predictions": [1]}',
  }),
): HttpClient & { requests: HttpRequest[]; closed: boolean } {
  const requests: HttpRequest[] = [];
  const client = {
    requests,
    closed: false,
    send: (r: HttpRequest) => {
      requests.push(r);
      return answer(r);
    },
    status: async (r: HttpRequest) => (await client.send(r)).status,
    statusThen: (r: HttpRequest, done: (e: Error | undefined, s: number) => void) => {
      client.send(r).then(
        (x) => done(undefined, x.status),
        (e: Error) => done(e, 0),
      );
    },
    close: async () => {
      client.closed = true;
    },
  };
  return client;
}

const settings = (over: Partial<SmokeTestSettings> = {}): SmokeTestSettings => ({
  target: { type: 'url', url: 'http://gw', model: 'iris' },
  protocol: 'v1',
  payload: [[1, 2]],
  compare: 'subset',
  tolerance: { absolute: 0, relative: 0 },
  auth: { kind: 'none' },
  assertTokenRequired: false,
  timeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  requests: 0,
  concurrency: 1,
  insecure: false,
  ...over,
});
const noCluster = (): KubeClient => {
  throw new Error('the cluster was not needed');
};

describe('smokeTest (the use case, with fakes of its clients)', () => {
  it('calls a url with Basic authorization from the credentials; the URL and the report never hold them', async () => {
    const http = fakeHttp();
    const { report } = await smokeTest(settings({ auth: { kind: 'basic', username: 'alice', password: 's3cret' } }), {
      kube: noCluster,
      http: () => http,
    });
    expect(http.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET http://gw/v1/models/iris',
      'POST http://gw/v1/models/iris:predict',
    ]);
    expect(http.requests[0]?.headers?.['authorization']).toBe(
      `Basic ${Buffer.from('alice:s3cret').toString('base64')}`,
    );
    expect(JSON.stringify(report)).not.toContain('s3cret');
    expect(http.closed).toBe(true);
  });

  it('mints a ServiceAccount token, hands it to `secret` before any call, and bounds the API calls by the timeout', async () => {
    const order: string[] = [];
    const calls: string[] = [];
    const kube = {
      server: 'https://api:6443',
      source: 'test',
      requestTimeoutMs: 60_000,
      request: async (method: string, path: string) => {
        calls.push(`${method} ${path}`);
        return { status: { token: 'minted.jwt.token' } };
      },
    } as unknown as KubeClient;
    const http = fakeHttp(async () => {
      order.push('call');
      return { status: 200, headers: {}, body: '{"predictions": [1]}' };
    });
    const clients: SmokeClients = { kube: () => kube, http: () => http, secret: (v) => order.push(`secret ${v}`) };
    await smokeTest(
      settings({
        timeoutMs: 5000,
        auth: {
          kind: 'serviceaccount',
          serviceAccount: 'default-editor',
          namespace: 'team',
          audience: 'aud',
          expirationSeconds: 600,
        },
      }),
      clients,
    );
    expect(calls).toEqual(['POST /api/v1/namespaces/team/serviceaccounts/default-editor/token']);
    expect(order[0]).toBe('secret minted.jwt.token');
    expect(http.requests[0]?.headers?.['authorization']).toBe('Bearer minted.jwt.token');
    expect(kube.requestTimeoutMs).toBe(5000);
  });

  it('gives up on a Kubernetes API that does not answer at the deadline, naming it', async () => {
    const kube = {
      server: 'https://silent:6443',
      source: 'test',
      requestTimeoutMs: 60_000,
      request: () => new Promise(() => undefined),
    } as unknown as KubeClient;
    const started = Date.now();
    const e = await smokeTest(
      settings({
        timeoutMs: 300,
        auth: {
          kind: 'serviceaccount',
          serviceAccount: 'sa',
          namespace: 'team',
          audience: 'aud',
          expirationSeconds: 600,
        },
      }),
      { kube: () => kube, http: () => fakeHttp() },
    ).catch((x: unknown) => x as KfopsError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((e as KfopsError).message).toBe(
      'mint a token for ServiceAccount team/sa: no answer from the Kubernetes API at https://silent:6443 before the deadline (timeout)',
    );
  });

  it('shortens every call to the time left, so the overall timeout holds during a call', async () => {
    let clock = 0;
    const http = fakeHttp(async (r) => {
      // A peer that accepts and never answers: the call ends at its own deadline.
      clock += r.timeoutMs ?? Infinity;
      throw Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
    });
    const e = await smokeTest(settings({ protocol: 'auto', timeoutMs: 4000, requestTimeoutMs: 30_000 }), {
      kube: noCluster,
      http: () => http,
      now: () => clock,
    }).catch((x: unknown) => x as KfopsError);
    expect(http.requests.map((r) => r.timeoutMs)).toEqual([4000]);
    expect(clock).toBe(4000);
    expect((e as KfopsError).message).toMatch(
      /^readiness: not ready after 1 attempt\(s\): GET http:\/\/gw\/v2\/models\/iris\/ready got no answer \(no answer within 4s/,
    );
  });

  it('a call never gets less than 1 s, nor more than the request timeout', () => {
    expect(callTimeout(30_000, 10_000, 0)).toBe(10_000);
    expect(callTimeout(2_000, 10_000, 0)).toBe(2_000);
    expect(callTimeout(30_000, 10_000, 9_900)).toBe(1_000);
    expect(callTimeout(30_000, undefined, 0)).toBe(30_000);
  });

  it('a payload the protocol cannot take is a SettingError about the payload field', async () => {
    const e = await smokeTest(settings({ payload: { inputs: [] } }), { kube: noCluster, http: () => fakeHttp() }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(SettingError);
    expect((e as SettingError).field).toBe('payload');
  });
});

describe('answer rules (Caller.classify)', () => {
  const endpoint = {
    baseUrl: 'http://gw',
    hostHeader: 'm.team.example.com',
    model: 'm',
    via: 'gw',
    inferenceService: { namespace: 'team', name: 'm' },
  };
  const answer = (status: number, body = '', headers: Record<string, string> = {}): HttpResponse => ({
    status,
    headers,
    body,
  });
  const caller = (auth: Auth, probe: (r: HttpRequest) => HttpResponse = () => answer(404)) =>
    new Caller(endpoint, auth, { http: fakeHttp(async (r) => probe(r)) });

  it('tells apart what heals (pending) from what does not (fatal), each with its cause', async () => {
    const none = caller({ kind: 'none' });
    expect(
      await none.classify(answer(302, '', { location: '/dex/auth?x' }), 'v1', 'GET', '/v1/models/m'),
    ).toMatchObject({ state: 'fatal', status: 302, cause: expect.stringMatching(/carried no token/) });
    expect(await none.classify(answer(503, 'no healthy upstream'), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'pending',
      cause: expect.stringMatching(/no ready backend/),
    });
    expect(await none.classify(answer(404), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'pending',
      summary: expect.stringMatching(/no route for Host m\.team\.example\.com/),
    });
    expect(await none.classify(answer(200, '{"ready": false}'), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'pending',
    });
    expect(await none.classify(answer(418, 'teapot'), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'fatal',
      cause: 'an answer this check does not expect',
    });
    const basic = caller({ kind: 'basic', basic: { username: 'u', password: 'p' } });
    expect(await basic.classify(answer(401, 'denied'), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'fatal',
      cause: expect.stringMatching(/user name and password given in `url`/),
    });
    const bearer = caller({ kind: 'bearer', token: 't' });
    expect(await bearer.classify(answer(403, 'RBAC: access denied'), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'fatal',
      cause: expect.stringMatching(/AuthorizationPolicy denies/),
    });
  });

  it('probes the server to tell a wrong protocol from a wrong model name', async () => {
    const v2Server = caller({ kind: 'none' }, (r) =>
      r.url.endsWith('/v2/models/m/ready') ? answer(200) : answer(404),
    );
    expect(await v2Server.classify(answer(404, '{"error": "not found"}'), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'fatal',
      cause: expect.stringMatching(/served with the v2 protocol/),
    });
    const other = caller({ kind: 'none' }, (r) =>
      r.url.endsWith('/v1/models') ? answer(200, '{"models": ["iris"]}') : answer(404),
    );
    expect(await other.classify(answer(404, '{"error": "not found"}'), 'v1', 'GET', '/v1/models/m')).toMatchObject({
      state: 'fatal',
      cause: 'the server holds "iris" (GET /v1/models), not "m"',
    });
  });

  it("MLServer's repository index: a listed model that is not loaded yet is waited for; an unlisted one is final", async () => {
    // MLServer lists the models it is configured with: UNAVAILABLE until the registry holds them.
    const loading = caller({ kind: 'none' }, (r) =>
      r.url.endsWith('/v2/repository/index')
        ? answer(200, '[{"name":"m","state":"UNAVAILABLE","reason":""}]')
        : answer(404),
    );
    expect(
      await loading.classify(answer(404, '{"error":"Model m not found"}'), 'v2', 'GET', '/v2/models/m/ready'),
    ).toMatchObject({ state: 'pending', summary: expect.stringMatching(/lists "m" as UNAVAILABLE/) });
    const other = caller({ kind: 'none' }, (r) =>
      r.url.endsWith('/v2/repository/index')
        ? answer(200, '[{"name":"iris","state":"READY","reason":""}]')
        : answer(404),
    );
    expect(
      await other.classify(answer(404, '{"error":"Model m not found"}'), 'v2', 'GET', '/v2/models/m/ready'),
    ).toMatchObject({
      state: 'fatal',
      final: true,
      cause: 'the server holds "iris" (POST /v2/repository/index), not "m"',
    });
    // A server that lists nothing but says the model is not found: final, saying it could not list them.
    const unlisted = caller({ kind: 'none' }, () => answer(404));
    expect(
      await unlisted.classify(answer(404, '{"error":"Model m not found"}'), 'v2', 'GET', '/v2/models/m/ready'),
    ).toMatchObject({ state: 'fatal', final: true, cause: expect.stringMatching(/did not list the models it holds/) });
  });
});
