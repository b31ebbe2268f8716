import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { explainKubeError } from './errors.js';
import { conditionOf, describeRef, refOf, type KubeObject, type ObjectRef } from './types.js';

export type ProblemKind =
  'unschedulable' | 'image-pull' | 'crash' | 'container-config' | 'volume' | 'pending' | 'pod-creation';

export interface PodProblem {
  kind: ProblemKind;
  /** The pod, or for 'pod-creation' the controller whose pod creations were refused (e.g. ReplicaSet/web-5d8f). */
  pod: string;
  container?: string;
  reason: string;
  message: string;
  fix: string;
  restarts?: number;
  exitCode?: number;
}

export interface EventLine {
  type: string;
  reason: string;
  object: string;
  message: string;
  count: number;
}

export interface Diagnosis {
  ref: ObjectRef;
  pods: number;
  problems: PodProblem[];
  events: EventLine[];
  logTail?:
    { pod: string; container: string; lines: string[] } | { pod: string; container: string; unavailable: string };
}

export interface DiagnoseOptions {
  eventLimit?: number;
  logLines?: number;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** A label selector as the API's string form: "app=x,tier in (a,b),!legacy". */
export function selectorString(sel: LabelSelector | undefined): string | undefined {
  if (!sel) return undefined;
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const vals = `(${(e.values ?? []).join(',')})`;
    if (e.operator === 'In') parts.push(`${e.key} in ${vals}`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin ${vals}`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(',') : undefined;
}

const IMAGE_PULL = ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable'];
const CONFIG = ['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'];

function schedulingFix(message: string): { kind: ProblemKind; fix: string } {
  const insufficient = [...message.matchAll(/Insufficient ([\w./-]*\w)/g)].map((m) => m[1]);
  if (insufficient.length) {
    return {
      kind: 'unschedulable',
      fix: `no node has enough free ${[...new Set(insufficient)].join(' and ')}: lower the pod's resources.requests, or add nodes / a larger machine type`,
    };
  }
  if (/unbound immediate PersistentVolumeClaims|persistentvolumeclaim .* not found/i.test(message)) {
    return {
      kind: 'volume',
      fix: 'a PersistentVolumeClaim of this pod is not Bound: make sure a default StorageClass exists (or set storageClassName) and that it can provision',
    };
  }
  if (/untolerated taint/.test(message))
    return {
      kind: 'unschedulable',
      fix: 'every node has a taint the pod does not tolerate: add a toleration or an untainted node pool',
    };
  if (/node affinity|node selector/i.test(message))
    return {
      kind: 'unschedulable',
      fix: "no node matches the pod's nodeSelector/affinity: fix the selector or label a node pool",
    };
  return {
    kind: 'unschedulable',
    fix: 'read the scheduler message above; add capacity or relax the constraint it names',
  };
}

/** The problems one pod shows: scheduling, image pulls, crashes, container config. */
export function podProblems(pod: V1Pod): PodProblem[] {
  const name = pod.metadata?.name ?? '?';
  const out: PodProblem[] = [];
  const sched = conditionOf(pod, 'PodScheduled');
  if (sched?.status === 'False') {
    const message = sched.message ?? '';
    out.push({ pod: name, reason: sched.reason ?? 'Unschedulable', message, ...schedulingFix(message) });
  }
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const cs of statuses) {
    const waiting = cs.state?.waiting;
    const term = cs.state?.terminated ?? cs.lastState?.terminated;
    const base = { pod: name, container: cs.name, restarts: cs.restartCount };
    if (waiting?.reason && IMAGE_PULL.includes(waiting.reason)) {
      out.push({
        ...base,
        kind: 'image-pull',
        reason: waiting.reason,
        message: waiting.message ?? cs.image,
        fix: `check that image ${cs.image} exists and the node may pull it (tag, registry path, imagePullSecrets)`,
      });
    } else if (waiting?.reason && CONFIG.includes(waiting.reason)) {
      const missing = /(secret|configmap) "([^"]+)" not found/i.exec(waiting.message ?? '');
      out.push({
        ...base,
        kind: 'container-config',
        reason: waiting.reason,
        message: waiting.message ?? '',
        fix: missing
          ? `create ${missing[1]} "${missing[2]}" in namespace ${pod.metadata?.namespace ?? ''} (the pod refers to it)`
          : 'fix the container configuration named in the message',
      });
    } else if (waiting?.reason === 'CrashLoopBackOff' || (term && term.exitCode !== 0 && !cs.ready)) {
      const oom = term?.reason === 'OOMKilled';
      out.push({
        ...base,
        kind: 'crash',
        reason:
          waiting?.reason === 'CrashLoopBackOff'
            ? `CrashLoopBackOff (last exit: ${term?.reason ?? '?'} ${term?.exitCode ?? ''})`.trim()
            : `${term?.reason ?? 'Terminated'} (exit code ${term?.exitCode})`,
        message: term?.message ?? waiting?.message ?? '',
        fix: oom
          ? 'the container ran out of memory: raise resources.limits.memory'
          : 'the container exits with an error: read its log tail below and fix its configuration or image',
        ...(term ? { exitCode: term.exitCode } : {}),
      });
    }
  }
  if (out.length === 0 && pod.status?.phase === 'Pending' && sched?.status !== 'False') {
    const waiting = statuses.find((c) => c.state?.waiting)?.state?.waiting;
    out.push({
      pod: name,
      kind: 'pending',
      reason: waiting?.reason ?? 'Pending',
      message: waiting?.message ?? 'pod not started yet',
      fix: 'wait, or read the events below for the cause',
    });
  }
  return out;
}

