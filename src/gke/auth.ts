import { GoogleAuth } from 'google-auth-library';
import { KfopsError, networkFailure } from '../common/errors.js';
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
}

/**
 * Application Default Credentials (google-auth-library): the file named by
 * GOOGLE_APPLICATION_CREDENTIALS (as google-github-actions/auth leaves it: Workload Identity
 * Federation or a key), gcloud's application-default login, or the metadata server on GCP.
 */
export function adcTokenSource(options: AdcOptions = {}): TokenSource {
  // With the project given, the library does not look it up (for external_account credentials that
  // is a Resource Manager call the identity may not be allowed to make).
  const auth = new GoogleAuth({
    scopes: [CLOUD_PLATFORM_SCOPE],
    ...(options.projectId ? { projectId: options.projectId } : {}),
    ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
    clientOptions: {
      transporterOptions: {
        timeout: options.requestTimeoutMs ?? 30_000,
        ...(options.signal ? { signal: options.signal } : {}),
      },
    },
  });
  let principal: string | undefined;
  let tokenUrl: string | undefined;
  const fetchToken = async (): Promise<AccessToken> => {
    const client = await auth.getClient();
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
            `Could not get Google credentials: ${url ? `the token request to ${url}` : 'the token request'} had no answer when the overall timeout ran out`,
            {
              cause: 'the timeout of the whole step was reached while getting an access token',
              fix: 'check that the token endpoint of the credentials (token_url in GOOGLE_APPLICATION_CREDENTIALS, or the metadata server) answers from this runner, or raise the timeout input',
            },
            { cause: error },
          );
        }
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        throw new KfopsError(
          `Could not get Google credentials: ${reason}${url && !reason?.includes(url) ? ` (${url})` : ''}`,
          {
            cause: url
              ? `the token request to ${url} failed (${networkFailure(error)})`
              : 'no usable Application Default Credentials',
            fix: 'run google-github-actions/auth before this step (Workload Identity Federation recommended; a key file also works), or set GOOGLE_APPLICATION_CREDENTIALS',
          },
          { cause: error },
        );
      }
    },
  };
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
