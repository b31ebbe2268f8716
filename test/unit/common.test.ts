import { describe, expect, it } from 'vitest';
import { mapSettled } from '../../src/common/concurrency.js';
import { formatDuration, parseDuration } from '../../src/common/duration.js';
import { ConfigurationError, describeError, KfopsError, quote } from '../../src/common/errors.js';
import { withRetry } from '../../src/common/retry.js';
import { fakeInputs as inputs } from '../support/inputs-fake.js';

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['2.5m', 150_000],
    ['45', 45_000],
    [' 1m30s ', 90_000],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'ten', '5 min', '1d', 'm5', '1h30'])('rejects %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
  it('formats', () => {
    expect(formatDuration(800)).toBe('800ms');
    expect(formatDuration(61_500)).toBe('1m1.5s');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(5_000)).toBe('5s');
  });
});

describe('errors', () => {
  it('describes anything thrown, Error or not', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError('text')).toBe('text');
    expect(describeError({ code: 7 })).toBe('non-Error value thrown: {"code":7}');
    expect(describeError(undefined)).toBe('non-Error value thrown: undefined');
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    expect(describeError(circular)).toMatch(/^non-Error value thrown/);
    expect(describeError(new KfopsError('PVC Pending', { cause: 'no default StorageClass', fix: 'set one' }))).toBe(
      'PVC Pending\nCause: no default StorageClass\nFix: set one',
    );
    expect(describeError(new ConfigurationError('timeout', '5 min', 'a duration'))).toBe(
      'Input \'timeout\' has the value "5 min": expected a duration.',
    );
  });
  it('shortens long quoted values', () => {
    expect(quote('x'.repeat(300))).toMatch(/… \(300 characters\)"$/);
  });
});

describe('withRetry', () => {
  const fakeClock = () => {
    let t = 0;
    const sleeps: number[] = [];
    return { now: () => t, sleep: async (ms: number) => void (sleeps.push(ms), (t += ms)), sleeps, random: () => 0.5 };
  };

  it('retries a healable error until it succeeds', async () => {
    const clock = fakeClock();
    let calls = 0;
    const value = await withRetry(
      'op',
      async () => {
        calls++;
        if (calls < 3) throw new Error('throttled');
        return 'ok';
      },
      { classify: () => 'throttled', budgets: { throttled: 10_000 } },
      clock,
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(clock.sleeps).toHaveLength(2);
    expect(clock.sleeps[1]).toBeGreaterThan(clock.sleeps[0] as number);
  });

  it('fails at once on an error that cannot heal', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      withRetry(
        'op',
        async () => {
          calls++;
          throw new Error('forbidden');
        },
        { classify: () => undefined, budgets: {} },
        clock,
      ),
    ).rejects.toThrow('forbidden');
    expect(calls).toBe(1);
  });

  it('gives each class its own budget and gives up when it is spent', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      withRetry(
        'op',
        async () => {
          calls++;
          throw new Error('webhook');
        },
        { classify: () => 'webhook', budgets: { webhook: 3_000 }, initialDelayMs: 500 },
        clock,
      ),
    ).rejects.toThrow('webhook');
    expect(clock.now()).toBe(3_000);
    expect(calls).toBeGreaterThan(2);
  });
});

describe('mapSettled', () => {
  it('keeps order, bounds concurrency and never rejects', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapSettled([1, 2, 3, 4, 5, 6], 2, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5 * (7 - n)));
      inFlight--;
      if (n === 4) throw new Error('four');
      return n * 10;
    });
    expect(peak).toBe(2);
    expect(results.map((r) => (r.ok ? r.value : 'err'))).toEqual([10, 20, 30, 'err', 50, 60]);
  });
});

describe('credentials in URLs', () => {
  it('are redacted in any text, and split off a URL for use as a header', async () => {
    const { redactUrlCredentials, splitUrlCredentials } = await import('../../src/common/redact.js');
    expect(
      redactUrlCredentials(
        'GET https://admin:s3cr%40t@mlflow.example.com:5000/api and s3://key:secret@bucket/x, not user@example.com',
      ),
    ).toBe('GET https://***@mlflow.example.com:5000/api and s3://***@bucket/x, not user@example.com');
    expect(redactUrlCredentials('http://u:p@ss@host:1/x')).toBe('http://***@host:1/x');
    expect(splitUrlCredentials('https://admin:s3cr%40t@mlflow.example.com/path?q=1')).toEqual({
      url: 'https://mlflow.example.com/path?q=1',
      username: 'admin',
      password: 's3cr@t',
    });
    expect(splitUrlCredentials('https://mlflow.example.com/')).toEqual({ url: 'https://mlflow.example.com/' });
  });
});

describe('Kubernetes names and positive durations', () => {
  it('accept what the API server accepts and refuse the rest, naming the form', async () => {
    const { isKubeName } = await import('../../src/common/names.js');
    expect(['a', 'my-model', 'x1'].every((n) => isKubeName(n))).toBe(true);
    expect(['', '-a', 'a-', 'A', 'a_b', 'a.b', 'a'.repeat(64)].some((n) => isKubeName(n))).toBe(false);
    expect(isKubeName('kwok-volume.v1', 'subdomain')).toBe(true);
    expect(isKubeName('a..b', 'subdomain')).toBe(false);
    const named = inputs({ timeout: '0s', name: 'Bad_Name' });
    expect(() => named.duration('timeout', '5m', { positive: true })).toThrow(
      `Input 'timeout' has the value "0s": expected a duration such as 90s, 10m, 1h30m or 500ms (a bare number means seconds), greater than zero.`,
    );
    expect(() => named.kubeName('name', 'label', 'an InferenceService name')).toThrow(
      /Input 'name' has the value "Bad_Name": expected an InferenceService name: lowercase letters/,
    );
  });
});
