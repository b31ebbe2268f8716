import { groupOf, describeRef, refOf, type KubeObject, type ObjectRef } from './types.js';

/**
 * Dependency planning for a set of manifests. An object waits for "gates":
 * - namespace:<ns>            its Namespace exists (Active)
 * - crd:<group>/<Kind>        the CRD serving its kind is Established
 * - service:<ns>/<name>       the Service behind an admission webhook (failurePolicy Fail) that
 *                             intercepts it has ready endpoints; for a workload, also a webhook that
 *                             intercepts the Pods it creates (otherwise its controller's pod creations
 *                             are refused and it backs off exponentially, for minutes, after the
 *                             webhook is up). Such pod gates are dropped if they would make a cycle.
 * Objects are applied as soon as their gates open; the waves below are the order that gives
 * (wave = 1 + the latest wave among the providers of its gates), used for the plan and the summary.
 */
export type GateKind = 'namespace' | 'crd' | 'service';

export interface Gate {
  key: string;
  kind: GateKind;
  /** Namespace for namespace/service gates. */
  namespace?: string;
  /** Namespace name, CRD name, or Service name. */
  name: string;
  /** For crd gates: the served apiVersion and kind. */
  apiVersion?: string;
  crdKind?: string;
  /** Webhooks that call this Service (service gates). */
  webhooks: string[];
  /** Objects in the set that make the gate open: the Namespace, the CRD, or the Service and the workloads its selector matches. */
  providers: ObjectRef[];
  /** Objects that wait for this gate. */
  blocks: ObjectRef[];
}

export interface PlannedObject {
  object: KubeObject;
  ref: ObjectRef;
  gates: string[];
  wave: number;
}

export interface Plan {
  objects: PlannedObject[];
  gates: Map<string, Gate>;
  waves: PlannedObject[][];
}

export class PlanError extends Error {
  override readonly name = 'PlanError';
}

/** kind -> plural resource name for built-in kinds (CRDs bring their own). */
export function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  if (k === 'endpoints') return k;
  if (/(s|x|z|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'];
const CLUSTER_SCOPED_BUILTIN = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'APIService',
  'PriorityClass',
  'CSIDriver',
  'RuntimeClass',
  'IngressClass',
  'VolumeAttachment',
  'CertificateSigningRequest',
]);

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether labels satisfy a LabelSelector (undefined selector matches everything). */
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

interface WebhookRule {
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  operations?: string[];
  scope?: string;
}

interface Webhook {
  name: string;
  failurePolicy?: string;
  clientConfig?: { service?: { name: string; namespace: string }; url?: string };
  rules?: WebhookRule[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
}

const anyOf = (list: string[] | undefined, value: string): boolean =>
  (list ?? []).some((x) => x === '*' || x === value);

function ruleMatches(rule: WebhookRule, group: string, version: string, plural: string, namespaced: boolean): boolean {
  if (!anyOf(rule.apiGroups, group) || !anyOf(rule.apiVersions, version)) return false;
  // Applying creates or updates; a resource rule may be "*", "plural" or "plural/*" (subresources do not count).
  if (!(rule.operations ?? []).some((op) => op === '*' || op === 'CREATE' || op === 'UPDATE')) return false;
  if (!(rule.resources ?? []).some((r) => r === '*' || r === plural || r === `${plural}/*` || r === '*/*'))
    return false;
  const scope = rule.scope ?? '*';
  return scope === '*' || (scope === 'Namespaced') === namespaced;
}

/** Kinds whose controller creates Pods from spec.template. */
const POD_OWNER_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];

/** Splits objects into dependency waves. Pure: the same input always gives the same plan. */
export function planInstall(input: readonly KubeObject[]): Plan {
  try {
    return planWith(input, true);
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    // A pod gate closed a cycle (e.g. a webhook backend whose own pods another webhook intercepts):
    // pod gates only save time, so plan without them; a cycle that remains is real.
    return planWith(input, false);
  }
}

