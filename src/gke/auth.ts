import type { gaxios, GoogleAuth } from 'google-auth-library';
import { KfopsError, networkFailure } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { redactUrlCredentials } from '../common/redact.js';
import { abortableSleep } from '../common/retry.js';
import type { AccessToken, TokenSource } from './api.js';
import { CLOUD_PLATFORM_SCOPE } from './spec.js';

/** The service account a credential acts as, when the credential says so. */
function principalOf(client: unknown): string | undefined {
  const email = (client as { email?: unknown }).email;
  if (typeof email === 'string' && email) return email;
  const impersonated = (client as { getServiceAccountEmail?: () => string | null }).getServiceAccountEmail?.();
  return impersonated ?? undefined;
}

/** The URL a failed token request went to, when the error says (gaxios errors carry their config). */
function requestUrl(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const url = (e as { config?: { url?: unknown } }).config?.url;
    if (typeof url === 'string' || url instanceof URL) return String(url);
  }
  return undefined;
}

export interface AdcOptions {
  projectId?: string;
  keyFilename?: string;
  /** The overall deadline: a token request still running when it aborts is abandoned with an error. */
  signal?: AbortSignal;
  /** Deadline of each token request (default 30 s). */
  requestTimeoutMs?: number;
  /** Where the library's own retries of a token request are told (info level). */
  logger?: Logger;
  /** The step's environment, to name the proxy the library uses (HTTPS_PROXY and the like) in errors. */
  env?: NodeJS.ProcessEnv;
}

/** The proxy google-auth-library's requests go through (gaxios reads these variables), credentials redacted. */
export function proxyOf(env: NodeJS.ProcessEnv): string | undefined {
  const proxy = env['HTTPS_PROXY'] ?? env['https_proxy'] ?? env['HTTP_PROXY'] ?? env['http_proxy'];
  return proxy ? redactUrlCredentials(proxy) : undefined;
}

/**
 * The line that tells a retry of a token request the library makes on its own (gaxios retries a request
 * without an answer twice and a 408, 429 or 5xx three times, and says nothing): what failed, attempt n
 * of m, the delay before the next one.
 */
export function retryLine(error: gaxios.GaxiosError, delayMs: number): string {
  const config = error.config?.retryConfig ?? {};
  const retry = config.currentRetryAttempt ?? 1;
  const of = error.response ? (config.retry ?? 3) : (config.noResponseRetries ?? 2);
  const url = error.config?.url ? redactUrlCredentials(String(error.config.url)) : 'the token endpoint';
  const what = error.response ? `HTTP ${error.response.status}` : networkFailure(error).split(' <- ')[0] || 'no answer';
  return `token request to ${url}: ${what}; retry ${retry} of ${of} in ${Math.round(delayMs)} ms`;
}

/**
 * Application Default Credentials (google-auth-library): the file named by
 * GOOGLE_APPLICATION_CREDENTIALS (as google-github-actions/auth leaves it: Workload Identity
 * Federation or a key), gcloud's application-default login, or the metadata server on GCP.
 */
