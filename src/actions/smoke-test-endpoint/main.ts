import { readFileSync } from 'node:fs';
import * as core from '@actions/core';
import { load as loadYaml } from 'js-yaml';
import { formatDuration } from '../../common/duration.js';
import { ConfigurationError, describeError, KfopsError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { KubeClient } from '../../kube/client.js';
import { mintServiceAccountToken } from '../../inference/auth.js';
import { COMPARE_MODES, DEFAULT_TOLERANCE, parseTolerance, TOLERANCE_FORM, type CompareMode, type Tolerance } from '../../inference/compare.js';
import { Caller, DEFAULT_AUDIENCE, type Auth, type AuthKind, type Endpoint } from '../../inference/endpoint.js';
import { createHttpClient } from '../../inference/http.js';
import { V2_DATATYPES, type Protocol, type V2Datatype } from '../../inference/protocol.js';
import { reportMarkdown, smokeTest, type SmokeReport, type SmokeSettings } from '../../inference/smoke.js';
import { resolveInferenceService, type Route } from '../../inference/target.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_FORM = 'a Kubernetes name (lowercase letters, digits and -)';

export interface Settings {
  kubeconfig?: string;
  target:
    | { type: 'url'; url: string; hostHeader?: string; model: string }
    | { type: 'inferenceservice'; name: string; namespace: string; route: Route; ingressAddress?: string; model?: string };
  protocol: Protocol | 'auto';
  payload: unknown;
  payloadInput: string;
  inputName?: string;
  datatype?: V2Datatype;
  expected?: unknown;
  compare: CompareMode;
  tolerance: Tolerance;
  auth:
    | { kind: 'none' }
    | { kind: 'bearer'; token: string }
    | { kind: 'serviceaccount'; serviceAccount: string; namespace: string; audience: string; expirationSeconds: number };
  assertTokenRequired: boolean;
  timeoutMs: number;
  requestTimeoutMs: number;
  requests: number;
  concurrency: number;
  durationMs?: number;
  maxP95Ms?: number;
  maxErrorRate?: number;
  insecure: boolean;
}

/** A JSON or YAML document from an input, or from the file another input names. */
function document(inputs: Inputs, inline: string, file: string, readFile: (path: string) => string, expected: string): { value: unknown; input: string } | undefined {
  const text = inputs.optional(inline);
  const path = inputs.optional(file);
  if (text !== undefined && path !== undefined) throw new ConfigurationError(file, path, `either ${inline} or ${file}, not both`);
  if (text !== undefined) return { value: inputs.structured(inline, expected), input: inline };
  if (path === undefined) return undefined;
  let content: string;
  try {
    content = readFile(path);
  } catch (error) {
    throw new ConfigurationError(file, path, `a readable file (${(error as { code?: string }).code ?? describeError(error)})`);
  }
  try {
    return { value: loadYaml(content), input: file };
  } catch (error) {
    throw new ConfigurationError(file, path, `a file holding ${expected} (the parser said: ${describeError(error).split('\n')[0]})`);
  }
}

function rate(inputs: Inputs, name: string): number | undefined {
  const v = inputs.optional(name);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(v);
  const n = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(n >= 0 && n <= 1)) throw new ConfigurationError(name, v, 'a fraction from 0 to 1 such as 0.01, or a percentage such as 1%');
  return n;
}

