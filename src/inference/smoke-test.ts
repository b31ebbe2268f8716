/**
 * The smoke-test use case: find the endpoint (a given address, or an InferenceService read from the
 * cluster), authenticate (credentials from the address, a bearer token, or a ServiceAccount token minted
 * for this run), then run the checks of smoke.ts. One deadline (`timeoutMs`) holds from the first call to
 * the end of the load phase, including calls to the Kubernetes API; each HTTP call also has its own.
 */
import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { KubeClient } from '../kube/client.js';
import { mintServiceAccountToken } from './auth.js';
import type { CompareMode, Tolerance } from './compare.js';
import { Caller, type Auth, type Endpoint } from './endpoint.js';
import type { HttpClient, HttpClientOptions } from './http.js';
import type { Protocol, V2Datatype } from './protocol.js';
import { checkEndpoint, type SmokeReport } from './smoke.js';
export { SettingError } from './setting-error.js';
import { resolveInferenceService, type Route } from './target.js';

export type Target =
  | { type: 'url'; url: string; hostHeader?: string; model: string }
  | {
      type: 'inferenceservice';
      name: string;
      namespace: string;
      route: Route;
      ingressAddress?: string;
      model?: string;
    };

export type AuthSettings =
  | { kind: 'none' }
  /** User name and password given in the address; sent as a Basic Authorization header, never in the URL. */
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'serviceaccount'; serviceAccount: string; namespace: string; audience: string; expirationSeconds: number };

export interface SmokeTestSettings {
  target: Target;
  protocol: Protocol | 'auto';
  payload: unknown;
  inputName?: string;
  datatype?: V2Datatype;
  expected?: unknown;
  compare: CompareMode;
  tolerance: Tolerance;
  auth: AuthSettings;
  assertTokenRequired: boolean;
  /** One deadline for the endpoint, the token, readiness, the first correct answer and the load phase. */
  timeoutMs: number;
  /** Deadline of each HTTP call (shortened to the time left of timeoutMs). */
  requestTimeoutMs: number;
  requests: number;
  concurrency: number;
  durationMs?: number;
  maxP95Ms?: number;
  maxErrorRate?: number;
  insecure: boolean;
}

export interface SmokeClients {
  /** The Kubernetes client; called only when the target or the auth needs the cluster. */
  kube: () => KubeClient;
  http: (options: HttpClientOptions) => HttpClient;
  logger?: Logger;
  now?: () => number;
  /** Receives every secret made during the run (a minted token) before it is used. */
  secret?: (value: string) => void;
}

export interface SmokeTestResult {
  endpoint: Endpoint;
  report: SmokeReport;
}

export const needsCluster = (s: Pick<SmokeTestSettings, 'target' | 'auth'>): boolean =>
  s.target.type === 'inferenceservice' || s.auth.kind === 'serviceaccount';

/** The model's name as the settings give it (the InferenceService's name by default). */
export const modelOf = (t: Target): string => (t.type === 'url' ? t.model : (t.model ?? t.name));

/**
 * Runs `work` but gives up at `deadline` (+ `graceMs`, for work that ends at the deadline on its own with a
 * better message); the work may go on in the background, its result is dropped.
 */
export async function beforeDeadline<T>(
  work: Promise<T>,
  deadline: number,
  now: () => number,
  what: string,
  where: string,
  graceMs = 0,
): Promise<T> {
  const left = deadline + graceMs - now();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        reject(
          new KfopsError(`${what}: no answer from ${where} before the deadline (timeout)`, {
            cause: `${where} accepted the call but did not answer within the time left`,
            fix: `check that ${where} is reachable from this runner and answers; raise \`timeout\` only if it is known to be this slow`,
          }),
        );
      },
      Math.max(0, left),
    );
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export function endpointFor(target: Extract<Target, { type: 'url' }>): Endpoint {
  return {
    baseUrl: target.url,
    model: target.model,
    via: `${target.url}${target.hostHeader ? ` with Host ${target.hostHeader}` : ''}`,
    ...(target.hostHeader ? { hostHeader: target.hostHeader } : {}),
  };
}