export function adcTokenSource(options: AdcOptions = {}): TokenSource {
  const logger = options.logger ?? silentLogger;
  const proxy = proxyOf(options.env ?? {});
  const overall = options.signal ? endSignal(options.signal) : undefined;
  const transporterOptions: gaxios.GaxiosOptions = {
    timeout: options.requestTimeoutMs ?? 30_000,
    ...(overall ? { signal: overall } : {}),
    // Merged into each request's own retry settings (the token requests turn retries on).
    retryConfig: {
      retryBackoff: async (error, delayMs) => {
        if (overall?.aborted) throw error;
        logger.info(retryLine(error, delayMs));
        await abortableSleep(delayMs, overall);
        // No retry after the overall deadline (a request started with an aborted signal is not one).
        if (overall?.aborted) throw error;
      },
    },
  };
  // The library (about a third of the bundle's start-up) is loaded on the first token request only: runs
  // with CLOUDSDK_AUTH_ACCESS_TOKEN, and runs that stop at their inputs, never load it.
  let auth: Promise<GoogleAuth> | undefined;
  const googleAuth = (): Promise<GoogleAuth> =>
    (auth ??= import('google-auth-library').then(
      ({ GoogleAuth }) =>
        // With the project given, the library does not look it up (for external_account credentials that
        // is a Resource Manager call the identity may not be allowed to make).
        new GoogleAuth({
          scopes: [CLOUD_PLATFORM_SCOPE],
          ...(options.projectId ? { projectId: options.projectId } : {}),
          ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
          clientOptions: { transporterOptions },
        }),
    ));
  let principal: string | undefined;
  let tokenUrl: string | undefined;
  const fetchToken = async (): Promise<AccessToken> => {
    const client = await (await googleAuth()).getClient();
    stsTransportOf(client, transporterOptions);
    // Where external_account credentials exchange their token (STS), for messages.
    const exchange = (client as { tokenUrl?: unknown }).tokenUrl;
    if (typeof exchange === 'string') tokenUrl = exchange;
    principal ??= principalOf(client);
    const { token } = await client.getAccessToken();
    if (!token) throw new Error('the credentials gave no access token');
    const expiry = (client as { credentials?: { expiry_date?: number | null } }).credentials?.expiry_date;
    return { token, ...(expiry ? { expiresAt: new Date(expiry) } : {}), ...(principal ? { principal } : {}) };
  };
  return {
    description: 'Application Default Credentials',
    async token(): Promise<AccessToken> {
      try {
        return await untilAborted(fetchToken(), options.signal);
      } catch (error) {
        const url = requestUrl(error) ?? tokenUrl;
        if (options.signal?.aborted) {
          throw new KfopsError(
            `Could not get Google credentials: ${url ? `the token request to ${url}` : 'the token request'}${proxy ? ` (through the proxy ${proxy})` : ''} had no answer when the overall timeout ran out`,
            {
              cause: 'the timeout of the whole step was reached while getting an access token',
              fix: `check that the token endpoint of the credentials (token_url in GOOGLE_APPLICATION_CREDENTIALS, or the metadata server)${proxy ? ` and the proxy ${proxy} (HTTPS_PROXY)` : ''} answer from this runner, or raise the timeout input`,
            },
            { cause: error },
          );
        }
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        throw new KfopsError(
          `Could not get Google credentials: ${reason}${url && !reason?.includes(url) ? ` (${url})` : ''}`,
          {
            cause: url
              ? `the token request to ${url}${proxy ? ` through the proxy ${proxy}` : ''} failed (${networkFailure(error)})`
              : 'no usable Application Default Credentials',
            fix: 'run google-github-actions/auth before this step (Workload Identity Federation recommended; a key file also works), or set GOOGLE_APPLICATION_CREDENTIALS',
          },
          { cause: error },
        );
      }
    },
  };
}

/**
 * The overall deadline as a signal whose reason is not a TimeoutError: gaxios retries a request aborted by a
 * TimeoutError as if its own per-request timeout had fired (AbortSignal.timeout gives one).
 */
function endSignal(signal: AbortSignal): AbortSignal {
  const end = new AbortController();
  const abort = (): void => end.abort(new Error('the overall timeout ran out'));
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  return end.signal;
}

/**
 * external_account credentials exchange their token (STS) through a transport of their own that ignores the
 * client's transporterOptions (a known limitation of google-auth-library 11: no deadline, no signal, silent
 * retries). Its defaults are public (gaxios), so they get the same options; a test fails if that changes.
 */
function stsTransportOf(client: unknown, transporterOptions: gaxios.GaxiosOptions): void {
  const transporter = (client as { stsCredential?: { transporter?: { defaults?: gaxios.GaxiosOptions } } })
    .stsCredential?.transporter;
  if (transporter?.defaults) transporter.defaults = { ...transporter.defaults, ...transporterOptions };
}

/** The promise's outcome, or a rejection as soon as the signal aborts (whichever comes first). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A fixed access token (e.g. from CLOUDSDK_AUTH_ACCESS_TOKEN); it cannot be refreshed. */
export function staticTokenSource(token: string, description: string, expiresAt?: Date): TokenSource {
  return { description, token: async () => ({ token, ...(expiresAt ? { expiresAt } : {}) }) };
}
