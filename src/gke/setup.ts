/**
 * The setup-gke use case: make the cluster exist as the spec says (ensureCluster; with create: false only
 * reuse it, never creating one), then write a kubeconfig for it whose credentials fit the runner
 * (writeKubeconfig), all within one deadline.
 * Clients come in as arguments; the report says what happened, for outputs and the job summary.
 */
import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { KubeClient } from '../kube/client.js';
import { explainKubeError, statusCodeOf } from '../kube/errors.js';
import type { ContainerApi, TokenSource } from './api.js';
import { ensureCluster, type ClusterDeps, type EnsureResult } from './cluster.js';
import {
  AUTH_PLUGIN,
  renderKubeconfig,
  serviceAccountIssuer,
  type EndpointMode,
  type KubeconfigAuth,
} from './kubeconfig.js';
import type { ClusterSpec } from './spec.js';
import type { Cluster, ClusterRef } from './types.js';

/** How the kubeconfig authenticates: the exec plugin when found (auto), only the plugin, or a token. */
export type CredentialMode = 'auto' | 'plugin' | 'token';

export interface KubeconfigOptions {
  endpoint: EndpointMode;
  credentials: CredentialMode;
  path: string;
  /** Check the kubeconfig against the cluster (who it authenticates as) before returning. */
  verify: boolean;
}

export interface SetupSettings extends KubeconfigOptions {
  spec: ClusterSpec;
  /** Create the cluster when it does not exist; false: only reuse it, and fail (no create request) when it is absent. */
  create: boolean;
  update: boolean;
  recreate: boolean;
  /** The whole setup (API calls, operations, kubeconfig check) ends within this. */
  timeoutMs: number;
  pollMs: number;
}

export interface KubeconfigDeps {
  tokens: TokenSource;
  /** The path of the exec plugin when it is installed. */
  findPlugin: () => string | undefined;
  writeFile: (path: string, text: string) => void;
  /** Who the kubeconfig at path authenticates as (undefined: the server did not say); throws when it does not work. */
  whoAmI: (path: string, timeoutMs: number) => Promise<string | undefined>;
  /** Hides a secret from the log before anything else happens (the token that goes into the kubeconfig). */
  mask?: (secret: string) => void;
  logger?: Logger;
  now?: () => number;
}

/** whoAmI through a real client: a SelfSubjectReview with the kubeconfig at path. */
export async function selfSubjectReview(path: string, timeoutMs: number): Promise<string | undefined> {
  const client = KubeClient.fromSources({ kubeconfig: path });
  client.requestTimeoutMs = Math.min(client.requestTimeoutMs, timeoutMs);
  const review = await client.request<{ status?: { userInfo?: { username?: string } } }>(
    'POST',
    '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
  );
  return review.status?.userInfo?.username;
}

export interface KubeconfigReport {
  path: string;
  server: string;
  context: string;
  auth: KubeconfigAuth['kind'];
  /** How the credentials work, for the summary (never the secret). */
  note: string;
  expiresAt?: Date;
  /** The user the cluster authenticated the kubeconfig as, when verified. */
  user?: string;
}

export interface SetupReport {
  ensured: EnsureResult;
  kubeconfig: KubeconfigReport;
  issuer: string;
  durationMs: number;
}

/** The kubeconfig's user: the exec plugin when it is there (and not refused), else the token; throws when the plugin is required and absent. */
export function chooseAuth(mode: CredentialMode, plugin: string | undefined): 'exec' | 'token' {
  if (mode === 'plugin' && !plugin) {
    throw new KfopsError(`${AUTH_PLUGIN} is not on PATH`, {
      cause: 'credentials: plugin was asked for',
      fix: `install it (google-github-actions/setup-gcloud with install_components: ${AUTH_PLUGIN}) or use credentials: auto`,
    });
  }
  return plugin && mode !== 'token' ? 'exec' : 'token';
}

/** The warning for a kubeconfig that holds a token: when it expires, and what makes one that lasts. */
export function tokenExpiryWarning(mode: CredentialMode, expiresAt: Date | undefined, now: number): string {
  const left = expiresAt ? formatDuration(Math.max(0, expiresAt.getTime() - now)) : undefined;
  return (
    `${AUTH_PLUGIN} is not installed${mode === 'token' ? ' or not wanted (credentials: token)' : ''}, so the kubeconfig holds an access token that ` +
    (expiresAt
      ? `expires at ${expiresAt.toISOString()} (in ${left})`
      : 'expires after its lifetime (usually 1 hour; its expiry is unknown)') +
    `; later steps get 401 Unauthorized after that. Install ${AUTH_PLUGIN} before this step (google-github-actions/setup-gcloud with install_components: ${AUTH_PLUGIN}) for a kubeconfig that refreshes itself.`
  );
}

/**
 * Writes the cluster's kubeconfig (mode 0600 is the writer's job) with the exec plugin or an access
 * token, and checks that it works when asked. timeoutMs bounds the check.
 */
