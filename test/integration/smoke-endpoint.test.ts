/**
 * smoke-test-endpoint against real servers on 127.0.0.1: KServe's Python model server (v1 and v2) and
 * MLServer with an MLflow model (v2), behind a gateway stand-in that routes by Host and checks
 * ServiceAccount tokens minted by the real local control plane (TokenRequest) with TokenReview.
 * Every failure class is produced for real and its message checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { KfopsError } from '../../src/common/errors.js';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { KubeObject } from '../../src/kube/types.js';
import { mintServiceAccountToken } from '../../src/inference/auth.js';
import { Caller, DEFAULT_AUDIENCE, EndpointError, type Auth, type Endpoint } from '../../src/inference/endpoint.js';
import { createHttpClient } from '../../src/inference/http.js';
import { checkEndpoint, type SmokeSettings } from '../../src/inference/smoke.js';
import { resolveInferenceService } from '../../src/inference/target.js';
import { discoverIssuer } from '../../src/kubeflow/platform.js';
import { startGateway, type Gateway } from '../support/model-gateway.js';
import { startKserveModel, startMlflowModel, type ModelServer } from '../support/model-servers.js';
import { freePort, startEach } from '../support/servers.js';
import { inferenceServiceCrd, installTestCrds, removeTestCrds } from '../support/kserve-crds.js';
import { runAction, type ActionRun } from '../support/run-action.js';
import { SENTINEL } from '../support/bad-inputs.js';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { adminClient, recordingLogger, uniqueName } from './helpers.js';

const ns = uniqueName('smoke');
const host = (name: string): string => `${name}.${ns}.example.com`;
const editor = `system:serviceaccount:${ns}:default-editor`;

let admin: KubeClient;
let gateway: Gateway;
let wrongIssuerGateway: Gateway;
let iris: ModelServer;
let slow: ModelServer;
let broken: ModelServer;
let wine: ModelServer;
let editorToken: string;
const servers: ModelServer[] = [];
let createdGatewayService = false;

const base: SmokeSettings = {
  protocol: 'auto',
  payload: [
    [1, 2],
    [3, 4],
  ],
  compare: 'subset',
  assertTokenRequired: false,
  timeoutMs: 20_000,
  load: { requests: 0, concurrency: 2 },
};

async function smoke(endpoint: Endpoint, auth: Auth, settings: Partial<SmokeSettings> = {}) {
  const http = createHttpClient({ connections: settings.load?.concurrency ?? 2, timeoutMs: 15_000 });
  const logger = recordingLogger();
  try {
    const report = await checkEndpoint(
      new Caller(endpoint, auth, { http, logger }),
      { ...base, ...settings },
      { http, logger },
    );
    return { report, logger };
  } finally {
    await http.close();
  }
}

async function failure(endpoint: Endpoint, auth: Auth, settings: Partial<SmokeSettings> = {}): Promise<EndpointError> {
  try {
    await smoke(endpoint, auth, settings);
  } catch (error) {
    if (error instanceof EndpointError) return error;
    throw error;
  }
  throw new Error('the smoke test passed but was expected to fail');
}

const viaGateway = (name: string, model = name, g: () => Gateway = () => gateway): Endpoint => ({
  baseUrl: g().url,
  hostHeader: host(name),
  model,
  via: `gateway with Host ${host(name)}`,
  inferenceService: { namespace: ns, name },
});
const bearer = (token: string, subject = editor): Auth => ({
  kind: 'serviceaccount',
  token,
  subject,
  audience: DEFAULT_AUDIENCE,
});

function inferenceService(name: string, predictor: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name, namespace: ns },
    spec: { predictor },
  };
}

async function setStatus(name: string, url: string): Promise<void> {
  await admin.request('PATCH', `/apis/serving.kserve.io/v1beta1/namespaces/${ns}/inferenceservices/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        url,
        address: { url: `http://${name}-predictor.${ns}.svc.cluster.local` },
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }],
      },
    },
  });
}

/** The load balancer address of Service istio-system/istio-ingressgateway, as a cloud controller sets it. */
async function setGatewayAddress(ingress: { ip: string }[] | null): Promise<void> {
  await admin.request('PATCH', '/api/v1/namespaces/istio-system/services/istio-ingressgateway/status', {
    contentType: 'application/merge-patch+json',
    body: { status: { loadBalancer: { ingress } } },
  });
}

