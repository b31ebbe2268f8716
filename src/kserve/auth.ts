import type { KubeClient } from '../kube/client.js';
import type { KubeObject } from '../kube/types.js';
import type { DeploymentMode } from './inferenceservice.js';

export const AUTHZ_API_VERSION = 'security.istio.io/v1beta1';
/** The gateway policies this action must never change (Kubeflow 1.9, istio-system). */
export const PROTECTED_POLICIES = ['istio-ingressgateway-require-jwt', 'istio-ingressgateway-oauth2-proxy'] as const;
/** Label the profile controller puts on every profile namespace. */
export const PROFILE_NAMESPACE_LABEL = 'app.kubernetes.io/part-of';

/**
 * The pod labels that select only this InferenceService's predictor pods: Knative's service label in
 * Serverless mode (as Kubeflow's own KServe test does), the raw Deployment's app label otherwise.
 */
export function predictorSelector(name: string, mode: DeploymentMode): Record<string, string> {
  return mode === 'Serverless'
    ? { 'serving.knative.dev/service': `${name}-predictor` }
    : { app: `isvc.${name}-predictor` };
}

export function policyName(name: string): string {
  return `${name}-predictor-allow`;
}

/**
 * An ALLOW AuthorizationPolicy in the model's namespace that selects only its predictor pods, so the
 * Knative activator and in-cluster callers reach them (a profile namespace's ns-owner-access-istio
 * policy admits only the gateway with the owner's header, which gives `RBAC: access denied`). With
 * `fromNamespaces`, only callers from those namespaces (by mTLS identity) are allowed. Requests through
 * the ingress gateway still need a valid token: the gateway's own policies are not touched.
 */
export function predictorPolicy(
  name: string,
  namespace: string,
  mode: DeploymentMode,
  fromNamespaces: readonly string[] = [],
  labels: Record<string, string> = {},
): KubeObject {
  return {
    apiVersion: AUTHZ_API_VERSION,
    kind: 'AuthorizationPolicy',
    metadata: { name: policyName(name), namespace, labels: { ...labels, 'serving.kserve.io/inferenceservice': name } },
    spec: {
      action: 'ALLOW',
      selector: { matchLabels: predictorSelector(name, mode) },
      rules: fromNamespaces.length ? [{ from: [{ source: { namespaces: [...fromNamespaces] } }] }] : [{}],
    },
  };
}

/** Whether the namespace belongs to a Kubeflow Profile (label, or owned by a Profile). */
export function isProfileNamespace(ns: KubeObject | undefined): boolean {
  if (!ns) return false;
  if (ns.metadata.labels?.[PROFILE_NAMESPACE_LABEL] === 'kubeflow-profile') return true;
  return (ns.metadata.ownerReferences ?? []).some(
    (o) => o.kind === 'Profile' && o.apiVersion.startsWith('kubeflow.org/'),
  );
}

export type AuthDecision = { apply: true; reason: string } | { apply: false; reason: string };

/** auto: only in profile namespaces of clusters that serve AuthorizationPolicy; skip: never. */
export async function decideAuthPolicy(
  client: KubeClient,
  namespace: string,
  mode: 'auto' | 'skip',
): Promise<AuthDecision> {
  if (mode === 'skip') return { apply: false, reason: 'auth-policy: skip' };
  const ns = await client.get({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
  if (!isProfileNamespace(ns))
    return { apply: false, reason: `namespace ${namespace} is not a Kubeflow profile namespace` };
  const served = await client.objects.discover(AUTHZ_API_VERSION, 'AuthorizationPolicy').catch(() => undefined);
  if (!served)
    return { apply: false, reason: `the cluster does not serve AuthorizationPolicy (${AUTHZ_API_VERSION}): no Istio` };
  return { apply: true, reason: `namespace ${namespace} is a Kubeflow profile namespace` };
}
