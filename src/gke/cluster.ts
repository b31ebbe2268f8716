import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { abortableSleep } from '../common/retry.js';
import type { ContainerApi } from './api.js';
import { GkeApiError, operationError } from './errors.js';
import {
  authorizedNetworksConfig,
  clusterForCreate,
  describePools,
  findDrift,
  isZone,
  type ClusterSpec,
  type Drift,
  type DriftChange,
} from './spec.js';
import type { Cluster, ClusterRef, NodePool, Operation, OperationProgress, StatusCondition } from './types.js';

export interface ClusterDeps {
  api: ContainerApi;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** The overall deadline: waits end when it aborts (give the same signal to the ContainerApi). */
  signal?: AbortSignal;
}

/** The deps' sleep, or a real one that ends when the overall deadline aborts. */
function sleeper(deps: ClusterDeps): (ms: number) => Promise<void> {
  return deps.sleep ?? ((ms) => abortableSleep(ms, deps.signal));
}

export interface WaitOptions {
  /** Time between polls (default 10 s). */
  pollMs?: number;
  /** Give up after this long (default 45 minutes). */
  timeoutMs?: number;
  /** Log a line at least this often even when nothing changed (default 60 s). */
  heartbeatMs?: number;
}

const opName = (op: Operation): string => (op.name ?? '').split('/').pop() ?? '';

/** `CLUSTER_DEPLOYING 3/6` from metrics X and X_TOTAL; stage names when there are no metrics. */
export function describeProgress(progress: OperationProgress | undefined): string {
  if (!progress) return '';
  const metrics = new Map(
    (progress.metrics ?? []).map((m) => [m.name ?? '', m.intValue ?? m.doubleValue ?? m.stringValue]),
  );
  const parts: string[] = [];
  for (const [name, value] of metrics) {
    if (name.endsWith('_TOTAL')) continue;
    const total = metrics.get(`${name}_TOTAL`);
    parts.push(total !== undefined ? `${name} ${value}/${total}` : `${name} ${value}`);
  }
  const running = (progress.stages ?? [])
    .filter((s) => s.status === 'RUNNING')
    .map((s) => s.name)
    .filter(Boolean);
  if (running.length) parts.push(`stage ${running.join(', ')}`);
  return parts.join(', ');
}

/** Polls an operation until DONE, logging progress; throws the operation's error when it has one. */
export async function waitForOperation(
  deps: ClusterDeps,
  ref: ClusterRef,
  op: Operation,
  options: WaitOptions = {},
): Promise<Operation> {
  const { api, logger = silentLogger, now = Date.now } = deps;
  const sleep = sleeper(deps);
  const { pollMs = 10_000, timeoutMs = 45 * 60_000, heartbeatMs = 60_000 } = options;
  const started = now();
  const kind = op.operationType ?? 'operation';
  let last = '';
  let lastLogged = started;
  let current = op;
  let aborted = false;
  let unspecified = 0;
  for (;;) {
    const line = `${current.status ?? 'STATUS_UNSPECIFIED'}${describeProgress(current.progress) ? ` (${describeProgress(current.progress)})` : ''}`;
    if (line !== last || now() - lastLogged >= heartbeatMs) {
      logger.info(`${kind} ${opName(current)}: ${line}, ${formatDuration(now() - started)} elapsed`);
      last = line;
      lastLogged = now();
    }
    if (current.status === 'ABORTING') aborted = true;
    if (current.status === 'DONE') break;
    // STATUS_UNSPECIFIED ("Not set") is no state an operation moves on from: a few polls, then a named cause.
    unspecified = current.status === undefined || current.status === 'STATUS_UNSPECIFIED' ? unspecified + 1 : 0;
    if (unspecified > UNSPECIFIED_POLLS) {
      throw new KfopsError(
        `${kind} ${opName(current)} of cluster ${ref.name} reports no status (STATUS_UNSPECIFIED) after ${unspecified} polls`,
        {
          cause:
            'the Container API returned the operation without a status, so whether it runs, failed or finished cannot be told',
          fix: `look at the operation (gcloud container operations describe ${opName(current)} --location ${ref.location}) and run again once it is done`,
        },
      );
    }
    if (now() - started >= timeoutMs || deps.signal?.aborted) {
      const within = deps.signal?.aborted
        ? `before the overall timeout ran out (waited ${formatDuration(now() - started)})`
        : `within ${formatDuration(timeoutMs)}`;
      throw new KfopsError(
        `${kind} ${opName(current)} of cluster ${ref.name} did not finish ${within} (last status ${current.status})`,
        {
          cause: 'the operation is still running in GKE; it goes on without this step',
          fix: 'run again later (the cluster is reused once the operation is done) or raise the timeout input',
        },
      );
    }
    await sleep(deps.signal?.aborted ? 0 : pollMs);
    if (deps.signal?.aborted) continue;
    current = await api.getOperation(ref, current.name ?? '');
  }
  if (current.error && (current.error.code ?? 0) !== 0)
    throw operationError(current, { project: ref.project, location: ref.location, cluster: ref.name });
  // DONE means "either cancelled or completed": after ABORTING, DONE without an error is a cancellation.
  if (aborted) {
    throw new OperationAborted(`${kind} ${opName(current)} of cluster ${ref.name} was aborted (ABORTING, then DONE)`, {
      cause:
        'the operation was cancelled in GKE (by a user, or by GKE itself) before it completed, so its change is not in place',
      fix: `look at the operation (gcloud container operations describe ${opName(current)} --location ${ref.location}) and run again`,
    });
  }
  return current;
}

