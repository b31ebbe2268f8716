import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { KubeClient } from './client.js';
import { classifyFor, explainKubeError, healableClass, statusCodeOf } from './errors.js';
import type { Readiness, ReadinessRule } from './readiness.js';
import { describeRef, type KubeObject, type ObjectRef } from './types.js';

export interface WaitOptions {
  /** The deadline, in ms from now. */
  timeoutMs: number;
  /** Seconds after which the server ends each watch (the wait then resumes from the last resourceVersion). Default 240. */
  watchTimeoutSeconds?: number;
  logger?: Logger;
  /** Called whenever the observed readiness changes. */
  onProgress?: (readiness: Readiness, obj: KubeObject | undefined) => void;
  /** Ends the wait early: it stops watching and resolves with undefined. */
  signal?: AbortSignal;
}

/** The deadline passed before the object became ready; carries the last observed state. */
export class WaitTimeoutError extends KfopsError {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly ref: ObjectRef,
    readonly rule: ReadinessRule,
    readonly timeoutMs: number,
    readonly last: Readiness | undefined,
    readonly lastObject: KubeObject | undefined,
  ) {
    super(`${describeRef(ref)} did not become ready (${rule.name}) within ${formatDuration(timeoutMs)}`, {
      cause: `last observed: ${last?.message ?? 'nothing (no event arrived)'}`,
    });
  }
}

/** The object reached a state it cannot recover from on its own (e.g. a Job Failed). */
export class NotReadyError extends KfopsError {
  override readonly name = 'NotReadyError';
  constructor(
    readonly ref: ObjectRef,
    readonly readiness: Readiness,
    readonly lastObject: KubeObject | undefined,
  ) {
    super(`${describeRef(ref)} failed`, { cause: readiness.message });
  }
}

/** What a collection wait watches: one kind in one namespace (or cluster-wide), optionally filtered. */
export interface WatchTarget {
  apiVersion: string;
  kind: string;
  namespace?: string;
  fieldSelector?: string;
  labelSelector?: string;
}

/**
 * Waits until `evaluate` says the watched set of objects is ready. The set is kept current from one
 * list and then a watch; when a watch ends (server timeout, idle connection, network error) it resumes
 * from the last resourceVersion it saw; when that resourceVersion is too old (410) it lists again.
 * Rejects at the deadline with the last observed state (WaitTimeoutError), at once when `evaluate`
 * reports a failed state (NotReadyError), and on errors that cannot heal (e.g. Forbidden) with a
 * KubeApiError.
 */
export async function waitUntil(
  client: KubeClient,
  target: WatchTarget,
  what: { ref: ObjectRef; rule: ReadinessRule },
  evaluate: (objects: ReadonlyMap<string, KubeObject>) => { readiness: Readiness; object?: KubeObject },
  options: WaitOptions,
): Promise<KubeObject | undefined> {
  const { timeoutMs, watchTimeoutSeconds = 240, logger = silentLogger, onProgress } = options;
  const label = describeRef(what.ref);
  const { path } = await client.collectionPath(target);
  const selectors = {
    ...(target.fieldSelector ? { fieldSelector: target.fieldSelector } : {}),
    ...(target.labelSelector ? { labelSelector: target.labelSelector } : {}),
  };

  return new Promise<KubeObject | undefined>((resolve, reject) => {
    let settled = false;
    let abort: AbortController | undefined;
    let resourceVersion: string | undefined;
    let last: Readiness | undefined;
    let lastObject: KubeObject | undefined;
    let retryDelay = 250;
    let restartTimer: NodeJS.Timeout | undefined;
    const objects = new Map<string, KubeObject>();

    const finish = (error: Error | undefined, obj?: KubeObject): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(restartTimer);
      abort?.abort();
      if (error) reject(error);
      else resolve(obj);
    };
    const deadline = setTimeout(
      () => finish(new WaitTimeoutError(what.ref, what.rule, timeoutMs, last, lastObject)),
      timeoutMs,
    );
    if (options.signal?.aborted) finish(undefined);
    options.signal?.addEventListener('abort', () => finish(undefined), { once: true });

    const observe = (): void => {
      const { readiness: next, object } = evaluate(objects);
      lastObject = object;
      if (next.message !== last?.message || next.state !== last?.state) {
        logger.debug(`${label}: ${next.state}: ${next.message}`);
        onProgress?.(next, object);
      }
      last = next;
      if (next.state === 'ready') finish(undefined, object);
      else if (next.state === 'failed') finish(new NotReadyError(what.ref, next, object));
    };

    const list = async (): Promise<void> => {
      const result = await client.list(target, selectors);
      resourceVersion = result.resourceVersion;
      logger.debug(`${label}: listed at resourceVersion ${resourceVersion}`);
      objects.clear();
      for (const item of result.items) objects.set(keyOf(item), item);
      observe();
    };

    const scheduleRestart = (reason: string, quick: boolean): void => {
      if (settled) return;
      const delay = quick ? 0 : retryDelay;
      retryDelay = quick ? 250 : Math.min(retryDelay * 2, 5000);
      // A watch the server closed on schedule is routine; one cut by an error is a retry worth seeing.
      const line = `${label}: watch ended (${reason}); resuming ${resourceVersion ? `from resourceVersion ${resourceVersion}` : 'with a new list'} in ${delay}ms`;
      if (quick) logger.debug(line);
      else logger.info(line);
      restartTimer = setTimeout(() => void run(), delay);
    };

    const startWatch = async (): Promise<void> => {
      const started = Date.now();
      abort = await client.watcher.watch(
        path,
        { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds },
        (type: string, obj: KubeObject & { code?: number; message?: string }) => {
          if (settled) return;
          if (type === 'ERROR') {
            // 410 Gone: our resourceVersion was compacted away; list again.
            if (obj.code === 410) resourceVersion = undefined;
            logger.debug(`${label}: watch error ${obj.code ?? ''} ${obj.message ?? ''}`);
            return;
          }
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          if (type === 'BOOKMARK') return;
          if (type === 'DELETED') objects.delete(keyOf(obj));
          else objects.set(keyOf(obj), obj);
          observe();
        },
        (error: unknown) => {
          if (settled) return;
          if (error && !isHealableWatchEnd(error) && !classifyFor(client)(error)) {
            finish(explainKubeError(error, { action: 'watch', ref: what.ref, server: client.server }));
            return;
          }
          if (error && statusCodeOf(error) === undefined) client.noteUnreachable();
          const lasted = Date.now() - started;
          scheduleRestart(
            error ? String((error as Error).message ?? error) : 'closed by the server',
            !error && lasted > 1000,
          );
        },
      );
      if (settled) abort.abort();
    };

    const run = async (): Promise<void> => {
      if (settled) return;
      try {
        if (resourceVersion === undefined) await list();
        if (!settled) await startWatch();
      } catch (error) {
        if (settled) return;
        if (classifyFor(client)(error) || isHealableWatchEnd(error))
          scheduleRestart(String((error as Error).message ?? error), false);
        else finish(explainKubeError(error, { action: 'wait for', ref: what.ref, server: client.server }));
      }
    };
    void run();
  });
}

