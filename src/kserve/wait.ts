import type { V1Pod } from '@kubernetes/client-node';
import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { KubeClient } from '../kube/client.js';
import { podProblems, type PodProblem } from '../kube/diagnose.js';
import { deploymentRule, type ReadinessRule } from '../kube/readiness.js';
import { conditionsOf, type Condition, type KubeObject, type ObjectRef } from '../kube/types.js';
import { waitUntil, type WatchTarget } from '../kube/wait.js';
import { ISVC_API_VERSION } from './inferenceservice.js';
import { stableJson } from '../common/json.js';

/** The label KServe puts on every pod of an InferenceService (both deployment modes). */
export const ISVC_POD_LABEL = 'serving.kserve.io/inferenceservice';
export const REVISION_LABEL = 'serving.knative.dev/revision';
export const STORAGE_INITIALIZER = 'storage-initializer';

export type FailureKind =
  | 'storage-initializer'
  | 'image-pull'
  | 'crash-loop'
  | 'unschedulable'
  | 'container-config'
  | 'revision-failed'
  | 'revision-missing'
  | 'model-load'
  | 'not-ready';

export interface TrafficTarget {
  revision: string;
  percent: number;
  latest: boolean;
  tag?: string;
}

export interface Assessment {
  state: 'ready' | 'pending' | 'failed';
  message: string;
  /** Ready, but something looks wrong (KServe can report Ready while the model server restarts). */
  warning?: string;
  failure?: {
    kind: FailureKind;
    headline: string;
    cause: string;
    fix: string;
    pod?: string;
    container?: string;
    previousLog?: boolean;
    related?: string[];
  };
}

export interface WatchState {
  isvc?: KubeObject | undefined;
  /** RawDeployment: the predictor Deployment. */
  deployment?: KubeObject | undefined;
  pods: ReadonlyMap<string, KubeObject>;
  events: ReadonlyMap<string, KubeObject>;
}

export interface AssessOptions {
  /**
   * The apply changed the spec (its generation moved). Then a status written after the apply is needed:
   * KServe 0.13 copies status.observedGeneration from the predictor's Deployment or Knative Service, so
   * it cannot be compared with the InferenceService's own generation.
   */
  changed: boolean;
  /** The status the apply returned (stable JSON), to tell a status written since from the old one. */
  baselineStatus: string;
  /** The revision template changed: a new latestCreatedRevision must appear (other than this one). */
  expectNewRevision?: { previous?: string | undefined };
  deploymentMode?: 'Serverless' | 'RawDeployment';
  /** When the apply happened (ms); pods created before it belong to earlier revisions. */
  since: number;
  now: number;
  /** A pod stays Unschedulable this long (without a cluster-autoscaler scale-up) before it fails the wait. */
  unschedulableGraceMs: number;
  /** RevisionMissing lasts this long before it fails the wait (Knative reports it briefly while it creates a revision). */
  revisionMissingGraceMs: number;
  /** The traffic percent the latest revision must have when Ready (the canary percent, or 100). */
  latestPercent?: number;
}

type Status = {
  observedGeneration?: number;
  url?: string;
  address?: { url?: string };
  components?: {
    predictor?: {
      latestReadyRevision?: string;
      latestCreatedRevision?: string;
      previousRolledoutRevision?: string;
      latestRolledoutRevision?: string;
      traffic?: { revisionName?: string; percent?: number; latestRevision?: boolean; tag?: string }[];
    };
  };
  modelStatus?: {
    transitionStatus?: string;
    states?: { activeModelState?: string; targetModelState?: string };
    lastFailureInfo?: { reason?: string; message?: string; exitCode?: number; location?: string };
  };
};
export const statusOf = (o: KubeObject | undefined): Status => (o?.['status'] as Status | undefined) ?? {};

export function trafficOf(o: KubeObject | undefined): TrafficTarget[] {
  return (statusOf(o).components?.predictor?.traffic ?? []).map((t) => ({
    revision: t.revisionName ?? '(unnamed)',
    percent: t.percent ?? 0,
    latest: t.latestRevision === true,
    ...(t.tag ? { tag: t.tag } : {}),
  }));
}