/** An operation that ended DONE after ABORTING: cancelled, its change not made. */
export class OperationAborted extends KfopsError {
  override readonly name = 'OperationAborted';
}

/** Polls with STATUS_UNSPECIFIED in a row before giving up on an operation. */
export const UNSPECIFIED_POLLS = 3;

/** The operation running on the cluster (or one of its node pools), if any. */
export async function runningOperation(api: ContainerApi, ref: ClusterRef): Promise<Operation | undefined> {
  const ops = await api.listOperations(ref);
  const target = new RegExp(`/clusters/${ref.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(/|$)`);
  // ABORTING still holds the cluster until it is DONE.
  return ops.find(
    (o) =>
      (o.status === 'PENDING' || o.status === 'RUNNING' || o.status === 'ABORTING') && target.test(o.targetLink ?? ''),
  );
}

/** A request that failed because another operation holds the cluster (409, or 400 FAILED_PRECONDITION naming one). */
function isBusy(error: unknown): boolean {
  if (!(error instanceof GkeApiError)) return false;
  if (error.httpStatus === 409 && error.rpcStatus !== 'ALREADY_EXISTS') return true;
  return (
    error.httpStatus === 400 &&
    error.rpcStatus === 'FAILED_PRECONDITION' &&
    /operation|currently|in progress/i.test(error.status.message ?? '')
  );
}

/** Runs start(); when another operation holds the cluster, waits for it and tries again (up to 5 times). */
async function whenFree(
  deps: ClusterDeps,
  ref: ClusterRef,
  options: WaitOptions,
  start: () => Promise<Operation>,
): Promise<Operation> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!isBusy(error) || attempt > 5) throw error;
      const named = /(operation-[\w-]+)/.exec((error as GkeApiError).status.message ?? '')?.[1];
      const other = named ? await deps.api.getOperation(ref, named) : await runningOperation(deps.api, ref);
      (deps.logger ?? silentLogger).info(
        `cluster ${ref.name} is busy with ${other ? `${other.operationType ?? 'an operation'} ${opName(other)}` : 'another operation'}; waiting for it before going on`,
      );
      if (other) await waitForOperation(deps, ref, other, options).catch(() => undefined);
      else await sleeper(deps)(options.pollMs ?? 10_000);
    }
  }
}

export type ClusterAction = 'created' | 'reused' | 'recreated';

export interface EnsureOptions extends WaitOptions {
  /** Apply the in-place changes the API allows when the live cluster differs from the spec. */
  update?: boolean;
  /** Delete the cluster (when it exists) and create it again. The caller checks the confirmation. */
  recreate?: boolean;
}

export interface EnsureResult {
  action: ClusterAction;
  cluster: Cluster;
  /** Differences found on a reused cluster (before any update). */
  drift: Drift[];
  /** The differences that were changed in place (update: true). */
  applied: Drift[];
  /** Set when another run created the cluster while this one tried to. */
  concurrent: boolean;
  durationMs: number;
}

/** Describes a change for the log. */
function describeChange(d: Drift): string {
  return `${d.field}: ${d.live} -> ${d.want}`;
}

