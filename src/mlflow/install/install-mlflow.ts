/**
 * The install-mlflow use case: read what the cluster has (the running version, the Secrets made on the
 * first install, the profile namespaces, Kubeflow's MinIO keys), refuse a downgrade, render, migrate
 * the database first when the version goes up, install in dependency order and wait for readiness, add
 * the dashboard link, then check the server's health through the API server. One deadline holds for it
 * all; the report says what was done, for the outputs and the job summary.
 */
import { randomBytes } from 'node:crypto';
import { formatDuration } from '../../common/duration.js';
import { KfopsError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { silentLogger } from '../../common/logger.js';
import type { ApplyOptions, ApplyReport } from '../../kube/apply.js';
import {
  InstallError,
  type InstallOptions,
  type InstallReport,
  type PartialInstallReport,
} from '../../kube/install.js';
import type { KubeObject, ObjectRef } from '../../kube/types.js';
import {
  inClusterUri,
  NAMES,
  notebookUser,
  usersJob,
  parseDestination,
  renderMlflow,
  upgradeJob,
  VERSION_ANNOTATION,
  withMlflowLink,
  type MlflowRenderSettings,
  type MlflowSecrets,
} from './render.js';

export interface InstallMlflowSettings extends MlflowRenderSettings {
  /** Give the PodDefault to every Profile's namespace (besides `notebookNamespaces`). */
  allProfiles: boolean;
  /** KServe's credentials go to the notebook namespaces (`modelNamespaces` is then ignored). */
  modelNamespacesAsNotebooks: boolean;
  adminUsername: string;
  /** MLflow users to create besides the admin and the notebooks' users (passwords generated, kept in Secret mlflow-users). */
  extraUsers: string[];
  /** S3 keys of the artifact store; when absent, the keys already stored, else Kubeflow's MinIO keys. */
  s3Keys?: { accessKeyId: string; secretAccessKey: string };
  dashboardLink: boolean;
  timeoutMs: number;
  concurrency: number;
  forceConflicts: boolean;
}

/** The cluster as the install uses it; `kubeMlflowCluster` gives the real one. */
export interface MlflowCluster {
  readonly server: string;
  /** The live object, or undefined when it is absent; any other failure throws. */
  find(ref: ObjectRef): Promise<KubeObject | undefined>;
  /** Namespaces of the Kubeflow Profiles ([] when Profiles are not served). */
  profileNamespaces(): Promise<string[]>;
  install(objects: readonly KubeObject[], options: InstallOptions): Promise<InstallReport>;
  apply(objects: KubeObject[], options: ApplyOptions): Promise<ApplyReport>;
  /** Runs a Job to the end: created (replacing a finished one of the same name), waited for; the tail of its log when it failed. */
  runJob(job: KubeObject, options: { timeoutMs: number; logger: Logger }): Promise<{ ok: boolean; log: string }>;
  /** GET on the Service through the API server's service proxy: HTTP status and body. */
  proxyGet(namespace: string, service: string, port: number, path: string): Promise<{ status: number; body: string }>;
}

export const MLFLOW_STEPS = {
  read: 'read the cluster',
  render: 'render',
  upgrade: 'migrate the database',
  install: 'apply and wait for readiness',
  dashboard: 'central dashboard link',
  health: 'health check',
  users: 'MLflow users',
  done: 'done',
} as const;
export type MlflowStep = keyof typeof MLFLOW_STEPS;

export interface InstallMlflowReport {
  step: MlflowStep;
  server: string;
  namespace: string;
  version: string;
  /** The version that ran before (undefined on a first install). */
  previousVersion?: string;
  upgraded: boolean;
  /** Secrets made by this run (generated values), by name; kept ones are not listed. */
  generated: string[];
  /** Where the S3 keys came from. */
  s3Keys?: 'input' | 'stored' | 'kubeflow-minio';
  notebookNamespaces: string[];
  modelNamespaces: string[];
  install?: InstallReport | PartialInstallReport;
  dashboard?: 'added' | 'present' | 'absent' | 'off';
  health?: { status: number; ms: number };
  /** MLflow users besides the admin, and whether the Job that creates them ran ('unchanged': it had completed before). */
  users?: { names: string[]; job: string; ran: boolean };
  trackingUri: string;
  adminSecret: string;
  artifactRoot: string;
  startedAt: number;
  totalMs?: number;
}

export class MlflowSettingError extends Error {
  override readonly name = 'MlflowSettingError';
  constructor(
    readonly field: 'version' | 's3Keys' | 'artifacts.destination',
    readonly value: string,
    readonly expected: string,
  ) {
    super(`${field} ${JSON.stringify(value)}: expected ${expected}`);
  }
}

export class MlflowInstallError extends KfopsError {
  override readonly name = 'MlflowInstallError';
}

export class MlflowDeadlineError extends KfopsError {
  override readonly name = 'MlflowDeadlineError';
  constructor(
    readonly timeoutMs: number,
    readonly step: MlflowStep,
    server: string,
  ) {
    super(`The install did not finish within ${formatDuration(timeoutMs)}: it was at "${MLFLOW_STEPS[step]}"`, {
      cause: `the API server at ${server} (or the MLflow server behind it) did not answer before the deadline`,
      fix: 'check that the cluster answers; raise timeout only if it is just slow',
    });
  }
}

/** Kubeflow's MinIO and the Secret holding its keys (REFERENCE: kubeflow pipelines' artifact store). */
export const KUBEFLOW_MINIO = {
  endpoint: 'minio-service.kubeflow:9000',
  secret: { apiVersion: 'v1', kind: 'Secret', namespace: 'kubeflow', name: 'mlpipeline-minio-artifact' },
} as const;

/** Compares dotted versions numerically (3.10.0 > 3.9.2); a pre-release suffix sorts by its text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = Number(x);
    const ny = Number(y);
    const d = Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : x.localeCompare(y);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

const secretValue = (s: KubeObject | undefined, key: string): string | undefined => {
  const v = (s as { data?: Record<string, string> } | undefined)?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
};

/** A random password of letters and digits (no character needs quoting in a URI, a shell or an ini file). */
export function generatePassword(length = 32): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const b of bytes) {
    if (b >= 256 - (256 % alphabet.length)) continue;
    out += alphabet[b % alphabet.length];
    if (out.length === length) break;
  }
  return out.length === length ? out : generatePassword(length);
}

