import { KfopsError } from '../common/errors.js';
import { stableJson } from '../common/json.js';
import type { KubeObject } from '../kube/types.js';

export const ISVC_API_VERSION = 'serving.kserve.io/v1beta1';
export const DEPLOYMENT_MODE_ANNOTATION = 'serving.kserve.io/deploymentMode';
/** What this action applied last (predictor spec and model), as JSON. */
export const APPLIED_ANNOTATION = 'kfops/applied';
/** What served before the last change (predictor spec, model, revision), as JSON: what rollback restores. */
export const PREVIOUS_ANNOTATION = 'kfops/previous';

export type DeploymentMode = 'Serverless' | 'RawDeployment';
export type Protocol = 'v1' | 'v2' | 'grpc-v1' | 'grpc-v2';
export const PROTOCOLS: readonly Protocol[] = ['v1', 'v2', 'grpc-v1', 'grpc-v2'];

export interface Resources {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface PredictorSettings {
  storageUri: string;
  modelFormat: string;
  modelFormatVersion?: string;
  protocol: Protocol;
  runtime?: string;
  resources?: Resources;
  minReplicas?: number;
  maxReplicas?: number;
  canaryTrafficPercent?: number;
  serviceAccountName?: string;
}

export interface ModelInfo {
  uri: string;
  version?: string;
  name?: string;
  registry?: string;
}

export interface ServiceSettings {
  name: string;
  namespace: string;
  deploymentMode: DeploymentMode;
  annotations: Record<string, string>;
  labels: Record<string, string>;
}

/** The record kept in the annotations. */
export interface ReleaseRecord {
  predictor: Record<string, unknown>;
  model?: ModelInfo;
  revision?: string;
}

/** The protocol for a format when none is given: v2 for MLflow (MLServer speaks only v2), else v1. */
export function defaultProtocol(modelFormat: string): Protocol {
  return modelFormat.toLowerCase() === 'mlflow' ? 'v2' : 'v1';
}

/** Why KServe accepts a format/protocol pair but cannot serve it, or undefined when it can. */
export function protocolProblem(modelFormat: string, protocol: Protocol): string | undefined {
  if (modelFormat.toLowerCase() === 'mlflow' && (protocol === 'v1' || protocol === 'grpc-v1')) {
    return '`v2` (or `grpc-v2`) for model-format mlflow: KServe serves MLflow models only with the MLServer runtime (kserve-mlserver), which implements the Open Inference Protocol (v2); with v1 no runtime supports the model, and /v1/models/...:predict calls would fail with 404';
  }
  return undefined;
}

/** spec.predictor for the settings; only fields that are set appear (server-side apply owns exactly these). */
export function renderPredictor(p: PredictorSettings): Record<string, unknown> {
  const model: Record<string, unknown> = {
    modelFormat: { name: p.modelFormat, ...(p.modelFormatVersion ? { version: p.modelFormatVersion } : {}) },
    protocolVersion: p.protocol,
    storageUri: p.storageUri,
  };
  if (p.runtime) model['runtime'] = p.runtime;
  if (p.resources && (p.resources.requests || p.resources.limits)) model['resources'] = p.resources;
  const predictor: Record<string, unknown> = { model };
  if (p.serviceAccountName) predictor['serviceAccountName'] = p.serviceAccountName;
  if (p.minReplicas !== undefined) predictor['minReplicas'] = p.minReplicas;
  if (p.maxReplicas !== undefined) predictor['maxReplicas'] = p.maxReplicas;
  if (p.canaryTrafficPercent !== undefined) predictor['canaryTrafficPercent'] = p.canaryTrafficPercent;
  return predictor;
}

/** The predictor without a canary split (what promote and rollback apply). */
export function withoutCanary(predictor: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...predictor };
  delete copy['canaryTrafficPercent'];
  return copy;
}

export function renderInferenceService(
  s: ServiceSettings,
  predictor: Record<string, unknown>,
  records: { applied: ReleaseRecord; previous?: ReleaseRecord },
): KubeObject {
  return {
    apiVersion: ISVC_API_VERSION,
    kind: 'InferenceService',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      labels: { ...s.labels },
      annotations: {
        ...s.annotations,
        [DEPLOYMENT_MODE_ANNOTATION]: s.deploymentMode,
        [APPLIED_ANNOTATION]: JSON.stringify(records.applied),
        ...(records.previous ? { [PREVIOUS_ANNOTATION]: JSON.stringify(records.previous) } : {}),
      },
    },
    spec: { predictor },
  };
}