const time = (v: unknown): number => (typeof v === 'string' ? new Date(v).getTime() : 0);

/** Warning events about the named objects, newest first, as "Reason: message" lines. */
function warningsFor(events: ReadonlyMap<string, KubeObject>, names: Set<string>, limit = 4): string[] {
  const list = [...events.values()].filter(
    (e) => names.has((e['involvedObject'] as { name?: string } | undefined)?.name ?? '') && e['type'] === 'Warning',
  );
  list.sort(
    (a, b) =>
      time(b['lastTimestamp'] ?? b['eventTime'] ?? b.metadata.creationTimestamp) -
      time(a['lastTimestamp'] ?? a['eventTime'] ?? a.metadata.creationTimestamp),
  );
  return list
    .slice(0, limit)
    .map(
      (e) =>
        `${String(e['reason'] ?? '')}: ${String(e['message'] ?? '').trim()}${Number(e['count'] ?? 1) > 1 ? ` (x${String(e['count'])})` : ''}`,
    );
}

function eventReasons(events: ReadonlyMap<string, KubeObject>, name: string): Set<string> {
  return new Set(
    [...events.values()]
      .filter((e) => (e['involvedObject'] as { name?: string } | undefined)?.name === name)
      .map((e) => String(e['reason'] ?? '')),
  );
}

/** The fix for a storage-initializer failure, from what it printed. */
export function storageFix(text: string): string {
  if (
    /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|\b403\b|NoCredentialsError|Unable to locate credentials|credentials/i.test(
      text,
    )
  ) {
    return 'the storage credentials are missing or wrong: set s3-access-key-id / s3-secret-access-key (and s3-endpoint for MinIO) so the predictor runs with a ServiceAccount whose Secret carries them';
  }
  if (
    /NoSuchBucket|NoSuchKey|\b404\b|does not exist|not found|No such file|Failed to fetch model|is empty/i.test(text)
  ) {
    return 'the model location does not exist: check the bucket and path in model-uri (the directory that holds MLmodel)';
  }
  if (/Could not connect|EndpointConnectionError|Connection refused|timed out|Name or service not known/i.test(text)) {
    return 'the storage endpoint is not reachable from the cluster: set s3-endpoint to an address the pods can reach (e.g. minio-service.kubeflow:9000) and s3-use-https to match it';
  }
  return "read the storage-initializer output above; it downloads model-uri with the ServiceAccount's credentials before the model server starts";
}

const tail = (text: string | undefined, lines = 12): string => (text ?? '').trim().split('\n').slice(-lines).join('\n');

/** What the rules read: the observed state and the options, with the facts several rules share computed once. */
export interface Observed {
  state: WatchState;
  o: AssessOptions;
  isvc: KubeObject;
  status: Status;
  /** status.components.predictor.latestCreatedRevision as written. */
  created: string | undefined;
  /** A status written since the apply (or nothing changed): it counts for failures. */
  reconciled: boolean;
  /** The latest created revision when the status counts, else undefined. */
  latestCreated: string | undefined;
  /** The revision expected by the apply exists (or none is expected). */
  newRevision: boolean;
  /** Pods of the revision being rolled out (or created since the apply). */
  pods: KubeObject[];
  conditions: Condition[];
  /** Conditions whose status is False. */
  bad: Condition[];
  ready: Condition | undefined;
}

/** One pod of the rollout, as the pod rules read it. */
export interface ObservedPod {
  pod: KubeObject;
  v1: V1Pod;
  name: string;
}

/** One verdict about the InferenceService: the assessment when it applies, else undefined (the next rule is tried). */
export interface AssessRule {
  name: string;
  check(f: Observed): Assessment | undefined;
}

/** One verdict about a pod of the rollout, tried for each pod before its problems. */
export interface PodRule {
  name: string;
  check(f: Observed, pod: ObservedPod): Assessment | undefined;
}

/** One verdict about a problem of a pod (from podProblems), tried for each problem of each pod. */
export interface PodProblemRule {
  name: string;
  check(f: Observed, pod: ObservedPod, p: PodProblem): Assessment | undefined;
}