/** Reads and checks every input before anything is called. `readFile` reads payload-file and expected-file. */
export function readSettings(inputs: Inputs, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Settings {
  const url = inputs.optional('url');
  const isvc = inputs.matching('inferenceservice', NAME, NAME_FORM);
  if (url && isvc) throw new ConfigurationError('inferenceservice', isvc, 'either url or inferenceservice, not both');
  if (!url && !isvc) throw new ConfigurationError('url', undefined, 'the address of the model (url, with model-name) or an InferenceService to read it from (inferenceservice and namespace)');
  const model = inputs.optional('model-name');
  const namespace = inputs.matching('namespace', NAME, NAME_FORM);
  let target: Settings['target'];
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigurationError('url', url, 'an http:// or https:// URL such as http://34.120.1.2 or https://iris.team.example.com');
    }
    if (!/^https?:$/.test(parsed.protocol) || parsed.search || parsed.hash) throw new ConfigurationError('url', url, 'an http:// or https:// URL without query or fragment');
    if (/\/v[12]\//.test(`${parsed.pathname}/`)) {
      throw new ConfigurationError('url', url, 'the base address only (scheme, host, port and any gateway prefix): the /v1/models/... or /v2/models/... paths are added for the protocol');
    }
    if (!model) throw new ConfigurationError('model-name', undefined, 'the model\'s name on the server (with url; KServe names it after the InferenceService)');
    // `route` has a default, so only a value other than it is a mistake here.
    const ignored = inputs.optional('ingress-address') !== undefined ? 'ingress-address' : (inputs.optional('route') ?? 'gateway') !== 'gateway' ? 'route' : undefined;
    if (ignored) throw new ConfigurationError(ignored, inputs.optional(ignored), `nothing with url (${ignored} applies to inferenceservice); put the address in url and the host in host-header`);
    const hostHeader = inputs.matching('host-header', /^[A-Za-z0-9.-]+(:\d+)?$/, 'a host name such as iris.team.example.com');
    target = { type: 'url', url: url.replace(/\/+$/, ''), ...(hostHeader ? { hostHeader } : {}), model };
  } else {
    if (!namespace) throw new ConfigurationError('namespace', undefined, 'the namespace of the InferenceService (a Kubeflow profile namespace)');
    if (inputs.optional('host-header')) throw new ConfigurationError('host-header', inputs.optional('host-header'), 'nothing with inferenceservice (the Host is read from its status.url)');
    const ingressAddress = inputs.matching('ingress-address', /^(https?:\/\/)?[A-Za-z0-9.:[\]-]+(:\d+)?\/?$/, 'the gateway\'s address: an IP or host name with an optional port, e.g. 34.120.1.2 or 127.0.0.1:8080');
    const route = inputs.choice('route', ['gateway', 'cluster-local'] as const, 'gateway');
    if (route === 'cluster-local' && ingressAddress) throw new ConfigurationError('ingress-address', ingressAddress, 'nothing with route: cluster-local (the cluster-local address is read from status.address.url)');
    target = { type: 'inferenceservice', name: isvc as string, namespace, route, ...(ingressAddress ? { ingressAddress } : {}), ...(model ? { model } : {}) };
  }

  const payload = document(inputs, 'payload', 'payload-file', readFile, 'a JSON request body ({"instances": ...} or {"inputs": ...}) or a JSON list of rows');
  if (!payload) throw new ConfigurationError('payload', undefined, 'a JSON request body ({"instances": [...]} for v1, {"inputs": [...]} for v2) or plain rows such as [[5.1, 3.5, 1.4, 0.2]] (or payload-file)');
  if (payload.value === null || typeof payload.value !== 'object') throw new ConfigurationError(payload.input, JSON.stringify(payload.value), 'a JSON object (a request body) or a JSON list (rows)');
  const expected = document(inputs, 'expected', 'expected-file', readFile, 'the expected answer as JSON');
  const compare = inputs.choice('compare', COMPARE_MODES, 'subset');
  const toleranceText = inputs.optional('tolerance');
  const tolerance = toleranceText === undefined ? (compare === 'exact' ? { absolute: 0, relative: 0 } : DEFAULT_TOLERANCE) : parseTolerance(toleranceText);
  if (!tolerance) throw new ConfigurationError('tolerance', toleranceText, TOLERANCE_FORM);
  const datatype = inputs.optional('datatype')?.toUpperCase();
  if (datatype && !(V2_DATATYPES as readonly string[]).includes(datatype)) throw new ConfigurationError('datatype', datatype, `one of ${V2_DATATYPES.join(', ')}`);
  const inputName = inputs.optional('input-name');

  const token = inputs.secret('token');
  const authKind = inputs.choice<AuthKind>('auth', ['none', 'bearer', 'serviceaccount'], token ? 'bearer' : 'none');
  let auth: Settings['auth'];
  if (authKind === 'bearer') {
    if (!token) throw new ConfigurationError('token', undefined, 'a bearer token (from a secret) with auth: bearer');
    auth = { kind: 'bearer', token };
  } else if (authKind === 'serviceaccount') {
    if (token) throw new ConfigurationError('auth', authKind, 'bearer when a token is given (serviceaccount mints its own)');
    const saNamespace = inputs.matching('service-account-namespace', NAME, NAME_FORM) ?? namespace;
    if (!saNamespace) throw new ConfigurationError('service-account-namespace', undefined, 'the namespace of the ServiceAccount (or give namespace)');
    const expirationMs = inputs.duration('token-expiration', '10m');
    if (expirationMs < 600_000 || expirationMs > 48 * 3_600_000) throw new ConfigurationError('token-expiration', inputs.optional('token-expiration'), 'a duration from 10m (the TokenRequest API\'s minimum) to 48h');
    auth = {
      kind: 'serviceaccount',
      serviceAccount: inputs.matching('service-account', NAME, NAME_FORM, 'default-editor') as string,
      namespace: saNamespace,
      audience: inputs.optional('audience') ?? DEFAULT_AUDIENCE,
      expirationSeconds: Math.round(expirationMs / 1000),
    };
  } else {
    if (token) throw new ConfigurationError('auth', 'none', 'bearer (or leave auth empty) when a token is given');
    auth = { kind: 'none' };
  }
  const assertTokenRequired = inputs.boolean('assert-token-required', false);
  if (assertTokenRequired && auth.kind === 'none') throw new ConfigurationError('assert-token-required', 'true', 'false with auth: none (the check compares a call with a token to one without)');

  const durationText = inputs.optional('duration');
  const maxP95 = inputs.optional('max-p95-ms');
  if (maxP95 !== undefined && !(/^\d+(\.\d+)?$/.test(maxP95) && Number(maxP95) > 0)) throw new ConfigurationError('max-p95-ms', maxP95, 'a positive number of milliseconds such as 250');
  const kubeconfig = inputs.optional('kubeconfig');
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    target,
    protocol: inputs.choice('protocol', ['auto', 'v1', 'v2'] as const, 'auto'),
    payload: payload.value,
    payloadInput: payload.input,
    ...(inputName ? { inputName } : {}),
    ...(datatype ? { datatype: datatype as V2Datatype } : {}),
    ...(expected ? { expected: expected.value } : {}),
    compare,
    tolerance,
    auth,
    assertTokenRequired,
    timeoutMs: inputs.duration('timeout', '5m'),
    requestTimeoutMs: inputs.duration('request-timeout', '30s'),
    requests: inputs.integer('requests', 100, { min: 0, max: 1_000_000 }),
    concurrency: inputs.integer('concurrency', 4, { min: 1, max: 256 }),
    ...(durationText !== undefined ? { durationMs: inputs.duration('duration', durationText) } : {}),
    ...(maxP95 !== undefined ? { maxP95Ms: Number(maxP95) } : {}),
    maxErrorRate: rate(inputs, 'max-error-rate') ?? 0,
    insecure: inputs.boolean('insecure-skip-tls-verify', false),
  };
}

