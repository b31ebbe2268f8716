/**
 * What the doctor reads from the cluster, once, before any check runs: lists of the kinds the checks
 * need. A list the credentials may not read is recorded as such (the checks that need it then say
 * "unknown", never "ok"); a kind the cluster does not serve is an empty list marked not served.
 * Secrets are read as metadata only: the doctor never fetches a secret's value.
 */
import type { KubeClient } from '../kube/client.js';
import { statusCodeOf } from '../kube/errors.js';
import type { KubeObject } from '../kube/types.js';

export type Listing =
  | { readable: true; served: boolean; items: KubeObject[] }
  | { readable: false; served: true; items: []; reason: string };

export const KINDS = {
  storageClasses: { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass' },
  pvcs: { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  pods: { apiVersion: 'v1', kind: 'Pod' },
  nodes: { apiVersion: 'v1', kind: 'Node' },
  services: { apiVersion: 'v1', kind: 'Service' },
  endpointSlices: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' },
  crds: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' },
  validatingWebhooks: { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration' },
  mutatingWebhooks: { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' },
  deployments: { apiVersion: 'apps/v1', kind: 'Deployment' },
  configMaps: { apiVersion: 'v1', kind: 'ConfigMap' },
  /** Metadata only (names, labels): never a value. */
  secrets: { apiVersion: 'v1', kind: 'Secret' },
  inferenceServices: { apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService' },
  namespaces: { apiVersion: 'v1', kind: 'Namespace' },
  profiles: { apiVersion: 'kubeflow.org/v1', kind: 'Profile' },
  authorizationPolicies: { apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy' },
  requestAuthentications: { apiVersion: 'security.istio.io/v1beta1', kind: 'RequestAuthentication' },
} as const;

export type SnapshotKey = keyof typeof KINDS | 'issuer';
/** The lists, and the API server's service-account token issuer (its OpenID discovery document). */
export type Snapshot = Record<keyof typeof KINDS, Listing> & { issuer: Listing };

/** The listing as a check reads it (tests build snapshots from plain objects). */
export const listed = (items: KubeObject[]): Listing => ({ readable: true, served: true, items });

/**
 * Reads the kinds the checks need (all, or `only`), concurrently; each list fails alone. A kind left
 * out is recorded as not read, so a check that needs it says "unknown".
 */
export async function readSnapshot(client: KubeClient, only?: ReadonlySet<SnapshotKey>): Promise<Snapshot> {
  const entries = await Promise.all(
    (Object.entries(KINDS) as [keyof typeof KINDS, (typeof KINDS)[keyof typeof KINDS]][]).map(async ([key, ref]) => {
      if (only && !only.has(key))
        return [key, { readable: false, served: true, items: [], reason: 'not read' } as Listing] as const;
      try {
        if (key === 'secrets') {
          const { path } = await client.collectionPath(ref);
          const r = await client.request<{ items?: KubeObject[] }>('GET', path, {
            accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
          });
          return [key, listed((r.items ?? []).map((i) => ({ ...i, apiVersion: 'v1', kind: 'Secret' })))] as const;
        }
        const { items } = await client.list(ref);
        return [key, listed(items.map((i) => ({ ...i, apiVersion: ref.apiVersion, kind: ref.kind })))] as const;
      } catch (error) {
        const status = statusCodeOf(error);
        const reason = (error as { reason?: string }).reason;
        if (status === 404 || reason === 'kind-not-served')
          return [key, { readable: true, served: false, items: [] } as Listing] as const;
        if (status === 403 || reason === 'forbidden')
          return [
            key,
            {
              readable: false,
              served: true,
              items: [],
              reason: `forbidden: the credentials may not list ${ref.kind}s`,
            } as Listing,
          ] as const;
        return [
          key,
          {
            readable: false,
            served: true,
            items: [],
            reason: error instanceof Error ? error.message : String(error),
          } as Listing,
        ] as const;
      }
    }),
  );
  let issuer: Listing;
  if (only && !only.has('issuer')) issuer = { readable: false, served: true, items: [], reason: 'not read' };
  else
    try {
      const doc = await client.request<{ issuer?: string }>('GET', '/.well-known/openid-configuration');
      issuer = listed(doc?.issuer ? [{ apiVersion: 'v1', kind: 'Issuer', metadata: { name: doc.issuer } }] : []);
    } catch (error) {
      issuer = {
        readable: false,
        served: true,
        items: [],
        reason: `the service-account issuer could not be read: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  return { ...(Object.fromEntries(entries) as Record<keyof typeof KINDS, Listing>), issuer };
}
