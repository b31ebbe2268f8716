/**
 * The install-kubeflow use case: render the manifests, add the users (Dex logins, Profiles), configure
 * the gateway, Knative's domain and machine-to-machine auth in the manifests, check the cluster, then
 * install in dependency order (or dry-run the plan) and wait for the gateway's address, all within one
 * deadline. Clients come in as arguments; the report says what was done, for outputs and the job summary.
 */
import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { ExecRunner } from '../common/exec.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { applyObjects, type ApplyOptions, type ApplyReport } from '../kube/apply.js';
import type { KubeClient } from '../kube/client.js';
import {
  install,
  InstallError,
  openGatesNow,
  type InstallOptions,
  type InstallReport,
  type PartialInstallReport,
} from '../kube/install.js';
import { formatPlan, planInstall, type Plan } from '../kube/plan.js';
import type { KubeObject, ObjectRef } from '../kube/types.js';
import type { WaitOptions } from '../kube/wait.js';
import { loadManifests, type ManifestSource } from './manifests.js';
import {
  discoverIssuer,
  exposeGateway,
  GATEWAY,
  gatewayAddress,
  knativeDomain,
  REQUIRE_JWT_POLICY,
  setKnativeDomain,
  setM2mIssuer,
  waitForGatewayAddress,
  type M2mChanges,
} from './platform.js';
import { preflight, type PreflightOptions, type PreflightReport } from './preflight.js';
import { PlatformSettingError } from './settings-error.js';
import { addUsers, type UserSpec } from './users.js';

export interface InstallPlatformSettings {
  source: ManifestSource;
  /** Make this StorageClass the default when the cluster has none. */
  defaultStorageClass?: string;
  /** Plan and dry-run only: nothing on the cluster changes. */
  planOnly: boolean;
  /** The deadline of the install; the whole run ends shortly after it whatever it waits on. */
  timeoutMs: number;
  concurrency: number;
  forceConflicts: boolean;
  users: UserSpec[];
  /** Each user's password, by email: it goes nowhere but bcrypt. */
  passwords: ReadonlyMap<string, string>;
  expose: 'none' | 'loadbalancer';
  /** '' (leave Knative's domain alone), 'sslip' (magic DNS from the gateway address) or a domain. */
  domain: string;
  m2mAuth: boolean;
}

/** The cluster as the install uses it; `kubePlatformClients` gives the real one. */
export interface PlatformCluster {
  readonly server: string;
  /** The live object, or undefined when it is absent (404, or its kind is not served); any other failure throws. */
  find(ref: ObjectRef): Promise<KubeObject | undefined>;
  /** The service-account token issuer the API server really uses. */
  issuer(): Promise<string>;
  preflight(objects: readonly KubeObject[], options: PreflightOptions): Promise<PreflightReport>;
  /** The gates of the plan that are open right now (checked once, for a dry run). */
  openGates(plan: Plan): Promise<Set<string>>;
  apply(objects: KubeObject[], options: ApplyOptions): Promise<ApplyReport>;
  install(objects: readonly KubeObject[], options: InstallOptions): Promise<InstallReport>;
  /** Waits for the gateway's load balancer address. */
  gatewayAddress(options: WaitOptions): Promise<string>;
}

export interface InstallPlatformClients {
  cluster: PlatformCluster;
  /** The objects of a manifests source (read, rendered with kustomize, or cloned and rendered) and where they came from. */
  render(source: ManifestSource): Promise<{ objects: KubeObject[]; origin: string }>;
}

/** The real clients: a Kubernetes API server, and kustomize/git run through `exec`. */
export function kubePlatformClients(
  client: KubeClient,
  render: { exec: ExecRunner; logger: Logger; env?: Record<string, string | undefined> },
): InstallPlatformClients {
  return {
    cluster: {
      server: client.server,
      find: (ref) => client.find(ref),
      issuer: () => discoverIssuer(client),
      preflight: (objects, options) => preflight(client, objects, options),
      openGates: (plan) => openGatesNow(client, plan),
      apply: (objects, options) => applyObjects(client, objects, options),
      install: (objects, options) => install(client, objects, options),
      gatewayAddress: (options) => waitForGatewayAddress(client, options),
    },
    render: (source) => loadManifests(source, render),
  };
}