export function run(): Promise<void> {
  return runAction('smoke-test-endpoint', async () => {
    const settings = readSettings(actionInputs(['token']));
    const logger = coreLogger;
    const needsCluster = settings.target.type === 'inferenceservice' || settings.auth.kind === 'serviceaccount';
    const client = needsCluster ? KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env }) : undefined;
    if (client) core.info(`cluster: ${client.server} (from ${client.source})`);

    let endpoint: Endpoint;
    let protocol = settings.protocol;
    const t = settings.target;
    if (t.type === 'url') {
      endpoint = { baseUrl: t.url, model: t.model, via: `${t.url}${t.hostHeader ? ` with Host ${t.hostHeader}` : ''}`, ...(t.hostHeader ? { hostHeader: t.hostHeader } : {}) };
    } else {
      const resolved = await core.group(`find InferenceService ${t.namespace}/${t.name}`, () =>
        resolveInferenceService(client as KubeClient, { name: t.name, namespace: t.namespace, route: t.route, ...(t.ingressAddress ? { ingressAddress: t.ingressAddress } : {}), ...(t.model ? { model: t.model } : {}), timeoutMs: settings.timeoutMs, logger }),
      );
      endpoint = resolved.endpoint;
      if (protocol === 'auto') protocol = resolved.info.protocol;
    }
    core.info(`calling ${endpoint.via}`);

    const auth: Auth = { kind: settings.auth.kind };
    if (settings.auth.kind === 'bearer') auth.token = settings.auth.token;
    if (settings.auth.kind === 'serviceaccount') {
      const a = settings.auth;
      const minted = await mintServiceAccountToken(client as KubeClient, { namespace: a.namespace, serviceAccount: a.serviceAccount, audience: a.audience, expirationSeconds: a.expirationSeconds });
      core.setSecret(minted.token);
      Object.assign(auth, { token: minted.token, subject: minted.subject, audience: a.audience });
      core.info(`token for ${minted.subject} (audience ${a.audience}, valid ${formatDuration(a.expirationSeconds * 1000)})`);
    }

    const https = endpoint.baseUrl.startsWith('https:');
    const http = createHttpClient({
      connections: Math.max(2, settings.concurrency),
      timeoutMs: settings.requestTimeoutMs,
      ...(https && endpoint.hostHeader ? { servername: endpoint.hostHeader.replace(/:\d+$/, '') } : {}),
      insecure: settings.insecure,
    });
    const caller = new Caller(endpoint, auth, { http, logger });
    const smoke: SmokeSettings = {
      protocol,
      payload: settings.payload,
      payloadInput: settings.payloadInput,
      rows: { ...(settings.inputName ? { name: settings.inputName } : {}), ...(settings.datatype ? { datatype: settings.datatype } : {}) },
      ...(settings.expected !== undefined ? { expected: settings.expected } : {}),
      compare: settings.compare,
      tolerance: settings.tolerance,
      assertTokenRequired: settings.assertTokenRequired,
      timeoutMs: settings.timeoutMs,
      load: { requests: settings.requests, concurrency: settings.concurrency, ...(settings.durationMs !== undefined ? { durationMs: settings.durationMs } : {}) },
      ...(settings.maxP95Ms !== undefined ? { maxP95Ms: settings.maxP95Ms } : {}),
      ...(settings.maxErrorRate !== undefined ? { maxErrorRate: settings.maxErrorRate } : {}),
    };
    let report: SmokeReport;
    try {
      report = await smokeTest(caller, smoke, { http, logger });
    } catch (error) {
      if (error instanceof KfopsError) await writeFailure(endpoint, error);
      throw error;
    } finally {
      await http.close();
    }
    setOutputs(report);
    await writeSummary(report);
    if (report.failures.length) {
      throw new KfopsError(report.failures.join('\n'), {
        fix: report.differences.length ? 'compare the model with the one that produced `expected`, or loosen `compare`/`tolerance` if the difference is acceptable' : 'look at the latency and errors in the job summary; raise the thresholds only if the model is known to be this slow',
      });
    }
    core.info(`passed: ${endpoint.model} answers correctly${report.load ? ` (p95 ${report.load.latency?.p95.toFixed(1) ?? '-'}ms, ${report.load.throughput.toFixed(1)} req/s)` : ''}`);
  });
}

