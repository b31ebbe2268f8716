import { KfopsError, networkFailure } from '../common/errors.js';
import { parseJsonBody } from '../common/json.js';
import { withRetry, type RetryDeps } from '../common/retry.js';
import { explainApiError, GkeApiError } from './errors.js';
import { clusterPath, type Cluster, type ClusterRef, type ClusterUpdate, type NodePoolAutoscaling, type Operation, type RpcStatus } from './types.js';

export const DEFAULT_API_ENDPOINT = 'https://container.googleapis.com/';

/** An OAuth access token and when it expires (when known). */
export interface AccessToken {
  token: string;
  expiresAt?: Date;
  /** Who the token belongs to, when known (for error messages). */
  principal?: string;
}

/** Gives an access token for the Google APIs; refreshes it when needed. */
export interface TokenSource {
  token(): Promise<AccessToken>;
  /** Where the credentials came from, for the log (never the secret). */
  readonly description: string;
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text(): Promise<string> }>;

export interface ContainerApiOptions {
  /** Base URL of the API, e.g. https://container.googleapis.com/ or a regional or private endpoint. */
  endpoint?: string;
  tokens: TokenSource;
  fetch?: FetchLike;
  /** Retries of 429/5xx and connection errors (their budget in ms; default 2 minutes). */
  retryBudgetMs?: number;
  retry?: RetryDeps;
  userAgent?: string;
}

/** Errors that can heal on their own: throttling, server errors, connection resets. */
function transient(error: unknown): string | undefined {
  if (error instanceof GkeApiError) return error.httpStatus === 429 || error.httpStatus >= 500 ? 'unavailable' : undefined;
  if (error instanceof TypeError || (error instanceof Error && /ECONNRESET|ECONNREFUSED|ETIMEDOUT|socket hang up|fetch failed/i.test(`${error.message} ${String((error as { cause?: unknown }).cause ?? '')}`))) return 'connection';
  return undefined;
}

/** A client of the Kubernetes Engine API v1 (REST), the methods kfops uses. */
export class ContainerApi {
  readonly endpoint: string;
  private readonly fetch: FetchLike;
  constructor(private readonly options: ContainerApiOptions) {
    this.endpoint = (options.endpoint ?? DEFAULT_API_ENDPOINT).replace(/\/*$/, '/');
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  }

  private async call<T>(what: string, ref: Pick<ClusterRef, 'project' | 'location'>, method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.endpoint}v1/${path}`;
    return withRetry(
      `${what} (${method} ${url})`,
      async () => {
        const { token, principal } = await this.options.tokens.token();
        const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'application/json', 'User-Agent': this.options.userAgent ?? 'kfops-setup-gke' };
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        let response: { status: number; text(): Promise<string> };
        try {
          response = await this.fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
        } catch (error) {
          throw new KfopsError(`Could not ${what}: the request to ${url} failed (${networkFailure(error)})`, {
            cause: 'the Container API endpoint could not be reached',
            fix: `check the api-endpoint input (${this.endpoint}) and the runner's network access to it`,
          }, { cause: error });
        }
        const text = await response.text();
        const parsed = parseJsonBody(text);
        if (response.status >= 200 && response.status < 300) {
          if (parsed === undefined) throw new KfopsError(`Could not ${what}: the API answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
          return parsed as T;
        }
        const status: RpcStatus = (parsed as { error?: RpcStatus } | undefined)?.error ?? { code: response.status, message: text.slice(0, 500) };
        throw explainApiError(response.status, status, { what, project: ref.project, location: ref.location, ...(principal ? { principal } : {}) });
      },
      {
        classify: (e) => (e instanceof KfopsError && !(e instanceof GkeApiError) ? (transient((e as { cause?: unknown }).cause) ? 'connection' : undefined) : transient(e)),
        budgets: { unavailable: this.options.retryBudgetMs ?? 120_000, connection: this.options.retryBudgetMs ?? 120_000 },
        initialDelayMs: 1000,
        maxDelayMs: 15_000,
      },
      this.options.retry,
    );
  }

  /** The cluster, or undefined when it does not exist. */
  async getCluster(ref: ClusterRef): Promise<Cluster | undefined> {
    try {
      return await this.call<Cluster>('get cluster', ref, 'GET', clusterPath(ref));
    } catch (error) {
      if (error instanceof GkeApiError && error.httpStatus === 404) return undefined;
      throw error;
    }
  }

  createCluster(ref: ClusterRef, cluster: Cluster): Promise<Operation> {
    return this.call('create cluster', ref, 'POST', `projects/${ref.project}/locations/${ref.location}/clusters`, { cluster: { ...cluster, name: ref.name } });
  }

  deleteCluster(ref: ClusterRef): Promise<Operation> {
    return this.call('delete cluster', ref, 'DELETE', clusterPath(ref));
  }

  updateCluster(ref: ClusterRef, update: ClusterUpdate): Promise<Operation> {
    return this.call('update cluster', ref, 'PUT', clusterPath(ref), { update });
  }

  setNodePoolAutoscaling(ref: ClusterRef, pool: string, autoscaling: NodePoolAutoscaling): Promise<Operation> {
    return this.call('set node pool autoscaling', ref, 'POST', `${clusterPath(ref)}/nodePools/${pool}:setAutoscaling`, { autoscaling });
  }

  setNodePoolSize(ref: ClusterRef, pool: string, nodeCount: number): Promise<Operation> {
    return this.call('set node pool size', ref, 'POST', `${clusterPath(ref)}/nodePools/${pool}:setSize`, { nodeCount });
  }

  setResourceLabels(ref: ClusterRef, resourceLabels: Record<string, string>, labelFingerprint: string | undefined): Promise<Operation> {
    return this.call('set resource labels', ref, 'POST', `${clusterPath(ref)}:setResourceLabels`, { resourceLabels, ...(labelFingerprint ? { labelFingerprint } : {}) });
  }

  /** name: `operation-...` (short) or `projects/.../operations/...` (full). */
  getOperation(ref: Pick<ClusterRef, 'project' | 'location'>, name: string): Promise<Operation> {
    const path = name.startsWith('projects/') ? name : `projects/${ref.project}/locations/${ref.location}/operations/${name}`;
    return this.call('get operation', ref, 'GET', path);
  }

  async listOperations(ref: Pick<ClusterRef, 'project' | 'location'>): Promise<Operation[]> {
    const r = await this.call<{ operations?: Operation[] }>('list operations', ref, 'GET', `projects/${ref.project}/locations/${ref.location}/operations`);
    return r.operations ?? [];
  }
}