/** The steps, in order; a failed run's report names the one it stopped at. */
export const PLATFORM_STEPS = {
  render: 'render the manifests',
  users: 'add the users',
  platform: 'gateway, domain and machine-to-machine auth',
  preflight: 'preflight',
  plan: 'plan',
  dryRun: 'server-side dry run',
  install: 'apply and wait for readiness',
  gateway: 'wait for the gateway address',
  done: 'done',
} as const;
export type PlatformStep = keyof typeof PLATFORM_STEPS;

/** The gateway, Knative's domain and the m2m issuer, as configured (and found once the gateway had an address). */
export interface PlatformState {
  /** Objects changed after the install (Knative's domain, once the gateway address is known). */
  changedAfterInstall?: number;
  address?: string;
  domain?: string;
  issuer?: string;
  /** What machine-to-machine auth added or changed besides the issuer. */
  m2m?: M2mChanges;
}

export interface UserReport {
  email: string;
  profile?: string;
  contributors: UserSpec['contributors'];
  /** Its password hash was (re)computed: a new user or a new password. */
  rehashed: boolean;
}

/** A dry run of what can be checked now (objects whose gates are open); the rest waits for gates. */
export interface DryRunReport {
  counts: ApplyReport['counts'];
  /** Objects not checked: they wait for gates that are not open yet. */
  later: number;
  /** Those gates, by key (see `plan.gates`). */
  waiting: string[];
}

/** What was done, filled as the steps complete: a failed run still reports what it got to. */
export interface InstallPlatformReport {
  /** The step running or last run (for a failure: the step that failed). */
  step: PlatformStep;
  server: string;
  planOnly: boolean;
  manifests?: { origin: string; objects: number };
  users: UserReport[];
  platform: PlatformState;
  preflight?: PreflightReport;
  plan?: Plan;
  dryRun?: DryRunReport;
  /** The install's report; partial (with what was not applied) when it stopped. */
  install?: InstallReport | PartialInstallReport;
  startedAt: number;
  totalMs?: number;
}

export function newPlatformReport(
  settings: Pick<InstallPlatformSettings, 'planOnly'>,
  server: string,
  now = Date.now(),
): InstallPlatformReport {
  return { step: 'render', server, planOnly: settings.planOnly, users: [], platform: {}, startedAt: now };
}

/** The run's deadline passed while a step still waited (on the API server or another peer). */
export class PlatformDeadlineError extends KfopsError {
  override readonly name = 'PlatformDeadlineError';
  constructor(
    readonly timeoutMs: number,
    readonly step: PlatformStep,
    readonly server: string,
  ) {
    super(`The install did not finish within ${formatDuration(timeoutMs)}: it was at "${PLATFORM_STEPS[step]}"`, {
      cause: `the API server at ${server} (or another peer of that step) did not answer before the deadline`,
      fix: 'check that the cluster answers at that address; raise timeout only if it is just slow',
    });
  }
}

/** How long after `timeoutMs` the run ends, so that the install's own deadline, which reports what it did, comes first. */
const DEADLINE_GRACE_MS = 5_000;

/**
 * Installs the platform. The run's deadline (`timeoutMs` plus a grace) holds during every call, even
 * one to a peer that accepts a connection and never answers; the report is filled as steps complete.
 */
export async function installPlatform(
  settings: InstallPlatformSettings,
  clients: InstallPlatformClients,
  deps: { logger?: Logger; report?: InstallPlatformReport; now?: () => number; deadlineGraceMs?: number } = {},
): Promise<InstallPlatformReport> {
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const report = deps.report ?? newPlatformReport(settings, clients.cluster.server, now());
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new PlatformDeadlineError(settings.timeoutMs, report.step, report.server)),
      Math.max(0, settings.timeoutMs + (deps.deadlineGraceMs ?? DEADLINE_GRACE_MS) - (now() - report.startedAt)),
    );
  });
  try {
    await Promise.race([steps(settings, clients, report, logger, now), deadline]);
    report.step = 'done';
    return report;
  } finally {
    clearTimeout(timer);
    report.totalMs = now() - report.startedAt;
  }
}