const DEADLINE_GRACE_MS = 5_000;
const HEALTH_RETRY_MS = 2_000;

export function newMlflowReport(
  settings: InstallMlflowSettings,
  server: string,
  now = Date.now(),
): InstallMlflowReport {
  return {
    step: 'read',
    server,
    namespace: settings.namespace,
    version: settings.version,
    upgraded: false,
    generated: [],
    notebookNamespaces: [],
    modelNamespaces: settings.modelNamespaces,
    trackingUri: inClusterUri(settings.namespace),
    adminSecret: NAMES.admin,
    artifactRoot: settings.artifacts.destination,
    startedAt: now,
  };
}

/**
 * Installs (or upgrades) MLflow. Secrets are generated once and never overwritten; `mask` receives every
 * secret value before anything is logged. Re-running with the same settings changes nothing.
 */
export async function installMlflow(
  settings: InstallMlflowSettings,
  cluster: MlflowCluster,
  deps: { logger?: Logger; report?: InstallMlflowReport; mask?: (secret: string) => void; now?: () => number } = {},
): Promise<InstallMlflowReport> {
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const report = deps.report ?? newMlflowReport(settings, cluster.server, now());
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new MlflowDeadlineError(settings.timeoutMs, report.step, cluster.server)),
      Math.max(0, settings.timeoutMs + DEADLINE_GRACE_MS - (now() - report.startedAt)),
    );
  });
  try {
    await Promise.race([steps(settings, cluster, report, logger, deps.mask ?? (() => {}), now), deadline]);
    report.step = 'done';
    return report;
  } finally {
    clearTimeout(timer);
    report.totalMs = now() - report.startedAt;
  }
}

