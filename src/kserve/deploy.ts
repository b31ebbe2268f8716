import { KfopsError } from '../common/errors.js';
import { stableJson } from '../common/json.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { applyObjects, type ApplyOutcome } from '../kube/apply.js';
import type { KubeClient } from '../kube/client.js';
import type { KubeObject } from '../kube/types.js';
import { decideAuthPolicy, policyName, predictorPolicy } from './auth.js';
import {
  APPLIED_ANNOTATION,
  ISVC_API_VERSION,
  planRelease,
  readRecord,
  renderInferenceService,
  renderPredictor,
  withoutCanary,
  type ModelInfo,
  type PredictorSettings,
  type ReleaseAction,
  type ReleasePlan,
  type ServiceSettings,
} from './inferenceservice.js';
import { storageObjects, type S3Settings } from './storage.js';
import { statusOf, waitForInferenceService, type ReadyReport } from './wait.js';

export interface ReleaseSettings {
  action: ReleaseAction;
  service: ServiceSettings;
  /** For deploy: the predictor and the model it serves. */
  predictor?: PredictorSettings;
  model?: ModelInfo;
  /** S3 credentials to store in a Secret + ServiceAccount used by the predictor (deploy). */
  s3?: { settings: S3Settings; secretName: string; serviceAccountName: string };
  auth: { mode: 'auto' | 'skip'; fromNamespaces: string[] };
  wait: boolean;
  timeoutMs: number;
  forceConflicts: boolean;
  unschedulableGraceMs?: number;
  revisionMissingGraceMs?: number;
}

export interface ReleaseReport {
  action: ReleaseAction;
  plan: ReleasePlan;
  outcome: ApplyOutcome;
  storage?: { secret: ApplyOutcome; serviceAccount: ApplyOutcome };
  policy: { applied: false; reason: string } | { applied: true; name: string; outcome: ApplyOutcome; reason: string };
  /** The InferenceService as applied (status from before the wait). */
  applied: KubeObject;
  ready?: ReadyReport;
  /** rollback: the revision that served before the rollback, and the release restored. */
  rolledBackFrom?: string;
}

const LABELS = (name: string): Record<string, string> => ({ 'serving.kserve.io/inferenceservice': name });

/**
 * Deploys, promotes or rolls back one InferenceService: credentials Secret + ServiceAccount, the
 * InferenceService (server-side apply, field manager kfops, the release history in annotations), the
 * narrow ALLOW policy in profile namespaces, then a watch until Ready at the applied generation or a
 * named failure.
 */