async function steps(
  settings: InstallPlatformSettings,
  clients: InstallPlatformClients,
  report: InstallPlatformReport,
  logger: Logger,
  now: () => number,
): Promise<void> {
  const { cluster } = clients;
  const { objects, origin } = await logger.group(PLATFORM_STEPS.render, async () => {
    report.step = 'render';
    const loaded = await clients.render(settings.source);
    logger.info(`${loaded.objects.length} object(s) from ${loaded.origin}`);
    report.manifests = { origin: loaded.origin, objects: loaded.objects.length };
    if (settings.users.length === 0) return loaded;
    report.step = 'users';
    const withUsers = await withUsersAdded(cluster, loaded.objects, settings, logger);
    report.users = withUsers.users;
    return { objects: withUsers.objects, origin: loaded.origin };
  });

  report.step = 'platform';
  report.platform = await logger.group(PLATFORM_STEPS.platform, () =>
    configurePlatform(cluster, objects, settings, logger),
  );
  report.manifests = { origin, objects: objects.length };

  report.step = 'preflight';
  const pre = await logger.group(PLATFORM_STEPS.preflight, () =>
    cluster.preflight(objects, {
      ...(settings.defaultStorageClass ? { defaultStorageClass: settings.defaultStorageClass } : {}),
      write: !settings.planOnly,
      logger,
    }),
  );
  report.preflight = pre;

  report.step = 'plan';
  const plan = planInstall(objects);
  report.plan = plan;
  await logger.group(`plan: ${plan.waves.length} wave(s), ${plan.gates.size} gate(s)`, async () =>
    logger.info(formatPlan(plan)),
  );

  if (settings.planOnly) {
    report.step = 'dryRun';
    report.dryRun = await dryRun(cluster, plan, settings, logger);
    return;
  }

  report.step = 'install';
  const started = now();
  const installed = await cluster
    .install(objects, {
      timeoutMs: settings.timeoutMs,
      concurrency: settings.concurrency,
      force: settings.forceConflicts,
      logger,
    })
    .catch((error: unknown) => {
      if (error instanceof InstallError) report.install = error.report;
      throw error;
    });
  report.install = installed;

  if (settings.expose === 'loadbalancer') {
    report.step = 'gateway';
    await logger.group(PLATFORM_STEPS.gateway, () =>
      domainFromAddress(
        cluster,
        objects,
        settings,
        report.platform,
        logger,
        Math.max(1000, settings.timeoutMs - (now() - started)),
      ),
    );
  }
  const changed = installed.counts.created + installed.counts.configured + (report.platform.changedAfterInstall ?? 0);
  logger.info(
    changed === 0
      ? `nothing changed: all ${objects.length} object(s) were already as declared; ${installed.ready} workload(s) ready`
      : `installed in ${formatDuration(installed.durationMs)}: ${installed.counts.created} created, ${installed.counts.configured} configured, ${installed.counts.unchanged} unchanged; ${installed.ready} workload(s) ready`,
  );
}

/**
 * The users added to the manifests (Dex's config and password Secret, Profiles and contributor access),
 * with Dex's live objects read first so that stored hashes that still match are kept. A read that fails
 * (403, unreachable) is an error: taken for "absent", it would rehash every password and restart Dex.
 */
async function withUsersAdded(
  cluster: PlatformCluster,
  objects: KubeObject[],
  settings: InstallPlatformSettings,
  logger: Logger,
): Promise<{ objects: KubeObject[]; users: UserReport[] }> {
  const dexPasswords = await cluster.find({
    apiVersion: 'v1',
    kind: 'Secret',
    name: 'dex-passwords',
    namespace: 'auth',
  });
  const dexConfig = await cluster.find({ apiVersion: 'v1', kind: 'ConfigMap', name: 'dex', namespace: 'auth' });
  const added = await addUsers(objects, settings.users, settings.passwords, {
    ...(dexPasswords ? { dexPasswords } : {}),
    ...(dexConfig ? { dexConfig } : {}),
  });
  const users = settings.users.map((u) => ({
    email: u.email,
    ...(u.profile ? { profile: u.profile } : {}),
    contributors: u.contributors,
    rehashed: added.rehashed.includes(u.email),
  }));
  for (const u of users) {
    logger.info(
      `user ${u.email}: Dex login${u.profile ? `, profile ${u.profile}` : ''}${u.contributors.length ? `, contributors ${u.contributors.map((c) => `${c.email} (${c.role})`).join(', ')}` : ''}${u.rehashed ? ' (password hashed)' : ''}`,
    );
  }
  return { objects: added.objects, users };
}

/**
 * Edits the manifests before they are applied, so one server-side apply owns the result and re-runs
 * change nothing: the gateway Service type, Knative's domain (when the address is already known), and
 * the m2m issuer. The gateway's JWT requirement (istio-ingressgateway-require-jwt) is checked to be
 * exactly as the manifests declare it.
 */
