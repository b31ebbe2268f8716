import { createHash } from 'node:crypto';
import { KfopsError } from '../common/errors.js';
import { DEFAULT_AUDIENCE } from '../inference/endpoint.js';
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
  for (const k of ['resourceVersion', 'uid', 'managedFields', 'creationTimestamp', 'generation'] as const)
    delete (copy.metadata as unknown as Record<string, unknown>)[k];
  delete copy['status'];
  objects.push(copy);
  return copy;
}

/** Makes the Istio ingress gateway a LoadBalancer (Kubeflow ships it as ClusterIP). */
export function exposeGateway(objects: KubeObject[], live: KubeObject | undefined): void {
  const svc =
    find(objects, 'Service', GATEWAY.namespace, GATEWAY.name) ??
    fromLive(
      objects,
      live,
      'Service istio-system/istio-ingressgateway',
      'install Istio (common/istio) with the same run, or set expose: none',
    );
  (svc['spec'] as Record<string, unknown>)['type'] = 'LoadBalancer';
}

/** The gateway's external address from its status, if the load balancer has one. */
export function gatewayAddress(svc: KubeObject | undefined): string | undefined {
  const ingress = ((
    svc?.['status'] as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined
  )?.loadBalancer?.ingress ?? [])[0];
  return ingress?.ip ?? ingress?.hostname;
}