function planWith(input: readonly KubeObject[], podGates: boolean): Plan {
  const objects = input.map((object) => ({ object, ref: refOf(object), gates: [] as string[], wave: 0 }));
  const gates = new Map<string, Gate>();
  const gate = (g: Omit<Gate, 'webhooks' | 'providers' | 'blocks'>): Gate => {
    let existing = gates.get(g.key);
    if (!existing) gates.set(g.key, (existing = { ...g, webhooks: [], providers: [], blocks: [] }));
    return existing;
  };

  // What the set defines: CRDs (kind -> plural, scope), namespaces and their labels.
  const crds = new Map<string, { name: string; plural: string; namespaced: boolean }>();
  const namespaceLabels = new Map<string, Record<string, string>>();
  for (const { object } of objects) {
    if (object.kind === 'CustomResourceDefinition') {
      const spec = object['spec'] as { group: string; names: { kind: string; plural: string }; scope?: string };
      crds.set(`${spec.group}/${spec.names.kind}`, {
        name: object.metadata.name,
        plural: spec.names.plural,
        namespaced: spec.scope !== 'Cluster',
      });
    }
    if (object.kind === 'Namespace' && object.apiVersion === 'v1') {
      namespaceLabels.set(object.metadata.name, {
        ...(object.metadata.labels ?? {}),
        'kubernetes.io/metadata.name': object.metadata.name,
      });
    }
  }
  const resourceOf = (o: KubeObject): { group: string; version: string; plural: string; namespaced: boolean } => {
    const group = groupOf(o.apiVersion);
    const version = o.apiVersion.split('/').pop() as string;
    const crd = crds.get(`${group}/${o.kind}`);
    if (crd) return { group, version, plural: crd.plural, namespaced: crd.namespaced };
    return {
      group,
      version,
      plural: pluralOf(o.kind),
      namespaced: !CLUSTER_SCOPED_BUILTIN.has(o.kind) && o.metadata.namespace !== undefined,
    };
  };

  // Webhooks that fail closed, with the Service that answers them.
  const webhooks: Webhook[] = [];
  for (const { object } of objects) {
    if (object.kind !== 'ValidatingWebhookConfiguration' && object.kind !== 'MutatingWebhookConfiguration') continue;
    for (const w of (object['webhooks'] as Webhook[] | undefined) ?? []) {
      if ((w.failurePolicy ?? 'Fail') === 'Fail' && w.clientConfig?.service) webhooks.push(w);
    }
  }

  for (const p of objects) {
    const o = p.object;
    const { group, version, plural, namespaced } = resourceOf(o);
    const ns = namespaced ? o.metadata.namespace : undefined;
    if (ns && o.kind !== 'Namespace') {
      p.gates.push(gate({ key: `namespace:${ns}`, kind: 'namespace', name: ns }).key);
    }
    const crd = crds.get(`${group}/${o.kind}`);
    if (crd) {
      p.gates.push(
        gate({ key: `crd:${group}/${o.kind}`, kind: 'crd', name: crd.name, apiVersion: o.apiVersion, crdKind: o.kind })
          .key,
      );
    }
    if (o.kind === 'ValidatingWebhookConfiguration' || o.kind === 'MutatingWebhookConfiguration') continue;
    const intercepted: { group: string; version: string; plural: string; labels: Record<string, string> }[] = [
      { group, version, plural, labels: o.metadata.labels ?? {} },
    ];
    if (podGates && ns && POD_OWNER_KINDS.includes(o.kind) && group !== '' && !crd) {
      const template = (o['spec'] as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)
        ?.template;
      if (template)
        intercepted.push({ group: '', version: 'v1', plural: 'pods', labels: template.metadata?.labels ?? {} });
    }
    for (const w of webhooks) {
      if (ns && !selectorMatches(w.namespaceSelector, namespaceLabels.get(ns) ?? { 'kubernetes.io/metadata.name': ns }))
        continue;
      if (
        !intercepted.some(
          (x) =>
            (w.rules ?? []).some((r) => ruleMatches(r, x.group, x.version, x.plural, namespaced)) &&
            selectorMatches(w.objectSelector, x.labels),
        )
      )
        continue;
      const svc = w.clientConfig?.service as { name: string; namespace: string };
      const g = gate({
        key: `service:${svc.namespace}/${svc.name}`,
        kind: 'service',
        namespace: svc.namespace,
        name: svc.name,
      });
      if (!g.webhooks.includes(w.name)) g.webhooks.push(w.name);
      if (!p.gates.includes(g.key)) p.gates.push(g.key);
    }
  }

  // Providers of each gate.
  const services = new Map<string, KubeObject>();
  for (const { object } of objects)
    if (object.kind === 'Service' && object.apiVersion === 'v1')
      services.set(`${object.metadata.namespace ?? 'default'}/${object.metadata.name}`, object);
  for (const g of gates.values()) {
    if (g.kind === 'namespace') {
      // Kubeflow's profile controller creates a namespace for each kubeflow.org Profile of that name.
      g.providers = objects
        .filter(
          (p) =>
            (p.object.kind === 'Namespace' ||
              (p.object.kind === 'Profile' && groupOf(p.object.apiVersion) === 'kubeflow.org')) &&
            p.object.metadata.name === g.name,
        )
        .map((p) => p.ref);
    } else if (g.kind === 'crd') {
      g.providers = objects
        .filter((p) => p.object.kind === 'CustomResourceDefinition' && p.object.metadata.name === g.name)
        .map((p) => p.ref);
    } else {
      const svc = services.get(`${g.namespace}/${g.name}`);
      if (svc) {
        g.providers.push(refOf(svc));
        const selector = (svc['spec'] as { selector?: Record<string, string> } | undefined)?.selector;
        if (selector && Object.keys(selector).length) {
          for (const p of objects) {
            if (!WORKLOAD_KINDS.includes(p.object.kind) || (p.object.metadata.namespace ?? 'default') !== g.namespace)
              continue;
            const labels =
              (p.object['spec'] as { template?: { metadata?: { labels?: Record<string, string> } } })?.template
                ?.metadata?.labels ?? {};
            if (selectorMatches({ matchLabels: selector }, labels)) g.providers.push(p.ref);
          }
        }
      }
    }
  }
  const byRef = new Map(objects.map((p) => [describeRef(p.ref), p] as const));
  for (const p of objects) {
    // An object never waits for a gate it provides itself (a webhook backend matched by its own webhook).
    p.gates = p.gates.filter(
      (k) => !(gates.get(k) as Gate).providers.some((r) => describeRef(r) === describeRef(p.ref)),
    );
    for (const k of p.gates) (gates.get(k) as Gate).blocks.push(p.ref);
  }

  // Waves by longest path; a cycle is an error naming its members.
  const state = new Map<PlannedObject, 'visiting' | 'done'>();
  const visit = (p: PlannedObject, trail: PlannedObject[]): number => {
    const s = state.get(p);
    if (s === 'done') return p.wave;
    if (s === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(p)), p].map((x) => describeRef(x.ref));
      throw new PlanError(`dependency cycle: ${cycle.join(' -> ')}`);
    }
    state.set(p, 'visiting');
    let wave = 0;
    for (const k of p.gates) {
      for (const r of (gates.get(k) as Gate).providers) {
        const provider = byRef.get(describeRef(r));
        if (provider) wave = Math.max(wave, visit(provider, [...trail, p]) + 1);
      }
    }
    p.wave = wave;
    state.set(p, 'done');
    return wave;
  };
  for (const p of objects) visit(p, []);
  const waves: PlannedObject[][] = [];
  for (const p of objects) (waves[p.wave] ??= []).push(p);
  return { objects, gates, waves: waves.map((w) => w ?? []) };
}

/** A readable plan: one block per wave with kinds counted, and what each wave waits for. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  plan.waves.forEach((wave, i) => {
    const kinds = new Map<string, number>();
    for (const p of wave) kinds.set(p.ref.kind, (kinds.get(p.ref.kind) ?? 0) + 1);
    const waitsFor = new Set(wave.flatMap((p) => p.gates));
    lines.push(
      `wave ${i}: ${wave.length} object(s): ${[...kinds]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')}`,
    );
    const shown = [...waitsFor].filter((k) => !k.startsWith('namespace:'));
    if (shown.length) {
      lines.push(
        `  waits for: ${shown
          .slice(0, 12)
          .map((k) => describeGate(plan.gates.get(k) as Gate))
          .join('; ')}${shown.length > 12 ? `; … ${shown.length - 12} more` : ''}`,
      );
    }
  });
  return lines.join('\n');
}

export function describeGate(g: Gate): string {
  switch (g.kind) {
    case 'namespace':
      return `Namespace ${g.name} Active`;
    case 'crd':
      return `CRD ${g.name} Established`;
    case 'service':
      return `Service ${g.namespace}/${g.name} ready (webhook ${g.webhooks.join(', ')})`;
  }
}
