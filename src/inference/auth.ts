/** Short-lived ServiceAccount tokens through the TokenRequest API (what `kubectl create token` calls). */
import { KfopsError } from '../common/errors.js';
import type { KubeClient } from '../kube/client.js';
import { explainKubeError, statusCodeOf, statusBodyOf } from '../kube/errors.js';

export interface TokenOptions {
  namespace: string;
  serviceAccount: string;
  audience: string;
  /** The API server's minimum is 600 seconds. */
  expirationSeconds: number;
}

export interface MintedToken {
  token: string;
  expiresAt?: string;
  /** The token's subject, e.g. system:serviceaccount:team:default-editor. */
  subject: string;
}

export async function mintServiceAccountToken(client: KubeClient, options: TokenOptions): Promise<MintedToken> {
  const { namespace, serviceAccount, audience, expirationSeconds } = options;
  const subject = `system:serviceaccount:${namespace}:${serviceAccount}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`;
  try {
    const result = await client.request<{ status?: { token?: string; expirationTimestamp?: string } }>('POST', path, {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [audience], expirationSeconds },
      },
    });
    const token = result?.status?.token;
    if (!token)
      throw new KfopsError(`the TokenRequest for ${subject} returned no token`, {
        fix: 'check that the API server issues service-account tokens (--service-account-signing-key-file)',
      });
    return {
      token,
      subject,
      ...(result.status?.expirationTimestamp ? { expiresAt: result.status.expirationTimestamp } : {}),
    };
  } catch (error) {
    if (error instanceof KfopsError) throw error;
    if (statusCodeOf(error) === 404) {
      throw new KfopsError(`ServiceAccount ${namespace}/${serviceAccount} was not found`, {
        cause: statusBodyOf(error)?.message ?? 'the TokenRequest API answered 404',
        fix: `give \`service-account\` the name of a ServiceAccount in namespace ${namespace} (a Kubeflow profile namespace has default-editor and default-viewer)`,
      });
    }
    throw explainKubeError(error, {
      action: `mint a token for ServiceAccount ${namespace}/${serviceAccount} (TokenRequest, create serviceaccounts/token)`,
      server: client.server,
    });
  }
}