const failed = (message: string, failure: NonNullable<Assessment['failure']>): Assessment => ({
  state: 'failed',
  message,
  failure,
});
const pending = (message: string): Assessment => ({ state: 'pending', message });

/** The storage-initializer of a pod exited non-zero: it could not download the model. */
export const storageInitializerRule: PodRule = {
  name: 'storage-initializer failed',
  check(f, { v1, name }) {
    const init = (v1.status?.initContainerStatuses ?? []).find((c) => c.name === STORAGE_INITIALIZER);
    const term = init?.state?.terminated ?? init?.lastState?.terminated;
    if (!init || !term || term.exitCode === 0) return undefined;
    const output = tail(term.message);
    const warnings = warningsFor(f.state.events, new Set([name]));
    return failed(`storage-initializer of pod ${name} failed`, {
      kind: 'storage-initializer',
      headline: `the storage-initializer could not download the model (pod ${name}, exit code ${term.exitCode}${term.reason ? `, ${term.reason}` : ''})`,
      cause: output ? `it printed:\n${output}` : 'it printed no termination message',
      fix: storageFix(`${output}\n${warnings.join('\n')}`),
      pod: name,
      container: STORAGE_INITIALIZER,
      previousLog: !init.state?.terminated,
    });
  },
};

export const imagePullRule: PodProblemRule = {
  name: 'image cannot be pulled',
  check: (_f, { name }, p) => {
    if (p.kind !== 'image-pull') return undefined;
    // A plain ErrImagePull may be a registry blip; it fails the wait only when the message says the image is wrong.
    if (p.reason === 'ErrImagePull' && !/not found|manifest unknown|unauthorized|denied|invalid/i.test(p.message))
      return undefined;
    return failed(`image pull failed for ${name}/${p.container}`, {
      kind: 'image-pull',
      headline: `the image of container ${p.container} cannot be pulled (pod ${name}: ${p.reason})`,
      cause: p.message,
      fix: `${p.fix}; for a runtime image, check the ServingRuntime (runtime input) and that the cluster may reach its registry`,
      pod: name,
      ...(p.container ? { container: p.container } : {}),
    });
  },
};

export const crashLoopRule: PodProblemRule = {
  name: 'container crash-looping',
  check: (_f, { name }, p) => {
    if (p.kind !== 'crash' || (p.restarts ?? 0) === 0 || !/CrashLoopBackOff/.test(p.reason)) return undefined;
    return failed(`container ${p.container} of ${name} is crash-looping`, {
      kind: 'crash-loop',
      headline: `container ${p.container} of pod ${name} keeps crashing (${p.reason}, ${p.restarts} restart(s))`,
      cause: p.message ? `its termination message:\n${tail(p.message)}` : 'no termination message',
      fix: /OOMKilled/.test(p.reason)
        ? p.fix
        : 'the model server exits on start: read its log tail; usual causes are a model-format/runtime mismatch, files missing from the model directory, or a Python dependency the model needs (MLflow models: their requirements.txt)',
      pod: name,
      ...(p.container ? { container: p.container } : {}),
      previousLog: true,
    });
  },
};

export const containerConfigRule: PodProblemRule = {
  name: 'container config error',
  check: (_f, { name }, p) =>
    p.kind !== 'container-config'
      ? undefined
      : failed(`container config error in ${name}`, {
          kind: 'container-config',
          headline: `pod ${name} cannot start container ${p.container}: ${p.reason}`,
          cause: p.message,
          fix: p.fix,
          pod: name,
        }),
};

