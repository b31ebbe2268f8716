import { KfopsError } from '../common/errors.js';
import type { KubeClient } from '../kube/client.js';
import { explainKubeError } from '../kube/errors.js';
import type { ReadinessRule } from '../kube/readiness.js';
import type { KubeObject } from '../kube/types.js';
import { waitFor, type WaitOptions } from '../kube/wait.js';

export const GATEWAY = { apiVersion: 'v1', kind: 'Service', name: 'istio-ingressgateway', namespace: 'istio-system' };
export const REQUIRE_JWT_POLICY = 'istio-ingressgateway-require-jwt';
const M2M = { kind: 'RequestAuthentication', name: 'm2m-token-issuer', namespace: 'istio-system' };

const find = (objects: KubeObject[], kind: string, namespace: string, name: string): KubeObject | undefined =>
  objects.find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace);

function fromLive(objects: KubeObject[], live: KubeObject | undefined, what: string, fix: string): KubeObject {
  if (!live) throw new KfopsError(`${what} is neither in the manifests nor on the cluster`, { fix });
  const copy = structuredClone(live);
  for (const k of ['resourceVersion', 'uid', 'managedFields', 'creationTimestamp', 'generation'] as const) delete (copy.metadata as unknown as Record<string, unknown>)[k];
  delete copy['status'];
  objects.push(copy);
  return copy;
}

/** Makes the Istio ingress gateway a LoadBalancer (Kubeflow ships it as ClusterIP). */
export function exposeGateway(objects: KubeObject[], live: KubeObject | undefined): void {
  const svc = find(objects, 'Service', GATEWAY.namespace, GATEWAY.name) ?? fromLive(objects, live, 'Service istio-system/istio-ingressgateway', 'install Istio (common/istio) with the same run, or set expose: none');
  (svc['spec'] as Record<string, unknown>)['type'] = 'LoadBalancer';
}

/** The gateway's external address from its status, if the load balancer has one. */
export function gatewayAddress(svc: KubeObject | undefined): string | undefined {
  const ingress = ((svc?.['status'] as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)?.loadBalancer?.ingress ?? [])[0];
  return ingress?.ip ?? ingress?.hostname;
}

export const loadBalancerRule: ReadinessRule = {
  name: 'LoadBalancer address assigned',
  check: (o) => {
    const address = gatewayAddress(o);
    return address ? { state: 'ready', message: address } : { state: 'pending', message: `type ${String((o['spec'] as { type?: string })?.type)}, no load balancer address yet` };
  },
};

/** Waits for the gateway's load balancer address (the cloud provider assigns it). */
export async function waitForGatewayAddress(client: KubeClient, options: WaitOptions): Promise<string> {
  const svc = await waitFor(client, GATEWAY, loadBalancerRule, options);
  return gatewayAddress(svc) as string;
}

/** The Knative domain for a gateway address: `sslip` gives the magic-DNS name <ip>.sslip.io. */
export function knativeDomain(domain: string, address: string | undefined): string | undefined {
  if (domain !== 'sslip') return domain;
  return address && /^\d+\.\d+\.\d+\.\d+$/.test(address) ? `${address}.sslip.io` : undefined;
}

/** Sets Knative's config-domain so InferenceService URLs use `domain` (external) instead of cluster-local names. */
export function setKnativeDomain(objects: KubeObject[], domain: string, live: KubeObject | undefined): void {
  const cm = find(objects, 'ConfigMap', 'knative-serving', 'config-domain') ?? fromLive(objects, live, 'ConfigMap knative-serving/config-domain', 'install Knative Serving with the same run, or leave domain empty');
  const data = ((cm['data'] ??= {}) as Record<string, string>);
  for (const k of Object.keys(data)) if (k !== '_example') delete data[k];
  data[domain] = '';
}

/** The service-account token issuer the API server really uses (GKE's differs from Kubeflow's default). */
export async function discoverIssuer(client: KubeClient): Promise<string> {
  try {
    const doc = await client.request<{ issuer?: string }>('GET', '/.well-known/openid-configuration');
    if (!doc?.issuer) throw new KfopsError('the API server\'s /.well-known/openid-configuration has no issuer');
    return doc.issuer;
  } catch (error) {
    if (error instanceof KfopsError) throw error;
    throw explainKubeError(error, { action: 'read the service-account issuer (GET /.well-known/openid-configuration)', server: client.server });
  }
}

/**
 * Points the m2m-token-issuer RequestAuthentication at the cluster's real issuer, so ServiceAccount
 * tokens are accepted at the gateway ("Jwt issuer is not configured" otherwise). Only the issuer
 * changes; istio-ingressgateway-require-jwt is never touched.
 */
export function setM2mIssuer(objects: KubeObject[], issuer: string, live: KubeObject | undefined): void {
  const ra = find(objects, M2M.kind, M2M.namespace, M2M.name) ?? fromLive(objects, live, 'RequestAuthentication istio-system/m2m-token-issuer', 'install Kubeflow\'s common/oauth2-proxy m2m component with the same run, or set m2m-auth: false');
  const rules = (((ra['spec'] ??= {}) as Record<string, unknown>)['jwtRules'] ??= [{}]) as Record<string, unknown>[];
  if (rules.length === 0) rules.push({});
  (rules[0] as Record<string, unknown>)['issuer'] = issuer;
}