beforeAll(async () => {
  admin = adminClient();
  // One server that fails to start does not leave the others running: each that came up is kept for afterAll.
  await startEach<[ModelServer, ModelServer, ModelServer]>(
    [
      startKserveModel({ model: 'iris' }),
      startKserveModel({ model: 'broken', broken: true }),
      startMlflowModel('wine'),
    ],
    (started) => {
      servers.push(...started.filter((x): x is ModelServer => x !== undefined));
      [iris, broken, wine] = started as [ModelServer, ModelServer, ModelServer];
    },
  );
  const issuer = await discoverIssuer(admin);
  gateway = await startGateway({ client: admin, audience: DEFAULT_AUDIENCE, issuer });
  wrongIssuerGateway = await startGateway({
    client: admin,
    audience: DEFAULT_AUDIENCE,
    issuer: 'https://kubernetes.default.svc.cluster.local',
  });
  const deadPort = await freePort();
  for (const g of [gateway, wrongIssuerGateway]) {
    g.routes.set(host('iris'), { upstream: iris.url, allow: [editor] });
    g.routes.set(host('broken'), { upstream: broken.url });
    g.routes.set(host('wine'), { upstream: wine.url });
    g.routes.set(host('open'), { upstream: iris.url, open: true });
    g.routes.set(host('dead'), { upstream: `http://127.0.0.1:${deadPort}` });
  }

  await installTestCrds(admin, [inferenceServiceCrd]);
  await applyObjects(
    admin,
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default-editor', namespace: ns } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'outsider', namespace: ns } },
    ],
    { force: true },
  );
  await applyObjects(
    admin,
    [
      inferenceService('iris', { model: { modelFormat: { name: 'sklearn' }, storageUri: 'gs://models/iris' } }),
      inferenceService('wine', {
        model: { modelFormat: { name: 'mlflow' }, protocolVersion: 'v2', storageUri: 's3://models/wine' },
      }),
      inferenceService('local', { model: { modelFormat: { name: 'sklearn' }, storageUri: 'gs://models/iris' } }),
    ],
    { force: true },
  );
  await setStatus('iris', `http://${host('iris')}`);
  await setStatus('wine', `http://${host('wine')}`);
  await setStatus('local', `http://local.${ns}.svc.cluster.local`);
  // The gateway stand-in as Kubeflow's ingress gateway: a LoadBalancer Service whose http2 port is the stand-in's.
  createdGatewayService = !(await admin.get({
    apiVersion: 'v1',
    kind: 'Service',
    namespace: 'istio-system',
    name: 'istio-ingressgateway',
  }));
  await applyObjects(
    admin,
    [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
        spec: {
          type: 'LoadBalancer',
          ports: [
            { name: 'status-port', port: 15021 },
            { name: 'http2', port: gateway.port },
          ],
        },
      },
    ],
    { force: true },
  );
  await setGatewayAddress([{ ip: '127.0.0.1' }]);
  editorToken = (
    await mintServiceAccountToken(admin, {
      namespace: ns,
      serviceAccount: 'default-editor',
      audience: DEFAULT_AUDIENCE,
      expirationSeconds: 600,
    })
  ).token;
}, 240_000);

afterAll(async () => {
  await Promise.all([...servers.map((s) => s.stop()), gateway?.stop(), wrongIssuerGateway?.stop()]);
  await admin?.remove({ apiVersion: 'v1', kind: 'Namespace', name: ns });
  // Leave the cluster as it was for the test files that follow.
  if (createdGatewayService)
    await admin?.remove({ apiVersion: 'v1', kind: 'Service', namespace: 'istio-system', name: 'istio-ingressgateway' });
  if (admin) await removeTestCrds(admin, [inferenceServiceCrd]);
});