/** Unschedulable: pending while the cluster autoscaler adds a node or within the grace, then failed. */
export const unschedulableRule: PodProblemRule = {
  name: 'pod unschedulable',
  check: (f, { pod, v1, name }, p) => {
    if (p.kind !== 'unschedulable' && p.kind !== 'volume') return undefined;
    const reasons = eventReasons(f.state.events, name);
    const since =
      time((v1.status?.conditions ?? []).find((c) => c.type === 'PodScheduled')?.lastTransitionTime as unknown) ||
      time(pod.metadata.creationTimestamp);
    if (reasons.has('TriggeredScaleUp') && !reasons.has('NotTriggerScaleUp'))
      return pending(`pod ${name} is unschedulable; the cluster autoscaler is adding a node (${p.message})`);
    if (!reasons.has('NotTriggerScaleUp') && f.o.now - since < f.o.unschedulableGraceMs)
      return pending(`pod ${name} is unschedulable for now: ${p.message}`);
    return failed(`pod ${name} cannot be scheduled`, {
      kind: 'unschedulable',
      headline: `pod ${name} cannot be scheduled`,
      cause: `${p.message}${reasons.has('NotTriggerScaleUp') ? '\nThe cluster autoscaler will not add a node for it (NotTriggerScaleUp).' : ''}`,
      fix: `${p.fix} (the resources input sets the predictor's requests)`,
      pod: name,
    });
  },
};

/** Tried in order for each problem of each pod. */
export const POD_PROBLEM_RULES: readonly PodProblemRule[] = [
  imagePullRule,
  crashLoopRule,
  containerConfigRule,
  unschedulableRule,
];

/** Tried for each pod of the rollout, before its problems. */
export const POD_RULES: readonly PodRule[] = [storageInitializerRule];

/** The verdict and the name of the rule that gave it. */
export interface Verdict {
  rule: string;
  assessment: Assessment;
}

/**
 * The first pod of the rollout with a known problem decides: the pod rules first, then each of its problems
 * (in podProblems' order) against the problem rules.
 */
function podVerdict(f: Observed): Verdict | undefined {
  for (const pod of f.pods) {
    const observed: ObservedPod = { pod, v1: pod as unknown as V1Pod, name: pod.metadata.name };
    for (const rule of POD_RULES) {
      const assessment = rule.check(f, observed);
      if (assessment) return { rule: rule.name, assessment };
    }
    for (const p of podProblems(observed.v1)) {
      for (const rule of POD_PROBLEM_RULES) {
        const assessment = rule.check(f, observed, p);
        if (assessment) return { rule: rule.name, assessment };
      }
    }
  }
  return undefined;
}

export const notReconciledRule: AssessRule = {
  name: 'change not reconciled yet',
  check: (f) =>
    f.reconciled
      ? undefined
      : pending(
          `waiting for the KServe controller to reconcile the change (${f.isvc['status'] ? 'no status written since the apply' : 'no status yet'})`,
        ),
};

export const modelFailureRule: AssessRule = {
  name: 'model failure reported',
  check: ({ status: s }) => {
    const failure = s.modelStatus?.lastFailureInfo;
    if (!failure?.reason) return undefined;
    return failed(`model failure ${failure.reason}`, {
      kind: 'model-load',
      headline: `KServe reports ${failure.reason} for the model${s.modelStatus?.transitionStatus ? ` (transition status ${s.modelStatus.transitionStatus})` : ''}`,
      cause:
        `${failure.message ?? ''}${failure.exitCode !== undefined ? ` (exit code ${failure.exitCode})` : ''}`.trim() ||
        failure.reason,
      fix: modelFailureFix(failure.reason),
    });
  },
};

const NEVER_SCALED = /Initial scale was never achieved/i;

export const revisionFailedRule: AssessRule = {
  name: 'revision failed',
  check: (f) => {
    const c = f.bad.find((x) => x.reason === 'RevisionFailed' || NEVER_SCALED.test(x.message ?? ''));
    if (!c) return undefined;
    const podNote = f.pods.length ? '' : ' No pod of the revision is left to inspect.';
    return failed(`${c.type}: RevisionFailed`, {
      kind: 'revision-failed',
      headline: `the predictor revision failed (${c.type} ${c.reason ?? ''}${f.latestCreated ? `, revision ${f.latestCreated}` : ''})`,
      cause: `${c.message ?? ''}${podNote}`,
      related: [f.latestCreated ?? ''],
      fix: NEVER_SCALED.test(c.message ?? '')
        ? "no pod of the revision ever became ready. Most often the storage-initializer could not download the model (missing or wrong S3 credentials: set s3-access-key-id/s3-secret-access-key and s3-endpoint), otherwise the model server crashed or the pod could not be scheduled; kubectl describe the revision's pods shows which"
        : 'read the message above; fix the predictor spec and deploy again',
    });
  },
};

