import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { KubeClient } from '../kube/client.js';
import { MlflowClient, resolveModel, type MlflowClientOptions, type ResolvedModel } from '../mlflow/registry.js';
import { release, type ReleaseReport, type ReleaseSettings } from './deploy.js';
import type { ModelInfo, PredictorSettings } from './inferenceservice.js';
import { storageSource, type ModelSource, type StorageSource } from './source.js';
import {
  checkS3Location,
  describeS3,
  s3Client,
  type LocationReport,
  type S3Lister,
  type S3Settings,
} from './storage.js';

/** The tracking server for registry references (URL without credentials; they travel as headers). */
export interface MlflowSettings {
  url: string;
  username?: string;
  password?: string;
  token?: string;
  artifactRoot?: string;
}

export interface ReleaseModelSettings {
  /** What `release` needs, except the predictor and model (from `model`, resolved) and its wait deadline. */
  release: Omit<ReleaseSettings, 'predictor' | 'model' | 'timeoutMs'>;
  /** For deploy: where the model is, and the predictor that serves it (its storageUri comes from the source). */
  model?: { source: ModelSource; predictor: Omit<PredictorSettings, 'storageUri'> };
  mlflow?: MlflowSettings;
  /** List the model location with the S3 credentials before applying anything. */
  s3Check: boolean;
  /** The deadline of the whole release: resolving, checking, applying and waiting. */
  timeoutMs: number;
}

export interface ReleaseModelClients {
  kube(): KubeClient;
  mlflow?(options: MlflowClientOptions): MlflowClient;
  s3?(settings: S3Settings): S3Lister;
}

export type StorageCheck =
  { state: 'passed'; where: string; location: LocationReport; ms: number } | { state: 'skipped'; reason: string };

/** What was done, filled as the steps complete: a failed release still reports what it got to. */
export interface ReleaseModelReport {
  action: ReleaseSettings['action'];
  /** The step running or last run (for a failure: the step that failed). */
  step: 'resolve' | 'check' | 'release' | 'done';
  model?: ModelInfo & { source: StorageSource };
  resolved?: ResolvedModel;
  check?: StorageCheck;
  cluster?: { server: string; source: string };
  release?: ReleaseReport;
  startedAt: number;
  totalMs?: number;
}

export function newReleaseReport(action: ReleaseSettings['action'], now = Date.now()): ReleaseModelReport {
  return { action, step: 'resolve', startedAt: now };
}

/** The overall deadline passed while a step still waited on a peer. */
export class DeadlineError extends KfopsError {
  override readonly name = 'DeadlineError';
  constructor(
    readonly timeoutMs: number,
    readonly waitingFor: string,
    readonly peer: string,
  ) {
    super(`The ${formatDuration(timeoutMs)} deadline passed while waiting for ${waitingFor}`, {
      cause: `${peer} did not answer before the deadline`,
      fix: `check that ${peer} is the right address and answers; raise timeout only if it is just slow`,
    });
  }
}

/** Time left to the deadline after the wait's own timer, for it to settle with its more precise error. */
const WAIT_GRACE_MS = 2_000;

/**
 * Releases a model: resolves a registry reference to its storage location, checks the location with
 * the S3 credentials, then deploys, promotes or rolls back the InferenceService (`release`). The
 * whole run has one deadline (`timeoutMs`), enforced during every call: a peer that accepts a
 * connection and never answers ends the run at the deadline with an error naming it.
 */
