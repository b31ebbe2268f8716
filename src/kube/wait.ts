import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { KubeClient } from './client.js';
import { explainKubeError, healableClass } from './errors.js';
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
    readonly lastObject: KubeObject,
  ) {
    super(`${describeRef(ref)} failed`, { cause: readiness.message });
  }
}

/**
 * Waits until `rule` says the object is ready, on a watch filtered to that one object. When a watch
 * ends (server timeout, idle connection, network error) it resumes from the last resourceVersion it saw;
 * when that resourceVersion is too old (410) it lists again. Rejects at the deadline with the last
 * observed state (WaitTimeoutError), at once when the rule reports a failed state (NotReadyError), and
 * on errors that cannot heal (e.g. Forbidden) with a KubeApiError.
 */
export async function waitFor(client: KubeClient, ref: ObjectRef, rule: ReadinessRule, options: WaitOptions): Promise<KubeObject> {
  const { timeoutMs, watchTimeoutSeconds = 240, logger = silentLogger, onProgress } = options;
  const what = describeRef(ref);
  const { path } = await client.collectionPath(ref);
  const fieldSelector = `metadata.name=${ref.name}`;

  return new Promise<KubeObject>((resolve, reject) => {
    let settled = false;
    let abort: AbortController | undefined;
    let resourceVersion: string | undefined;
    let last: Readiness | undefined;
    let lastObject: KubeObject | undefined;
    let retryDelay = 250;
    let restartTimer: NodeJS.Timeout | undefined;

    const finish = (error: Error | undefined, obj?: KubeObject): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(restartTimer);
      abort?.abort();
      if (error) reject(error);
      else resolve(obj as KubeObject);
    };
    const deadline = setTimeout(() => finish(new WaitTimeoutError(ref, rule, timeoutMs, last, lastObject)), timeoutMs);

    const observe = (obj: KubeObject | undefined): void => {
      const next: Readiness = obj ? rule.check(obj) : { state: 'pending', message: 'does not exist yet' };
      lastObject = obj;
      if (next.message !== last?.message || next.state !== last?.state) {
        logger.debug(`${what}: ${next.state}: ${next.message}`);
        onProgress?.(next, obj);
      }
      last = next;
      if (next.state === 'ready' && obj) finish(undefined, obj);
      else if (next.state === 'failed' && obj) finish(new NotReadyError(ref, next, obj));
    };

    const list = async (): Promise<void> => {
      const result = await client.list(ref, { fieldSelector });
      resourceVersion = result.resourceVersion;
      logger.debug(`${what}: listed at resourceVersion ${resourceVersion}`);
      observe(result.items[0]);
    };

    const scheduleRestart = (reason: string, quick: boolean): void => {
      if (settled) return;
      const delay = quick ? 0 : retryDelay;
      retryDelay = quick ? 250 : Math.min(retryDelay * 2, 5000);
      logger.debug(`${what}: watch ended (${reason}); resuming ${resourceVersion ? `from resourceVersion ${resourceVersion}` : 'with a new list'} in ${delay}ms`);
      restartTimer = setTimeout(() => void run(), delay);
    };

    const startWatch = async (): Promise<void> => {
      const started = Date.now();
      abort = await client.watcher.watch(
        path,
        { fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds },
        (type: string, obj: KubeObject & { code?: number; message?: string }) => {
          if (settled) return;
          if (type === 'ERROR') {
            // 410 Gone: our resourceVersion was compacted away; list again.
            if (obj.code === 410) resourceVersion = undefined;
            logger.debug(`${what}: watch error ${obj.code ?? ''} ${obj.message ?? ''}`);
            return;
          }
          resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
          if (type === 'BOOKMARK') return;
          observe(type === 'DELETED' ? undefined : obj);
        },
        (error: unknown) => {
          if (settled) return;
          if (error && !isHealableWatchEnd(error)) {
            finish(explainKubeError(error, { action: 'watch', ref, server: client.server }));
            return;
          }
          const lasted = Date.now() - started;
          scheduleRestart(error ? String((error as Error).message ?? error) : 'closed by the server', !error && lasted > 1000);
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
        if (healableClass(error) || isHealableWatchEnd(error)) scheduleRestart(String((error as Error).message ?? error), false);
        else finish(explainKubeError(error, { action: 'wait for', ref, server: client.server }));
      }
    };
    void run();
  });
}

/** Watch endings that a restart can cure: timeouts, aborted or reset connections, 410, 5xx, 429. */
function isHealableWatchEnd(error: unknown): boolean {
  const e = error as { name?: string; statusCode?: number; code?: unknown; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  if (typeof e?.statusCode === 'number') return e.statusCode === 410 || e.statusCode === 429 || e.statusCode >= 500;
  return healableClass(error) !== undefined || /terminated|aborted|socket|ECONNRESET|other side closed/i.test(e?.message ?? '');
}