/** Starts the in-place change a drift allows (the request the API takes for it). */
export async function applyChange(
  deps: Pick<ClusterDeps, 'api'>,
  ref: ClusterRef,
  live: Cluster,
  change: DriftChange,
): Promise<Operation> {
  const { api } = deps;
  switch (change.kind) {
    case 'autoscaling':
      return api.setNodePoolAutoscaling(ref, change.pool, change.autoscaling);
    case 'size':
      return api.setNodePoolSize(ref, change.pool, change.nodeCount);
    case 'releaseChannel':
      return api.updateCluster(ref, { desiredReleaseChannel: { channel: change.channel } });
    case 'workloadIdentity':
      return api.updateCluster(ref, { desiredWorkloadIdentityConfig: { workloadPool: change.workloadPool } });
    case 'authorizedNetworks':
      return api.updateCluster(ref, {
        desiredControlPlaneEndpointsConfig: {
          ipEndpointsConfig: { authorizedNetworksConfig: authorizedNetworksConfig(change.cidrs) },
        },
      });
    case 'dnsEndpoint':
      return api.updateCluster(ref, {
        desiredControlPlaneEndpointsConfig: { dnsEndpointConfig: { allowExternalTraffic: true } },
      });
    case 'labels':
      // labelFingerprint is Required: a cluster that never had labels reports none, which is sent as ''.
      return api.setResourceLabels(ref, change.labels, live.labelFingerprint ?? '');
  }
}

/** Waits while the cluster is being provisioned, reconciled or deleted; returns it as it is afterwards. */
async function settle(
  deps: ClusterDeps,
  ref: ClusterRef,
  cluster: Cluster | undefined,
  options: WaitOptions,
): Promise<Cluster | undefined> {
  const logger = deps.logger ?? silentLogger;
  let live = cluster;
  for (let i = 0; live && ['PROVISIONING', 'RECONCILING', 'STOPPING'].includes(live.status ?? '') && i < 5; i++) {
    const op = await runningOperation(deps.api, ref);
    logger.info(`cluster ${ref.name} is ${live.status}${op ? ` (${op.operationType} ${opName(op)})` : ''}; waiting`);
    // Another client's operation that is aborted changed nothing: the cluster is read again either way.
    if (op)
      await waitForOperation(deps, ref, op, options).catch((error: unknown) => {
        if (!(error instanceof OperationAborted)) throw error;
        logger.info(`${op.operationType ?? 'operation'} ${opName(op)} was aborted; reading the cluster again`);
      });
    else await sleeper(deps)(options.pollMs ?? 10_000);
    live = await deps.api.getCluster(ref);
  }
  return live;
}

/** Why a cluster or node pool is in its state: its conditions, or the deprecated statusMessage of older clusters. */
export function statusText(of: { conditions?: StatusCondition[]; statusMessage?: string }): string {
  const conditions = (of.conditions ?? [])
    .map((c) => [c.canonicalCode ?? c.code, c.message].filter(Boolean).join(': '))
    .filter(Boolean);
  return conditions.length ? conditions.join('; ') : (of.statusMessage ?? '');
}

/**
 * Reads the state of the node pool setup-gke manages: waits while it is RECONCILING, PROVISIONING or
 * STOPPING (an upgrade, repair, resize or create in progress), fails on ERROR, warns on
 * RUNNING_WITH_ERROR. Returns the cluster as it is afterwards.
 */
export async function checkNodePool(
  deps: ClusterDeps,
  ref: ClusterRef,
  cluster: Cluster,
  poolName: string,
  options: WaitOptions,
): Promise<Cluster> {
  const logger = deps.logger ?? silentLogger;
  let live = cluster;
  const poolOf = (c: Cluster): NodePool | undefined => c.nodePools?.find((p) => p.name === poolName);
  for (let i = 0; ['RECONCILING', 'PROVISIONING', 'STOPPING'].includes(poolOf(live)?.status ?? '') && i < 5; i++) {
    const op = await runningOperation(deps.api, ref);
    logger.info(
      `node pool ${poolName} of cluster ${ref.name} is ${poolOf(live)?.status}${op ? ` (${op.operationType} ${opName(op)})` : ''}; waiting`,
    );
    if (op) await waitForOperation(deps, ref, op, options).catch(() => undefined);
    else await sleeper(deps)(options.pollMs ?? 10_000);
    live = (await deps.api.getCluster(ref)) ?? live;
  }
  const pool = poolOf(live);
  const why = pool ? statusText(pool) : '';
  switch (pool?.status) {
    case 'ERROR':
      throw new KfopsError(`Node pool ${poolName} of cluster ${ref.name} is in state ERROR${why ? `: ${why}` : ''}`, {
        cause: 'GKE could not create or repair the nodes of the pool, so workloads have nowhere to run',
        fix: `read the conditions above; then delete and create the cluster again (recreate: true and confirm: ${ref.name}) or fix the node pool in GKE`,
      });
    case 'RUNNING_WITH_ERROR':
      logger.warning(
        `node pool ${poolName} of cluster ${ref.name} is RUNNING_WITH_ERROR${why ? `: ${why}` : ''}; some of its nodes are not running (often a zone out of capacity or quota); it is used as it is`,
      );
      break;
    case 'RECONCILING':
    case 'PROVISIONING':
    case 'STOPPING':
      logger.warning(
        `node pool ${poolName} of cluster ${ref.name} is still ${pool.status} (an upgrade, repair or resize is in progress in GKE); it is used as it is`,
      );
      break;
    default:
      break;
  }
  return live;
}

