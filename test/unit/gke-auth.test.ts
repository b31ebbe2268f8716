/**
 * Application Default Credentials against loopback peers: a token endpoint (STS) whose failures
 * google-auth-library retries on its own, now told at info level; and a proxy (HTTPS_PROXY) that accepts
 * and never answers, which must not hold the step past its timeout.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/common/logger.js';
import { adcTokenSource, proxyOf } from '../../src/gke/auth.js';
import { externalAccountCredentials, silentPeer } from '../support/gke-env.js';
import { runAction } from '../support/run-action.js';

const dir = mkdtempSync(join(tmpdir(), 'kfops-gke-auth-'));

function linesLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: () => undefined,
    info: (m) => lines.push(`info: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: (_name, fn) => fn(),
  };
}

/** An STS token endpoint that fails the first `failures.length` exchanges as told, then hands out a token. */
async function flakySts(failures: ('503' | 'reset')[]): Promise<{ url: string; calls: () => number; server: Server }> {
  let calls = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const failure = failures[calls++];
      if (failure === 'reset') return req.socket.destroy();
      if (failure === '503') {
        res.writeHead(503, { 'content-type': 'application/json' });
        return res.end('{"error": "temporarily_unavailable"}');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          access_token: 'sts-token',
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: 3599,
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, calls: () => calls, server };
}

describe("google-auth-library's own retries of a token request", () => {
  it('are told at info level: what failed, attempt n of m, the delay before the next', async () => {
    const sts = await flakySts(['503', '503']);
    try {
      const logger = linesLogger();
      const tokens = adcTokenSource({
        keyFilename: externalAccountCredentials(join(dir, 'retry-503'), sts.url),
        logger,
      });
      expect((await tokens.token()).token).toBe('sts-token');
      expect(sts.calls()).toBe(3);
      expect(logger.lines).toEqual([
        `info: token request to ${sts.url}v1/token: HTTP 503; retry 1 of 3 in 100 ms`,
        `info: token request to ${sts.url}v1/token: HTTP 503; retry 2 of 3 in 500 ms`,
      ]);
    } finally {
      sts.server.close();
    }
  });

  it('a request without an answer (connection reset) is retried twice at most, each retry told', async () => {
    const sts = await flakySts(['reset', 'reset', 'reset']);
    try {
      const logger = linesLogger();
      const tokens = adcTokenSource({
        keyFilename: externalAccountCredentials(join(dir, 'retry-reset'), sts.url),
        logger,
      });
      await expect(tokens.token()).rejects.toThrow(/^Could not get Google credentials: /);
      expect(sts.calls()).toBe(3);
      expect(logger.lines).toHaveLength(2);
      expect(logger.lines[0]).toMatch(
        new RegExp(
          `^info: token request to ${sts.url}v1/token: .*(ECONNRESET|socket hang up).*; retry 1 of 2 in 100 ms$`,
        ),
      );
      expect(logger.lines[1]).toMatch(/; retry 2 of 2 in 500 ms$/);
    } finally {
      sts.server.close();
    }
  });
});

describe('a proxy (HTTPS_PROXY) that accepts and never answers', () => {
  let proxy: Awaited<ReturnType<typeof silentPeer>>;
  beforeAll(async () => {
    proxy = await silentPeer();
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('is named without its credentials', () => {
    expect(proxyOf({ HTTPS_PROXY: 'http://me:hunter2@proxy.example:3128' })).toBe('http://***@proxy.example:3128');
    expect(proxyOf({ https_proxy: 'http://proxy.example:3128' })).toBe('http://proxy.example:3128');
    expect(proxyOf({})).toBeUndefined();
  });

  it('setup-gke ends at its timeout, naming the token endpoint and the proxy', async () => {
    const before = proxy.connections();
    let first = 0;
    const run = await runAction(
      'setup-gke',
      {
        project: 'my-project-1',
        location: 'europe-west1-b',
        'cluster-name': 'kf',
        'api-endpoint': 'http://127.0.0.1:9/',
        timeout: '3s',
        'kubeconfig-path': join(dir, 'kubeconfig'),
      },
      {
        HTTPS_PROXY: proxy.url,
        GOOGLE_APPLICATION_CREDENTIALS: externalAccountCredentials(
          join(dir, 'proxied'),
          'https://sts.example.invalid/',
        ),
      },
      () => {
        first ||= Date.now();
      },
    );
    // From the first log line (start-up varies with the machine's load) to the exit.
    const ms = Date.now() - first;
    expect(run.code, run.log).toBe(1);
    expect(proxy.connections()).toBeGreaterThan(before);
    expect(run.log).toContain(
      `::error::setup-gke: Could not get Google credentials: the token request to https://sts.example.invalid/v1/token (through the proxy ${proxy.url}) had no answer when the overall timeout ran out`,
    );
    // Before, the proxy's socket held the process open after the error (300 s, until it was killed).
    expect(ms, `${ms} ms from the first log line to the exit, timeout 3s`).toBeLessThan(3000 + 2500);
  }, 60_000);
});
