/**
 * The smoke test of a deployed model: ready (with retries only for what heals), refuses calls without
 * a token (optional), answers the payload correctly, and holds its latency under a small bounded load.
 */
import { formatDuration } from '../common/duration.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { compare, formatDifferences, type CompareMode, type Difference, type Tolerance } from './compare.js';
import { EndpointError, type Caller } from './endpoint.js';
import type { HttpClient } from './http.js';
import { runLoad, type LoadResult } from './load.js';
import { SettingError } from './setting-error.js';
import {
  declaredInputs,
  pathsFor,
  requestBody,
  responseProblems,
  v2RequestForModel,
  type Protocol,
  type V2FromRowsOptions,
  type V2InputSpec,
} from './protocol.js';

export interface SmokeSettings {
  protocol: Protocol | 'auto';
  /** A protocol request body, or plain rows (a JSON array). */
  payload: unknown;
  rows?: V2FromRowsOptions;
  expected?: unknown;
  compare: CompareMode;
  tolerance?: Tolerance;
  assertTokenRequired: boolean;
  /** Deadline for readiness, the first correct answer and the load phase, in ms. */
  timeoutMs: number;
  load: { requests: number; concurrency: number; durationMs?: number };
  maxP95Ms?: number;
  maxErrorRate?: number;
}

export interface SmokeReport {
  protocol: Protocol;
  url: string;
  hostHeader?: string;
  model: string;
  via: string;
  /** Time until the model reported ready, and the attempts it took. */
  readyMs: number;
  readyAttempts: number;
  /** How the request was formed from plain rows (e.g. `inputs x FP64 [2], y FP64 [2] (one input per column, ...)`). */
  requestForm?: string;
  /** Status of the call without a token (when checked). */
  tokenlessStatus?: number;
  responseStatus: number;
  response: unknown;
  /** One call's latency, for the correctness call. */
  inferenceMs: number;
  differences: Difference[];
  load?: LoadResult;
  /** Why the check failed (wrong answer, thresholds); empty when it passed. */
  failures: string[];
}

export interface SmokeDeps {
  logger?: Logger;
  now?: () => number;
  /** The client for the load phase (pooled with `concurrency` connections). */
  http: HttpClient;
}