function unhealthy(ref: ClusterRef, live: Cluster): KfopsError {
  const why = statusText(live);
  return new KfopsError(`Cluster ${ref.name} is in state ${live.status}${why ? `: ${why}` : ''}`, {
    cause: 'a previous create or update failed and left the cluster unusable',
    fix: `delete and create it again: run with recreate: true and confirm: ${ref.name}`,
  });
}

/**
 * Makes the cluster exist as spec describes: creates it when absent (following the long-running
 * operation), reuses it when present (reporting drift, and changing in place what the API allows when
 * options.update), or deletes and creates it when options.recreate.
 */
export async function ensureCluster(
  deps: ClusterDeps,
  spec: ClusterSpec,
  options: EnsureOptions = {},
): Promise<EnsureResult> {
  const { api, now = Date.now } = deps;
  const logger = deps.logger ?? silentLogger;
  const ref: ClusterRef = { project: spec.project, location: spec.location, name: spec.name };
  const started = now();
  let live = await api.getCluster(ref);
  let action: ClusterAction = live ? 'reused' : 'created';
  let concurrent = false;

  if (options.recreate && live) {
    live = await settle(deps, ref, live, options);
  }
  if (options.recreate && live) {
    logger.info(
      `recreate: deleting cluster ${ref.name} (${live.status ?? 'unknown state'}, created ${live.createTime ?? 'at an unknown time'})`,
    );
    const op = await whenFree(deps, ref, options, () => api.deleteCluster(ref));
    await waitForOperation(deps, ref, op, options);
    logger.info(`cluster ${ref.name} deleted`);
    live = undefined;
    action = 'recreated';
  }

  live = await settle(deps, ref, live, options);
  if (live?.status === 'ERROR') throw unhealthy(ref, live);

  if (!live) {
    const body = clusterForCreate(spec);
    logger.info(
      `creating cluster ${ref.name} in ${ref.location} (${isZone(ref.location) ? 'zonal' : 'regional: node counts are per zone, usually 3 zones'}): ${describePools(body).join('; ')}`,
    );
    let op: Operation | undefined;
    try {
      op = await api.createCluster(ref, body);
    } catch (error) {
      if (!(error instanceof GkeApiError && error.httpStatus === 409)) throw error;
      // Another run created it between our get and our create: follow its operation instead of failing.
      concurrent = true;
      const other = await runningOperation(api, ref);
      logger.info(
        `cluster ${ref.name} is being created by another run${other ? ` (${other.operationType} ${opName(other)})` : ''}; waiting for it`,
      );
      if (other) await waitForOperation(deps, ref, other, options);
    }
    if (op) await waitForOperation(deps, ref, op, options);
    live = await settle(deps, ref, await api.getCluster(ref), options);
    if (!live)
      throw new KfopsError(`Cluster ${ref.name} was created but the API does not return it`, {
        cause: 'it may have been deleted right away by another run',
        fix: 'run again',
      });
    if (live.status === 'ERROR') throw unhealthy(ref, live);
    if (concurrent) action = 'reused';
  }

  live = await checkNodePool(deps, ref, live, spec.nodePool, options);

  let drift: Drift[] = [];
  const applied: Drift[] = [];
  if (live.status === 'DEGRADED')
    logger.warning(
      `cluster ${ref.name} is DEGRADED${statusText(live) ? `: ${statusText(live)}` : ''}; it is used as it is`,
    );
  if (action === 'reused') {
    drift = findDrift(spec, live);
    if (drift.length === 0) logger.info(`cluster ${ref.name} matches the inputs`);
    for (const d of drift) {
      logger.warning(
        `cluster ${ref.name} differs from the inputs: ${describeChange(d)}${d.change ? (options.update ? '' : ' (update: true changes it in place)') : ' (only a rebuild changes it: recreate: true)'}`,
      );
    }
    if (options.update) {
      for (const d of drift.filter((x) => x.change)) {
        logger.info(`updating ${describeChange(d)}`);
        const op = await whenFree(deps, ref, options, async () =>
          applyChange(deps, ref, (await api.getCluster(ref)) ?? (live as Cluster), d.change as DriftChange),
        );
        await waitForOperation(deps, ref, op, options);
        applied.push(d);
      }
      if (applied.length) live = (await api.getCluster(ref)) ?? live;
    }
  }
  return { action, cluster: live, drift, applied, concurrent, durationMs: now() - started };
}