export async function releaseModel(
  s: ReleaseModelSettings,
  clients: ReleaseModelClients,
  deps: { logger?: Logger; now?: () => number; report?: ReleaseModelReport } = {},
): Promise<ReleaseModelReport> {
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const report = deps.report ?? newReleaseReport(s.release.action, now());
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), Math.max(0, s.timeoutMs - (now() - report.startedAt)));
  /** The promise, or a DeadlineError at the deadline (after `graceMs`, for the step to fail on its own). */
  const during = <T>(waitingFor: string, peer: string, p: Promise<T>, graceMs = 0): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const expire = (): void => {
        // At once (before the aborted call rejects with a plain abort), or after the step's grace.
        if (graceMs <= 0) reject(new DeadlineError(s.timeoutMs, waitingFor, peer));
        else grace = setTimeout(() => reject(new DeadlineError(s.timeoutMs, waitingFor, peer)), graceMs);
      };
      if (abort.signal.aborted) expire();
      else abort.signal.addEventListener('abort', expire, { once: true });
      p.then(resolve, reject).finally(() => {
        clearTimeout(grace);
        abort.signal.removeEventListener('abort', expire);
      });
    });
  try {
    if (s.model) {
      report.step = 'resolve';
      const model = await resolveSource(s, clients, logger, abort.signal, during);
      report.model = model.info;
      if (model.resolved) report.resolved = model.resolved;

      report.step = 'check';
      report.check = await checkStorage(
        s,
        model.info.source,
        s.model.predictor.modelFormat,
        clients,
        logger,
        abort.signal,
        during,
        now,
      );
    }

    report.step = 'release';
    const kube = clients.kube();
    report.cluster = { server: kube.server, source: kube.source };
    logger.info(`cluster: ${kube.server} (from ${kube.source})`);
    if (s.model && report.model?.source.kind === 's3' && !s.release.s3 && !s.model.predictor.serviceAccountName)
      await warnAnonymousS3(kube, s.release.service.namespace, report.model.source.uri, logger);
    const settings: ReleaseSettings = {
      ...s.release,
      ...(s.model && report.model
        ? { predictor: { ...s.model.predictor, storageUri: report.model.uri }, model: withoutSource(report.model) }
        : {}),
      timeoutMs: Math.max(1, s.timeoutMs - (now() - report.startedAt)),
    };
    const { service } = s.release;
    report.release = await logger.group(
      `${s.release.action} InferenceService ${service.namespace}/${service.name}`,
      () =>
        during(
          `the InferenceService ${service.namespace}/${service.name} (${s.release.action})`,
          `the Kubernetes API server ${kube.server}`,
          release(kube, settings, { logger }),
          WAIT_GRACE_MS,
        ),
    );
    report.step = 'done';
    return report;
  } finally {
    clearTimeout(timer);
    report.totalMs = now() - report.startedAt;
  }
}

type During = <T>(waitingFor: string, peer: string, p: Promise<T>, graceMs?: number) => Promise<T>;

function withoutSource(m: ModelInfo & { source?: unknown }): ModelInfo {
  const { source: _source, ...info } = m;
  return info;
}

async function resolveSource(
  s: ReleaseModelSettings,
  clients: ReleaseModelClients,
  logger: Logger,
  signal: AbortSignal,
  during: During,
): Promise<{ info: ModelInfo & { source: StorageSource }; resolved?: ResolvedModel }> {
  const source = (s.model as NonNullable<ReleaseModelSettings['model']>).source;
  if (source.kind !== 'registry') {
    logger.info(`model: ${source.uri}`);
    return { info: { uri: source.uri, source } };
  }
  const m = s.mlflow;
  if (!m) throw new Error(`a registry reference (${source.uri}) needs MLflow settings; this is a bug`);
  return logger.group('resolve the model', async () => {
    const options: MlflowClientOptions = {
      trackingUri: m.url,
      signal,
      ...(m.username !== undefined ? { username: m.username } : {}),
      ...(m.password !== undefined ? { password: m.password } : {}),
      ...(m.token !== undefined ? { token: m.token } : {}),
    };
    const client = clients.mlflow ? clients.mlflow(options) : new MlflowClient(options);
    const resolved = await during(
      `${source.uri} to resolve`,
      `the MLflow tracking server at ${client.url}`,
      resolveModel(client, source.ref, m.artifactRoot ? { artifactRoot: m.artifactRoot } : {}),
    );
    const storage = storageSource(resolved.uri);
    logger.info(
      `${source.uri} -> version ${resolved.version}${resolved.runId ? ` (run ${resolved.runId})` : ''}${resolved.modelId ? ` (logged model ${resolved.modelId})` : ''}: ${resolved.uri}${resolved.registryUri !== resolved.uri ? ` (registry: ${resolved.registryUri})` : ''}`,
    );
    return {
      info: {
        uri: resolved.uri,
        version: resolved.version,
        name: resolved.name,
        registry: source.uri,
        source: storage,
      },
      resolved,
    };
  });
}

