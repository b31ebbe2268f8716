/** The real cluster behind the install-mlflow use case: a Kubernetes API server. */
import type { Logger } from '../../common/logger.js';
import { applyObjects, FIELD_MANAGER } from '../../kube/apply.js';
import type { KubeClient } from '../../kube/client.js';
import { statusCodeOf } from '../../kube/errors.js';
import { install } from '../../kube/install.js';
import { jobRule } from '../../kube/readiness.js';
import { refOf, type KubeObject } from '../../kube/types.js';
import { NotReadyError, waitFor, WaitTimeoutError } from '../../kube/wait.js';
import type { MlflowCluster } from './install-mlflow.js';

const LOG_TAIL_LINES = 30;

export function kubeMlflowCluster(client: KubeClient): MlflowCluster {
  return {
    server: client.server,
    find: (ref) => client.find(ref),
    profileNamespaces: async () => {
      const ref = { apiVersion: 'kubeflow.org/v1', kind: 'Profile' };
      try {
        const { items } = await client.list(ref);
        return items.map((p) => p.metadata.name).sort();
      } catch (error) {
        if (statusCodeOf(error) === 404) return [];
        throw error;
      }
    },
    install: (objects, options) => install(client, objects, options),
    apply: (objects, options) => applyObjects(client, objects, options),
    runJob: (job, options) => runJob(client, job, options),
    proxyGet: async (namespace, service, port, path) => {
      try {
        const body = await client.request<unknown>(
          'GET',
          `/api/v1/namespaces/${namespace}/services/http:${service}:${port}/proxy${path}`,
          { accept: '*/*' },
        );
        return { status: 200, body: typeof body === 'string' ? body : JSON.stringify(body ?? '') };
      } catch (error) {
        const status = statusCodeOf(error);
        if (status === undefined) throw error;
        const body = (error as { body?: unknown }).body;
        return { status, body: typeof body === 'string' ? body : JSON.stringify(body ?? '') };
      }
    },
  };
}

/**
 * Creates the Job (a finished one of the same name is deleted first, so a failed migration can be run
 * again), waits for it to complete or fail, and on failure returns the tail of its pod's log, or the
 * container's termination message when the log cannot be read.
 */
async function runJob(
  client: KubeClient,
  job: KubeObject,
  options: { timeoutMs: number; logger: Logger },
): Promise<{ ok: boolean; log: string }> {
  const ref = refOf(job);
  const existing = await client.find(ref);
  if (existing) {
    options.logger.info(`replacing the earlier Job ${ref.name}`);
    await client.remove(ref, 'Background');
    const gone = Date.now() + 60_000;
    while ((await client.find(ref)) && Date.now() < gone) await new Promise((r) => setTimeout(r, 500));
  }
  await client.serverSideApply(job, { fieldManager: FIELD_MANAGER });
  options.logger.info(`Job ${ref.name} started`);
  try {
    await waitFor(client, ref, jobRule, { timeoutMs: options.timeoutMs, logger: options.logger });
    return { ok: true, log: '' };
  } catch (error) {
    if (!(error instanceof NotReadyError) && !(error instanceof WaitTimeoutError)) throw error;
    return { ok: false, log: await jobLog(client, ref.namespace ?? 'default', ref.name) };
  }
}

async function jobLog(client: KubeClient, namespace: string, job: string): Promise<string> {
  const { items } = await client.list(
    { apiVersion: 'v1', kind: 'Pod', namespace },
    { labelSelector: `job-name=${job}` },
  );
  for (const pod of items) {
    try {
      const text = await client.request<unknown>(
        'GET',
        `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/log`,
        {
          query: { tailLines: LOG_TAIL_LINES },
          accept: '*/*',
        },
      );
      if (typeof text === 'string' && text.trim()) return text.trim();
    } catch {
      // No log (the node does not serve it): the termination message below.
    }
    const statuses =
      (
        pod as {
          status?: {
            containerStatuses?: { state?: { terminated?: { message?: string; reason?: string; exitCode?: number } } }[];
          };
        }
      ).status?.containerStatuses ?? [];
    for (const s of statuses) {
      const t = s.state?.terminated;
      if (t?.message?.trim()) return t.message.trim();
      if (t) return `exit code ${t.exitCode ?? '?'} (${t.reason ?? 'no reason'})`;
    }
  }
  return '';
}