const keyOf = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/**
 * Waits until `rule` says the object is ready, on a watch filtered to that one object (see waitUntil
 * for resumption, deadlines and errors).
 */
export async function waitFor(
  client: KubeClient,
  ref: ObjectRef,
  rule: ReadinessRule,
  options: WaitOptions,
): Promise<KubeObject> {
  const result = await waitUntil(
    client,
    {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      ...(ref.namespace ? { namespace: ref.namespace } : {}),
      fieldSelector: `metadata.name=${ref.name}`,
    },
    { ref, rule },
    (objects) => {
      const obj = objects.values().next().value as KubeObject | undefined;
      return obj
        ? { readiness: rule.check(obj), object: obj }
        : { readiness: { state: 'pending', message: 'does not exist yet' } };
    },
    options,
  );
  return result as KubeObject;
}

/** Watch endings that a restart can cure: timeouts, aborted or reset connections, 410, 5xx, 429. */
function isHealableWatchEnd(error: unknown): boolean {
  const e = error as { name?: string; statusCode?: number; code?: unknown; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  if (typeof e?.statusCode === 'number') return e.statusCode === 410 || e.statusCode === 429 || e.statusCode >= 500;
  return (
    healableClass(error) !== undefined ||
    /terminated|aborted|socket|ECONNRESET|other side closed/i.test(e?.message ?? '')
  );
}

/** Ready endpoints of a Service, counted over its EndpointSlices. */
export function readyEndpoints(slices: Iterable<KubeObject>): number {
  let n = 0;
  for (const s of slices) {
    for (const e of (s['endpoints'] as { conditions?: { ready?: boolean }; addresses?: string[] }[] | undefined) ??
      []) {
      if (e.conditions?.ready !== false && (e.addresses?.length ?? 0) > 0) n++;
    }
  }
  return n;
}

/** Waits until Service namespace/name has at least one ready endpoint (what an admission webhook needs to answer). */
export async function waitForServiceEndpoints(
  client: KubeClient,
  namespace: string,
  name: string,
  options: WaitOptions,
): Promise<void> {
  const ref: ObjectRef = { apiVersion: 'v1', kind: 'Service', name, namespace };
  const rule: ReadinessRule = { name: 'Service has ready endpoints', check: () => ({ state: 'pending', message: '' }) };
  await waitUntil(
    client,
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      namespace,
      labelSelector: `kubernetes.io/service-name=${name}`,
    },
    { ref, rule },
    (slices) => {
      const ready = readyEndpoints(slices.values());
      return ready > 0
        ? { readiness: { state: 'ready', message: `${ready} ready endpoint(s)` } }
        : {
            readiness: {
              state: 'pending',
              message:
                slices.size === 0
                  ? 'no EndpointSlice yet (no pods selected, or the Service does not exist)'
                  : 'no ready endpoints (its pods are not Ready)',
            },
          };
    },
    options,
  );
}