export async function writeKubeconfig(
  deps: KubeconfigDeps,
  cluster: Cluster,
  ref: ClusterRef,
  options: KubeconfigOptions,
  timeoutMs: number,
): Promise<KubeconfigReport> {
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const plugin = deps.findPlugin();
  let auth: KubeconfigAuth;
  let note: string;
  let expiresAt: Date | undefined;
  if (chooseAuth(options.credentials, plugin) === 'exec') {
    auth = { kind: 'exec', command: AUTH_PLUGIN, args: ['--use_application_default_credentials'] };
    note = `${AUTH_PLUGIN} (refreshes its token)`;
    logger.info(
      `user: the ${AUTH_PLUGIN} exec plugin (${plugin}); it refreshes tokens, so the kubeconfig keeps working in long steps`,
    );
  } else {
    const t = await deps.tokens.token();
    deps.mask?.(t.token);
    auth = { kind: 'token', token: t.token };
    expiresAt = t.expiresAt;
    note = t.expiresAt ? `access token, expires ${t.expiresAt.toISOString()}` : 'access token (expiry unknown)';
    logger.warning(tokenExpiryWarning(options.credentials, t.expiresAt, now()));
  }
  const { yaml, server, context } = renderKubeconfig(cluster, ref, options.endpoint, auth);
  deps.writeFile(options.path, yaml);
  logger.info(`wrote ${options.path} (context ${context}, server ${server})`);
  const report: KubeconfigReport = {
    path: options.path,
    server,
    context,
    auth: auth.kind,
    note,
    ...(expiresAt ? { expiresAt } : {}),
  };
  if (!options.verify) return report;
  let user: string | undefined;
  try {
    user = await deps.whoAmI(options.path, timeoutMs);
  } catch (error) {
    const e = explainKubeError(error, { action: `check the new kubeconfig against ${server}`, server });
    throw options.endpoint === 'private' && statusCodeOf(error) === undefined
      ? new KfopsError(e.message, {
          cause: 'the private endpoint is only reachable from inside the VPC',
          fix: 'run on a runner inside the VPC, use endpoint: dns, or set verify: false',
        })
      : e;
  }
  logger.info(`the kubeconfig works: ${server} authenticates it as ${user ?? '(unknown user)'}`);
  return { ...report, ...(user ? { user } : {}) };
}

/** The failure of a reuse-only setup (create: false) that found no cluster. */
export function missingCluster(ref: ClusterRef): KfopsError {
  return new KfopsError(`Cluster ${ref.name} does not exist in ${ref.project}/${ref.location}`, {
    cause: 'this step only reuses a cluster (create: false) and creates none',
    fix: `run the platform workflow (platform.yml, or setup-gke with create: true) for ${ref.name} in ${ref.project}/${ref.location} first, or check the project, location and cluster name`,
  });
}

/**
 * The Container API with createCluster refused before any request: ensureCluster reaching a create
 * (the cluster is absent, or was deleted while it waited) fails with missingCluster instead.
 */
export function reuseOnly(api: ContainerApi, ref: ClusterRef): ContainerApi {
  return new Proxy(api, {
    get(target, key) {
      if (key === 'createCluster') return () => Promise.reject(missingCluster(ref));
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface SetupDeps extends Omit<ClusterDeps, 'logger'>, Omit<KubeconfigDeps, 'logger' | 'now'> {
  logger?: Logger;
}

/** The setup so far, for a failure summary: filled as the steps finish. */
export interface SetupProgress {
  ensured?: EnsureResult;
}

/**
 * ensureCluster, then writeKubeconfig, within settings.timeoutMs (the deps' signal should abort at the
 * same deadline so that requests in flight end too). progress receives what finished before a failure.
 */
export async function setupGke(
  settings: SetupSettings,
  deps: SetupDeps,
  progress: SetupProgress = {},
): Promise<SetupReport> {
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const started = now();
  const { spec } = settings;
  const ref: ClusterRef = { project: spec.project, location: spec.location, name: spec.name };
  const ensured = await logger.group(`cluster ${spec.name} in ${spec.project}/${spec.location}`, async () => {
    if (!settings.create) {
      // Reuse only: an absent cluster fails before anything else is asked of the API.
      if (!(await deps.api.getCluster(ref))) throw missingCluster(ref);
      logger.info(`create: false: cluster ${spec.name} exists; it is reused, never created`);
    }
    return ensureCluster({ ...deps, api: settings.create ? deps.api : reuseOnly(deps.api, ref), logger }, spec, {
      update: settings.update,
      recreate: settings.recreate,
      timeoutMs: settings.timeoutMs,
      pollMs: settings.pollMs,
    });
  });
  progress.ensured = ensured;
  const { cluster } = ensured;
  logger.info(
    `cluster ${spec.name} ${ensured.action}${ensured.concurrent ? ' (created by a concurrent run)' : ''} in ${formatDuration(ensured.durationMs)}: ${cluster.status ?? ''} ${cluster.currentMasterVersion ?? ''}`.trim(),
  );
  const left = Math.max(1000, settings.timeoutMs - (now() - started));
  const kubeconfig = await logger.group('kubeconfig', () =>
    writeKubeconfig({ ...deps, logger, now }, cluster, ref, settings, left),
  );
  return { ensured, kubeconfig, issuer: serviceAccountIssuer(ref), durationMs: now() - started };
}