/** RevisionMissing: pending within its grace (Knative reports it briefly while it creates a revision), then failed. */
export const revisionMissingRule: AssessRule = {
  name: 'revision missing',
  check: ({ bad, o }) => {
    const c = bad.find((x) => x.reason === 'RevisionMissing');
    if (!c) return undefined;
    const since = Math.max(
      time((c as Condition & { lastTransitionTime?: string }).lastTransitionTime) || o.since,
      o.since,
    );
    if (o.now - since < o.revisionMissingGraceMs)
      return pending(`${c.type} is False (RevisionMissing): ${c.message ?? ''}`.trim());
    return failed(`${c.type}: RevisionMissing`, {
      kind: 'revision-missing',
      headline: `the predictor has no ready revision (${c.type} RevisionMissing for ${formatDuration(o.now - since)})`,
      cause: c.message ?? 'RevisionMissing',
      fix: 'Knative could not create a ready revision of the predictor: check the Knative Service and Revision of the predictor (kubectl get ksvc,revision -n <namespace>) and the knative-serving controller logs; a revision deleted by hand is recreated by deploying again',
    });
  },
};

const isReady = (f: Observed): boolean => f.ready?.status === 'True';

export const oldRevisionReadyRule: AssessRule = {
  name: 'Ready, but for the old revision',
  check: (f) =>
    isReady(f) && !f.newRevision
      ? pending(`waiting for a new predictor revision (latest created: ${f.created ?? 'none'})`)
      : undefined,
};

/**
 * RawDeployment after a change: KServe reports Ready from the Deployment's Available condition, which stays
 * True while a rolling update still runs the old pods, so the rollout itself must be complete.
 */
export const rolloutPendingRule: AssessRule = {
  name: 'Ready, predictor Deployment still rolling out',
  check: (f) => {
    if (!isReady(f) || f.o.deploymentMode !== 'RawDeployment' || !f.o.changed) return undefined;
    if (!f.state.deployment) return pending(`Ready, waiting for Deployment ${f.isvc.metadata.name}-predictor`);
    const rollout = deploymentRule.check(f.state.deployment);
    return rollout.state === 'ready'
      ? undefined
      : pending(`Ready, waiting for the predictor Deployment's rollout: ${rollout.message}`);
  },
};

const latestShare = (traffic: TrafficTarget[]): number =>
  traffic.filter((t) => t.latest).reduce((n, t) => n + t.percent, 0);

export const trafficPendingRule: AssessRule = {
  name: 'Ready, traffic not yet on the latest revision',
  check: (f) => {
    if (!isReady(f)) return undefined;
    const traffic = trafficOf(f.isvc);
    const latest = latestShare(traffic);
    if (!traffic.length || f.o.latestPercent === undefined || latest === f.o.latestPercent) return undefined;
    return pending(`Ready, waiting for traffic: the latest revision has ${latest}% (want ${f.o.latestPercent}%)`);
  },
};

/** Ready; with a warning when a container of the rollout is failing (KServe can report Ready while the model server restarts). */
export const readyRule: AssessRule = {
  name: 'Ready',
  check: (f) => {
    if (!isReady(f)) return undefined;
    const traffic = trafficOf(f.isvc);
    const message = `Ready${f.created ? ` (revision ${f.created})` : ''}${traffic.length ? ` (${traffic.map((t) => `${t.revision} ${t.percent}%`).join(', ')})` : ''}`;
    const restarting = f.pods.flatMap((p) => podProblems(p as unknown as V1Pod)).find((p) => p.kind === 'crash');
    return restarting
      ? {
          state: 'ready',
          message,
          warning: `InferenceService is Ready, but container ${restarting.container} of pod ${restarting.pod} is failing (${restarting.reason}, ${restarting.restarts ?? 0} restart(s)): KServe can report Ready while the model server crashes; call the endpoint (smoke test) before trusting it`,
        }
      : { state: 'ready', message };
  },
};

