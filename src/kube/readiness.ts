import { conditionOf, type KubeObject } from './types.js';

export type ReadinessState = 'ready' | 'pending' | 'failed';

export interface Readiness {
  state: ReadinessState;
  /** What was observed, for progress lines and timeout errors. */
  message: string;
}

/** Decides from an object's current state whether it is ready; pure, so it is unit-tested alone. */
export interface ReadinessRule {
  name: string;
  check(obj: KubeObject): Readiness;
}

type Status = Record<string, unknown>;
const statusOf = (o: KubeObject): Status => (o['status'] as Status | undefined) ?? {};
const specOf = (o: KubeObject): Status => (o['spec'] as Status | undefined) ?? {};
const num = (v: unknown, fallback = 0): number => (typeof v === 'number' ? v : fallback);
const pending = (message: string): Readiness => ({ state: 'pending', message });
const ready = (message: string): Readiness => ({ state: 'ready', message });
const failed = (message: string): Readiness => ({ state: 'failed', message });

/** null when the controller has seen the latest spec; otherwise the pending reason. */
function generationLag(o: KubeObject): Readiness | null {
  const generation = o.metadata.generation;
  const observed = statusOf(o)['observedGeneration'];
  if (generation !== undefined && (typeof observed !== 'number' || observed < generation)) {
    return pending(
      `waiting for the controller to observe generation ${generation} (observed ${typeof observed === 'number' ? observed : 'none'})`,
    );
  }
  return null;
}

export const deploymentRule: ReadinessRule = {
  name: 'Deployment Available',
  check(o) {
    const lag = generationLag(o);
    if (lag) return lag;
    const s = statusOf(o);
    const progressing = conditionOf(o, 'Progressing');
    if (progressing?.reason === 'ProgressDeadlineExceeded')
      return failed(`rollout exceeded its progress deadline: ${progressing.message ?? ''}`.trim());
    const want = num(specOf(o)['replicas'], 1);
    const updated = num(s['updatedReplicas']);
    const total = num(s['replicas']);
    const available = num(s['availableReplicas']);
    const counts = `${available}/${want} available, ${updated} updated`;
    if (updated < want) return pending(`${counts}: waiting for new replicas`);
    if (total > updated) return pending(`${counts}: ${total - updated} old replica(s) still terminating`);
    if (available < updated) return pending(`${counts}: waiting for replicas to become available`);
    const cond = conditionOf(o, 'Available');
    if (cond?.status !== 'True')
      return pending(
        `${counts}: Available condition is ${cond?.status ?? 'absent'}${cond?.message ? ` (${cond.message})` : ''}`,
      );
    return ready(counts);
  },
};

export const statefulSetRule: ReadinessRule = {
  name: 'StatefulSet ready',
  check(o) {
    const lag = generationLag(o);
    if (lag) return lag;
    const s = statusOf(o);
    const want = num(specOf(o)['replicas'], 1);
    const readyReplicas = num(s['readyReplicas']);
    const updated = num(s['updatedReplicas']);
    const counts = `${readyReplicas}/${want} ready, ${updated} updated`;
    const strategy = (specOf(o)['updateStrategy'] as Status | undefined)?.['type'];
    if (readyReplicas < want) return pending(`${counts}: waiting for replicas to become ready`);
    if (strategy !== 'OnDelete') {
      if (updated < want) return pending(`${counts}: waiting for the rolling update`);
      if (s['updateRevision'] && s['currentRevision'] !== s['updateRevision'])
        return pending(`${counts}: revision ${String(s['updateRevision'])} not yet current`);
    }
    return ready(counts);
  },
};

