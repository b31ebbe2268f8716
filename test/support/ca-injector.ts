/**
 * Does on the local control plane what four components do on a real cluster: write the CA that signed
 * a webhook's serving certificate into the caBundle fields of the webhook configurations (and CRD
 * conversion webhooks) that call it. Here every stand-in's serving certificate is signed by the
 * cluster CA (see webhook-standin.ts), so that is what gets injected; each injector acts only when the
 * real component would, and writes under the real component's field manager with an update (a JSON
 * patch, not server-side apply), so managedFields show what they show on a real cluster:
 *
 * - cert-manager's cainjector ("cainjector"): objects annotated cert-manager.io/inject-ca-from:
 *   <ns>/<Certificate>, once Deployment cert-manager/cert-manager-cainjector is ready and the Certificate
 *   exists; cert-manager.io/inject-ca-from-secret: <ns>/<Secret>, once cainjector and
 *   cert-manager-webhook (which makes that Secret) are ready. Webhook configurations and CRDs whose
 *   conversion strategy is Webhook.
 * - istiod ("pilot-discovery"): webhook configurations that call Service istio-system/istiod, once
 *   Deployment istio-system/istiod is ready.
 * - Knative's webhook ("webhook"): those calling knative-serving/webhook or
 *   knative-serving/net-istio-webhook, once that Deployment is ready.
 * - training-operator's cert-controller ("training-operator"): those calling kubeflow/training-operator,
 *   once that Deployment is ready.
 *
 * Like their controllers, each one writes the CA again whenever someone resets it.
 */
import type { KubeClient } from '../../src/kube/client.js';
import { deploymentRule, type ReadinessRule } from '../../src/kube/readiness.js';
import type { KubeObject, ObjectRef } from '../../src/kube/types.js';
import { waitUntil, type WatchTarget } from '../../src/kube/wait.js';
import { clusterCaBundle } from './webhook-standin.js';

export interface CaInjectorOptions {
  /** Injectors to leave out, by component name ('cainjector' | 'istiod' | 'knative' | 'training-operator'), or Services "ns/name" whose webhooks must never be injected (a CA bundle that never arrives). */
  skip?: string[];
}

export interface CaInjector {
  /** Injections done: "<Kind> <name>: <webhook or 'conversion'> by <fieldManager>". */
  injected: string[];
  stop(): Promise<void>;
}

type Component = 'cainjector' | 'istiod' | 'knative' | 'training-operator';

const MANAGER: Record<Component, string> = {
  cainjector: 'cainjector',
  istiod: 'pilot-discovery',
  knative: 'webhook',
  'training-operator': 'training-operator',
};

/** Components that inject the CA of their own webhook Service: Service "ns/name" -> component (the Deployment has the Service's name). */
const SELF_INJECTING: Record<string, Component> = {
  'istio-system/istiod': 'istiod',
  'knative-serving/webhook': 'knative',
  'knative-serving/net-istio-webhook': 'knative',
  'kubeflow/training-operator': 'training-operator',
};

const CAINJECTOR = 'cert-manager/cert-manager-cainjector';
const CERT_MANAGER_WEBHOOK = 'cert-manager/cert-manager-webhook';
const INJECT_FROM = 'cert-manager.io/inject-ca-from';
const INJECT_FROM_SECRET = 'cert-manager.io/inject-ca-from-secret';
const WEBHOOK_KINDS = ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'];

interface ClientConfig {
  caBundle?: string;
  service?: { namespace?: string; name?: string };
}
interface Webhook {
  name: string;
  clientConfig?: ClientConfig;
}
interface Conversion {
  strategy?: string;
  webhook?: { clientConfig?: ClientConfig };
}

const keyOf = (o: KubeObject): string => `${o.kind} ${o.metadata.name}`;
const serviceOf = (c: ClientConfig | undefined): string | undefined =>
  c?.service?.name && c.service.namespace ? `${c.service.namespace}/${c.service.name}` : undefined;