/** Reasons of FailedCreate messages, each with its fix: pods that were never created show no pod problem. */
const CREATION_RULES: { test: RegExp; reason: string; fix: (m: RegExpExecArray) => string }[] = [
  {
    test: /failed calling webhook "([^"]+)"/,
    reason: 'admission webhook not reachable',
    fix: (m) =>
      `the API server could not call admission webhook "${m[1]}" for this pod; make the webhook's workload ready and reachable (its CA bundle injected, its port open to the control plane): the controller creates the pods again on its own`,
  },
  {
    test: /admission webhook "([^"]+)" denied the request/,
    reason: 'admission webhook denied',
    fix: (m) => `admission webhook "${m[1]}" refuses the pod: change the pod template as its message says`,
  },
  {
    test: /exceeded quota/,
    reason: 'quota exceeded',
    fix: () => 'a ResourceQuota of the namespace is used up: raise it or lower the pod requests',
  },
  {
    test: /violates PodSecurity/,
    reason: 'PodSecurity',
    fix: () =>
      "the pod violates the namespace's Pod Security level: fix the pod's securityContext or the namespace label",
  },
  {
    test: /serviceaccount "([^"]+)" not found/i,
    reason: 'ServiceAccount missing',
    fix: (m) => `create ServiceAccount "${m[1]}" (the pod template names it)`,
  },
];

/** Pod creations refused, from FailedCreate events of the controllers (ReplicaSets, StatefulSets, Jobs...). */
export function creationProblems(events: readonly CoreV1Event[]): PodProblem[] {
  const out = new Map<string, PodProblem>();
  for (const e of events) {
    if (e.type !== 'Warning' || e.reason !== 'FailedCreate') continue;
    const message = (e.message ?? '').trim();
    const owner = `${e.involvedObject.kind ?? ''}/${e.involvedObject.name ?? ''}`;
    let problem: PodProblem = {
      kind: 'pod-creation',
      pod: owner,
      reason: 'FailedCreate',
      message,
      fix: 'the controller cannot create pods: read the message',
    };
    for (const rule of CREATION_RULES) {
      const m = rule.test.exec(message);
      if (m) {
        problem = { ...problem, reason: `FailedCreate: ${rule.reason}`, fix: rule.fix(m) };
        break;
      }
    }
    if (!out.has(owner)) out.set(owner, problem);
  }
  return [...out.values()];
}

/**
 * For an object that is not ready: its pods' waiting/terminated reasons, recent Events about it, its pods
 * and ReplicaSets, and the log tail of the first crashing container (when the kubelet can give it).
 */
