/**
 * Where to call a model: a given URL (+ Host header), or an InferenceService read from the cluster,
 * called through the Istio ingress gateway with the Host of its status.url, or at its cluster-local address.
 */
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { KubeClient } from '../kube/client.js';
import { explainKubeError } from '../kube/errors.js';
import type { Readiness } from '../kube/readiness.js';
import { conditionOf, type KubeObject } from '../kube/types.js';
import { waitFor, WaitTimeoutError } from '../kube/wait.js';
import type { Endpoint } from './endpoint.js';
import type { Protocol } from './protocol.js';

export const INFERENCESERVICE = { apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService' };
export const INGRESS_GATEWAY = {
  apiVersion: 'v1',
  kind: 'Service',
  namespace: 'istio-system',
  name: 'istio-ingressgateway',
};

export type Route = 'gateway' | 'cluster-local';

export interface InferenceServiceInfo {
  url?: string;
  clusterLocalUrl?: string;
  protocol: Protocol;
  /** Where the protocol came from, for the log. */
  protocolSource: string;
  ready?: string;
}

const predictorOf = (isvc: KubeObject): Record<string, unknown> =>
  (isvc['spec'] as { predictor?: Record<string, unknown> } | undefined)?.predictor ?? {};

/**
 * The protocol an InferenceService serves: spec.predictor.model.protocolVersion, or the legacy
 * per-framework field; unset means v1, except for MLflow models (MLServer speaks only v2).
 */
export function protocolOf(isvc: KubeObject): { protocol: Protocol; source: string } {
  const predictor = predictorOf(isvc);
  const model = (predictor['model'] ??
    Object.values(predictor).find((v) => v && typeof v === 'object' && 'storageUri' in (v as object))) as
    { protocolVersion?: string; modelFormat?: { name?: string } } | undefined;
  const declared = model?.protocolVersion;
  if (declared === 'v1' || declared === 'v2')
    return { protocol: declared, source: `spec.predictor protocolVersion ${declared}` };
  if (declared) {
    throw new KfopsError(
      `InferenceService ${isvc.metadata.namespace}/${isvc.metadata.name} serves protocol ${declared}, which this check cannot call`,
      {
        cause: 'only the REST protocols v1 and v2 are supported; gRPC endpoints need a gRPC client',
        fix: 'smoke-test a REST deployment of the model, or set protocol explicitly if the server also serves REST',
      },
    );
  }
  if (model?.modelFormat?.name?.toLowerCase() === 'mlflow' || 'mlflow' in predictor)
    return { protocol: 'v2', source: 'model format mlflow (MLServer speaks only v2)' };
  return { protocol: 'v1', source: "no protocolVersion set (KServe's default is v1)" };
}

export function inferenceServiceInfo(isvc: KubeObject): Omit<InferenceServiceInfo, 'protocol' | 'protocolSource'> {
  const status = (isvc['status'] ?? {}) as { url?: string; address?: { url?: string } };
  const ready = conditionOf(isvc, 'Ready');
  return {
    ...(status.url ? { url: status.url } : {}),
    ...(status.address?.url ? { clusterLocalUrl: status.address.url } : {}),
    ...(ready
      ? {
          ready: `${ready.status}${ready.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}`,
        }
      : {}),
  };
}

export const isClusterLocal = (url: string): boolean => /\.svc(\.cluster\.local)?$/.test(new URL(url).hostname);

/** The gateway's external address (LoadBalancer ingress) and the port for the scheme. */
export function gatewayBase(svc: KubeObject, scheme: 'http' | 'https'): string | undefined {
  const ingress = ((svc['status'] as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)
    ?.loadBalancer?.ingress ?? [])[0];
  const host = ingress?.ip ?? ingress?.hostname;
  if (!host) return undefined;
  const ports = (svc['spec'] as { ports?: { name?: string; port: number }[] } | undefined)?.ports ?? [];
  const wanted = scheme === 'https' ? ['https', 443] : ['http2', 'http', 80];
  const port =
    ports.find((p) => wanted.includes(p.name ?? '') || wanted.includes(p.port))?.port ??
    (scheme === 'https' ? 443 : 80);
  const defaultPort = scheme === 'https' ? 443 : 80;
  const h = host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${h}${port === defaultPort ? '' : `:${port}`}`;
}

/** `1.2.3.4`, `1.2.3.4:8080`, `gw.example.com` or a URL -> a base URL with the scheme given when none is. */
export function addressBase(address: string, scheme: 'http' | 'https'): string {
  const withScheme = /^https?:\/\//.test(address) ? address : `${scheme}://${address}`;
  return withScheme.replace(/\/+$/, '');
}

export interface ResolveOptions {
  name: string;
  namespace: string;
  route: Route;
  ingressAddress?: string;
  /** Overrides the model name (default: the InferenceService's name). */
  model?: string;
  timeoutMs: number;
  logger?: Logger;
}

/**
 * Reads the InferenceService (waiting for its status.url) and decides where to call it.
 * KServe's Ready condition is logged but not trusted: the calls that follow are the proof.
 */
export async function resolveInferenceService(
  client: KubeClient,
  options: ResolveOptions,
): Promise<{ endpoint: Endpoint; info: InferenceServiceInfo }> {
  const logger = options.logger ?? silentLogger;
  const ref = { ...INFERENCESERVICE, namespace: options.namespace, name: options.name };
  const where = `InferenceService ${options.namespace}/${options.name}`;
  let isvc: KubeObject;
  try {
    const first = await client.get(ref);
    if (!first) {
      throw new KfopsError(`${where} was not found`, {
        cause: `no InferenceService named "${options.name}" in namespace "${options.namespace}"`,
        fix: 'deploy it first (deploy-inferenceservice) or correct `inferenceservice` and `namespace`',
      });
    }
    const wantUrl = options.route === 'cluster-local' ? 'status.address.url' : 'status.url';
    isvc = await waitFor(
      client,
      ref,
      {
        name: `${wantUrl} set`,
        check: (o): Readiness => {
          const i = inferenceServiceInfo(o);
          const url = options.route === 'cluster-local' ? i.clusterLocalUrl : i.url;
          return url
            ? { state: 'ready', message: url }
            : { state: 'pending', message: `no ${wantUrl} yet (Ready ${i.ready ?? 'not reported'})` };
        },
      },
      { timeoutMs: options.timeoutMs, logger },
    );
  } catch (error) {
    if (error instanceof WaitTimeoutError) {
      throw new KfopsError(`${where} has no URL yet`, {
        cause: `${error.details.cause ?? ''}: KServe sets the URL once the predictor's route exists`,
        fix: "look at the InferenceService's conditions (kubectl describe inferenceservice) for the reason the predictor is not ready",
      });
    }
    if (error instanceof KfopsError) throw error;
    throw explainKubeError(error, { action: `read ${where}`, server: client.server });
  }
  const { protocol, source } = protocolOf(isvc);
  const info: InferenceServiceInfo = { ...inferenceServiceInfo(isvc), protocol, protocolSource: source };
  logger.info(
    `${where}: url ${info.url ?? '(none)'}, cluster-local ${info.clusterLocalUrl ?? '(none)'}, Ready ${info.ready ?? 'not reported'}, protocol ${protocol} (${source})`,
  );
  const model = options.model ?? options.name;
  const inferenceService = { namespace: options.namespace, name: options.name };
  if (options.route === 'cluster-local') {
    const base = (info.clusterLocalUrl as string).replace(/\/+$/, '');
    return {
      endpoint: { baseUrl: base, model, via: `${where} at its cluster-local address ${base}`, inferenceService },
      info,
    };
  }
  const url = new URL(info.url as string);
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  let base: string;
  let via: string;
  if (options.ingressAddress) {
    base = addressBase(options.ingressAddress, scheme);
    via = `${where} through the ingress address ${base}`;
  } else {
    const svc = await client.get(INGRESS_GATEWAY).catch((error: unknown) => {
      throw explainKubeError(error, {
        action: 'read Service istio-system/istio-ingressgateway',
        server: client.server,
      });
    });
    if (!svc) {
      throw new KfopsError('Service istio-system/istio-ingressgateway was not found', {
        cause: 'the Istio ingress gateway is not installed where Kubeflow installs it',
        fix: 'give `ingress-address` (the address that reaches the gateway), or use `route: cluster-local` from inside the cluster',
      });
    }
    const found = gatewayBase(svc, scheme);
    if (!found) {
      const type = (svc['spec'] as { type?: string } | undefined)?.type ?? 'ClusterIP';
      throw new KfopsError('the ingress gateway has no external address', {
        cause: `Service istio-system/istio-ingressgateway is of type ${type} with no load balancer address${type === 'ClusterIP' ? ' (Kubeflow ships it as ClusterIP)' : ' yet'}`,
        fix: 'expose it (install-kubeflow with `expose: loadbalancer`), or give `ingress-address` (e.g. a port-forward such as 127.0.0.1:8080)',
      });
    }
    base = found;
    via = `${where} through the ingress gateway at ${base}`;
  }
  const endpoint: Endpoint = {
    baseUrl: base,
    hostHeader: url.host,
    model,
    via,
    inferenceService,
    ...(isClusterLocal(url.href) ? { clusterLocalUrl: url.href } : {}),
  };
  if (endpoint.clusterLocalUrl)
    logger.warning(
      `${where}'s URL ${url.href} is cluster-local: the ingress gateway will not route it (Knative's config-domain has no external domain)`,
    );
  return { endpoint, info };
}