async function steps(
  settings: InstallMlflowSettings,
  cluster: MlflowCluster,
  report: InstallMlflowReport,
  logger: Logger,
  mask: (secret: string) => void,
  now: () => number,
): Promise<void> {
  const ns = settings.namespace;
  const remaining = (): number => Math.max(1000, settings.timeoutMs - (now() - report.startedAt));
  if (!parseDestination(settings.artifacts.destination))
    throw new MlflowSettingError(
      'artifacts.destination',
      settings.artifacts.destination,
      's3://bucket[/prefix] or gs://bucket[/prefix]',
    );

  // 1. What the cluster has.
  report.step = 'read';
  const { secrets, rendered } = await logger.group(MLFLOW_STEPS.read, async () => {
    const deployment = await cluster.find({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: ns,
      name: NAMES.server,
    });
    const previous = deployment?.metadata.annotations?.[VERSION_ANNOTATION];
    if (previous) report.previousVersion = previous;
    if (previous && compareVersions(settings.version, previous) < 0) {
      throw new MlflowInstallError(`MLflow ${previous} runs in ${ns}; ${settings.version} would be a downgrade`, {
        cause: `MLflow migrates its database forward only: the schema of ${previous} may not be readable by ${settings.version}`,
        fix: `keep mlflow-version at ${previous} or later (or restore a database backup taken before the upgrade, then install the older version into a new database)`,
      });
    }
    logger.info(
      previous
        ? `MLflow ${previous} runs in namespace ${ns}${previous === settings.version ? '' : `; upgrading to ${settings.version}`}`
        : `no MLflow in namespace ${ns} yet: installing ${settings.version}`,
    );
    const profiles = settings.allProfiles ? await cluster.profileNamespaces() : [];
    report.notebookNamespaces = [...new Set([...settings.notebookNamespaces, ...profiles])].sort();
    const secrets = await readSecrets(settings, report.notebookNamespaces, cluster, report, logger);
    for (const v of [
      secrets.adminPassword,
      secrets.flaskSecretKey,
      secrets.databasePassword,
      secrets.s3?.secretAccessKey,
      ...Object.values(secrets.users),
    ])
      if (v) mask(v);
    logger.info(
      report.notebookNamespaces.length
        ? `PodDefault "${NAMES.podDefault}" in ${report.notebookNamespaces.join(', ')}`
        : 'no profile namespaces for notebooks',
    );
    report.modelNamespaces = settings.modelNamespacesAsNotebooks ? report.notebookNamespaces : settings.modelNamespaces;
    if (settings.artifacts.s3 && report.modelNamespaces.length)
      logger.info(
        `KServe credentials (Secret ${NAMES.modelSecret}, ServiceAccount ${NAMES.modelServiceAccount}) in ${report.modelNamespaces.join(', ')}`,
      );
    return {
      secrets,
      rendered: { ...settings, notebookNamespaces: report.notebookNamespaces, modelNamespaces: report.modelNamespaces },
    };
  });

  report.step = 'render';
  const objects = renderMlflow(rendered, secrets);
  logger.info(`${objects.length} object(s) rendered`);

  const installOptions = (): InstallOptions => ({
    timeoutMs: remaining(),
    concurrency: settings.concurrency,
    force: settings.forceConflicts,
    logger,
  });
  const track = <T>(p: Promise<T>): Promise<T> =>
    p.catch((error: unknown) => {
      if (error instanceof InstallError) report.install = error.report;
      throw error;
    });

  // 2. A new version migrates the database before its server rolls out; the old server serves until then.
  if (report.previousVersion && compareVersions(settings.version, report.previousVersion) > 0) {
    report.step = 'upgrade';
    await logger.group(`${MLFLOW_STEPS.upgrade}: ${report.previousVersion} -> ${settings.version}`, async () => {
      const before = objects.filter((o) => !(o.kind === 'Deployment' && o.metadata.name === NAMES.server));
      await track(cluster.install(before, { ...installOptions(), waitForReady: true }));
      const job = upgradeJob(rendered, report.previousVersion as string);
      const result = await cluster.runJob(job, { timeoutMs: remaining(), logger });
      if (!result.ok) {
        throw new MlflowInstallError(
          `The database migration to MLflow ${settings.version} failed (Job ${job.metadata.name}); MLflow ${report.previousVersion} keeps serving`,
          {
            cause: result.log ? `the Job's log ends with:\n${result.log}` : 'the Job failed and left no log',
            fix: `fix the cause and run again (the Job is replaced), or keep mlflow-version at ${report.previousVersion}`,
          },
        );
      }
      report.upgraded = true;
      logger.info(`database migrated to MLflow ${settings.version}`);
    });
  }

  // 3. Everything, in dependency order, then readiness.
  report.step = 'install';
  const installed = await track(cluster.install(objects, installOptions()));
  report.install = installed;

  // 4. The dashboard's menu.
  report.step = 'dashboard';
  report.dashboard = settings.dashboardLink ? await dashboardLink(cluster, settings, logger) : 'off';

  // 5. Health through the API server (no port-forward, no exposure needed).
  report.step = 'health';
  report.health = await logger.group(MLFLOW_STEPS.health, () => health(cluster, ns, logger, remaining()));

  // 6. The notebooks' and extra users, through MLflow's auth API from inside the cluster.
  report.step = 'users';
  const names = Object.keys(secrets.users).sort();
  if (names.length) {
    const job = usersJob(rendered, secrets);
    const done = await cluster.find({ apiVersion: 'batch/v1', kind: 'Job', namespace: ns, name: job.metadata.name });
    const complete = (done as { status?: { succeeded?: number } } | undefined)?.status?.succeeded;
    report.users = { names, job: job.metadata.name, ran: !complete };
    if (complete)
      logger.info(`MLflow users unchanged (${names.join(', ')}): Job ${job.metadata.name} completed before`);
    else {
      await logger.group(`${MLFLOW_STEPS.users}: ${names.join(', ')}`, async () => {
        const result = await cluster.runJob(job, { timeoutMs: remaining(), logger });
        if (!result.ok)
          throw new MlflowInstallError(`Creating the MLflow users failed (Job ${job.metadata.name})`, {
            cause: result.log ? `the Job's log ends with:\n${result.log}` : 'the Job failed and left no log',
            fix: 'fix the cause and run again (the Job is replaced)',
          });
      });
    }
  }
  const changed =
    installed.counts.created +
    installed.counts.configured +
    (report.dashboard === 'added' ? 1 : 0) +
    (report.users?.ran ? 1 : 0);
  logger.info(
    changed === 0 && !report.upgraded
      ? `nothing changed: all ${objects.length} object(s) were already as declared; MLflow ${settings.version} is healthy`
      : `MLflow ${settings.version} installed: ${installed.counts.created} created, ${installed.counts.configured} configured, ${installed.counts.unchanged} unchanged`,
  );
}