/** A JSON annotation of the live object, or undefined. */
export function readRecord(live: KubeObject | undefined, annotation: string): ReleaseRecord | undefined {
  const text = live?.metadata.annotations?.[annotation];
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as ReleaseRecord;
    return r && typeof r === 'object' && r.predictor && typeof r.predictor === 'object' ? r : undefined;
  } catch {
    return undefined;
  }
}

export type ReleaseAction = 'deploy' | 'promote' | 'rollback';

export interface ReleasePlan {
  predictor: Record<string, unknown>;
  applied: ReleaseRecord;
  previous?: ReleaseRecord;
  /** True when the predictor differs from what the live object was applied with. */
  changed: boolean;
}

type PredictorStatus = {
  latestReadyRevision?: string;
  latestCreatedRevision?: string;
  previousRolledoutRevision?: string;
  latestRolledoutRevision?: string;
};
export function predictorStatus(live: KubeObject | undefined): PredictorStatus {
  return (
    (live?.['status'] as { components?: { predictor?: PredictorStatus } } | undefined)?.components?.predictor ?? {}
  );
}

/**
 * What to apply for an action, given the live InferenceService:
 * - deploy: the new predictor; when it differs from the live one, the live one (with its serving
 *   revision) becomes the previous release. The same spec again changes nothing.
 * - promote: the live predictor without canaryTrafficPercent (the latest revision takes 100 %).
 * - rollback: the previous release's predictor, without a canary; the release rolled back from becomes
 *   the previous one (so a second rollback rolls forward again).
 */
export function planRelease(
  action: ReleaseAction,
  live: KubeObject | undefined,
  desired?: { predictor: Record<string, unknown>; model: ModelInfo },
): ReleasePlan {
  const liveApplied =
    readRecord(live, APPLIED_ANNOTATION) ??
    (live
      ? { predictor: (live['spec'] as { predictor?: Record<string, unknown> } | undefined)?.predictor ?? {} }
      : undefined);
  const livePrevious = readRecord(live, PREVIOUS_ANNOTATION);
  const serving = predictorStatus(live);
  // RawDeployment reports only latestCreatedRevision (the Deployment's revision number).
  const servingRevision =
    serving.latestReadyRevision ?? serving.latestRolledoutRevision ?? serving.latestCreatedRevision;
  if (action === 'deploy') {
    if (!desired) throw new Error('deploy needs a predictor; this is a bug');
    const changed = !liveApplied || stableJson(liveApplied.predictor) !== stableJson(desired.predictor);
    const applied: ReleaseRecord = { predictor: desired.predictor, model: desired.model };
    if (!changed)
      return { predictor: desired.predictor, applied, ...(livePrevious ? { previous: livePrevious } : {}), changed };
    // Re-deploying with only the canary percent changed keeps the release it is measured against.
    const sameModel =
      liveApplied && stableJson(withoutCanary(liveApplied.predictor)) === stableJson(withoutCanary(desired.predictor));
    const previous = sameModel
      ? livePrevious
      : liveApplied
        ? { ...liveApplied, ...(servingRevision ? { revision: servingRevision } : {}) }
        : undefined;
    return { predictor: desired.predictor, applied, ...(previous ? { previous } : {}), changed };
  }
  if (!live || !liveApplied) {
    throw new KfopsError(`There is no InferenceService to ${action}`, {
      cause: 'it does not exist in this namespace',
      fix: 'deploy it first (action: deploy), or check name and namespace',
    });
  }
  if (action === 'promote') {
    const predictor = withoutCanary(liveApplied.predictor);
    return {
      predictor,
      applied: { ...liveApplied, predictor },
      ...(livePrevious ? { previous: livePrevious } : {}),
      changed: stableJson(predictor) !== stableJson(liveApplied.predictor),
    };
  }
  if (!livePrevious) {
    throw new KfopsError('There is no previous release to roll back to', {
      cause: `InferenceService ${live.metadata.namespace}/${live.metadata.name} has no ${PREVIOUS_ANNOTATION} annotation: it was deployed once, or not by this action`,
      fix: 'deploy the previous model explicitly (action: deploy with its model-uri)',
    });
  }
  const predictor = withoutCanary(livePrevious.predictor);
  return {
    predictor,
    applied: { predictor, ...(livePrevious.model ? { model: livePrevious.model } : {}) },
    previous: { ...liveApplied, ...(servingRevision ? { revision: servingRevision } : {}) },
    changed: true,
  };
}