export async function release(
  client: KubeClient,
  s: ReleaseSettings,
  deps: { logger?: Logger } = {},
): Promise<ReleaseReport> {
  const logger = deps.logger ?? silentLogger;
  const { name, namespace } = s.service;
  const ref = { apiVersion: ISVC_API_VERSION, kind: 'InferenceService', name, namespace };
  const live = await client.get(ref);
  if (live && s.action !== 'deploy' && s.service.deploymentMode !== modeOf(live))
    s.service = { ...s.service, deploymentMode: modeOf(live) };

  let storage: ReleaseReport['storage'];
  if (s.action === 'deploy' && s.s3) {
    const objs = storageObjects(
      { secret: s.s3.secretName, serviceAccount: s.s3.serviceAccountName },
      namespace,
      s.s3.settings,
      LABELS(name),
    );
    const r = await applyObjects(client, objs, { force: s.forceConflicts, logger });
    storage = {
      secret: (r.applied[0] as { outcome: ApplyOutcome }).outcome,
      serviceAccount: (r.applied[1] as { outcome: ApplyOutcome }).outcome,
    };
    logger.info(
      `Secret ${namespace}/${s.s3.secretName} (S3 credentials, KServe annotations) ${storage.secret}; ServiceAccount ${namespace}/${s.s3.serviceAccountName} ${storage.serviceAccount}`,
    );
  }

  const desired =
    s.action === 'deploy'
      ? { predictor: renderPredictor(s.predictor as PredictorSettings), model: s.model as ModelInfo }
      : undefined;
  const plan = planRelease(s.action, live, desired);
  if (s.action === 'promote') {
    const traffic = statusOf(live).components?.predictor?.traffic ?? [];
    if (!plan.changed && traffic.every((t) => t.percent === 100 || !t.percent))
      logger.info('nothing to promote: no canary split is set; the latest revision already takes all traffic');
  }
  const isvc = renderInferenceService(s.service, plan.predictor, {
    applied: plan.applied,
    ...(plan.previous ? { previous: plan.previous } : {}),
  });
  const since = Date.now();
  const applied = await applyObjects(client, [isvc], { force: s.forceConflicts, logger });
  const result = applied.applied[0] as { outcome: ApplyOutcome; object: KubeObject };
  logger.info(
    `InferenceService ${namespace}/${name} ${result.outcome} (generation ${result.object.metadata.generation ?? '?'})${plan.previous?.revision ? `; previous release: revision ${plan.previous.revision}` : ''}`,
  );

  let policy: ReleaseReport['policy'];
  const decision = await decideAuthPolicy(client, namespace, s.auth.mode);
  if (decision.apply) {
    const p = predictorPolicy(name, namespace, s.service.deploymentMode, s.auth.fromNamespaces);
    const r = await applyObjects(client, [p], { force: s.forceConflicts, logger });
    policy = {
      applied: true,
      name: policyName(name),
      outcome: (r.applied[0] as { outcome: ApplyOutcome }).outcome,
      reason: decision.reason,
    };
    logger.info(
      `AuthorizationPolicy ${namespace}/${policyName(name)} (ALLOW, only this model's predictor pods) ${policy.outcome}: ${decision.reason}`,
    );
  } else {
    policy = { applied: false, reason: decision.reason };
    logger.info(`no AuthorizationPolicy: ${decision.reason}`);
  }

  const report: ReleaseReport = {
    action: s.action,
    plan,
    outcome: result.outcome,
    ...(storage ? { storage } : {}),
    policy,
    applied: result.object,
  };
  if (!s.wait) return report;

  const canary = plan.predictor['canaryTrafficPercent'];
  const latestPercent =
    s.service.deploymentMode === 'Serverless' ? (typeof canary === 'number' ? canary : 100) : undefined;
  // What the controller must show before its status counts: a status written since the apply when the
  // spec changed, and a new revision when the revision template (the predictor without the canary
  // percent) changed.
  const liveTemplate = live
    ? stableJson(
        withoutCanary(
          readRecord(live, APPLIED_ANNOTATION)?.predictor ??
            (live['spec'] as { predictor?: Record<string, unknown> } | undefined)?.predictor ??
            {},
        ),
      )
    : undefined;
  const templateChanged = liveTemplate !== stableJson(withoutCanary(plan.predictor));
  const changed =
    !live || (result.outcome !== 'unchanged' && result.object.metadata.generation !== live.metadata.generation);
  report.ready = await waitForInferenceService(client, name, namespace, {
    changed,
    baselineStatus: stableJson(result.object['status'] ?? null),
    ...(changed && templateChanged
      ? { expectNewRevision: { previous: statusOf(result.object).components?.predictor?.latestCreatedRevision } }
      : {}),
    deploymentMode: s.service.deploymentMode,
    since,
    timeoutMs: s.timeoutMs,
    ...(latestPercent !== undefined ? { latestPercent } : {}),
    ...(s.unschedulableGraceMs !== undefined ? { unschedulableGraceMs: s.unschedulableGraceMs } : {}),
    ...(s.revisionMissingGraceMs !== undefined ? { revisionMissingGraceMs: s.revisionMissingGraceMs } : {}),
    logger,
  });
  if (s.action === 'rollback') {
    report.rolledBackFrom = plan.previous?.revision;
    verifyRollback(report.ready, plan);
  }
  return report;
}

function modeOf(live: KubeObject): ServiceSettings['deploymentMode'] {
  return live.metadata.annotations?.['serving.kserve.io/deploymentMode'] === 'RawDeployment'
    ? 'RawDeployment'
    : 'Serverless';
}

/** After a rollback: the restored spec is live and its revision serves all traffic. */
function verifyRollback(ready: ReadyReport, plan: ReleasePlan): void {
  const live = ready.isvc;
  const spec = (live['spec'] as { predictor?: Record<string, unknown> } | undefined)?.predictor ?? {};
  const model = (p: Record<string, unknown>): unknown =>
    (p['model'] as Record<string, unknown> | undefined)?.['storageUri'];
  if (model(spec) !== model(plan.predictor)) {
    throw new KfopsError('The rollback did not take effect', {
      cause: `the InferenceService serves ${stableJson(model(spec))}, not the previous release's ${stableJson(model(plan.predictor))}`,
      fix: 'another field manager changed spec.predictor after the rollback; check managedFields and run the rollback again',
    });
  }
  const serving = ready.traffic.filter((t) => t.percent > 0);
  if (
    serving.length &&
    !(serving.length === 1 && serving[0]?.percent === 100 && serving[0].revision === ready.latestRevision)
  ) {
    throw new KfopsError('The rollback did not take all traffic', {
      cause: `traffic is ${serving.map((t) => `${t.revision} ${t.percent}%`).join(', ')}, expected ${ready.latestRevision ?? 'the latest revision'} at 100%`,
      fix: 'check spec.predictor.canaryTrafficPercent and the Knative Route of the predictor',
    });
  }
}