/** The checks on an endpoint already found and authenticated: readiness, the call without a token, the answer, the load. */
export async function checkEndpoint(caller: Caller, settings: SmokeSettings, deps: SmokeDeps): Promise<SmokeReport> {
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const { endpoint } = caller;
  const started = now();
  const deadline = started + settings.timeoutMs;

  const ready = await logger.group(`readiness of "${endpoint.model}" (${endpoint.via})`, async () => {
    const r = await caller.until(
      'readiness',
      settings.protocol,
      (p) => ({ method: 'GET', path: pathsFor(p, endpoint.model).ready }),
      deadline,
    );
    logger.info(
      `ready after ${readySeconds(now() - started)} (${r.attempts} attempt(s)), protocol ${r.protocol}${settings.protocol === 'auto' ? ' (detected)' : ''}`,
    );
    return r;
  });
  const protocol = ready.protocol;
  const readyMs = now() - started;
  const paths = pathsFor(protocol, endpoint.model);

  let body: unknown;
  let requestForm: string | undefined;
  // Plain rows for v2 are built to match the inputs the model declares (GET /v2/models/{m}).
  const inputs: V2InputSpec[] | undefined =
    protocol === 'v2' && Array.isArray(settings.payload) ? declaredInputs(await caller.metadata()) : undefined;
  try {
    if (inputs) {
      const built = v2RequestForModel(settings.payload as unknown[], inputs, settings.rows);
      body = built.request;
      requestForm = built.form;
      logger.info(`request built from the rows: ${requestForm}`);
    } else body = requestBody(protocol, settings.payload, settings.rows);
  } catch (error) {
    throw new SettingError(
      'payload',
      JSON.stringify(settings.payload),
      error instanceof Error ? error.message : String(error),
    );
  }

  let tokenlessStatus: number | undefined;
  if (settings.assertTokenRequired) {
    tokenlessStatus = await logger.group('a call without a token must be refused', async () => {
      const status = await caller.assertTokenRequired('POST', paths.infer, body);
      logger.info(`refused without a token: ${status}`);
      return status;
    });
  }

  const answer = await logger.group(`inference: POST ${paths.infer}`, async () => {
    const t0 = performance.now();
    const r = await caller.until(
      'inference',
      protocol,
      () => ({ method: 'POST', path: paths.infer, body }),
      Math.max(deadline, now() + 1),
    );
    const ms = performance.now() - t0;
    logger.info(
      `answered ${r.response.status} in ${ms.toFixed(1)}ms: ${r.response.body.length > 300 ? `${r.response.body.slice(0, 300)}…` : r.response.body}`,
    );
    return { ...r, ms };
  });
  let response: unknown;
  try {
    response = JSON.parse(answer.response.body);
  } catch {
    throw new EndpointError(
      `the model answered ${answer.response.status} but not with JSON: ${answer.response.body.slice(0, 160)}`,
      {
        cause: 'a proxy or error page answered instead of the model server',
        fix: 'call the endpoint by hand with the same Host header to see who answers',
      },
      answer.response.status,
    );
  }
  const problems = responseProblems(protocol, response);
  if (problems.length) {
    throw new EndpointError(
      `the model answered ${answer.response.status} but not with a valid ${protocol} answer: ${problems.join('; ')}`,
      {
        cause: 'the server reports success but its answer breaks the protocol (a server can be Ready and still broken)',
        fix: `read the predictor's log; the ${protocol} protocol answers ${protocol === 'v1' ? '{"predictions": [...]}' : '{"outputs": [{"name", "shape", "datatype", "data"}]}'}`,
      },
      answer.response.status,
    );
  }
  const failures: string[] = [];
  const differences =
    settings.expected === undefined
      ? []
      : compare(protocol, response, settings.expected, settings.compare, settings.tolerance);
  if (differences.length)
    failures.push(`the answer differs from \`expected\` (${settings.compare}):\n${formatDifferences(differences)}`);
  else if (settings.expected !== undefined) logger.info(`the answer matches \`expected\` (${settings.compare})`);

  let load: LoadResult | undefined;
  if (settings.load.requests > 0 && failures.length === 0) {
    const { requests, concurrency, durationMs } = settings.load;
    load = await logger.group(
      `load: ${requests} call(s), ${concurrency} at a time${durationMs !== undefined ? `, at most ${formatDuration(durationMs)}` : ''}`,
      async () => {
        const r = await runLoad(deps.http, caller.request('POST', paths.infer, body), {
          requests,
          concurrency,
          ...(durationMs !== undefined ? { durationMs } : {}),
          // The run's deadline holds here too: calls in flight when it passes are aborted.
          deadlineMs: Math.max(0, deadline - now()),
          onProgress: (done, elapsed) => logger.info(`${done}/${requests} call(s) in ${formatDuration(elapsed)}`),
        });
        logger.info(describeLoad(r));
        return r;
      },
    );
    if (load.cutByDeadline) {
      failures.push(
        `the timeout (${formatDuration(settings.timeoutMs)}) ended the load phase after ${load.requests} of ${requests} call(s) completed (${load.cut ?? 0} cut in flight): raise timeout, or lower requests or set duration so the load phase fits in it`,
      );
    }
    if (settings.maxP95Ms !== undefined && load.latency && load.latency.p95 > settings.maxP95Ms) {
      failures.push(`p95 latency ${load.latency.p95.toFixed(1)}ms is above max-p95-ms ${settings.maxP95Ms}`);
    }
    if (settings.maxP95Ms !== undefined && !load.latency)
      failures.push('no call of the load phase succeeded, so there is no p95 latency to hold under max-p95-ms');
    if (settings.maxErrorRate !== undefined && load.errorRate > settings.maxErrorRate) {
      failures.push(
        `error rate ${(load.errorRate * 100).toFixed(2)}% (${load.failed} of ${load.requests}: ${Object.entries(
          load.outcomes,
        )
          .filter(([k]) => !/^2\d\d$/.test(k))
          .map(([k, v]) => `${v}× ${k}`)
          .join(', ')}) is above max-error-rate ${(settings.maxErrorRate * 100).toFixed(2)}%`,
      );
    }
  }
  return {
    protocol,
    url: endpoint.baseUrl + paths.infer,
    ...(endpoint.hostHeader ? { hostHeader: endpoint.hostHeader } : {}),
    model: endpoint.model,
    via: endpoint.via,
    readyMs,
    readyAttempts: ready.attempts,
    ...(requestForm ? { requestForm } : {}),
    ...(tokenlessStatus !== undefined ? { tokenlessStatus } : {}),
    responseStatus: answer.response.status,
    response,
    inferenceMs: answer.ms,
    differences,
    ...(load ? { load } : {}),
    failures,
  };
}