export const daemonSetRule: ReadinessRule = {
  name: 'DaemonSet ready',
  check(o) {
    const lag = generationLag(o);
    if (lag) return lag;
    const s = statusOf(o);
    const desired = num(s['desiredNumberScheduled']);
    const updated = num(s['updatedNumberScheduled']);
    const available = num(s['numberAvailable']);
    const counts = `${available}/${desired} available, ${updated} updated`;
    if (updated < desired) return pending(`${counts}: waiting for the rollout`);
    if (available < desired) return pending(`${counts}: waiting for pods to become available`);
    return ready(counts);
  },
};

export const jobRule: ReadinessRule = {
  name: 'Job complete',
  check(o) {
    const f = conditionOf(o, 'Failed');
    if (f?.status === 'True') return failed(`job failed: ${f.reason ?? ''} ${f.message ?? ''}`.trim());
    const c = conditionOf(o, 'Complete');
    const s = statusOf(o);
    if (c?.status === 'True') return ready(`${num(s['succeeded'])} succeeded`);
    return pending(`${num(s['active'])} active, ${num(s['succeeded'])} succeeded, ${num(s['failed'])} failed`);
  },
};

export const pvcRule: ReadinessRule = {
  name: 'PersistentVolumeClaim Bound',
  check(o) {
    const phase = statusOf(o)['phase'];
    if (phase === 'Bound') return ready('Bound');
    if (phase === 'Lost') return failed('claim lost its volume (phase Lost)');
    const sc = specOf(o)['storageClassName'];
    return pending(
      `phase ${String(phase ?? 'Pending')}, storageClassName ${sc === undefined ? '(none: no default StorageClass applied)' : JSON.stringify(sc)}`,
    );
  },
};

export const crdRule: ReadinessRule = {
  name: 'CustomResourceDefinition Established',
  check(o) {
    const names = conditionOf(o, 'NamesAccepted');
    if (names?.status === 'False') return failed(`names not accepted: ${names.message ?? names.reason ?? ''}`);
    const est = conditionOf(o, 'Established');
    if (est?.status === 'True') return ready('Established');
    return pending(`Established is ${est?.status ?? 'absent'}${est?.message ? ` (${est.message})` : ''}`);
  },
};

export const namespaceRule: ReadinessRule = {
  name: 'Namespace Active',
  check(o) {
    const phase = statusOf(o)['phase'];
    if (phase === 'Active') return ready('Active');
    if (phase === 'Terminating') return failed('namespace is Terminating');
    return pending(`phase ${String(phase ?? 'unknown')}`);
  },
};

/** Any object with a Ready condition (Pods, KServe InferenceServices, Knative Services, cert-manager Certificates, ...). */
export const readyConditionRule: ReadinessRule = {
  name: 'Ready condition True',
  check(o) {
    const lag = o['status'] && typeof statusOf(o)['observedGeneration'] === 'number' ? generationLag(o) : null;
    if (lag) return lag;
    const c = conditionOf(o, 'Ready');
    if (c?.status === 'True') return ready('Ready');
    const why = c
      ? `Ready is ${c.status}${c.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : ''}`
      : 'no Ready condition yet';
    return pending(why);
  },
};

/** Ready as soon as the object exists (Services, ConfigMaps, RBAC, ...). */
export const existsRule: ReadinessRule = { name: 'exists', check: () => ready('exists') };

const BY_KIND: Record<string, ReadinessRule> = {
  Deployment: deploymentRule,
  StatefulSet: statefulSetRule,
  DaemonSet: daemonSetRule,
  Job: jobRule,
  PersistentVolumeClaim: pvcRule,
  CustomResourceDefinition: crdRule,
  Namespace: namespaceRule,
};

/** The rule for a kind; objects with a Ready condition use it; everything else is ready once it exists. */
export function ruleFor(obj: Pick<KubeObject, 'kind'> & Partial<KubeObject>): ReadinessRule {
  const byKind = BY_KIND[obj.kind];
  if (byKind) return byKind;
  if (obj.kind === 'Pod' || (obj.status && conditionOf(obj, 'Ready'))) return readyConditionRule;
  return existsRule;
}
