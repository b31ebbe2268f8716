import { dump } from 'js-yaml';
import { KfopsError } from '../common/errors.js';
import type { Cluster, ClusterRef } from './types.js';

export const AUTH_PLUGIN = 'gke-gcloud-auth-plugin';
export const AUTH_PLUGIN_HINT =
  'Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin, or google-github-actions/setup-gcloud with install_components: gke-gcloud-auth-plugin)';

/** Which control plane address the kubeconfig uses. */
export type EndpointMode = 'public' | 'private' | 'dns';

export type KubeconfigAuth =
  /** The exec plugin: it fetches and refreshes tokens itself, so the kubeconfig outlives an hour. */
  | { kind: 'exec'; command: string; args: string[] }
  /** A fixed bearer token; it stops working when it expires. */
  | { kind: 'token'; token: string };

/** The https URL of the control plane for the chosen endpoint, and whether the cluster's CA signs it. */
export function controlPlaneAddress(
  cluster: Cluster,
  ref: ClusterRef,
  mode: EndpointMode,
): { server: string; useClusterCa: boolean } {
  const ip = cluster.controlPlaneEndpointsConfig?.ipEndpointsConfig;
  if (mode === 'dns') {
    const dns = cluster.controlPlaneEndpointsConfig?.dnsEndpointConfig?.endpoint;
    if (!dns) {
      throw new KfopsError(`Cluster ${ref.name} has no DNS-based control plane endpoint`, {
        cause: 'controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint is empty',
        fix: 'enable it (gcloud container clusters update NAME --enable-dns-access) or use endpoint: public or private',
      });
    }
    if (!cluster.controlPlaneEndpointsConfig?.dnsEndpointConfig?.allowExternalTraffic) {
      throw new KfopsError(`Cluster ${ref.name}'s DNS-based control plane endpoint does not allow external traffic`, {
        cause: `controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic is off, so ${dns} refuses requests from this runner`,
        fix: 'run with update: true (it turns external traffic on), or gcloud container clusters update NAME --enable-dns-access, or use endpoint: public or private',
      });
    }
    // The DNS endpoint is served with a publicly trusted certificate, not the cluster CA.
    return { server: `https://${dns}`, useClusterCa: false };
  }
  if (mode === 'private') {
    // ipEndpointsConfig first; the deprecated privateClusterConfig field for older clusters.
    const addr = ip?.privateEndpoint ?? cluster.privateClusterConfig?.privateEndpoint;
    if (!addr) {
      throw new KfopsError(`Cluster ${ref.name} has no private control plane endpoint`, {
        cause:
          'controlPlaneEndpointsConfig.ipEndpointsConfig.privateEndpoint is empty (the cluster has no private nodes / internal endpoint)',
        fix: 'use endpoint: public, or create the cluster with private-nodes: true',
      });
    }
    return { server: `https://${addr}`, useClusterCa: true };
  }
  const addr = cluster.endpoint ?? ip?.publicEndpoint ?? cluster.privateClusterConfig?.publicEndpoint;
  if (!addr) {
    throw new KfopsError(`Cluster ${ref.name} has no public control plane endpoint`, {
      cause: (
        ip?.enablePublicEndpoint === undefined
          ? cluster.privateClusterConfig?.enablePrivateEndpoint
          : !ip.enablePublicEndpoint
      )
        ? 'the cluster only has a private endpoint'
        : 'the API returned no endpoint (is the cluster still provisioning?)',
      fix: 'use endpoint: private from a runner inside the VPC, or endpoint: dns',
    });
  }
  return { server: `https://${addr}`, useClusterCa: true };
}

/** The context name gcloud uses: gke_PROJECT_LOCATION_NAME. */
export function contextName(ref: ClusterRef): string {
  return `gke_${ref.project}_${ref.location}_${ref.name}`;
}

/** A kubeconfig for the cluster (YAML) with one cluster, user and context. */
export function renderKubeconfig(
  cluster: Cluster,
  ref: ClusterRef,
  mode: EndpointMode,
  auth: KubeconfigAuth,
): { yaml: string; server: string; context: string } {
  const { server, useClusterCa } = controlPlaneAddress(cluster, ref, mode);
  const ca = cluster.masterAuth?.clusterCaCertificate;
  if (useClusterCa && !ca) {
    throw new KfopsError(`Cluster ${ref.name} has no CA certificate in masterAuth.clusterCaCertificate`, {
      cause: 'the API returned the cluster without its CA',
      fix: 'wait until the cluster is RUNNING and run again',
    });
  }
  const name = contextName(ref);
  const user =
    auth.kind === 'exec'
      ? {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1beta1',
            command: auth.command,
            ...(auth.args.length ? { args: auth.args } : {}),
            installHint: AUTH_PLUGIN_HINT,
            provideClusterInfo: true,
            interactiveMode: 'Never',
          },
        }
      : { token: auth.token };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, ...(useClusterCa ? { 'certificate-authority-data': ca } : {}) } }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
    preferences: {},
  };
  return { yaml: dump(doc, { lineWidth: -1, noRefs: true }), server, context: name };
}

/** The issuer of the cluster's service-account tokens (what its OIDC discovery document reports). */
export function serviceAccountIssuer(ref: ClusterRef): string {
  return `https://container.googleapis.com/v1/projects/${ref.project}/locations/${ref.location}/clusters/${ref.name}`;
}