/** Anything else: pending, saying which conditions are not True yet. */
export const notReadyRule: AssessRule = {
  name: 'not Ready yet',
  check: ({ ready, bad }) => {
    const why = bad.filter((c) => c.type !== 'Ready').map((c) => `${c.type}${c.reason ? ` (${c.reason})` : ''}`);
    return pending(
      ready
        ? `Ready is ${ready.status}${ready.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}${why.length ? `; not ready: ${why.join(', ')}` : ''}`
        : 'no Ready condition yet',
    );
  },
};

/**
 * The rules about the InferenceService, in order, tried after the pod rules (a failing pod's cause is the most
 * precise): an unreconciled change holds everything else back, then KServe's own failure reports, then Ready
 * with its extra conditions. The last rule always answers.
 */
export const ASSESS_RULES: readonly AssessRule[] = [
  notReconciledRule,
  modelFailureRule,
  revisionFailedRule,
  revisionMissingRule,
  oldRevisionReadyRule,
  rolloutPendingRule,
  trafficPendingRule,
  readyRule,
  notReadyRule,
];

/** The facts the rules share, computed once from the observed state. */
export function observe(state: WatchState, o: AssessOptions, isvc: KubeObject): Observed {
  const status = statusOf(isvc);
  const created = status.components?.predictor?.latestCreatedRevision;
  const statusWritten = stableJson(isvc['status'] ?? null) !== o.baselineStatus;
  const reconciled = !o.changed || statusWritten;
  const latestCreated = reconciled ? created : undefined;
  const pods = [...state.pods.values()].filter((p) => {
    const rev = p.metadata.labels?.[REVISION_LABEL];
    if (latestCreated && rev) return rev === latestCreated;
    return time(p.metadata.creationTimestamp) >= o.since - 2000;
  });
  const conditions = conditionsOf(isvc);
  return {
    state,
    o,
    isvc,
    status,
    created,
    reconciled,
    latestCreated,
    newRevision: !o.expectNewRevision || (created !== undefined && created !== o.expectNewRevision.previous),
    pods,
    conditions,
    bad: conditions.filter((c) => c.status === 'False'),
    ready: conditions.find((c) => c.type === 'Ready'),
  };
}

/** The verdict of the first rule that answers (pod rules, then ASSESS_RULES), with the rule's name. */
export function assessWithRule(state: WatchState, o: AssessOptions): Verdict {
  if (!state.isvc)
    return {
      rule: 'InferenceService absent',
      assessment: pending('the InferenceService does not exist yet'),
    };
  const f = observe(state, o, state.isvc);
  const byPod = podVerdict(f);
  if (byPod) return byPod;
  for (const rule of ASSESS_RULES) {
    const assessment = rule.check(f);
    if (assessment) return { rule: rule.name, assessment };
  }
  // notReadyRule always answers.
  throw new Error('no InferenceService rule answered');
}

/**
 * Decides, from the InferenceService, its pods and Events, whether the rollout is ready, still going,
 * or failed with a known cause (each with its fix): the first rule that answers (see assessWithRule).
 * Pure: the waiter calls it on every change.
 */
export function assess(state: WatchState, o: AssessOptions): Assessment {
  return assessWithRule(state, o).assessment;
}

function modelFailureFix(reason: string): string {
  switch (reason) {
    case 'ModelLoadFailed':
      return "the model server could not load the model: check that model-format matches the files (MLflow: the directory holding MLmodel) and the runtime's version supports them";
    case 'NoSupportingRuntime':
    case 'RuntimeUnrecognized':
    case 'RuntimeNotRecognized':
      return 'no ServingRuntime supports this model-format with this protocol: set runtime (e.g. kserve-mlserver for mlflow) or enable a ClusterServingRuntime that lists the format';
    case 'RuntimeDisabled':
      return 'the runtime is disabled: enable the ServingRuntime or choose another with runtime';
    case 'InvalidPredictorSpec':
      return 'KServe rejected the predictor spec: fix the fields named above';
    default:
      return 'read the reason and message above (status.modelStatus.lastFailureInfo of the InferenceService)';
  }
}

export class InferenceServiceError extends KfopsError {
  override readonly name = 'InferenceServiceError';
  constructor(
    message: string,
    details: { cause?: string; fix?: string },
    readonly kind: FailureKind | 'timeout',
  ) {
    super(message, details);
  }
}

