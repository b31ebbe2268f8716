/**
 * The release pipeline, per service, built on the existing use cases (releaseModel, smokeTest):
 *
 * production (a merge):
 *   deploy — as a canary (the file's `canary` percent) when the service already serves, otherwise directly
 *   -> smoke test through the gateway
 *   -> passed: promote (all traffic to the new revision), then move the MLflow alias to the released
 *      version, read back and checked (the version it pointed at before is recorded);
 *   -> failed: roll back to what served before (the InferenceService's kfops/previous record), alias
 *      untouched; a first release that fails has nothing to roll back to and stays as deployed.
 *
 * candidate (a pull request): the model is deployed as a SEPARATE InferenceService beside production,
 * named by candidateName (`<service>-pr-<number>`), and smoke-tested there; production and the alias are
 * never touched. Why not a canary on production: an unmerged change must never take production traffic
 * (a canary split sends real users' calls to it), and two open pull requests for one service would
 * fight over the one canary slot. One InferenceService per pull request keeps each candidate apart and
 * is updated in place by every push to it.
 */
import { describeError, KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { redactUrlCredentials } from '../common/redact.js';
import { DEFAULT_TOLERANCE } from '../inference/compare.js';
import type { AuthSettings, SmokeTestResult, SmokeTestSettings } from '../inference/smoke-test.js';
import {
  APPLIED_ANNOTATION,
  readRecord,
  type ModelInfo,
  type PredictorSettings,
  type ReleaseAction,
} from '../kserve/inferenceservice.js';
import {
  newReleaseReport,
  type MlflowSettings,
  type ReleaseModelReport,
  type ReleaseModelSettings,
} from '../kserve/release.js';
import type { S3Settings } from '../kserve/storage.js';
import type { KubeObject } from '../kube/types.js';
import { modelVersionUrl, type AliasMove } from '../mlflow/registry.js';
import { MAX_SERVICE_NAME, type ReleaseSpec } from './file.js';
import type { ModelRef, ReleaseMode, ReleaseOutcome, ReleaseRun, ServiceRelease, SmokeFigures } from './types.js';

/** The cluster, registry, storage and smoke settings every release of a run shares. */
export interface PipelineSettings {
  mode: ReleaseMode;
  /** The pull request a candidate belongs to (its number names the candidate's InferenceService). */
  pullRequest?: number;
  mlflow?: MlflowSettings;
  /** S3 credentials the predictor reads the model with (stored in a Secret next to the InferenceService). */
  s3?: S3Settings;
  s3Check: boolean;
  /** The gateway's address for the smoke test (default: the istio-ingressgateway Service's load balancer). */
  ingressAddress?: string;
  smokeAuth: { kind: 'none' } | { kind: 'bearer'; token: string } | { kind: 'serviceaccount'; serviceAccount: string };
  auth: { mode: 'auto' | 'skip'; fromNamespaces: string[] };
  /** Deadline of each deploy, promote or rollback (resolving, checking, applying and waiting). */
  timeoutMs: number;
  /** Deadline of each smoke test until its first correct answer. */
  smokeTimeoutMs: number;
  requestTimeoutMs: number;
  forceConflicts: boolean;
}

/** The use cases the pipeline runs; the action passes the real ones, tests pass fakes. */
export interface PipelineDeps {
  releaseModel(settings: ReleaseModelSettings, report: ReleaseModelReport): Promise<ReleaseModelReport>;
  smokeTest(settings: SmokeTestSettings): Promise<SmokeTestResult>;
  /** The live InferenceService, or undefined when there is none. */
  readService(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** Moves an MLflow alias and reads it back (mlflow/registry.ts moveAlias with a client). */
  moveAlias(name: string, alias: string, version: string): Promise<AliasMove>;
  logger?: Logger;
  now?: () => number;
}

/** The InferenceService a pull request's candidate runs as: `<service>-pr-<number>` (or `-candidate`). */
export function candidateName(service: string, pullRequest?: number): string {
  const suffix = pullRequest !== undefined ? `-pr-${pullRequest}` : '-candidate';
  return `${service.slice(0, MAX_SERVICE_NAME - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** The default smoke-test calls of the load phase, when the release file gives none. */
export const DEFAULT_SMOKE_REQUESTS = 20;

function modelRef(reference: string, info: ModelInfo | undefined): ModelRef {
  return {
    reference,
    ...(info?.uri ? { uri: redactUrlCredentials(info.uri) } : {}),
    ...(info?.name ? { registeredModel: info.name } : {}),
    ...(info?.version ? { version: info.version } : {}),
  };
}

/** What a live InferenceService serves, from its kfops/applied record (or its spec). */
export function servingModel(live: KubeObject | undefined): ModelRef | undefined {
  if (!live) return undefined;
  const record = readRecord(live, APPLIED_ANNOTATION);
  const uri = (
    (record?.predictor ?? (live['spec'] as { predictor?: Record<string, unknown> } | undefined)?.predictor)?.[
      'model'
    ] as { storageUri?: string } | undefined
  )?.storageUri;
  const model = record?.model ?? (uri ? { uri } : undefined);
  if (!model) return undefined;
  return modelRef(model.registry ?? model.uri, model);
}

function smokeFigures(r: SmokeTestResult['report']): SmokeFigures {
  const load = r.load;
  if (!load)
    return { requests: 1, errors: 0, errorRate: 0, p50Ms: r.inferenceMs, p95Ms: r.inferenceMs, p99Ms: r.inferenceMs };
  return {
    requests: load.requests,
    errors: load.failed,
    errorRate: load.errorRate,
    ...(load.latency ? { p50Ms: load.latency.p50, p95Ms: load.latency.p95, p99Ms: load.latency.p99 } : {}),
    throughput: load.throughput,
  };
}

/** One line for a cause: the first lines of an error, without credentials. */
function oneLine(text: string): string {
  return redactUrlCredentials(text.split('\n').filter(Boolean).slice(0, 3).join(' — '));
}

function smokeSettings(s: PipelineSettings, spec: ReleaseSpec, name: string): SmokeTestSettings {
  const smoke = spec.smoke;
  const compare = smoke.compare ?? 'subset';
  const auth: AuthSettings =
    s.smokeAuth.kind === 'serviceaccount'
      ? {
          kind: 'serviceaccount',
          serviceAccount: s.smokeAuth.serviceAccount,
          namespace: spec.namespace,
          audience: 'istio-ingressgateway.istio-system.svc.cluster.local',
          expirationSeconds: 600,
        }
      : s.smokeAuth;
  return {
    target: {
      type: 'inferenceservice',
      name,
      namespace: spec.namespace,
      route: 'gateway',
      ...(s.ingressAddress ? { ingressAddress: s.ingressAddress } : {}),
    },
    protocol: spec.protocol === 'v1' || spec.protocol === 'v2' ? spec.protocol : 'auto',
    payload: smoke.payload,
    ...(smoke.expected !== undefined ? { expected: smoke.expected } : {}),
    compare,
    tolerance: smoke.tolerance ?? (compare === 'exact' ? { absolute: 0, relative: 0 } : DEFAULT_TOLERANCE),
    auth,
    assertTokenRequired: false,
    timeoutMs: s.smokeTimeoutMs,
    requestTimeoutMs: s.requestTimeoutMs,
    requests: smoke.requests ?? DEFAULT_SMOKE_REQUESTS,
    concurrency: 4,
    ...(smoke.maxP95Ms !== undefined ? { maxP95Ms: smoke.maxP95Ms } : {}),
    maxErrorRate: smoke.maxErrorRate ?? 0,
    insecure: false,
  };
}

function releaseSettings(
  s: PipelineSettings,
  spec: ReleaseSpec,
  name: string,
  action: ReleaseAction,
  canary: number | undefined,
): ReleaseModelSettings {
  const predictor: Omit<PredictorSettings, 'storageUri'> = {
    modelFormat: spec.format,
    protocol: spec.protocol,
    ...(spec.runtime ? { runtime: spec.runtime } : {}),
    ...(spec.resources ? { resources: spec.resources } : {}),
    ...(spec.replicas?.min !== undefined ? { minReplicas: spec.replicas.min } : {}),
    ...(spec.replicas?.max !== undefined ? { maxReplicas: spec.replicas.max } : {}),
    ...(canary ? { canaryTrafficPercent: canary } : {}),
    ...(s.s3 ? { serviceAccountName: `${name}-sa` } : {}),
  };
  return {
    release: {
      action,
      service: { name, namespace: spec.namespace, deploymentMode: spec.deploymentMode, annotations: {}, labels: {} },
      ...(action === 'deploy' && s.s3
        ? { s3: { settings: s.s3, secretName: `${name}-s3`, serviceAccountName: `${name}-sa` } }
        : {}),
      auth: s.auth,
      wait: true,
      forceConflicts: s.forceConflicts,
    },
    ...(action === 'deploy' ? { model: { source: spec.source, predictor } } : {}),
    ...(s.mlflow && spec.source.kind === 'registry' ? { mlflow: s.mlflow } : {}),
    s3Check: s.s3Check,
    timeoutMs: s.timeoutMs,
  };
}

const storageUriOf = (live: KubeObject | undefined): string | undefined =>
  ((readRecord(live, APPLIED_ANNOTATION)?.predictor?.['model'] as { storageUri?: string } | undefined) ?? undefined)
    ?.storageUri;

/** Releases one service; never throws for a failed release (the record says why), only for bugs. */
export async function releaseService(
  s: PipelineSettings,
  spec: ReleaseSpec,
  deps: PipelineDeps,
): Promise<ServiceRelease> {
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const started = now();
  const production = s.mode === 'production';
  const name = production ? spec.service : candidateName(spec.service, s.pullRequest);
  const record: ServiceRelease = {
    ...(spec.file ? { file: spec.file } : {}),
    service: spec.service,
    namespace: spec.namespace,
    mode: s.mode,
    deployedAs: name,
    candidate: { reference: redactUrlCredentials(spec.model) },
    outcome: 'failed',
    durationMs: 0,
  };
  const finish = (outcome: ReleaseOutcome, cause?: string): ServiceRelease => {
    record.outcome = outcome;
    if (cause) record.cause = cause;
    record.durationMs = now() - started;
    logger.info(`${spec.namespace}/${name}: ${outcome}${cause ? ` — ${cause}` : ''}`);
    return record;
  };

  // What production serves now (for a candidate: what it is compared with; for production: what it replaces).
  let live: KubeObject | undefined;
  try {
    live = await deps.readService(spec.namespace, spec.service);
  } catch (error) {
    return finish(
      'failed',
      `could not read InferenceService ${spec.namespace}/${spec.service}: ${oneLine(describeError(error))}`,
    );
  }
  const current = servingModel(live);
  if (current) record.current = current;
  // Whether production already serves a release of ours: only a production release canaries or rolls back.
  const serving = production && live !== undefined && readRecord(live, APPLIED_ANNOTATION) !== undefined;
  const canary = serving && spec.canary > 0 ? spec.canary : undefined;

  // 1. Deploy.
  const report = newReleaseReport('deploy', now());
  const deployed = await logger.group(
    `${spec.namespace}/${name}: deploy ${redactUrlCredentials(spec.model)}${canary ? ` as a ${canary}% canary` : production ? '' : ' (candidate beside production)'}`,
    () =>
      deps.releaseModel(releaseSettings(s, spec, name, 'deploy', canary), report).then(
        () => undefined,
        (error: unknown) => error,
      ),
  );
  const resolved = report.model;
  record.candidate = modelRef(redactUrlCredentials(spec.model), resolved);
  if (resolved?.name && resolved.version && s.mlflow)
    record.modelVersionUrl = modelVersionUrl(s.mlflow.url, resolved.name, resolved.version);
  const ready = report.release?.ready;
  if (ready?.url) record.url = ready.url;
  const changed = report.release ? report.release.plan.changed || report.release.outcome !== 'unchanged' : undefined;

  if (deployed !== undefined) {
    const cause = `deploy failed: ${oneLine(describeError(deployed))}`;
    if (!production || report.step !== 'release') return finish('failed', cause);
    // The apply may or may not have happened: roll back only when the live record is the new model's.
    const after = await deps.readService(spec.namespace, name).catch(() => undefined);
    const applied = storageUriOf(after);
    if (!serving || !resolved || applied !== resolved.uri || storageUriOf(live) === resolved.uri)
      return finish('failed', cause);
    return rollback(cause);
  }

  // 2. Smoke test through the gateway.
  let failure: string | undefined;
  try {
    const result = await logger.group(`${spec.namespace}/${name}: smoke test through the gateway`, () =>
      deps.smokeTest(smokeSettings(s, spec, name)),
    );
    record.smoke = smokeFigures(result.report);
    if (!record.url) record.url = result.endpoint.baseUrl;
    if (result.report.failures.length) failure = `smoke test failed: ${oneLine(result.report.failures.join('; '))}`;
  } catch (error) {
    failure = `smoke test failed: ${oneLine(describeError(error))}`;
  }

  if (!production) return failure ? finish('failed', failure) : finish(changed === false ? 'unchanged' : 'passed');

  if (failure) {
    if (changed === false)
      return finish('failed', `${failure} (the release file asks for what already serves; nothing to roll back)`);
    if (!serving)
      return finish(
        'failed',
        `${failure} (first release of ${spec.namespace}/${name}: nothing to roll back to; it stays deployed, no alias moved)`,
      );
    return rollback(failure);
  }

  // 3. Promote, then move the alias.
  const promote = await deps
    .releaseModel(releaseSettings(s, spec, name, 'promote', undefined), newReleaseReport('promote', now()))
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  if (promote !== undefined) return rollback(`promote failed: ${oneLine(describeError(promote))}`);
  if (spec.alias) {
    const registered = resolved?.name;
    const version = resolved?.version;
    if (!registered || !version)
      return finish('failed', `alias ${spec.alias} not moved: the registry gave no version for ${spec.model}`);
    try {
      const moved = await deps.moveAlias(registered, spec.alias, version);
      record.alias = {
        name: spec.alias,
        version: moved.version,
        ...(moved.previousVersion !== undefined ? { previousVersion: moved.previousVersion } : {}),
      };
      logger.info(
        `MLflow alias ${registered}@${spec.alias}: ${moved.previousVersion ?? '(none)'} -> ${moved.version} (read back)`,
      );
    } catch (error) {
      // The model passed and serves; only the registry is behind: say so, do not undo a good release.
      return finish(
        'failed',
        `promoted, but alias ${spec.alias} of ${registered} was not moved to version ${version}: ${oneLine(describeError(error))}`,
      );
    }
  }
  return finish(changed === false ? 'unchanged' : 'passed');

  async function rollback(cause: string): Promise<ServiceRelease> {
    const r = await logger.group(`${spec.namespace}/${name}: roll back`, () =>
      deps
        .releaseModel(releaseSettings(s, spec, name, 'rollback', undefined), newReleaseReport('rollback', now()))
        .then(
          () => undefined,
          (error: unknown) => error,
        ),
    );
    if (r !== undefined) return finish('failed', `${cause}; the rollback failed too: ${oneLine(describeError(r))}`);
    return finish('rolled-back', `${cause}; the previous release serves again, alias untouched`);
  }
}

/** Releases every spec in turn (each service on its own: one failing does not stop the others). */
export async function runReleases(
  s: PipelineSettings,
  specs: readonly ReleaseSpec[],
  deps: PipelineDeps,
  context: { runUrl?: string; commit?: string } = {},
): Promise<ReleaseRun> {
  const releases: ServiceRelease[] = [];
  for (const spec of specs) releases.push(await releaseService(s, spec, deps));
  return { mode: s.mode, releases, ...context };
}

/** The result of a whole run: the worst outcome (none when nothing was released). */
export function overallResult(run: ReleaseRun): ReleaseOutcome | 'none' {
  const order: ReleaseOutcome[] = ['failed', 'rolled-back', 'skipped', 'passed', 'unchanged'];
  for (const o of order) if (run.releases.some((r) => r.outcome === o)) return o;
  return 'none';
}

/** The error a failed run ends with: every failed or rolled-back service and its cause. */
export function runFailure(run: ReleaseRun): KfopsError | undefined {
  const bad = run.releases.filter((r) => r.outcome === 'failed' || r.outcome === 'rolled-back');
  if (!bad.length) return undefined;
  return new KfopsError(
    `${bad.length} of ${run.releases.length} release(s) did not pass: ${bad.map((r) => `${r.namespace}/${r.deployedAs} ${r.outcome}`).join(', ')}`,
    { cause: bad.map((r) => `${r.deployedAs}: ${r.cause ?? r.outcome}`).join('\n') },
  );
}