function setOutputs(r: SmokeReport): void {
  const l = r.load?.latency;
  const fixed = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(2));
  core.setOutput('passed', r.failures.length === 0);
  core.setOutput('url', r.url);
  core.setOutput('host', r.hostHeader ?? '');
  core.setOutput('model', r.model);
  core.setOutput('protocol', r.protocol);
  core.setOutput('ready-seconds', (r.readyMs / 1000).toFixed(1));
  core.setOutput('status', r.responseStatus);
  core.setOutput('response', JSON.stringify(r.response));
  core.setOutput('tokenless-status', r.tokenlessStatus ?? '');
  core.setOutput('requests', r.load?.requests ?? 0);
  core.setOutput('errors', r.load?.failed ?? 0);
  core.setOutput('error-rate', r.load ? r.load.errorRate.toFixed(4) : '');
  core.setOutput('throughput', r.load ? r.load.throughput.toFixed(1) : '');
  core.setOutput('p50-ms', fixed(l?.p50));
  core.setOutput('p95-ms', fixed(l?.p95));
  core.setOutput('p99-ms', fixed(l?.p99));
  core.setOutput('mean-ms', fixed(l?.mean));
  core.setOutput('max-ms', fixed(l?.max));
  core.setOutput('report-markdown', reportMarkdown(r));
}

async function writeSummary(r: SmokeReport): Promise<void> {
  await core.summary.addHeading('smoke-test-endpoint', 2).addRaw(reportMarkdown(r), true).write();
}

async function writeFailure(endpoint: Endpoint, error: KfopsError): Promise<void> {
  const markdown = `#### Smoke test of \`${endpoint.model}\`: failed\n\n${error.message}\n\n${error.details.cause ? `- Cause: ${error.details.cause}\n` : ''}${error.details.fix ? `- Fix: ${error.details.fix}\n` : ''}`;
  core.setOutput('passed', false);
  core.setOutput('report-markdown', markdown);
  await core.summary.addHeading('smoke-test-endpoint', 2).addRaw(markdown, true).write();
}
