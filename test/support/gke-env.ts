/**
 * What the GKE tests need around the fake Container API: the real local control plane's address and
 * CA, a token that control plane accepts (a ServiceAccount token from the TokenRequest API), Google
 * external_account credentials whose token endpoint is the fake, and a stand-in for the
 * gke-gcloud-auth-plugin exec plugin that prints an ExecCredential with such a token.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { KubeClient } from '../../src/kube/client.js';

export interface ControlPlane {
  /** host:port, as GKE's Cluster.endpoint (which has no scheme). */
  endpoint: string;
  port: string;
  /** Base64 PEM, as GKE's masterAuth.clusterCaCertificate. */
  caCertificate: string;
  caFile: string;
}

export function controlPlaneOf(adminKubeconfig: string): ControlPlane {
  const kc = load(readFileSync(adminKubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
  };
  const cluster = kc.clusters[0]?.cluster as { server: string; 'certificate-authority-data': string };
  const url = new URL(cluster.server);
  const dir = mkdtempSync(join(tmpdir(), 'kfops-gke-ca-'));
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, Buffer.from(cluster['certificate-authority-data'], 'base64'));
  return { endpoint: url.host, port: url.port, caCertificate: cluster['certificate-authority-data'], caFile };
}

/**
 * A ServiceAccount in a new namespace, bound to the `view` ClusterRole, and a token for it from the
 * TokenRequest API: the local control plane accepts it as a bearer token.
 */
export async function serviceAccountToken(
  admin: KubeClient,
  namespace: string,
  seconds = 3600,
): Promise<{ token: string; expiresAt: string; username: string }> {
  await admin.request('POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
  });
  await admin.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci' } },
  });
  await admin.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${namespace}-ci-view` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace }],
    },
  });
  const review = await admin.request<{ status: { token: string; expirationTimestamp: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/ci/token`,
    {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: seconds } },
    },
  );
  return {
    token: review.status.token,
    expiresAt: review.status.expirationTimestamp,
    username: `system:serviceaccount:${namespace}:ci`,
  };
}

/** Removes what serviceAccountToken made. */
export async function removeServiceAccount(admin: KubeClient, namespace: string): Promise<void> {
  await admin
    .request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${namespace}-ci-view`)
    .catch(() => undefined);
  await admin.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
}

/**
 * Workload Identity Federation credentials in the external_account form google-github-actions/auth
 * writes, with the token endpoint on the fake; returns the file's path.
 */
export function externalAccountCredentials(dir: string, fakeUrl: string): string {
  mkdirSync(dir, { recursive: true });
  const subject = join(dir, 'oidc-token');
  writeFileSync(subject, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmtmb3BzIn0.c2ln');
  const file = join(dir, 'credentials.json');
  writeFileSync(
    file,
    JSON.stringify({
      type: 'external_account',
      audience: '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/github/providers/kfops',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${fakeUrl}v1/token`,
      credential_source: { file: subject },
    }),
  );
  return file;
}

/**
 * A directory holding an executable `gke-gcloud-auth-plugin` that prints an ExecCredential with the
 * token in tokenFile and appends its arguments to `calls` in the same directory.
 */
export function pluginStandIn(token: string, expiresAt: string): { dir: string; calls: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kfops-gke-plugin-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token);
  const calls = join(dir, 'calls');
  const script = join(dir, 'gke-gcloud-auth-plugin');
  writeFileSync(
    script,
    `#!/bin/sh
# Shell builtins only: the tests run it with a PATH that may hold nothing else.
echo "$*" >> '${calls}'
read -r token < '${tokenFile}'
printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false},"status":{"expirationTimestamp":"%s","token":"%s"}}\\n' '${expiresAt}' "$token"
`,
  );
  chmodSync(script, 0o755);
  return { dir, calls };
}

/** A loopback peer that accepts TCP connections and never answers; close() ends them. */
export async function silentPeer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    connections: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback URL where nothing listens (connections are refused). */
export async function refusedUrl(): Promise<string> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/`;
}