export async function diagnose(client: KubeClient, obj: KubeObject, options: DiagnoseOptions = {}): Promise<Diagnosis> {
  const { eventLimit = 8, logLines = 20 } = options;
  const ref = refOf(obj);
  const ns = ref.namespace;
  let pods: V1Pod[] = [];
  if (obj.kind === 'Pod') pods = [obj as unknown as V1Pod];
  else if (ns) {
    const selector = selectorString((obj['spec'] as { selector?: LabelSelector } | undefined)?.selector);
    if (selector) {
      try {
        pods = (await client.core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items;
      } catch (error) {
        throw explainKubeError(error, { action: 'list pods of', ref });
      }
    }
  }
  // Controllers between the object and its pods (a Deployment's ReplicaSets): when pod creation is
  // refused there are no pods, and only their events say why.
  const owners: string[] = [];
  if (ns && obj.kind === 'Deployment') {
    const selector = selectorString((obj['spec'] as { selector?: LabelSelector } | undefined)?.selector);
    try {
      const sets = await client.list(
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: ns },
        selector ? { labelSelector: selector } : {},
      );
      for (const rs of sets.items)
        if ((rs.metadata.ownerReferences ?? []).some((o) => o.uid === obj.metadata.uid || o.name === ref.name))
          owners.push(rs.metadata.name);
    } catch (error) {
      throw explainKubeError(error, { action: 'list ReplicaSets of', ref });
    }
  }
  const events: EventLine[] = [];
  let warnings: CoreV1Event[] = [];
  if (ns) {
    const names = new Set([ref.name, ...owners, ...pods.map((p) => p.metadata?.name ?? '')]);
    for (const p of pods) for (const o of p.metadata?.ownerReferences ?? []) names.add(o.name);
    try {
      const list = (await client.core.listNamespacedEvent({ namespace: ns })).items.filter((e) =>
        names.has(e.involvedObject.name ?? ''),
      );
      list.sort((a, b) => eventTime(b) - eventTime(a) || (a.type === 'Warning' ? -1 : 1));
      warnings = list.filter((e) => e.type === 'Warning');
      for (const e of list.slice(0, eventLimit)) {
        events.push({
          type: e.type ?? 'Normal',
          reason: e.reason ?? '',
          object: `${e.involvedObject.kind}/${e.involvedObject.name}`,
          message: (e.message ?? '').trim(),
          count: e.count ?? e.series?.count ?? 1,
        });
      }
    } catch {
      // Events are a best-effort addition; a diagnosis without them is still useful.
    }
  }
  const problems = [...pods.flatMap(podProblems), ...creationProblems(warnings)];

  const crash = problems.find((p) => p.kind === 'crash' && p.container);
  let logTail: Diagnosis['logTail'];
  if (crash?.container && ns) {
    try {
      const text = await client.core.readNamespacedPodLog({
        name: crash.pod,
        namespace: ns,
        container: crash.container,
        tailLines: logLines,
        previous: (crash.restarts ?? 0) > 0,
      });
      logTail = {
        pod: crash.pod,
        container: crash.container,
        lines: String(text)
          .split('\n')
          .filter((l) => l !== '')
          .slice(-logLines),
      };
    } catch (error) {
      logTail = {
        pod: crash.pod,
        container: crash.container,
        unavailable: explainKubeError(error, { action: 'read log' }).message.replace(/^read log failed: /, ''),
      };
    }
  }
  return { ref, pods: pods.length, problems, events, ...(logTail ? { logTail } : {}) };
}

type Stamp = string | Date | undefined;

/** When an Event last happened (ms): lastTimestamp, the series' last observation, eventTime, or its creation. */
export function eventTime(e: {
  lastTimestamp?: Stamp;
  series?: { lastObservedTime?: Stamp };
  eventTime?: Stamp;
  firstTimestamp?: Stamp;
  metadata?: { creationTimestamp?: Stamp };
}): number {
  const t =
    e.lastTimestamp ?? e.series?.lastObservedTime ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}

/** A short report: one line per problem with its fix, then events, then the log tail. */
export function formatDiagnosis(d: Diagnosis): string {
  const lines = [`${describeRef(d.ref)}: ${d.pods} pod(s), ${d.problems.length} problem(s)`];
  for (const p of d.problems) {
    lines.push(`  ✗ ${p.pod}${p.container ? `/${p.container}` : ''}: ${p.reason}${p.message ? `: ${p.message}` : ''}`);
    lines.push(`    fix: ${p.fix}`);
  }
  if (d.events.length) {
    lines.push('  recent events:');
    for (const e of d.events)
      lines.push(`    ${e.type} ${e.reason} ${e.object}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`);
  }
  if (d.logTail) {
    if ('lines' in d.logTail) {
      lines.push(`  log tail of ${d.logTail.pod}/${d.logTail.container}:`);
      for (const l of d.logTail.lines) lines.push(`    | ${l}`);
    } else lines.push(`  log of ${d.logTail.pod}/${d.logTail.container} unavailable: ${d.logTail.unavailable}`);
  }
  return lines.join('\n');
}