/** Secret values kept from the cluster, or generated when absent (listed in report.generated). */
async function readSecrets(
  settings: InstallMlflowSettings,
  notebookNamespaces: readonly string[],
  cluster: MlflowCluster,
  report: InstallMlflowReport,
  logger: Logger,
): Promise<MlflowSecrets> {
  const ns = settings.namespace;
  const secret = (name: string, namespace = ns): Promise<KubeObject | undefined> =>
    cluster.find({ apiVersion: 'v1', kind: 'Secret', namespace, name });
  const admin = await secret(NAMES.admin);
  let adminPassword = secretValue(admin, 'password');
  let flaskSecretKey = secretValue(admin, 'flask-secret-key');
  const adminUsername = secretValue(admin, 'username') ?? settings.adminUsername;
  if (!adminPassword || !flaskSecretKey) {
    adminPassword ??= generatePassword();
    flaskSecretKey ??= generatePassword(48);
    report.generated.push(NAMES.admin);
  }
  if (admin && adminUsername !== settings.adminUsername)
    logger.warning(
      `the admin user stays "${adminUsername}" (made on the first install); MLflow creates its admin only once`,
    );
  const storedUsers = secretValue(await secret(NAMES.users), 'users.json');
  let known: Record<string, string> = {};
  try {
    known = storedUsers ? (JSON.parse(storedUsers) as Record<string, string>) : {};
  } catch {
    logger.warning(`Secret ${NAMES.users} does not hold JSON; its users get new passwords`);
  }
  const users: Record<string, string> = {};
  let newUsers = 0;
  for (const name of [...notebookNamespaces.map(notebookUser), ...settings.extraUsers]) {
    const kept = known[name];
    if (typeof kept === 'string' && kept) users[name] = kept;
    else {
      users[name] = generatePassword();
      newUsers++;
    }
  }
  if (newUsers) report.generated.push(`${NAMES.users} (${newUsers} user(s))`);
  const out: MlflowSecrets = { adminUsername, adminPassword, flaskSecretKey, users };
  if (settings.database.type === 'postgres') {
    const stored = secretValue(await secret(NAMES.postgres), 'password');
    out.databasePassword = stored ?? generatePassword();
    if (!stored) report.generated.push(NAMES.postgres);
  }
  if (settings.artifacts.s3) {
    if (settings.s3Keys) {
      out.s3 = settings.s3Keys;
      report.s3Keys = 'input';
    } else {
      const stored = await secret(NAMES.s3);
      const id = secretValue(stored, 'AWS_ACCESS_KEY_ID');
      const key = secretValue(stored, 'AWS_SECRET_ACCESS_KEY');
      if (id && key) {
        out.s3 = { accessKeyId: id, secretAccessKey: key };
        report.s3Keys = 'stored';
      } else if (settings.artifacts.s3.endpoint === KUBEFLOW_MINIO.endpoint) {
        const minio = await cluster.find(KUBEFLOW_MINIO.secret);
        const mid = secretValue(minio, 'accesskey');
        const mkey = secretValue(minio, 'secretkey');
        if (!mid || !mkey)
          throw new MlflowSettingError(
            's3Keys',
            '',
            `S3 keys: Kubeflow's MinIO keys (Secret ${KUBEFLOW_MINIO.secret.namespace}/${KUBEFLOW_MINIO.secret.name}, keys accesskey and secretkey) were not found; give the keys`,
          );
        out.s3 = { accessKeyId: mid, secretAccessKey: mkey };
        report.s3Keys = 'kubeflow-minio';
      } else {
        throw new MlflowSettingError('s3Keys', '', `S3 keys for ${settings.artifacts.s3.endpoint ?? 'AWS S3'}`);
      }
    }
    logger.info(
      `S3 keys: ${report.s3Keys === 'input' ? 'from the inputs' : report.s3Keys === 'stored' ? `kept from Secret ${NAMES.s3}` : "Kubeflow's MinIO keys"}`,
    );
  }
  logger.info(
    report.generated.length
      ? `generated (first install): ${report.generated.map((n) => `Secret ${n}`).join(', ')}`
      : 'secrets: kept from the cluster',
  );
  return out;
}