describe('the ingress gateway address', () => {
  it('fails with the cause when the gateway Service has no load balancer address, then finds it once it has one', async () => {
    await setGatewayAddress(null);
    const none = await resolveInferenceService(admin, {
      name: 'iris',
      namespace: ns,
      route: 'gateway',
      timeoutMs: 5000,
    }).then(
      () => undefined,
      (e: unknown) => e as KfopsError,
    );
    expect(none?.message).toBe('the ingress gateway has no external address');
    expect(none?.describe()).toMatch(/type LoadBalancer with no load balancer address yet[\s\S]*expose: loadbalancer/);

    await setGatewayAddress([{ ip: '127.0.0.1' }]);
    const { endpoint, info } = await resolveInferenceService(admin, {
      name: 'iris',
      namespace: ns,
      route: 'gateway',
      timeoutMs: 5000,
    });
    expect(endpoint).toMatchObject({ baseUrl: gateway.url, hostHeader: host('iris'), model: 'iris' });
    expect(info.protocol).toBe('v1');
  });
});

describe('the action, end to end', () => {
  it('finds the InferenceService, mints a token, proves a call without it is refused, checks the answer and measures latency', async () => {
    const run = await runAction(
      'smoke-test-endpoint',
      {
        inferenceservice: 'iris',
        namespace: ns,
        auth: 'serviceaccount',
        'assert-token-required': 'true',
        payload: '[[1, 2], [3, 4]]',
        expected: '{"predictions": [3, 9]}',
        requests: '200',
        concurrency: '4',
        'max-p95-ms': '5000',
        timeout: '30s',
      },
      { KUBECONFIG: inject('kubeconfig') },
    );
    expect(run.code, run.log).toBe(0);
    // The minted token is masked before anything else is logged, and appears nowhere but in that command.
    const masked = [...run.log.matchAll(/::add-mask::(\S+)/g)].map((m) => m[1] as string);
    expect(masked.some((t) => t.split('.').length === 3)).toBe(true);
    const rest = run.log.replace(/::add-mask::\S+/g, '');
    for (const t of masked) expect(rest).not.toContain(t);
    expect(run.outputs).toMatchObject({
      passed: 'true',
      protocol: 'v1',
      model: 'iris',
      host: host('iris'),
      'tokenless-status': '302',
      requests: '200',
      errors: '0',
      status: '200',
    });
    expect(JSON.parse(run.outputs['response'] as string)).toEqual({ predictions: [3, 9] });
    for (const k of ['p50-ms', 'p95-ms', 'p99-ms', 'throughput']) expect(Number(run.outputs[k])).toBeGreaterThan(0);
    expect(run.outputs['report-markdown']).toContain('| p50 / p95 / p99 |');
    expect(run.summary).toContain('Smoke test of `iris`: passed');
    expect(run.log).toMatch(/token for system:serviceaccount:smoke-[^:]+:default-editor/);
  });

  it('calls a given address with a Host header and a bearer token input, v2 detected, load capped by duration', async () => {
    const file = join(tmpdir(), `${ns}-payload.yaml`);
    writeFileSync(file, '- [1, 2]\n- [3, 4]\n');
    const run = await runAction('smoke-test-endpoint', {
      url: gateway.url,
      'host-header': host('iris'),
      'model-name': 'iris',
      token: editorToken,
      'payload-file': file,
      datatype: 'fp32',
      expected: '[3, 9]',
      requests: '1000000',
      concurrency: '2',
      duration: '1s',
    });
    expect(run.code, run.log).toBe(0);
    expect(run.outputs).toMatchObject({
      passed: 'true',
      protocol: 'v2',
      url: `${gateway.url}/v2/models/iris/infer`,
      host: host('iris'),
    });
    expect(Number(run.outputs['requests'])).toBeGreaterThan(0);
    expect(Number(run.outputs['requests'])).toBeLessThan(1_000_000);
    expect(run.log).toContain(`::add-mask::${editorToken}`);
    expect(run.log.replace(/::add-mask::\S+/g, '')).not.toContain(editorToken);
  });

  it('fails the step with the cause and fix, in the log and the job summary, when the gateway sends the call to the login', async () => {
    const run = await runAction(
      'smoke-test-endpoint',
      { inferenceservice: 'iris', namespace: ns, payload: '[[1, 2]]', timeout: '30s' },
      { KUBECONFIG: inject('kubeconfig') },
    );
    expect(run.code).not.toBe(0);
    expect(run.log).toMatch(
      /::error::smoke-test-endpoint: GET http:\/\/127.0.0.1:\d+\/v1\/models\/iris \(Host: iris\.smoke-\S+\) was redirected to the login page \(302 to \/dex\/auth/,
    );
    expect(run.log).toMatch(/Fix: authenticate the call: `auth: serviceaccount`/);
    expect(run.outputs['passed']).toBe('false');
    expect(run.summary).toMatch(/Smoke test of `iris`: failed[\s\S]*Cause: the call carried no token/);
  });

  it('fails the step with a readable diff when the answer differs from expected', async () => {
    const file = join(tmpdir(), `${ns}-expected.json`);
    writeFileSync(file, JSON.stringify({ predictions: [3, 8.5] }));
    const run = await runAction('smoke-test-endpoint', {
      url: iris.url,
      'model-name': 'iris',
      protocol: 'v1',
      payload: '{"instances": [[1, 2], [3, 4]]}',
      'expected-file': file,
      compare: 'tolerance',
      tolerance: '0.1',
      requests: '10',
    });
    expect(run.code).not.toBe(0);
    expect(run.log).toContain('the answer differs from `expected` (tolerance):');
    expect(run.log).toContain('$.predictions[1]: expected 8.5, got 9 (off by 0.5, tolerance 0.1)');
    expect(run.outputs['passed']).toBe('false');
    expect(run.summary).toContain('**differs**');
  });
});

describe('protocols and payloads on real servers', () => {
  it("v2 on KServe's server through the gateway: rows become a typed tensor, outputs compared within a tolerance", async () => {
    const { report } = await smoke(viaGateway('iris'), bearer(editorToken), {
      protocol: 'v2',
      payload: [
        [1, 2],
        [3, 4],
      ],
      expected: { outputs: [{ name: 'score', shape: [2], datatype: 'FP64', data: [3.0001, 9] }] },
      compare: 'tolerance',
      tolerance: { absolute: 0.001, relative: 0 },
      load: { requests: 50, concurrency: 4 },
    });
    expect(report.protocol).toBe('v2');
    expect(report.differences).toEqual([]);
    expect(report.load).toMatchObject({ requests: 50, failed: 0 });
  });

  it('auto detects v2 on MLServer; object rows become one column per input (pandas codec) for the MLflow model', async () => {
    const { report } = await smoke(
      { baseUrl: wine.url, model: 'wine', via: 'MLServer' },
      { kind: 'none' },
      {
        payload: [
          { x: 0.9, y: 0.8 },
          { x: 0.1, y: 0.2 },
        ],
        rows: { datatype: 'FP64' },
        expected: [1, 0],
        load: { requests: 20, concurrency: 2 },
      },
    );
    expect(report.protocol).toBe('v2');
    expect(report.differences).toEqual([]);
    expect((report.response as { outputs: { data: number[] }[] }).outputs[0]?.data).toEqual([1, 0]);
  });

  it('the MLflow InferenceService through the gateway: auto reads protocolVersion v2', async () => {
    const { endpoint, info } = await resolveInferenceService(admin, {
      name: 'wine',
      namespace: ns,
      route: 'gateway',
      timeoutMs: 5000,
    });
    expect(info).toMatchObject({ protocol: 'v2' });
    const { report } = await smoke(endpoint, bearer(editorToken), {
      protocol: info.protocol,
      payload: [{ x: 0.7, y: 0.6 }],
      rows: { datatype: 'FP64' },
      expected: { outputs: [{ datatype: 'INT64' }] },
      compare: 'shape',
    });
    expect(report.url).toBe(`${gateway.url}/v2/models/wine/infer`);
  });

  it('a v1 call to the v2-only MLflow runtime fails at once and names the v2 paths', async () => {
    const e = await failure(
      { baseUrl: wine.url, model: 'wine', via: 'MLServer' },
      { kind: 'none' },
      { protocol: 'v1', timeoutMs: 60_000 },
    );
    expect(e.status).toBe(404);
    expect(e.describe()).toMatch(
      /served with the v2 protocol \(GET \/v2\/models\/wine\/ready answers\), not v1 \(MLflow models run on MLServer/,
    );
    expect(e.details.fix).toMatch(
      /set `protocol: v2` \(or `auto`\), which calls GET \/v2\/models\/wine\/ready and POST \/v2\/models\/wine\/infer/,
    );
  });

  it('405 Method Not Allowed from the model server does not heal', async () => {
    const http = createHttpClient();
    try {
      const caller = new Caller({ baseUrl: wine.url, model: 'wine', via: 'MLServer' }, { kind: 'none' }, { http });
      const e = await caller
        .until('inference', 'v2', () => ({ method: 'POST', path: '/v2/models/wine' }), Date.now() + 60_000)
        .then(
          () => undefined,
          (x: unknown) => x as EndpointError,
        );
      expect(e).toBeInstanceOf(EndpointError);
      if (!e) return;
      expect(e.status).toBe(405);
      expect(e.describe()).toMatch(
        /405 Method Not Allowed[\s\S]*only for other methods[\s\S]*give `url` as the base address only/,
      );
    } finally {
      await http.close();
    }
  });

  it('a wrong model name lists the models the server holds', async () => {
    const e = await failure(
      { baseUrl: iris.url, model: 'irsi', via: 'KServe' },
      { kind: 'none' },
      { protocol: 'v1', timeoutMs: 60_000 },
    );
    expect(e.details.cause).toBe('the server holds "iris" (GET /v1/models), not "irsi"');
  });

  it('a payload that does not fit the MLflow signature shows the inputs the model declares', async () => {
    const e = await failure(
      { baseUrl: wine.url, model: 'wine', via: 'MLServer' },
      { kind: 'none' },
      // A v2 body is sent as given (plain rows are built from the declared inputs): here without "y".
      { protocol: 'v2', payload: { inputs: [{ name: 'x', shape: [1], datatype: 'FP64', data: [0.5] }] } },
    );
    expect(e.status).toBe(500);
    expect(e.details.cause).toMatch(/the model declares inputs \[\{"name":"x","datatype":"FP64"/);
  });

  it('a server that is Ready but fails every prediction is caught', async () => {
    const e = await failure(viaGateway('broken'), bearer(editorToken), { protocol: 'v1' });
    expect(e.status).toBe(500);
    expect(e.details.cause).toMatch(
      /the model failed while predicting: RuntimeError : model weights are corrupt: cannot predict/,
    );
    expect(e.details.fix).toMatch(
      /kubectl logs -n smoke-\S+ -l serving.knative.dev\/service=broken-predictor -c kserve-container/,
    );
  });
});

describe('readiness: what heals is waited for', () => {
  it('503 while the model loads, then ready', async () => {
    // A server that has just started: it answers, but its model becomes ready 3 s later.
    slow = await startKserveModel({ model: 'slow', loadDelay: 3 });
    servers.push(slow);
    gateway.routes.set(host('slow'), { upstream: slow.url });
    const { report, logger } = await smoke(viaGateway('slow'), bearer(editorToken), { protocol: 'v1' });
    expect(report.readyAttempts).toBeGreaterThan(1);
    expect(logger.lines.join('\n')).toMatch(
      /readiness: waiting \(GET .*\/v1\/models\/slow .* answered 503 \(Model with name slow is not ready\.\)\)/,
    );
  });

  it('404 from the gateway while the route propagates, then ready', async () => {
    gateway.routes.delete(host('late'));
    setTimeout(() => gateway.routes.set(host('late'), { upstream: iris.url }), 1500);
    const { report, logger } = await smoke({ ...viaGateway('late'), model: 'iris' }, bearer(editorToken), {
      protocol: 'v1',
    });
    expect(report.readyAttempts).toBeGreaterThan(1);
    expect(logger.lines.join('\n')).toContain(`got 404 from the gateway: no route for Host ${host('late')} (yet)`);
  });

  it('503 "no healthy upstream" until the deadline names the backend', async () => {
    const e = await failure(viaGateway('dead'), bearer(editorToken), { protocol: 'v1', timeoutMs: 2500 });
    expect(e.message).toMatch(/^readiness: not ready after \d+ attempt\(s\): .* answered 503 \(no healthy upstream\)/);
    expect(e.details.cause).toBe(
      'the gateway has no ready backend for the model (pods starting, scaling from zero, or crashing)',
    );
  });

  it('an address where nothing listens until the deadline', async () => {
    const e = await failure(
      { baseUrl: `http://127.0.0.1:${await freePort()}`, model: 'iris', via: 'nowhere' },
      { kind: 'none' },
      { protocol: 'v1', timeoutMs: 1500 },
    );
    expect(e.message).toMatch(/got no answer \(ECONNREFUSED/);
    expect(e.details.fix).toMatch(/ingress-address/);
  });
});

describe('auth: what does not heal fails at once with cause and fix', () => {
  it('302 to the Dex login when no token is sent', async () => {
    const e = await failure(viaGateway('iris'), { kind: 'none' }, { protocol: 'v1', timeoutMs: 60_000 });
    expect(e.status).toBe(302);
    expect(e.message).toMatch(
      /was redirected to the login page \(302 to \/dex\/auth\?client_id=kubeflow-oidc-authservice/,
    );
    expect(e.details.cause).toMatch(/carried no token, so Kubeflow's oauth2-proxy sent it to the Dex login/);
    expect(e.details.fix).toMatch(/`auth: serviceaccount`/);
  });

  it('401 for a token the API server does not verify', async () => {
    const forged = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: await discoverIssuer(admin), aud: [DEFAULT_AUDIENCE], sub: 'x' })).toString('base64url')}.c2ln`;
    const e = await failure(
      viaGateway('iris'),
      { kind: 'bearer', token: forged },
      { protocol: 'v1', timeoutMs: 60_000 },
    );
    expect(e.status).toBe(401);
    expect(e.details.cause).toMatch(/the given bearer token does not verify at the gateway \(Jwt verification fails\)/);
  });

  it('401 "Jwt issuer is not configured" when the gateway names another issuer (GKE)', async () => {
    const e = await failure(
      viaGateway('iris', 'iris', () => wrongIssuerGateway),
      bearer(editorToken),
      { protocol: 'v1', timeoutMs: 60_000 },
    );
    expect(e.status).toBe(401);
    expect(e.details.cause).toMatch(/RequestAuthentication istio-system\/m2m-token-issuer names another issuer/);
    expect(e.details.fix).toMatch(/m2m-auth: true/);
  });

  it('401 for a token minted for another audience', async () => {
    const other = await mintServiceAccountToken(admin, {
      namespace: ns,
      serviceAccount: 'default-editor',
      audience: 'https://example.com',
      expirationSeconds: 600,
    });
    const e = await failure(
      viaGateway('iris'),
      { ...bearer(other.token), audience: 'https://example.com' },
      { protocol: 'v1', timeoutMs: 60_000 },
    );
    expect(e.details.cause).toMatch(
      /audience of the token of system:serviceaccount:.*:default-editor is not one the gateway accepts/,
    );
    expect(e.details.fix).toContain(DEFAULT_AUDIENCE);
  });

  it('403 RBAC: access denied for a valid token of an identity the policy does not admit', async () => {
    const outsider = await mintServiceAccountToken(admin, {
      namespace: ns,
      serviceAccount: 'outsider',
      audience: DEFAULT_AUDIENCE,
      expirationSeconds: 600,
    });
    const e = await failure(viaGateway('iris'), bearer(outsider.token, outsider.subject), {
      protocol: 'v1',
      timeoutMs: 60_000,
    });
    expect(e.status).toBe(403);
    expect(e.details.cause).toMatch(new RegExp(`AuthorizationPolicy denies system:serviceaccount:${ns}:outsider`));
    expect(e.details.fix).toMatch(
      /serving.knative.dev\/service: iris-predictor[\s\S]*do not exclude \/v1\/\* and \/v2\/\*/,
    );
  });

  it('an endpoint that answers without a token fails assert-token-required', async () => {
    const e = await failure(viaGateway('open', 'iris'), bearer(editorToken), {
      protocol: 'v1',
      assertTokenRequired: true,
    });
    expect(e.message).toMatch(/answered a call WITHOUT a token \(200\)/);
    expect(e.details.cause).toMatch(/istio-ingressgateway-require-jwt excludes \/v1\/\* and \/v2\/\*/);
  });

  it('a missing ServiceAccount is named', async () => {
    const e = await mintServiceAccountToken(admin, {
      namespace: ns,
      serviceAccount: 'nobody',
      audience: DEFAULT_AUDIENCE,
      expirationSeconds: 600,
    }).then(
      () => undefined,
      (x: unknown) => x as Error,
    );
    expect(e?.message).toBe(`ServiceAccount ${ns}/nobody was not found`);
  });
});

describe('cluster-local URLs', () => {
  it("a cluster-local status.url through the gateway fails at once naming Knative's domain", async () => {
    const { endpoint } = await resolveInferenceService(admin, {
      name: 'local',
      namespace: ns,
      route: 'gateway',
      timeoutMs: 5000,
    });
    expect(endpoint.clusterLocalUrl).toBe(`http://local.${ns}.svc.cluster.local/`);
    const e = await failure({ ...endpoint, model: 'iris' }, bearer(editorToken), { protocol: 'v1', timeoutMs: 60_000 });
    expect(e.status).toBe(404);
    expect(e.details.cause).toMatch(/is cluster-local: Knative's config-domain has no external domain/);
    expect(e.details.fix).toMatch(/route: cluster-local/);
  });

  it('route cluster-local uses status.address.url without a Host header', async () => {
    const { endpoint } = await resolveInferenceService(admin, {
      name: 'iris',
      namespace: ns,
      route: 'cluster-local',
      timeoutMs: 5000,
    });
    expect(endpoint).toMatchObject({ baseUrl: `http://iris-predictor.${ns}.svc.cluster.local` });
    expect(endpoint.hostHeader).toBeUndefined();
  });
});

describe('thresholds', () => {
  it('fail when p95 or the error rate is above the limit, with the figures', async () => {
    const { report } = await smoke(
      { baseUrl: iris.url, model: 'iris', via: 'KServe' },
      { kind: 'none' },
      { protocol: 'v1', load: { requests: 40, concurrency: 4 }, maxP95Ms: 0.001, maxErrorRate: 0 },
    );
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatch(/^p95 latency \d+\.\dms is above max-p95-ms 0.001$/);
  });

  it('count the calls that fail during the load phase, by status', async () => {
    // The backend stops answering after 30 calls (pods crashing under load): the gateway then answers 503.
    gateway.routes.set(host('flaky'), { upstream: iris.url, failAfter: 30 });
    const { report } = await smoke({ ...viaGateway('flaky'), model: 'iris' }, bearer(editorToken), {
      protocol: 'v1',
      load: { requests: 60, concurrency: 4 },
      maxErrorRate: 0.05,
    });
    expect(report.load).toMatchObject({ requests: 60, succeeded: 28, failed: 32, outcomes: { '200': 28, '503': 32 } });
    expect(report.failures).toEqual(['error rate 53.33% (32 of 60: 32× 503) is above max-error-rate 5.00%']);
  });
});

/** A loopback peer that accepts TCP connections and never answers (a hung gateway or API server). */
async function silentPeer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Where the sentinel appears in what a user can read (the runner consumes ::add-mask:: commands, they are not shown). */
function leaks(run: ActionRun): string[] {
  const shown = run.log
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  return (
    [
      ['log', shown],
      ['outputs', JSON.stringify(run.outputs)],
      ['summary', run.summary],
      ['report-markdown', run.outputs['report-markdown'] ?? ''],
    ] as const
  )
    .filter(([, text]) => text.includes(SENTINEL))
    .map(([where]) => where);
}

describe('credentials in the url', () => {
  it('are sent as Basic authorization and appear in no log line, output, summary or report of a passing run', async () => {
    const run = await runAction('smoke-test-endpoint', {
      url: `http://alice:${SENTINEL}@127.0.0.1:${iris.port}/`,
      'model-name': 'iris',
      protocol: 'v1',
      payload: '[[1, 2], [3, 4]]',
      expected: '[3, 9]',
      requests: '5',
    });
    expect(run.code, run.log).toBe(0);
    expect(leaks(run)).toEqual([]);
    expect(run.outputs['url']).toBe(`http://127.0.0.1:${iris.port}/v1/models/iris:predict`);
    expect(run.log).toContain(`::add-mask::${SENTINEL}`);
    expect(run.log).toContain('(user name and password from the address, as Basic authorization)');
  });

  it('a gateway that refuses them: the failure names the credentials in url without showing them', async () => {
    const run = await runAction('smoke-test-endpoint', {
      url: `http://alice:${SENTINEL}@127.0.0.1:${gateway.port}`,
      'host-header': host('iris'),
      'model-name': 'iris',
      protocol: 'v1',
      payload: '[[1, 2]]',
      timeout: '20s',
    });
    expect(run.code).toBe(1);
    expect(leaks(run)).toEqual([]);
    // The gateway answered 401 (a token check), not 302 (no Authorization header): the header was sent.
    expect(run.log).toMatch(
      /::error::smoke-test-endpoint: GET http:\/\/127\.0\.0\.1:\d+\/v1\/models\/iris \(Host: iris\.\S+\) was rejected: 401 Unauthorized/,
    );
    expect(run.summary).toContain('the server rejected the user name and password given in `url`');
    expect(run.outputs['report-markdown']).toContain('Smoke test of `iris`: failed');
  });
});

describe('deadlines against a peer that accepts and never answers', () => {
  const slack = 2500;
  /** Runs the action and measures from its first log line (after start-up, which varies with the machine's load) to its exit. */
  const timed = async (inputs: Record<string, string>): Promise<{ run: ActionRun; ms: number }> => {
    let first = 0;
    const run = await runAction('smoke-test-endpoint', inputs, {}, () => {
      first ||= Date.now();
    });
    return { run, ms: Date.now() - first };
  };

  it('the model endpoint: the action ends at its timeout, naming the peer', async () => {
    const peer = await silentPeer();
    try {
      const { run, ms } = await timed({
        url: `http://127.0.0.1:${peer.port}`,
        'model-name': 'iris',
        payload: '[[1, 2]]',
        timeout: '3s',
      });
      expect(run.code).toBe(1);
      expect(ms, `${ms} ms from the first log line to the exit`).toBeLessThan(3000 + slack);
      expect(run.log).toMatch(
        new RegExp(
          `::error::smoke-test-endpoint: readiness: not ready after 1 attempt\\(s\\): GET http://127\\.0\\.0\\.1:${peer.port}/v2/models/iris/ready got no answer \\(no answer within 3s`,
        ),
      );
    } finally {
      await peer.stop();
    }
  }, 120_000);

  it('the Kubernetes API (token minting): the action ends at its timeout, naming the API server', async () => {
    const peer = await silentPeer();
    const kubeconfig = join(tmpdir(), `${ns}-silent.kubeconfig`);
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:${peer.port}', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`,
    );
    try {
      const { run, ms } = await timed({
        url: iris.url,
        'model-name': 'iris',
        payload: '[[1, 2]]',
        auth: 'serviceaccount',
        'service-account-namespace': ns,
        kubeconfig,
        timeout: '3s',
      });
      expect(run.code).toBe(1);
      expect(run.log).toMatch(new RegExp(`::error::smoke-test-endpoint: .*https://127\\.0\\.0\\.1:${peer.port}`));
      expect(ms, `${ms} ms from the first log line to the exit`).toBeLessThan(3000 + slack);
    } finally {
      await peer.stop();
    }
  }, 120_000);
});
