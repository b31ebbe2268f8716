/**
 * Faults of a real API server, for integration tests of code that must survive them:
 * - restartApiServer: the local control plane's kube-apiserver stopped (SIGTERM) and started again
 *   with the same arguments (test/cluster/restart-apiserver.sh); etcd keeps the data.
 * - throttle: API Priority and Fairness configured so that one user's concurrent requests beyond a
 *   tiny number of seats are rejected by the API server with 429 (a PriorityLevelConfiguration of type
 *   Limited with limitResponse Reject, and a FlowSchema matching only that user). The rejections are
 *   counted from the API server's own metric (apiserver_flowcontrol_rejected_requests_total).
 * Nothing here touches the admin identity (system:masters is exempt from APF) or the controllers.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeClient } from '../../src/kube/client.js';
import { statusCodeOf } from '../../src/kube/errors.js';
import type { KubeObject } from '../../src/kube/types.js';

const clusterScripts = join(dirname(fileURLToPath(import.meta.url)), '..', 'cluster');
const FLOWCONTROL = 'flowcontrol.apiserver.k8s.io/v1';
const FIELD_MANAGER = 'kfops-test-faults';

export interface ApiServerRestart {
  oldPid: number;
  newPid: number;
  /** From SIGTERM until the old process had exited. */
  stopMs: number;
  /** From SIGTERM until /readyz answered again: how long clients could not use the API. */
  unavailableMs: number;
  /** From starting the new process until /readyz answered. */
  startupMs: number;
  /** The script's log (stderr). */
  log: string;
}

/**
 * Restarts the kube-apiserver of the local control plane in `cluster` (its state directory, or an
 * environment with KFOPS_CLUSTER_DIR and the other KFOPS_* settings) and resolves once it is ready
 * again. With downSeconds, it stays stopped that long before it starts.
 */
export function restartApiServer(
  cluster: string | Record<string, string | undefined>,
  options: { downSeconds?: number } = {},
): Promise<ApiServerRestart> {
  const env =
    typeof cluster === 'string' ? { ...process.env, KFOPS_CLUSTER_DIR: cluster } : { ...process.env, ...cluster };
  const args = [join(clusterScripts, 'restart-apiserver.sh'), String(options.downSeconds ?? 0)];
  return new Promise((resolve, reject) => {
    execFile('bash', args, { env, encoding: 'utf8', timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`restart-apiserver.sh failed (${error.message.split('\n')[0]}):\n${stderr}`));
        return;
      }
      const v = Object.fromEntries([...stdout.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1] as string, Number(m[2])]));
      const need = ['old_pid', 'new_pid', 'term_ms', 'stopped_ms', 'started_ms', 'ready_ms'];
      const missing = need.filter((k) => v[k] === undefined);
      if (missing.length) {
        reject(new Error(`restart-apiserver.sh printed no ${missing.join(', ')}: ${stdout}`));
        return;
      }
      const n = (k: string): number => v[k] as number;
      resolve({
        oldPid: n('old_pid'),
        newPid: n('new_pid'),
        stopMs: n('stopped_ms') - n('term_ms'),
        unavailableMs: n('ready_ms') - n('term_ms'),
        startupMs: n('ready_ms') - n('started_ms'),
        log: stderr,
      });
    });
  });
}

export interface ThrottleOptions {
  /** nominalConcurrencyShares of the priority level (default 1: 3 seats of the server's 600). */
  shares?: number;
  /** The FlowSchema's matchingPrecedence (default 10: before every suggested FlowSchema). */
  precedence?: number;
  /** How often the rejection counter is sampled, so that counts survive an API server restart (default 2000 ms). */
  sampleEveryMs?: number;
}

export interface Throttle {
  /** Name of the PriorityLevelConfiguration and FlowSchema. */
  name: string;
  /** Requests of the user the API server rejected with 429 since the throttle started. */
  rejected(): Promise<number>;
  /** Deletes the FlowSchema and the PriorityLevelConfiguration; resolves with the final count. */
  stop(): Promise<{ rejected: number; durationMs: number }>;
}

/** APF object names allow [a-z0-9.-:]; one pair per throttled user. */
export function throttleName(user: string): string {
  return `kfops-throttle-${user.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`.slice(0, 63);
}

/**
 * Throttles `user` with API Priority and Fairness, through `admin` (which APF exempts): their requests
 * get a priority level of a few seats that lends none and borrows none, and every request beyond those
 * seats is answered 429 at once (no queue). Resolves once the API server has taken the FlowSchema in
 * (its Dangling condition is False).
 */