/** The time to ready as the `ready-seconds` output gives it: seconds with three decimals. */
export const readySecondsValue = (ms: number): string => (ms / 1000).toFixed(3);
const readySeconds = (ms: number): string => `${readySecondsValue(ms)} s`;

export function describeLoad(r: LoadResult): string {
  const l = r.latency;
  return `${r.requests} call(s)${r.cutByDeadline ? ` (${r.cut ?? 0} more cut in flight by the timeout)` : ''} in ${formatDuration(r.elapsedMs)}: ${r.throughput.toFixed(1)}/s, errors ${(r.errorRate * 100).toFixed(2)}%${l ? `, p50 ${l.p50.toFixed(1)}ms, p95 ${l.p95.toFixed(1)}ms, p99 ${l.p99.toFixed(1)}ms, max ${l.max.toFixed(1)}ms` : ''}`;
}

/** The report's figures as a markdown table a PR comment can reuse. */
export function reportMarkdown(r: SmokeReport): string {
  const ms = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)} ms`);
  const l = r.load?.latency;
  const rows: [string, string][] = [
    ['endpoint', `\`${r.url}\`${r.hostHeader ? ` (Host \`${r.hostHeader}\`)` : ''}`],
    ['protocol', r.protocol],
    ['ready after', `${readySeconds(r.readyMs)} (${r.readyAttempts} attempt(s))`],
    ...(r.requestForm ? [['request', r.requestForm] as [string, string]] : []),
    ...(r.tokenlessStatus !== undefined
      ? [['call without token', `refused (${r.tokenlessStatus})`] as [string, string]]
      : []),
    [
      'answer',
      r.differences.length ? `**differs** (${r.differences.length} difference(s))` : `${r.responseStatus}, as expected`,
    ],
    ...(r.load
      ? ([
          ['load', `${r.load.requests} calls, concurrency ${r.load.concurrency}, ${formatDuration(r.load.elapsedMs)}`],
          ['throughput', `${r.load.throughput.toFixed(1)} req/s`],
          ['p50 / p95 / p99', `${ms(l?.p50)} / ${ms(l?.p95)} / ${ms(l?.p99)}`],
          ['error rate', `${(r.load.errorRate * 100).toFixed(2)} %`],
        ] as [string, string][])
      : []),
  ];
  const head = `#### Smoke test of \`${r.model}\`: ${r.failures.length ? 'failed' : 'passed'}`;
  const table = [
    '| check | result |',
    '| --- | --- |',
    ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`),
  ].join('\n');
  const failures = r.failures.length
    ? `\n\n${r.failures.map((f) => `- ${f.split('\n')[0]}${f.includes('\n') ? `\n\n\`\`\`\n${f.split('\n').slice(1).join('\n')}\n\`\`\`` : ''}`).join('\n')}`
    : '';
  return `${head}\n\n${table}${failures}\n`;
}
