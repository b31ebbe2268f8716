import { GoogleAuth } from 'google-auth-library';
import { KfopsError } from '../common/errors.js';
import type { AccessToken, TokenSource } from './api.js';
import { CLOUD_PLATFORM_SCOPE } from './spec.js';

/** The service account a credential acts as, when the credential says so. */
function principalOf(client: unknown): string | undefined {
  const email = (client as { email?: unknown }).email;
  if (typeof email === 'string' && email) return email;
  const impersonated = (client as { getServiceAccountEmail?: () => string | null }).getServiceAccountEmail?.();
  return impersonated ?? undefined;
}

/**
 * Application Default Credentials (google-auth-library): the file named by
 * GOOGLE_APPLICATION_CREDENTIALS (as google-github-actions/auth leaves it: Workload Identity
 * Federation or a key), gcloud's application-default login, or the metadata server on GCP.
 */
export function adcTokenSource(options: { projectId?: string; keyFilename?: string } = {}): TokenSource {
  // With the project given, the library does not look it up (for external_account credentials that
  // is a Resource Manager call the identity may not be allowed to make).
  const auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE], ...(options.projectId ? { projectId: options.projectId } : {}), ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}) });
  let principal: string | undefined;
  return {
    description: 'Application Default Credentials',
    async token(): Promise<AccessToken> {
      try {
        const client = await auth.getClient();
        principal ??= principalOf(client);
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