/** The Authorization the calls carry; a ServiceAccount token is minted here (before the deadline). */
export async function authFor(
  settings: SmokeTestSettings,
  kube: KubeClient | undefined,
  clients: Pick<SmokeClients, 'logger' | 'now' | 'secret'>,
  deadline: number,
): Promise<Auth> {
  const a = settings.auth;
  const logger = clients.logger ?? silentLogger;
  const now = clients.now ?? Date.now;
  if (a.kind === 'none') return { kind: 'none' };
  if (a.kind === 'basic') return { kind: 'basic', basic: { username: a.username, password: a.password } };
  if (a.kind === 'bearer') return { kind: 'bearer', token: a.token };
  if (!kube) throw new Error('a ServiceAccount token needs the Kubernetes client');
  const minted = await beforeDeadline(
    mintServiceAccountToken(kube, {
      namespace: a.namespace,
      serviceAccount: a.serviceAccount,
      audience: a.audience,
      expirationSeconds: a.expirationSeconds,
    }),
    deadline,
    now,
    `mint a token for ServiceAccount ${a.namespace}/${a.serviceAccount}`,
    `the Kubernetes API at ${kube.server}`,
  );
  clients.secret?.(minted.token);
  logger.info(
    `token for ${minted.subject} (audience ${a.audience}, valid ${formatDuration(a.expirationSeconds * 1000)})`,
  );
  return { kind: 'serviceaccount', token: minted.token, subject: minted.subject, audience: a.audience };
}

export async function smokeTest(settings: SmokeTestSettings, clients: SmokeClients): Promise<SmokeTestResult> {
  const logger = clients.logger ?? silentLogger;
  const now = clients.now ?? Date.now;
  const deadline = now() + settings.timeoutMs;
  const kube = needsCluster(settings) ? clients.kube() : undefined;
  if (kube) {
    logger.info(`cluster: ${kube.server} (from ${kube.source})`);
    // No single API call may outlast the whole budget (the calls also end at the deadline below).
    kube.requestTimeoutMs = Math.min(kube.requestTimeoutMs, Math.max(1000, settings.timeoutMs));
  }

  let endpoint: Endpoint;
  let protocol = settings.protocol;
  const t = settings.target;
  if (t.type === 'url') endpoint = endpointFor(t);
  else {
    const resolved = await logger.group(`find InferenceService ${t.namespace}/${t.name}`, () =>
      beforeDeadline(
        resolveInferenceService(kube as KubeClient, {
          name: t.name,
          namespace: t.namespace,
          route: t.route,
          ...(t.ingressAddress ? { ingressAddress: t.ingressAddress } : {}),
          ...(t.model ? { model: t.model } : {}),
          timeoutMs: Math.max(1, deadline - now()),
          logger,
        }),
        deadline,
        now,
        `find InferenceService ${t.namespace}/${t.name}`,
        `the Kubernetes API at ${(kube as KubeClient).server}`,
        // The wait for status.url ends at the deadline itself, saying what is missing.
        1000,
      ),
    );
    endpoint = resolved.endpoint;
    if (protocol === 'auto') protocol = resolved.info.protocol;
  }
  logger.info(
    `calling ${endpoint.via}${settings.auth.kind === 'basic' ? ' (user name and password from the address, as Basic authorization)' : ''}`,
  );
  const auth = await authFor(settings, kube, clients, deadline);

  const https = endpoint.baseUrl.startsWith('https:');
  const http = clients.http({
    connections: Math.max(2, settings.concurrency),
    timeoutMs: settings.requestTimeoutMs,
    ...(https && endpoint.hostHeader ? { servername: endpoint.hostHeader.replace(/:\d+$/, '') } : {}),
    insecure: settings.insecure,
  });
  try {
    const caller = new Caller(endpoint, auth, {
      http,
      logger,
      now,
      requestTimeoutMs: settings.requestTimeoutMs,
      deadline,
    });
    const report = await checkEndpoint(
      caller,
      {
        protocol,
        payload: settings.payload,
        rows: {
          ...(settings.inputName ? { name: settings.inputName } : {}),
          ...(settings.datatype ? { datatype: settings.datatype } : {}),
        },
        ...(settings.expected !== undefined ? { expected: settings.expected } : {}),
        compare: settings.compare,
        tolerance: settings.tolerance,
        assertTokenRequired: settings.assertTokenRequired,
        timeoutMs: Math.max(0, deadline - now()),
        load: {
          requests: settings.requests,
          concurrency: settings.concurrency,
          ...(settings.durationMs !== undefined ? { durationMs: settings.durationMs } : {}),
        },
        ...(settings.maxP95Ms !== undefined ? { maxP95Ms: settings.maxP95Ms } : {}),
        ...(settings.maxErrorRate !== undefined ? { maxErrorRate: settings.maxErrorRate } : {}),
      },
      { http, logger, now },
    );
    return { endpoint, report };
  } finally {
    await http.close();
  }
}
