import { GoogleAuth } from 'google-auth-library';
import { KfopsError } from '../common/errors.js';
import type { AccessToken, TokenSource } from './api.js';
import { CLOUD_PLATFORM_SCOPE } from './spec.js';

/** The service account a credential acts as, when the credential says so. */
function principalOf(client: unknown, json: Record<string, unknown> | undefined): string | undefined {
  const email = (client as { email?: unknown }).email;
  if (typeof email === 'string' && email) return email;
  const url = json?.['service_account_impersonation_url'];
  if (typeof url === 'string') return /serviceAccounts\/([^/:]+):generateAccessToken/.exec(url)?.[1];
  const sa = json?.['client_email'];
  return typeof sa === 'string' ? sa : undefined;
}

/**
 * Application Default Credentials (google-auth-library): the file named by
 * GOOGLE_APPLICATION_CREDENTIALS (as google-github-actions/auth leaves it: Workload Identity
 * Federation or a key), gcloud's application-default login, or the metadata server on GCP.
 */
export function adcTokenSource(options: { keyFilename?: string } = {}): TokenSource {
  const auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE], ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}) });
  let principal: string | undefined;
  return {
    description: 'Application Default Credentials',
    async token(): Promise<AccessToken> {
      try {
        const client = await auth.getClient();
        const json = (await auth.getCredentials().catch(() => undefined)) as Record<string, unknown> | undefined;
        principal ??= principalOf(client, json) ?? (typeof json?.['client_email'] === 'string' ? (json['client_email'] as string) : undefined);
        const { token } = await client.getAccessToken();
        if (!token) throw new Error('the credentials gave no access token');
        const expiry = (client as { credentials?: { expiry_date?: number | null } }).credentials?.expiry_date;
        return { token, ...(expiry ? { expiresAt: new Date(expiry) } : {}), ...(principal ? { principal } : {}) };
      } catch (error) {
        throw new KfopsError(`Could not get Google credentials: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, {
          cause: 'no usable Application Default Credentials',
          fix: 'run google-github-actions/auth before this step (Workload Identity Federation recommended; a key file also works), or set GOOGLE_APPLICATION_CREDENTIALS',
        }, { cause: error });
      }
    },
  };
}

/** A fixed access token (e.g. from CLOUDSDK_AUTH_ACCESS_TOKEN); it cannot be refreshed. */
export function staticTokenSource(token: string, description: string, expiresAt?: Date): TokenSource {
  return { description, token: async () => ({ token, ...(expiresAt ? { expiresAt } : {}) }) };
}