/** Injects the cluster CA into caBundle fields as the real components do (see the file comment). */
export function startCaInjector(client: KubeClient, clusterDir: string, options: CaInjectorOptions = {}): CaInjector {
  const ca = clusterCaBundle(clusterDir);
  const skip = new Set(options.skip ?? []);
  const injected: string[] = [];
  const abort = new AbortController();
  const signal = abort.signal;

  const readyDeployments = new Set<string>();
  const certificates = new Set<string>();
  const targets = new Map<string, KubeObject>();
  /** Per object: the resourceVersion the last patch was made from, and the one it produced. */
  const patchedFrom = new Map<string, string>();
  const patchMade = new Map<string, string>();
  const inFlight = new Set<string>();
  const pending = new Set<Promise<void>>();

  /** Who injects into o and whether it would now; undefined when nobody does (or it is skipped). */
  const injectorOf = (o: KubeObject): { component: Component; ready: boolean } | undefined => {
    const annotations = o.metadata.annotations ?? {};
    const services = WEBHOOK_KINDS.includes(o.kind)
      ? ((o['webhooks'] as Webhook[] | undefined) ?? []).map((w) => serviceOf(w.clientConfig))
      : [serviceOf((o['spec'] as { conversion?: Conversion } | undefined)?.conversion?.webhook?.clientConfig)];
    if (services.some((s) => s !== undefined && skip.has(s))) return undefined;
    const fromCertificate = annotations[INJECT_FROM];
    const fromSecret = annotations[INJECT_FROM_SECRET];
    if (fromCertificate || fromSecret) {
      if (skip.has('cainjector')) return undefined;
      const ready =
        readyDeployments.has(CAINJECTOR) &&
        (fromCertificate ? certificates.has(fromCertificate) : readyDeployments.has(CERT_MANAGER_WEBHOOK));
      return { component: 'cainjector', ready };
    }
    if (!WEBHOOK_KINDS.includes(o.kind)) return undefined;
    const service = services.find((s) => s !== undefined && SELF_INJECTING[s] !== undefined);
    const component = service ? SELF_INJECTING[service] : undefined;
    if (!service || !component || skip.has(component)) return undefined;
    return { component, ready: readyDeployments.has(service) };
  };

  /** JSON patch operations that set every caBundle of o that is not the CA, with the places they set. */
  const patchFor = (o: KubeObject): { ops: Record<string, unknown>[]; places: string[] } => {
    const ops: Record<string, unknown>[] = [];
    const places: string[] = [];
    if (WEBHOOK_KINDS.includes(o.kind)) {
      ((o['webhooks'] as Webhook[] | undefined) ?? []).forEach((w, i) => {
        if (w.clientConfig?.caBundle === ca) return;
        // The test keeps the index honest if the list changed since this object was read.
        ops.push(
          { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
          { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: ca },
        );
        places.push(w.name);
      });
    } else {
      const conversion = (o['spec'] as { conversion?: Conversion } | undefined)?.conversion;
      // cainjector writes a CRD's CA only where the API server calls a conversion webhook.
      if (
        conversion?.strategy === 'Webhook' &&
        conversion.webhook?.clientConfig &&
        conversion.webhook.clientConfig.caBundle !== ca
      ) {
        ops.push(
          { op: 'test', path: '/spec/conversion/strategy', value: 'Webhook' },
          { op: 'add', path: '/spec/conversion/webhook/clientConfig/caBundle', value: ca },
        );
        places.push('conversion');
      }
    }
    return { ops, places };
  };

  const inject = async (
    o: KubeObject,
    component: Component,
    ops: Record<string, unknown>[],
    places: string[],
  ): Promise<void> => {
    const key = keyOf(o);
    const ref: ObjectRef = { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name };
    inFlight.add(key);
    try {
      const updated = await client.request<KubeObject>('PATCH', await client.objectPath(ref), {
        query: { fieldManager: MANAGER[component] },
        body: ops,
        contentType: 'application/json-patch+json',
      });
      for (const p of places) injected.push(`${o.kind} ${o.metadata.name}: ${p} by ${MANAGER[component]}`);
      if (updated?.metadata?.resourceVersion) patchMade.set(key, updated.metadata.resourceVersion);
      inFlight.delete(key);
    } catch {
      // The object changed under us (a failed test op) or is gone: try again shortly from what the
      // watch has seen by then, as a controller requeues.
      await new Promise((r) => setTimeout(r, 200));
      inFlight.delete(key);
      patchedFrom.delete(key);
      reconcile();
    }
  };

  const reconcile = (): void => {
    if (signal.aborted) return;
    for (const [key, o] of targets) {
      if (inFlight.has(key)) continue;
      const rv = o.metadata.resourceVersion ?? '';
      // Never from a state already acted on, nor from one older than what the last patch made (a
      // watch event that was on its way while the patch was being sent).
      if (rv && patchedFrom.get(key) === rv) continue;
      const made = patchMade.get(key);
      if (made && /^\d+$/.test(rv) && /^\d+$/.test(made) && BigInt(rv) < BigInt(made)) continue;
      const who = injectorOf(o);
      if (!who?.ready) continue;
      const { ops, places } = patchFor(o);
      if (ops.length === 0) continue;
      patchedFrom.set(key, rv);
      const p = inject(o, who.component, ops, places).finally(() => pending.delete(p));
      pending.add(p);
    }
  };

  const follow = async (
    target: WatchTarget,
    onChange: (objects: ReadonlyMap<string, KubeObject>) => void,
  ): Promise<void> => {
    const rule: ReadinessRule = { name: 'followed', check: () => ({ state: 'pending', message: 'followed' }) };
    const ref: ObjectRef = { apiVersion: target.apiVersion, kind: target.kind, name: '*' };
    while (!signal.aborted) {
      try {
        await waitUntil(
          client,
          target,
          { ref, rule },
          (objects) => {
            onChange(objects);
            return { readiness: { state: 'pending', message: `${objects.size} object(s)` } };
          },
          { timeoutMs: 3_600_000, signal },
        );
      } catch {
        // Not served yet (a CRD still to come) or a watch that cannot resume: start over shortly.
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 500);
          signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
      }
    }
  };

  /** Keeps the current objects of one kind (list items come without apiVersion and kind). */
  const replace = (apiVersion: string, kind: string, objects: ReadonlyMap<string, KubeObject>): void => {
    for (const key of [...targets.keys()]) if (key.startsWith(`${kind} `)) targets.delete(key);
    for (const o of objects.values()) targets.set(`${kind} ${o.metadata.name}`, { ...o, apiVersion, kind });
    reconcile();
  };

  const followers = [
    follow({ apiVersion: 'apps/v1', kind: 'Deployment' }, (objects) => {
      readyDeployments.clear();
      for (const d of objects.values())
        if (deploymentRule.check(d).state === 'ready')
          readyDeployments.add(`${d.metadata.namespace}/${d.metadata.name}`);
      reconcile();
    }),
    follow({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' }, (objects) => {
      certificates.clear();
      for (const c of objects.values()) certificates.add(`${c.metadata.namespace}/${c.metadata.name}`);
      reconcile();
    }),
    follow({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration' }, (objects) =>
      replace('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', objects),
    ),
    follow({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration' }, (objects) =>
      replace('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', objects),
    ),
    follow({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' }, (objects) =>
      replace('apiextensions.k8s.io/v1', 'CustomResourceDefinition', objects),
    ),
  ];

  return {
    injected,
    async stop() {
      abort.abort();
      await Promise.race([Promise.all([...followers, ...pending]), new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}