export const loadBalancerRule: ReadinessRule = {
  name: 'LoadBalancer address assigned',
  check: (o) => {
    const address = gatewayAddress(o);
    return address
      ? { state: 'ready', message: address }
      : {
          state: 'pending',
          message: `type ${String((o['spec'] as { type?: string })?.type)}, no load balancer address yet`,
        };
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
  const cm =
    find(objects, 'ConfigMap', 'knative-serving', 'config-domain') ??
    fromLive(
      objects,
      live,
      'ConfigMap knative-serving/config-domain',
      'install Knative Serving with the same run, or leave domain empty',
    );
  const data = (cm['data'] ??= {}) as Record<string, string>;
  for (const k of Object.keys(data)) if (k !== '_example') delete data[k];
  data[domain] = '';
}

/** The service-account token issuer the API server really uses (GKE's differs from Kubeflow's default). */
export async function discoverIssuer(client: KubeClient): Promise<string> {
  try {
    const doc = await client.request<{ issuer?: string }>('GET', '/.well-known/openid-configuration');
    if (!doc?.issuer) throw new KfopsError("the API server's /.well-known/openid-configuration has no issuer");
    return doc.issuer;
  } catch (error) {
    if (error instanceof KfopsError) throw error;
    throw explainKubeError(error, {
      action: 'read the service-account issuer (GET /.well-known/openid-configuration)',
      server: client.server,
    });
  }
}

/** What setM2mIssuer changed besides the issuer. */
export interface M2mChanges {
  /** The RequestAuthentication was neither in the manifests nor on the cluster and was added. */
  created: boolean;
  /** Name of the oauth2-proxy parameters ConfigMap whose EXTRA_JWT_ISSUERS now lists the issuer, when the manifests have it. */
  oauth2ProxyParameters?: string;
}

export interface M2mOptions {
  /** Audience of the tokens oauth2-proxy accepts from the issuer (default: the gateway's, as the smoke test mints them). */
  audience?: string;
  /** Where Istio fetches the issuer's keys when the issuer does not serve OpenID discovery itself (e.g. an in-cluster issuer behind a self-signed certificate). */
  jwksUri?: string;
}

const OAUTH2_PROXY_NAMESPACE = 'oauth2-proxy';
const OAUTH2_PROXY_PARAMETERS = 'oauth2-proxy-parameters';
const EXTRA_JWT_ISSUERS = 'EXTRA_JWT_ISSUERS';
const OAUTH2_PROXY_DIGEST = 'kfops.dev/oauth2-proxy-parameters-digest';

/**
 * The RequestAuthentication of kubeflow/manifests' common/oauth2-proxy istio-m2m component, for
 * `issuer`: checked at the ingress gateway only, the token taken from `Authorization: Bearer` and kept
 * for the upstream, its `sub` written to kubeflow-userid and its `groups` to kubeflow-groups (which also
 * overwrites any kubeflow-groups header the caller sent). Without jwksUri Istio finds the keys by
 * OpenID discovery on the issuer.
 */
export function m2mRequestAuthentication(issuer: string, jwksUri?: string): KubeObject {
  return {
    apiVersion: 'security.istio.io/v1beta1',
    kind: M2M.kind,
    metadata: { name: M2M.name, namespace: M2M.namespace },
    spec: {
      selector: { matchLabels: { app: 'istio-ingressgateway' } },
      jwtRules: [
        {
          issuer,
          ...(jwksUri ? { jwksUri } : {}),
          forwardOriginalToken: true,
          outputClaimToHeaders: [
            { header: 'kubeflow-userid', claim: 'sub' },
            { header: 'kubeflow-groups', claim: 'groups' },
          ],
          fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
        },
      ],
    },
  };
}

/**
 * Lists `issuer=audience` in oauth2-proxy's EXTRA_JWT_ISSUERS (the ConfigMap oauth2-proxy-parameters,
 * with kustomize's hash suffix, that the Deployment reads into OAUTH2_PROXY_EXTRA_JWT_ISSUERS), keeping
 * other issuers listed there, and marks the Deployment's pod template with a digest of the parameters so
 * that running pods, which read them only at start, are replaced when they change. Returns the
 * ConfigMap's name, or undefined when the manifests do not install oauth2-proxy.
 */
function acceptIssuerInOauth2Proxy(objects: KubeObject[], issuer: string, audience: string): string | undefined {
  const cm = objects.find(
    (o) =>
      o.kind === 'ConfigMap' &&
      o.metadata.namespace === OAUTH2_PROXY_NAMESPACE &&
      (o.metadata.name === OAUTH2_PROXY_PARAMETERS || o.metadata.name.startsWith(`${OAUTH2_PROXY_PARAMETERS}-`)),
  );
  if (!cm) return undefined;
  const data = (cm['data'] ??= {}) as Record<string, string>;
  const others = (data[EXTRA_JWT_ISSUERS] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && !s.startsWith(`${issuer}=`));
  data[EXTRA_JWT_ISSUERS] = [...others, `${issuer}=${audience}`].join(',');
  const digest = createHash('sha256')
    .update(JSON.stringify(Object.entries(data).sort(([a], [b]) => a.localeCompare(b))))
    .digest('hex')
    .slice(0, 16);
  interface Container {
    env?: { valueFrom?: { configMapKeyRef?: { name?: string } } }[];
    envFrom?: { configMapRef?: { name?: string } }[];
  }
  for (const d of objects) {
    if (d.kind !== 'Deployment' || d.metadata.namespace !== OAUTH2_PROXY_NAMESPACE) continue;
    const template = (((d['spec'] ??= {}) as Record<string, unknown>)['template'] ??= {}) as {
      metadata?: { annotations?: Record<string, string> };
      spec?: { containers?: Container[] };
    };
    const reads = (template.spec?.containers ?? []).some(
      (c) =>
        (c.env ?? []).some((e) => e.valueFrom?.configMapKeyRef?.name === cm.metadata.name) ||
        (c.envFrom ?? []).some((e) => e.configMapRef?.name === cm.metadata.name),
    );
    if (reads)
      template.metadata = {
        ...template.metadata,
        annotations: { ...template.metadata?.annotations, [OAUTH2_PROXY_DIGEST]: digest },
      };
  }
  return cm.metadata.name;
}

/**
 * Machine-to-machine auth with the cluster's real service-account issuer, so ServiceAccount tokens are
 * accepted at the gateway ("Jwt issuer is not configured" otherwise):
 * - RequestAuthentication istio-system/m2m-token-issuer: when the manifests or the cluster have it, only
 *   its (first) issuer changes; when neither has it (kubeflow/manifests' example uses the m2m-dex-only
 *   overlay, which has none), it is added as the istio-m2m component declares it;
 * - oauth2-proxy, when the manifests install it, accepts the issuer's tokens for `audience`.
 * istio-ingressgateway-require-jwt is never touched.
 */
export function setM2mIssuer(
  objects: KubeObject[],
  issuer: string,
  live: KubeObject | undefined,
  options: M2mOptions = {},
): M2mChanges {
  let created = false;
  let ra = find(objects, M2M.kind, M2M.namespace, M2M.name);
  if (!ra && live) ra = fromLive(objects, live, 'RequestAuthentication istio-system/m2m-token-issuer', '');
  if (ra) {
    const rules = (((ra['spec'] ??= {}) as Record<string, unknown>)['jwtRules'] ??= [{}]) as Record<string, unknown>[];
    if (rules.length === 0) rules.push({});
    (rules[0] as Record<string, unknown>)['issuer'] = issuer;
    if (options.jwksUri) (rules[0] as Record<string, unknown>)['jwksUri'] = options.jwksUri;
  } else {
    objects.push(m2mRequestAuthentication(issuer, options.jwksUri));
    created = true;
  }
  const parameters = acceptIssuerInOauth2Proxy(objects, issuer, options.audience ?? DEFAULT_AUDIENCE);
  return { created, ...(parameters ? { oauth2ProxyParameters: parameters } : {}) };
}