export async function throttle(admin: KubeClient, user: string, options: ThrottleOptions = {}): Promise<Throttle> {
  const name = throttleName(user);
  const level: KubeObject = {
    apiVersion: FLOWCONTROL,
    kind: 'PriorityLevelConfiguration',
    metadata: { name },
    spec: {
      type: 'Limited',
      limited: {
        nominalConcurrencyShares: options.shares ?? 1,
        lendablePercent: 0,
        borrowingLimitPercent: 0,
        limitResponse: { type: 'Reject' },
      },
    },
  };
  const schema: KubeObject = {
    apiVersion: FLOWCONTROL,
    kind: 'FlowSchema',
    metadata: { name },
    spec: {
      priorityLevelConfiguration: { name },
      matchingPrecedence: options.precedence ?? 10,
      distinguisherMethod: { type: 'ByUser' },
      rules: [
        {
          subjects: [{ kind: 'User', user: { name: user } }],
          resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], clusterScope: true, namespaces: ['*'] }],
          nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
        },
      ],
    },
  };
  const counter = new RejectionCounter(admin, name);
  await counter.sample();
  await admin.serverSideApply(level, { fieldManager: FIELD_MANAGER, force: true });
  await admin.serverSideApply(schema, { fieldManager: FIELD_MANAGER, force: true });
  await waitForSchemaInEffect(admin, name);
  const started = Date.now();
  const timer = setInterval(() => void counter.sample().catch(() => undefined), options.sampleEveryMs ?? 2000);
  let stopped: Promise<{ rejected: number; durationMs: number }> | undefined;
  return {
    name,
    rejected: async () => {
      await counter.sample().catch(() => undefined);
      return counter.total;
    },
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(timer);
        await counter.sample().catch(() => undefined);
        const durationMs = Date.now() - started;
        await removeAndWait(admin, { apiVersion: FLOWCONTROL, kind: 'FlowSchema', name });
        await removeAndWait(admin, { apiVersion: FLOWCONTROL, kind: 'PriorityLevelConfiguration', name });
        return { rejected: counter.total, durationMs };
      })()),
  };
}

/** Deletes the FlowSchema and PriorityLevelConfiguration throttle() made for `user`, if any are left. */
export async function removeThrottle(admin: KubeClient, user: string): Promise<void> {
  const name = throttleName(user);
  await removeAndWait(admin, { apiVersion: FLOWCONTROL, kind: 'FlowSchema', name });
  await removeAndWait(admin, { apiVersion: FLOWCONTROL, kind: 'PriorityLevelConfiguration', name });
}

async function removeAndWait(
  admin: KubeClient,
  ref: { apiVersion: string; kind: string; name: string },
): Promise<void> {
  await admin.remove(ref);
  for (let i = 0; i < 100 && (await admin.get(ref)); i++) await sleep(100);
}

async function waitForSchemaInEffect(admin: KubeClient, name: string): Promise<void> {
  const ref = { apiVersion: FLOWCONTROL, kind: 'FlowSchema', name };
  for (let i = 0; i < 100; i++) {
    const fs = await admin.get(ref);
    const dangling = (
      fs?.['status'] as { conditions?: { type: string; status: string }[] } | undefined
    )?.conditions?.find((c) => c.type === 'Dangling');
    if (dangling?.status === 'False') return;
    await sleep(100);
  }
  throw new Error(
    `FlowSchema ${name} was not taken in by the API server within 10s (its Dangling condition never became False)`,
  );
}

/**
 * apiserver_flowcontrol_rejected_requests_total of one priority level, summed over flow schemas and
 * reasons, read from the API server's /metrics. The counter starts again at 0 when the API server
 * restarts; a drop is taken as such a restart and the count before it is kept.
 */
class RejectionCounter {
  private base = 0;
  private last = 0;
  private first: number | undefined;

  constructor(
    private readonly admin: KubeClient,
    private readonly level: string,
  ) {}

  get total(): number {
    return this.base + this.last - (this.first ?? 0);
  }

  async sample(): Promise<void> {
    const value = await rejectedRequests(this.admin, this.level);
    if (this.first === undefined) {
      this.first = value;
      this.last = value;
      return;
    }
    if (value < this.last) {
      // The API server restarted: what was counted so far stays, the new counter starts at 0.
      this.base += this.last - this.first;
      this.first = 0;
    }
    this.last = value;
  }
}

/** The API server's count of requests it rejected (429) in priority level `level` since it started. */
export async function rejectedRequests(admin: KubeClient, level: string): Promise<number> {
  const text = await admin.request<string>('GET', '/metrics', { accept: 'text/plain' });
  let sum = 0;
  for (const line of String(text).split('\n')) {
    if (
      !line.startsWith('apiserver_flowcontrol_rejected_requests_total{') ||
      !line.includes(`priority_level="${level}"`)
    )
      continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * Sends `count` GET requests through `client` at once and counts the answers by HTTP status (the
 * check that a throttle is real: a throttled user sees 429s, another identity does not).
 */
export async function probe(
  client: KubeClient,
  count: number,
  path = '/api/v1/namespaces',
): Promise<Map<number, number>> {
  const statuses = await Promise.all(
    Array.from({ length: count }, () =>
      client.request('GET', path).then(
        () => 200,
        (error: unknown) => statusCodeOf(error) ?? 0,
      ),
    ),
  );
  const byStatus = new Map<number, number>();
  for (const s of statuses) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
  return byStatus;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
