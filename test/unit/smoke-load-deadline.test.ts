/**
 * The run's timeout holds during the load phase: a model server on loopback answers readiness and the first
 * inference at once, then answers load calls slowly (or never). The real HTTP client is used, so the calls
 * in flight at the deadline must really be aborted for the run (and the client's close) to end in time.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../src/inference/http.js';
import { runLoad } from '../../src/inference/load.js';
import { smokeTest, type SmokeTestSettings } from '../../src/inference/smoke-test.js';
import { runAction } from '../support/run-action.js';

interface Peer {
  url: string;
  predictions: () => number;
  stop: () => Promise<void>;
}

/** Answers the first prediction at once; later ones after `delayMs`, or never when delayMs is Infinity. */
async function slowPeer(delayMs: number): Promise<Peer> {
  let predictions = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const answer = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET') return answer({ name: 'iris', ready: true });
      if (predictions++ === 0) return answer({ predictions: [1] });
      if (delayMs === Infinity) return;
      const t = setTimeout(() => {
        timers.delete(t);
        answer({ predictions: [1] });
      }, delayMs);
      timers.add(t);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    predictions: () => predictions,
    stop: () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

const settings = (url: string, over: Partial<SmokeTestSettings>): SmokeTestSettings => ({
  target: { type: 'url', url, model: 'iris' },
  protocol: 'v1',
  payload: [[1, 2]],
  compare: 'subset',
  tolerance: { absolute: 0, relative: 0 },
  auth: { kind: 'none' },
  assertTokenRequired: false,
  timeoutMs: 2000,
  requestTimeoutMs: 30_000,
  requests: 1000,
  concurrency: 4,
  insecure: false,
  ...over,
});

/** The smoke test with the real pooled client, timed from the call to the client's close. */
async function timedRun(s: SmokeTestSettings) {
  const t0 = Date.now();
  const result = await smokeTest(s, {
    kube: () => {
      throw new Error('the cluster was not needed');
    },
    http: (options) => createHttpClient(options),
  });
  return { ...result, ms: Date.now() - t0 };
}

const SLACK = 1000;

describe('the timeout holds during the load phase', () => {
  it('a slow model server (1 s per call, 1000 calls of 4 at a time): the run ends at the timeout with the figures so far', async () => {
    const peer = await slowPeer(1000);
    peers.push(peer);
    const { report, ms } = await timedRun(settings(peer.url, { timeoutMs: 2500 }));
    expect(ms, `${ms} ms for a 2500 ms timeout`).toBeLessThan(2500 + SLACK);
    expect(report.load?.cutByDeadline).toBe(true);
    // About 2 s of load at 4 calls a second: some calls completed, 4 were in flight.
    expect(report.load?.succeeded).toBeGreaterThan(0);
    expect(report.load?.requests).toBeLessThan(20);
    expect(report.load?.cut).toBe(4);
    expect(report.failures).toEqual([
      expect.stringMatching(
        /^the timeout \(2\.5s\) ended the load phase after \d+ of 1000 call\(s\) completed \(4 cut in flight\): raise timeout/,
      ),
    ]);
  }, 30_000);

  it('a model server that stops answering under load (request-timeout 30s): the run ends at the timeout, the calls in flight aborted', async () => {
    const peer = await slowPeer(Infinity);
    peers.push(peer);
    const { report, ms } = await timedRun(settings(peer.url, { timeoutMs: 2000 }));
    expect(ms, `${ms} ms for a 2000 ms timeout`).toBeLessThan(2000 + SLACK);
    expect(report.load).toMatchObject({ requests: 0, cutByDeadline: true, cut: 4 });
    expect(report.failures[0]).toMatch(/^the timeout \(2s\) ended the load phase after 0 of 1000 call\(s\) completed/);
  }, 30_000);

  it('a load phase that fits in the timeout is not cut', async () => {
    const peer = await slowPeer(0);
    peers.push(peer);
    const { report } = await timedRun(settings(peer.url, { timeoutMs: 20_000, requests: 40 }));
    expect(report.load).toMatchObject({ requests: 40, succeeded: 40 });
    expect(report.load?.cutByDeadline).toBeUndefined();
    expect(report.failures).toEqual([]);
  }, 30_000);

  it('runLoad: the deadline aborts the calls in flight through the client, whose close then ends at once', async () => {
    const peer = await slowPeer(Infinity);
    peers.push(peer);
    const http = createHttpClient({ connections: 2, timeoutMs: 30_000 });
    const t0 = Date.now();
    const r = await runLoad(
      http,
      { method: 'POST', url: `${peer.url}/v1/models/iris:predict`, body: '{"instances": [[1, 2]]}' },
      { requests: 10, concurrency: 2, deadlineMs: 500 },
    );
    await http.close();
    const ms = Date.now() - t0;
    expect(ms, `${ms} ms for a 500 ms deadline`).toBeLessThan(500 + SLACK);
    // The first prediction is answered at once; the next two hang until the deadline.
    expect(r).toMatchObject({ requests: 1, succeeded: 1, failed: 0, cutByDeadline: true, cut: 2 });
  }, 30_000);
});

describe('the action, run as the runner does, against a model server that slows down under load', () => {
  it('ends at its timeout during the load phase, failing with the figures so far', async () => {
    const peer = await slowPeer(1000);
    peers.push(peer);
    let first = 0;
    // Measured from the first log line (after start-up, which varies with the machine's load) to the exit.
    const run = await runAction(
      'smoke-test-endpoint',
      { url: peer.url, 'model-name': 'iris', protocol: 'v1', payload: '[[1, 2]]', requests: '1000', timeout: '3s' },
      {},
      () => {
        first ||= Date.now();
      },
    );
    const ms = Date.now() - first;
    expect(run.code, run.log).toBe(1);
    expect(ms, `${ms} ms from the first log line to the exit, timeout 3s`).toBeLessThan(3000 + 2500);
    expect(run.log).toMatch(
      /::error::.*the timeout \(3s\) ended the load phase after \d+ of 1000 call\(s\) completed \(4 cut in flight\)/,
    );
    expect(run.outputs['report-markdown']).toContain('Smoke test of `iris`: failed');
  }, 60_000);
});