export interface ReadyReport {
  isvc: KubeObject;
  url?: string;
  address?: string;
  host?: string;
  latestRevision?: string;
  previousRevision?: string;
  traffic: TrafficTarget[];
  readyMs: number;
}

export function readyReport(isvc: KubeObject, readyMs: number): ReadyReport {
  const s = statusOf(isvc);
  const p = s.components?.predictor ?? {};
  let host: string | undefined;
  try {
    host = s.url ? new URL(s.url).host : undefined;
  } catch {
    host = undefined;
  }
  const latest = p.latestReadyRevision ?? p.latestCreatedRevision;
  return {
    isvc,
    ...(s.url ? { url: s.url } : {}),
    ...(s.address?.url ? { address: s.address.url } : {}),
    ...(host ? { host } : {}),
    ...(latest ? { latestRevision: latest } : {}),
    ...(p.previousRolledoutRevision ? { previousRevision: p.previousRolledoutRevision } : {}),
    traffic: trafficOf(isvc),
    readyMs,
  };
}

export interface WaitIsvcOptions {
  changed: boolean;
  baselineStatus: string;
  expectNewRevision?: { previous?: string | undefined };
  deploymentMode?: 'Serverless' | 'RawDeployment';
  since: number;
  timeoutMs: number;
  latestPercent?: number;
  unschedulableGraceMs?: number;
  revisionMissingGraceMs?: number;
  logLines?: number;
  logger?: Logger;
  now?: () => number;
}

const noRule: ReadinessRule = { name: 'InferenceService Ready', check: () => ({ state: 'pending', message: '' }) };

/**
 * Watches the InferenceService, its pods and the namespace's Events together, and settles as soon as
 * `assess` says ready (resolves) or failed (rejects with the cause, the fix, and the log tail of the
 * failing container when the cluster can give it). Rejects at the deadline with the last state.
 */