/**
 * Adds the MLflow item to the central dashboard's menu, keeping every other link and key. The ConfigMap
 * is Kubeflow's (install-kubeflow applies it with the same field manager), so the whole live data is
 * applied with the one item added; a dashboard that is not installed is reported, not an error.
 */
async function dashboardLink(
  cluster: MlflowCluster,
  settings: InstallMlflowSettings,
  logger: Logger,
): Promise<'added' | 'present' | 'absent'> {
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kubeflow', name: 'centraldashboard-config' };
  const live = await cluster.find(ref);
  const data = (live as { data?: Record<string, string> } | undefined)?.data;
  if (!live || !data?.['links']) {
    logger.info('central dashboard: not installed (no kubeflow/centraldashboard-config); no menu link');
    return 'absent';
  }
  let links: string | undefined;
  try {
    links = withMlflowLink(data['links']);
  } catch (error) {
    logger.warning(`central dashboard: its links are not JSON (${String(error)}); no menu link added`);
    return 'absent';
  }
  if (!links) {
    logger.info('central dashboard: the MLflow link is already in the menu');
    return 'present';
  }
  const { annotations = {}, labels } = live.metadata;
  const kept = Object.fromEntries(
    Object.entries(annotations).filter(([k]) => k !== 'kubectl.kubernetes.io/last-applied-configuration'),
  );
  await cluster.apply(
    [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: ref.name,
          namespace: ref.namespace,
          ...(labels ? { labels } : {}),
          ...(Object.keys(kept).length ? { annotations: kept } : {}),
        },
        data: { ...data, links },
      },
    ],
    { force: settings.forceConflicts, logger },
  );
  logger.info('central dashboard: MLflow added to the menu (/mlflow/)');
  return 'added';
}

/** GET /health through the service proxy until it answers 200 "OK" (the server may still be starting). */
async function health(
  cluster: MlflowCluster,
  namespace: string,
  logger: Logger,
  timeoutMs: number,
): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  let last: string;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await cluster.proxyGet(namespace, NAMES.server, 5000, '/health');
      if (r.status === 200) {
        logger.info(`GET /health through the API server: 200 ${r.body.trim().slice(0, 40)}`);
        return { status: r.status, ms: Date.now() - started };
      }
      last = `HTTP ${r.status} ${r.body.trim().slice(0, 200)}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() - started + HEALTH_RETRY_MS > timeoutMs) {
      throw new MlflowInstallError(`MLflow's /health did not answer 200 within ${formatDuration(timeoutMs)}`, {
        cause: `the last answer through the API server's service proxy was: ${last}`,
        fix: `read the server's log: kubectl logs -n ${namespace} deploy/${NAMES.server} -c mlflow (and -c check-stores)`,
      });
    }
    if (attempt === 1 || attempt % 10 === 0) logger.info(`waiting for /health: ${last}`);
    await new Promise((r) => setTimeout(r, HEALTH_RETRY_MS));
  }
}