async function configurePlatform(
  cluster: PlatformCluster,
  objects: KubeObject[],
  settings: InstallPlatformSettings,
  logger: Logger,
): Promise<PlatformState> {
  const state: PlatformState = {};
  const requireJwt = JSON.stringify(
    objects.find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === REQUIRE_JWT_POLICY),
  );
  if (settings.expose === 'loadbalancer') {
    const gw = await cluster.find(GATEWAY);
    exposeGateway(objects, gw);
    const address = gatewayAddress(gw);
    if (address) state.address = address;
    logger.info(`istio-ingressgateway: type LoadBalancer${address ? ` (address ${address})` : ''}`);
  }
  if (settings.domain) {
    const domain = knativeDomain(settings.domain, state.address);
    if (domain) {
      setKnativeDomain(
        objects,
        domain,
        await cluster.find({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: 'knative-serving',
          name: 'config-domain',
        }),
      );
      state.domain = domain;
      logger.info(`Knative domain: ${domain}`);
    } else if (settings.expose !== 'loadbalancer') {
      throw new PlatformSettingError(
        'domain',
        settings.domain,
        'a DNS domain, or `sslip` together with expose: loadbalancer (sslip needs the gateway address)',
      );
    } else logger.info('Knative domain: set once the gateway has an address');
  }
  if (settings.m2mAuth) {
    state.issuer = await cluster.issuer();
    const declared = objects.some((o) => o.kind === 'RequestAuthentication' && o.metadata.name === 'm2m-token-issuer');
    state.m2m = setM2mIssuer(
      objects,
      state.issuer,
      declared
        ? undefined
        : await cluster.find({
            apiVersion: 'security.istio.io/v1',
            kind: 'RequestAuthentication',
            namespace: 'istio-system',
            name: 'm2m-token-issuer',
          }),
    );
    logger.info(`m2m-token-issuer accepts ServiceAccount tokens from ${state.issuer}`);
  }
  if (
    JSON.stringify(objects.find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === REQUIRE_JWT_POLICY)) !==
    requireJwt
  ) {
    throw new Error(`${REQUIRE_JWT_POLICY} was changed while configuring the platform; this is a bug`);
  }
  return state;
}

/** A server-side dry run of the objects whose gates are open now; nothing is stored. */
async function dryRun(
  cluster: PlatformCluster,
  plan: Plan,
  settings: InstallPlatformSettings,
  logger: Logger,
): Promise<DryRunReport> {
  const open = await cluster.openGates(plan);
  const now = plan.objects.filter((p) => p.gates.every((g) => open.has(g)));
  const later = plan.objects.filter((p) => !p.gates.every((g) => open.has(g)));
  const dry = await logger.group(`${PLATFORM_STEPS.dryRun} of ${now.length} object(s)`, () =>
    cluster.apply(
      now.map((p) => p.object),
      { dryRun: true, concurrency: settings.concurrency, force: settings.forceConflicts, logger },
    ),
  );
  const waiting = [...new Set(later.flatMap((p) => p.gates.filter((g) => !open.has(g))))];
  logger.info(
    `dry run: ${dry.counts.created} to create, ${dry.counts.configured} to change, ${dry.counts.unchanged} unchanged; ${later.length} object(s) wait for ${waiting.length} gate(s) that are not open yet`,
  );
  return { counts: dry.counts, later: later.length, waiting };
}

/**
 * Waits for the gateway's address, then sets Knative's domain from it when it was not known before the
 * install (e.g. sslip on a new load balancer) and applies that one ConfigMap.
 */
async function domainFromAddress(
  cluster: PlatformCluster,
  objects: KubeObject[],
  settings: InstallPlatformSettings,
  state: PlatformState,
  logger: Logger,
  timeoutMs: number,
): Promise<void> {
  state.address = await cluster.gatewayAddress({ timeoutMs, logger });
  logger.info(`gateway address: ${state.address}`);
  const domain = settings.domain ? knativeDomain(settings.domain, state.address) : undefined;
  if (!domain || domain === state.domain) return;
  setKnativeDomain(objects, domain, undefined);
  const cm = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === 'config-domain' && o.metadata.namespace === 'knative-serving',
  ) as KubeObject;
  const r = await cluster.apply([cm], { force: settings.forceConflicts, logger });
  state.changedAfterInstall = r.counts.configured + r.counts.created;
  state.domain = domain;
  logger.info(`Knative domain: ${domain}`);
}
