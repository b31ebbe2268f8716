import { describeError } from './errors.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';

/**
 * Retries with jittered exponential backoff, only for errors that can heal. Each class of error has
 * its own time budget, so a webhook that needs two minutes to come up does not let a throttled
 * API retry forever, and an error outside every class fails at once.
 */
export interface RetryPolicy {
  /** Names the error's class (e.g. 'throttled'), or undefined when it cannot heal. */
  classify(error: unknown): string | undefined;
  /** Budget in ms per class; a class without a budget is not retried. */
  budgets: Record<string, number>;
  /** First delay in ms (default 500). */
  initialDelayMs?: number;
  /** Largest delay in ms (default 10 000). */
  maxDelayMs?: number;
}

export interface RetryDeps {
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
  logger?: Logger;
  /** Ends the retries: a pending delay ends at once and the last error is thrown. */
  signal?: AbortSignal;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A delay that ends early (resolves) when the signal aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return sleep(ms);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  deps: RetryDeps = {},
): Promise<T> {
  const { now = Date.now, random = Math.random, logger = silentLogger, signal } = deps;
  const wait = deps.sleep ?? ((ms: number) => abortableSleep(ms, signal));
  const firstSeen: Record<string, number> = {};
  const initial = policy.initialDelayMs ?? 500;
  const max = policy.maxDelayMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const cls = policy.classify(error);
      const budget = cls === undefined ? undefined : policy.budgets[cls];
      if (cls === undefined || budget === undefined || signal?.aborted) throw error;
      const started = (firstSeen[cls] ??= now());
      const spent = now() - started;
      if (spent >= budget) throw error;
      // Full jitter: a random delay up to the exponential cap, never past the remaining budget.
      const cap = Math.min(max, initial * 2 ** Math.min(attempt - 1, 20));
      const delay = Math.min(budget - spent, Math.max(initial / 2, random() * cap));
      logger.info(
        `${what}: ${cls} (${describeError(error).split('\n')[0]}); retry ${attempt} in ${Math.round(delay)} ms, ${Math.round((budget - spent - delay) / 1000)} s left of its ${Math.round(budget / 1000)} s budget`,
      );
      await wait(delay);
      if (signal?.aborted) throw error;
    }
  }
}
