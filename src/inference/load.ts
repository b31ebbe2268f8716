/**
 * A bounded load phase: `requests` calls (or until `durationMs` passes) with `concurrency` in flight,
 * over the pooled HTTP client, measuring each call's latency. Percentiles are over successful calls;
 * failed calls (non-2xx or no answer) count towards the error rate. `deadlineMs` ends the phase, calls
 * in flight included: they are aborted and counted apart (`cut`), not as failures.
 */
import { networkFailure } from '../common/errors.js';
import type { HttpClient, HttpRequest } from './http.js';

export interface LoadOptions {
  requests: number;
  concurrency: number;
  /** Stops issuing new calls after this long (calls in flight finish). */
  durationMs?: number;
  /**
   * Ends the phase this long after it starts, whatever is in flight: the run's overall deadline. Calls in
   * flight then are aborted and counted in `cut`; the result says `cutByDeadline`.
   */
  deadlineMs?: number;
  /** Called about once a second with the calls completed so far. */
  onProgress?: (done: number, elapsedMs: number) => void;
  now?: () => number;
}

export interface LatencyStats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export interface LoadResult {
  /** Calls made. */
  requests: number;
  /** Calls answered with 2xx. */
  succeeded: number;
  failed: number;
  /** Failed / requests (0 when no call was made). */
  errorRate: number;
  /** Count per HTTP status, or per network error for calls without an answer. */
  outcomes: Record<string, number>;
  elapsedMs: number;
  /** Calls completed per second. */
  throughput: number;
  concurrency: number;
  /** Over successful calls, in ms; undefined when none succeeded. */
  latency?: LatencyStats;
  /** The deadline ended the phase before its calls were made (present only then). */
  cutByDeadline?: true;
  /** Calls in flight when the deadline ended the phase, aborted and counted in no other figure. */
  cut?: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function latencyStats(values: Float64Array): LatencyStats | undefined {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sum / sorted.length,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
  };
}

export async function runLoad(http: HttpClient, request: HttpRequest, options: LoadOptions): Promise<LoadResult> {
  const now = options.now ?? (() => performance.now());
  const total = Math.max(0, options.requests);
  const latencies = new Float64Array(total);
  let ok = 0;
  let issued = 0;
  let done = 0;
  const statuses = new Map<number, number>();
  const failures = new Map<string, number>();
  const started = now();
  const stopAt = options.durationMs !== undefined ? started + options.durationMs : Infinity;
  let lastProgress = started;
  // The deadline aborts the calls in flight (through the client) and ends the phase at once, even with a
  // client that ignores the signal: callbacks that come after it are not counted.
  const abort = new AbortController();
  let cutAt: number | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  // Each of `concurrency` lanes issues its next call from the previous call's completion callback
  // (no promise or microtask per call), so the client costs as little CPU as it can next to the model.
  await new Promise<void>((finish) => {
    let lanes = Math.max(1, Math.min(options.concurrency, total || 1));
    if (options.deadlineMs !== undefined && total > 0) {
      deadlineTimer = setTimeout(
        () => {
          cutAt = issued - done;
          abort.abort(new Error('the deadline ended the load phase'));
          finish();
        },
        Math.max(0, options.deadlineMs),
      );
    }
    const next = (lane: number): void => {
      if (cutAt !== undefined) return;
      if (issued >= total || now() >= stopAt) {
        if (--lanes === 0) finish();
        return;
      }
      issued++;
      const t0 = now();
      http.statusThen(
        request,
        (error, status) => {
          if (cutAt !== undefined) return;
          if (error) {
            const key = networkFailure(error).split(':')[0] ?? 'network error';
            failures.set(key, (failures.get(key) ?? 0) + 1);
          } else {
            if (status >= 200 && status < 300) latencies[ok++] = now() - t0;
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
          done++;
          if (options.onProgress && (done & 63) === 0 && now() - lastProgress >= 1000) {
            lastProgress = now();
            options.onProgress(done, lastProgress - started);
          }
          // A completion callback can run inside dispatch() (an immediate error); defer to keep the stack flat.
          if (error) setImmediate(next, lane);
          else next(lane);
        },
        lane,
        abort.signal,
      );
    };
    const start = lanes;
    for (let i = 0; i < start; i++) next(i);
  });
  clearTimeout(deadlineTimer);
  const elapsedMs = now() - started;
  const failed = done - ok;
  const latency = latencyStats(latencies.subarray(0, ok));
  const outcomes: Record<string, number> = {};
  for (const [k, v] of [...statuses, ...failures]) outcomes[String(k)] = v;
  return {
    requests: done,
    succeeded: ok,
    failed,
    errorRate: done ? failed / done : 0,
    outcomes,
    elapsedMs,
    throughput: elapsedMs > 0 ? (done * 1000) / elapsedMs : 0,
    concurrency: options.concurrency,
    ...(latency ? { latency } : {}),
    ...(cutAt !== undefined ? { cutByDeadline: true as const, cut: cutAt } : {}),
  };
}