/**
 * An s3:// model with no credentials, no service-account and no s3-endpoint: KServe's storage-initializer
 * then uses the namespace's default ServiceAccount, which must carry a Secret with S3 credentials, or reads
 * the bucket anonymously (public storage only). Warns, with the fix, unless the default ServiceAccount
 * carries such a Secret.
 */
export async function warnAnonymousS3(kube: KubeClient, namespace: string, uri: string, logger: Logger): Promise<void> {
  let carried: string | undefined;
  try {
    const sa = await kube.get({ apiVersion: 'v1', kind: 'ServiceAccount', name: 'default', namespace });
    for (const ref of ((sa as { secrets?: { name?: string }[] } | undefined)?.secrets ?? []).slice(0, 10)) {
      if (!ref.name) continue;
      const secret = (await kube.get({ apiVersion: 'v1', kind: 'Secret', name: ref.name, namespace })) as
        { data?: Record<string, string>; metadata?: { annotations?: Record<string, string> } } | undefined;
      const annotations = secret?.metadata?.annotations ?? {};
      if (
        secret?.data?.['AWS_ACCESS_KEY_ID'] !== undefined ||
        Object.keys(annotations).some((k) => k.startsWith('serving.kserve.io/s3-'))
      ) {
        carried = ref.name;
        break;
      }
    }
  } catch (error) {
    logger.warning(
      `the model is at ${uri} with no S3 credentials given, and ServiceAccount ${namespace}/default could not be read (${error instanceof Error ? error.message : String(error)})`,
    );
    return;
  }
  if (carried) {
    logger.info(
      `the model is at ${uri}: the storage-initializer reads it with Secret ${namespace}/${carried} of ServiceAccount ${namespace}/default`,
    );
    return;
  }
  logger.warning(
    `the model is at ${uri} but no S3 credentials (s3-access-key-id, s3-secret-access-key), no service-account and no s3-endpoint were given, and ServiceAccount ${namespace}/default carries no S3 Secret: KServe's storage-initializer will read the bucket anonymously from AWS S3, which works only for public storage. For MinIO or a private bucket, give s3-endpoint with the credentials, or a service-account whose Secret carries them (annotations serving.kserve.io/s3-endpoint, data AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)`,
  );
}

async function checkStorage(
  s: ReleaseModelSettings,
  source: StorageSource,
  modelFormat: string,
  clients: ReleaseModelClients,
  logger: Logger,
  signal: AbortSignal,
  during: During,
  now: () => number,
): Promise<StorageCheck> {
  const s3 = s.release.s3?.settings;
  if (!s3) return { state: 'skipped', reason: 'no S3 credentials given' };
  if (source.kind !== 's3') {
    logger.warning(
      `S3 credentials were given but the model is at ${source.uri}: they are stored for the predictor, not checked`,
    );
    return { state: 'skipped', reason: `the model is not in S3 (${source.kind})` };
  }
  if (!s.s3Check) {
    logger.info('s3-check: false; the model location is not checked before deploying');
    return { state: 'skipped', reason: 's3-check is false' };
  }
  const where = describeS3(s3);
  return logger.group('check the model location with the given credentials', async () => {
    const started = now();
    const client = clients.s3 ? clients.s3(s3) : s3Client(s3);
    const location = await during(
      `the listing of ${source.uri}`,
      `the S3 server at ${where}`,
      checkS3Location(client, source, modelFormat, where, { signal }),
    );
    const ms = now() - started;
    logger.info(
      `${source.uri} holds ${location.found} (${location.files.length} file(s), ${location.directories.length} folder(s)); checked in ${formatDuration(ms)}`,
    );
    return { state: 'passed', where, location, ms };
  });
}
