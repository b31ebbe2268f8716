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

interface Resource {
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

/** What planWith builds, step by step. */
interface PlanState {
  readonly podGates: boolean;
  readonly objects: PlannedObject[];
  readonly gates: Map<string, Gate>;
  /** CRDs of the set by "<group>/<Kind>": their name, plural and scope. */
  readonly crds: Map<string, { name: string; plural: string; namespaced: boolean }>;
  /** Namespaces of the set with their labels (and the kubernetes.io/metadata.name label the API server adds). */
  readonly namespaceLabels: Map<string, Record<string, string>>;
  /** Webhooks of the set that fail closed and are answered by a Service. */
  readonly webhooks: Webhook[];
  readonly byRef: Map<string, PlannedObject>;
}

type PlanStep = (s: PlanState) => void;

/** The gate of that key, created on first use. */
function gateOf(s: PlanState, g: Omit<Gate, 'webhooks' | 'providers' | 'blocks'>): Gate {
  let existing = s.gates.get(g.key);
  if (!existing) s.gates.set(g.key, (existing = { ...g, webhooks: [], providers: [], blocks: [] }));
  return existing;
}

function resourceOf(s: PlanState, o: KubeObject): Resource {
  const group = groupOf(o.apiVersion);
  const version = o.apiVersion.split('/').pop() as string;
  const crd = s.crds.get(`${group}/${o.kind}`);
  if (crd) return { group, version, plural: crd.plural, namespaced: crd.namespaced };
  return {
    group,
    version,
    plural: pluralOf(o.kind),
    namespaced: !CLUSTER_SCOPED_BUILTIN.has(o.kind) && o.metadata.namespace !== undefined,
  };
}

const isWebhookConfiguration = (o: KubeObject): boolean =>
  o.kind === 'ValidatingWebhookConfiguration' || o.kind === 'MutatingWebhookConfiguration';

type Template = { template?: { metadata?: { labels?: Record<string, string> } } };
const templateOf = (o: KubeObject): Template['template'] => (o['spec'] as Template | undefined)?.template;

/** What the set defines: CRDs (kind -> plural, scope), namespaces and their labels. */
const collectDefinitions: PlanStep = (s) => {
  for (const { object } of s.objects) {
    if (object.kind === 'CustomResourceDefinition') {
      const spec = object['spec'] as { group: string; names: { kind: string; plural: string }; scope?: string };
      s.crds.set(`${spec.group}/${spec.names.kind}`, {
        name: object.metadata.name,
        plural: spec.names.plural,
        namespaced: spec.scope !== 'Cluster',
      });
    }
    if (object.kind === 'Namespace' && object.apiVersion === 'v1') {
      s.namespaceLabels.set(object.metadata.name, {
        ...(object.metadata.labels ?? {}),
        'kubernetes.io/metadata.name': object.metadata.name,
      });
    }
  }
};

/** Webhooks that fail closed, with the Service that answers them. */
const collectWebhooks: PlanStep = (s) => {
  for (const { object } of s.objects) {
    if (!isWebhookConfiguration(object)) continue;
    for (const w of (object['webhooks'] as Webhook[] | undefined) ?? []) {
      if ((w.failurePolicy ?? 'Fail') === 'Fail' && w.clientConfig?.service) s.webhooks.push(w);
    }
  }
};

/** The service gates of one object: each fail-closed webhook that intercepts it (or, for a workload, its Pods). */
function webhookGates(s: PlanState, p: PlannedObject, r: Resource, ns: string | undefined, crd: boolean): void {
  const o = p.object;
  const intercepted = [{ group: r.group, version: r.version, plural: r.plural, labels: o.metadata.labels ?? {} }];
  if (s.podGates && ns && POD_OWNER_KINDS.includes(o.kind) && r.group !== '' && !crd) {
    const template = templateOf(o);
    if (template)
      intercepted.push({ group: '', version: 'v1', plural: 'pods', labels: template.metadata?.labels ?? {} });
  }
  for (const w of s.webhooks) {
    if (ns && !selectorMatches(w.namespaceSelector, s.namespaceLabels.get(ns) ?? { 'kubernetes.io/metadata.name': ns }))
      continue;
    const matches = intercepted.some(
      (x) =>
        (w.rules ?? []).some((rule) => ruleMatches(rule, x.group, x.version, x.plural, r.namespaced)) &&
        selectorMatches(w.objectSelector, x.labels),
    );
    if (!matches) continue;
    const svc = w.clientConfig?.service as { name: string; namespace: string };
    const g = gateOf(s, {
      key: `service:${svc.namespace}/${svc.name}`,
      kind: 'service',
      namespace: svc.namespace,
      name: svc.name,
    });
    if (!g.webhooks.includes(w.name)) g.webhooks.push(w.name);
    if (!p.gates.includes(g.key)) p.gates.push(g.key);
  }
}

/** The gates each object waits for: its Namespace, the CRD of its kind, the Services of webhooks that intercept it. */
const gateObjects: PlanStep = (s) => {
  for (const p of s.objects) {
    const o = p.object;
    const r = resourceOf(s, o);
    const ns = r.namespaced ? o.metadata.namespace : undefined;
    if (ns && o.kind !== 'Namespace')
      p.gates.push(gateOf(s, { key: `namespace:${ns}`, kind: 'namespace', name: ns }).key);
    const crd = s.crds.get(`${r.group}/${o.kind}`);
    if (crd) {
      p.gates.push(
        gateOf(s, {
          key: `crd:${r.group}/${o.kind}`,
          kind: 'crd',
          name: crd.name,
          apiVersion: o.apiVersion,
          crdKind: o.kind,
        }).key,
      );
    }
    if (!isWebhookConfiguration(o)) webhookGates(s, p, r, ns, crd !== undefined);
  }
};

/** The Namespace of that name, or a kubeflow.org Profile (Kubeflow's profile controller creates its namespace). */
function namespaceProviders(s: PlanState, g: Gate): ObjectRef[] {
  return s.objects
    .filter(
      (p) =>
        (p.object.kind === 'Namespace' ||
          (p.object.kind === 'Profile' && groupOf(p.object.apiVersion) === 'kubeflow.org')) &&
        p.object.metadata.name === g.name,
    )
    .map((p) => p.ref);
}

function crdProviders(s: PlanState, g: Gate): ObjectRef[] {
  return s.objects
    .filter((p) => p.object.kind === 'CustomResourceDefinition' && p.object.metadata.name === g.name)
    .map((p) => p.ref);
}

/** The Service and the workloads of its namespace whose pod template its selector matches. */
function serviceProviders(s: PlanState, g: Gate, services: Map<string, KubeObject>): ObjectRef[] {
  const svc = services.get(`${g.namespace}/${g.name}`);
  if (!svc) return [];
  const providers = [refOf(svc)];
  const selector = (svc['spec'] as { selector?: Record<string, string> } | undefined)?.selector;
  if (!selector || !Object.keys(selector).length) return providers;
  for (const p of s.objects) {
    if (!WORKLOAD_KINDS.includes(p.object.kind) || (p.object.metadata.namespace ?? 'default') !== g.namespace) continue;
    if (selectorMatches({ matchLabels: selector }, templateOf(p.object)?.metadata?.labels ?? {})) providers.push(p.ref);
  }
  return providers;
}

/** The objects of the set that make each gate open. */
const findProviders: PlanStep = (s) => {
  const services = new Map<string, KubeObject>();
  for (const { object } of s.objects)
    if (object.kind === 'Service' && object.apiVersion === 'v1')
      services.set(`${object.metadata.namespace ?? 'default'}/${object.metadata.name}`, object);
  for (const g of s.gates.values()) {
    g.providers =
      g.kind === 'namespace'
        ? namespaceProviders(s, g)
        : g.kind === 'crd'
          ? crdProviders(s, g)
          : serviceProviders(s, g, services);
  }
};

/** An object never waits for a gate it provides itself (a webhook backend matched by its own webhook). */
const dropOwnGates: PlanStep = (s) => {
  for (const p of s.objects) {
    p.gates = p.gates.filter(
      (k) => !(s.gates.get(k) as Gate).providers.some((r) => describeRef(r) === describeRef(p.ref)),
    );
    for (const k of p.gates) (s.gates.get(k) as Gate).blocks.push(p.ref);
  }
};

/** Waves by longest path through the providers of each gate; a cycle is an error naming its members. */
const assignWaves: PlanStep = (s) => {
  const visited = new Map<PlannedObject, 'visiting' | 'done'>();
  const visit = (p: PlannedObject, trail: PlannedObject[]): number => {
    const v = visited.get(p);
    if (v === 'done') return p.wave;
    if (v === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(p)), p].map((x) => describeRef(x.ref));
      throw new PlanError(`dependency cycle: ${cycle.join(' -> ')}`);
    }
    visited.set(p, 'visiting');
    let wave = 0;
    for (const k of p.gates) {
      for (const r of (s.gates.get(k) as Gate).providers) {
        const provider = s.byRef.get(describeRef(r));
        if (provider) wave = Math.max(wave, visit(provider, [...trail, p]) + 1);
      }
    }
    p.wave = wave;
    visited.set(p, 'done');
    return wave;
  };
  for (const p of s.objects) visit(p, []);
};

/** The steps of a plan, in order; each reads what the earlier ones put in the state. */
const PLAN_STEPS: readonly PlanStep[] = [
  collectDefinitions,
  collectWebhooks,
  gateObjects,
  findProviders,
  dropOwnGates,
  assignWaves,
];

function planWith(input: readonly KubeObject[], podGates: boolean): Plan {
  const objects: PlannedObject[] = input.map((object) => ({ object, ref: refOf(object), gates: [], wave: 0 }));
  const s: PlanState = {
    podGates,
    objects,
    gates: new Map(),
    crds: new Map(),
    namespaceLabels: new Map(),
    webhooks: [],
    byRef: new Map(objects.map((p) => [describeRef(p.ref), p] as const)),
  };
  for (const step of PLAN_STEPS) step(s);
  const waves: PlannedObject[][] = [];
  for (const p of objects) (waves[p.wave] ??= []).push(p);
  return { objects, gates: s.gates, waves: waves.map((w) => w ?? []) };
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