export async function waitForInferenceService(
  client: KubeClient,
  name: string,
  namespace: string,
  options: WaitIsvcOptions,
): Promise<ReadyReport> {
  const { logger = silentLogger, now = Date.now } = options;
  const ref: ObjectRef = { apiVersion: ISVC_API_VERSION, kind: 'InferenceService', name, namespace };
  const state: {
    isvc?: KubeObject;
    deployment?: KubeObject;
    pods: ReadonlyMap<string, KubeObject>;
    events: ReadonlyMap<string, KubeObject>;
  } = { pods: new Map(), events: new Map() };
  const started = now();
  const abort = new AbortController();
  return new Promise<ReadyReport>((resolve, reject) => {
    let done = false;
    let last = '';
    const stop = (): void => {
      done = true;
      clearInterval(tick);
      clearTimeout(deadline);
      abort.abort();
    };
    const check = (): void => {
      if (done) return;
      const verdict = assess(state, {
        changed: options.changed,
        baselineStatus: options.baselineStatus,
        ...(options.expectNewRevision ? { expectNewRevision: options.expectNewRevision } : {}),
        ...(options.deploymentMode ? { deploymentMode: options.deploymentMode } : {}),
        since: options.since,
        now: now(),
        unschedulableGraceMs: options.unschedulableGraceMs ?? 30_000,
        revisionMissingGraceMs: options.revisionMissingGraceMs ?? 60_000,
        ...(options.latestPercent !== undefined ? { latestPercent: options.latestPercent } : {}),
      });
      if (verdict.message !== last) {
        last = verdict.message;
        logger.info(`${namespace}/${name}: ${verdict.message} (${formatDuration(now() - started)})`);
      }
      if (verdict.state === 'ready' && state.isvc) {
        if (verdict.warning) logger.warning(verdict.warning);
        stop();
        resolve(readyReport(state.isvc, now() - started));
      } else if (verdict.state === 'failed' && verdict.failure) {
        stop();
        void failWith(client, namespace, name, verdict.failure, options.logLines ?? 20).then(reject, reject);
      }
    };
    const informer = (target: WatchTarget, keep: (objects: ReadonlyMap<string, KubeObject>) => void): void => {
      waitUntil(
        client,
        target,
        { ref, rule: noRule },
        (objects) => {
          keep(objects);
          queueMicrotask(check);
          return { readiness: { state: 'pending', message: '' } };
        },
        { timeoutMs: options.timeoutMs + 60_000, signal: abort.signal, logger },
      ).catch((error: unknown) => {
        if (done) return;
        stop();
        reject(error);
      });
    };
    const tick = setInterval(check, 1000);
    const deadline = setTimeout(() => {
      if (done) return;
      stop();
      reject(
        new InferenceServiceError(
          `InferenceService ${namespace}/${name} did not become ready within ${formatDuration(options.timeoutMs)}`,
          {
            cause: `last observed: ${last || 'nothing'}${warningsFor(
              state.events,
              new Set([name, ...state.pods.keys()].map((k) => k.split('/').pop() as string)),
            )
              .map((w) => `\nEvent: ${w}`)
              .join('')}`,
            fix:
              state.isvc?.['status'] === undefined
                ? 'no KServe controller wrote a status: check that KServe runs (kubectl get pods -n kubeflow -l control-plane=kserve-controller-manager) and that its webhook and controller logs show no error'
                : 'raise timeout if the model is large (the storage-initializer downloads it first), otherwise read the state above',
          },
          'timeout',
        ),
      );
    }, options.timeoutMs);
    informer(
      { apiVersion: ISVC_API_VERSION, kind: 'InferenceService', namespace, fieldSelector: `metadata.name=${name}` },
      (objects) => {
        state.isvc = objects.values().next().value;
      },
    );
    informer({ apiVersion: 'v1', kind: 'Pod', namespace, labelSelector: `${ISVC_POD_LABEL}=${name}` }, (objects) => {
      state.pods = objects;
    });
    informer({ apiVersion: 'v1', kind: 'Event', namespace }, (objects) => {
      state.events = objects;
    });
    if (options.deploymentMode === 'RawDeployment') {
      informer(
        { apiVersion: 'apps/v1', kind: 'Deployment', namespace, fieldSelector: `metadata.name=${name}-predictor` },
        (objects) => {
          state.deployment = objects.values().next().value;
        },
      );
    }
  });
}

/** The failure as an error, with the failing container's log tail when the cluster can give it. */
async function failWith(
  client: KubeClient,
  namespace: string,
  name: string,
  f: NonNullable<Assessment['failure']>,
  logLines: number,
): Promise<InferenceServiceError> {
  let cause = f.cause;
  // Warning Events about the failing pod and the InferenceService, read fresh (the watch may lag the status).
  try {
    const events = await client.list({ apiVersion: 'v1', kind: 'Event', namespace });
    const names = new Set([name, ...(f.pod ? [f.pod] : []), ...(f.related ?? [])].filter(Boolean));
    const lines = warningsFor(new Map(events.items.map((e) => [e.metadata.name, e])), names, 5);
    if (lines.length) cause += lines.map((l) => `\nEvent: ${l}`).join('');
  } catch {
    // Events only add detail.
  }
  if (f.pod && f.container && (f.kind === 'storage-initializer' || f.kind === 'crash-loop')) {
    try {
      const text = await client.core.readNamespacedPodLog({
        name: f.pod,
        namespace,
        container: f.container,
        tailLines: logLines,
        previous: f.previousLog ?? false,
      });
      const lines = String(text).split('\n').filter(Boolean).slice(-logLines);
      if (lines.length) cause += `\nLog tail of ${f.pod}/${f.container}:\n${lines.map((l) => `  | ${l}`).join('\n')}`;
    } catch (error) {
      const e = error as { code?: number; body?: unknown; message?: string };
      const why = typeof e.body === 'string' ? e.body.slice(0, 200) : (e.message ?? String(error));
      cause += `\n(log of ${f.pod}/${f.container} unavailable: ${e.code ? `HTTP ${e.code} ` : ''}${why.split('\n')[0]})`;
    }
  }
  return new InferenceServiceError(
    `InferenceService ${namespace}/${name} failed: ${f.headline}`,
    { cause, fix: f.fix },
    f.kind,
  );
}
