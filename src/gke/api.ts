import { formatDuration } from '../common/duration.js';
import { KfopsError, networkFailure } from '../common/errors.js';
import { parseJsonBody } from '../common/json.js';
import { withRetry, type RetryDeps } from '../common/retry.js';
import { explainApiError, GkeApiError } from './errors.js';
import {
  clusterPath,
  type Cluster,
  type ClusterRef,
  type ClusterUpdate,
  type NodePoolAutoscaling,
  type Operation,
  type ApiErrorBody,
} from './types.js';

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

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

export interface ContainerApiOptions {
  /** Base URL of the API, e.g. https://container.googleapis.com/ or a regional or private endpoint. */
  endpoint?: string;
  tokens: TokenSource;
  fetch?: FetchLike;
  /** Retries of 429/5xx and connection errors (their budget in ms; default 2 minutes). */
  retryBudgetMs?: number;
  retry?: RetryDeps;
  userAgent?: string;
  /** Deadline of each request, answer included (default 30 s): it holds against a peer that never answers. */
  requestTimeoutMs?: number;
  /** The caller's overall deadline: a request in flight is abandoned when it aborts, and nothing is retried. */
  signal?: AbortSignal;
}

export const REQUEST_TIMEOUT_MS = 30_000;

/** The codes of a request that failed without an answer, outermost first (the error and its causes). */
function failureCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    if (typeof code === 'string') codes.push(code);
    if (typeof name === 'string') codes.push(name);
  }
  return codes;
}

/**
 * Why a request got no answer, as a retry class: `connection` (reset, DNS hiccup: can heal),
 * `timeout` (no answer within the request's deadline: retried once), or undefined for what does not
 * heal by retrying (connection refused, unknown host, TLS errors).
 */
export function requestFailureClass(error: unknown): 'connection' | 'timeout' | undefined {
  const codes = failureCodes(error);
  if (
    codes.some((c) =>
      [
        'ECONNREFUSED',
        'ENOTFOUND',
        'EHOSTUNREACH',
        'ENETUNREACH',
        'ERR_TLS_CERT_ALTNAME_INVALID',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'SELF_SIGNED_CERT_IN_CHAIN',
        'CERT_HAS_EXPIRED',
      ].includes(c),
    )
  )
    return undefined;
  if (
    codes.some((c) =>
      [
        'TimeoutError',
        'UND_ERR_HEADERS_TIMEOUT',
        'UND_ERR_BODY_TIMEOUT',
        'UND_ERR_CONNECT_TIMEOUT',
        'ETIMEDOUT',
      ].includes(c),
    )
  )
    return 'timeout';
  if (codes.some((c) => ['ECONNRESET', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(c)))
    return 'connection';
  const text = `${error instanceof Error ? error.message : ''} ${String((error as { cause?: unknown } | undefined)?.cause ?? '')}`;
  return /socket hang up|other side closed/i.test(text) ? 'connection' : undefined;
}

/** A request failure with the class it was given (so the retry policy does not guess again). */
class RequestFailure extends KfopsError {
  constructor(
    message: string,
    details: { cause: string; fix: string },
    readonly retryClass: 'connection' | 'timeout' | undefined,
    cause: unknown,
  ) {
    super(message, details, { cause });
  }
}

/** A client of the Kubernetes Engine API v1 (REST), the methods kfops uses. */
export class ContainerApi {
  readonly endpoint: string;
  private readonly fetch: FetchLike;
  constructor(private readonly options: ContainerApiOptions) {
    this.endpoint = (options.endpoint ?? DEFAULT_API_ENDPOINT).replace(/\/*$/, '/');
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  }

  /** The failure of a request that got no (complete) answer, naming the peer and why. */
  private requestFailure(what: string, method: string, url: string, error: unknown, timeoutMs: number): KfopsError {
    const overall = this.options.signal;
    if (overall?.aborted) {
      return new RequestFailure(
        `Could not ${what}: ${method} ${url} had no answer when the overall timeout ran out`,
        {
          cause: 'the timeout of the whole step was reached during the request',
          fix: `raise the timeout input, or check that ${this.endpoint} answers from this runner`,
        },
        undefined,
        error,
      );
    }
    const retryClass = requestFailureClass(error);
    if (retryClass === 'timeout') {
      return new RequestFailure(
        `Could not ${what}: ${method} ${url} did not answer within ${formatDuration(timeoutMs)}`,
        {
          cause: 'the Container API endpoint accepted the connection but did not answer in time',
          fix: `check the api-endpoint input (${this.endpoint}): a proxy or firewall may hold the connection without answering`,
        },
        retryClass,
        error,
      );
    }
    const refused = failureCodes(error).includes('ECONNREFUSED');
    return new RequestFailure(
      `Could not ${what}: the request to ${url} failed (${networkFailure(error)})`,
      {
        cause: refused
          ? `nothing accepts connections at ${new URL(url).host} (connection refused)`
          : 'the Container API endpoint could not be reached',
        fix: `check the api-endpoint input (${this.endpoint}) and the runner's network access to it`,
      },
      retryClass,
      error,
    );
  }

  private async call<T>(
    what: string,
    ref: Pick<ClusterRef, 'project' | 'location'>,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<T> {
    const url = `${this.endpoint}v1/${path}`;
    const timeoutMs = this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const overall = this.options.signal;
    let timeouts = 0;
    return withRetry(
      `${what} (${method} ${url})`,
      async () => {
        if (overall?.aborted) throw this.requestFailure(what, method, url, overall.reason, timeoutMs);
        const { token, principal } = await this.options.tokens.token();
        const headers: Record<string, string> = {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          'User-Agent': this.options.userAgent ?? 'kfops-setup-gke',
        };
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        const signal = overall
          ? AbortSignal.any([overall, AbortSignal.timeout(timeoutMs)])
          : AbortSignal.timeout(timeoutMs);
        let response: { status: number; text(): Promise<string> };
        let text: string;
        try {
          response = await this.fetch(url, {
            method,
            headers,
            signal,
            ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          });
          text = await response.text();
        } catch (error) {
          throw this.requestFailure(what, method, url, error, timeoutMs);
        }
        const parsed = parseJsonBody(text);
        if (response.status >= 200 && response.status < 300) {
          if (parsed === undefined)
            throw new KfopsError(
              `Could not ${what}: the API answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
            );
          return parsed as T;
        }
        const status: ApiErrorBody = (parsed as { error?: ApiErrorBody } | undefined)?.error ?? {
          code: response.status,
          message: text.slice(0, 500),
        };
        throw explainApiError(response.status, status, {
          what,
          project: ref.project,
          location: ref.location,
          ...(principal ? { principal } : {}),
        });
      },
      {
        // A peer that does not answer is tried once more, not for the whole budget.
        classify: (e) =>
          e instanceof RequestFailure
            ? e.retryClass === 'timeout' && ++timeouts > 1
              ? undefined
              : e.retryClass
            : e instanceof GkeApiError && (e.httpStatus === 429 || e.httpStatus >= 500)
              ? 'unavailable'
              : undefined,
        budgets: {
          unavailable: this.options.retryBudgetMs ?? 120_000,
          connection: this.options.retryBudgetMs ?? 120_000,
          timeout: this.options.retryBudgetMs ?? 120_000,
        },
        initialDelayMs: 1000,
        maxDelayMs: 15_000,
      },
      { ...this.options.retry, ...(overall ? { signal: overall } : {}) },
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
    return this.call('create cluster', ref, 'POST', `projects/${ref.project}/locations/${ref.location}/clusters`, {
      cluster: { ...cluster, name: ref.name },
    });
  }

  deleteCluster(ref: ClusterRef): Promise<Operation> {
    return this.call('delete cluster', ref, 'DELETE', clusterPath(ref));
  }

  updateCluster(ref: ClusterRef, update: ClusterUpdate): Promise<Operation> {
    return this.call('update cluster', ref, 'PUT', clusterPath(ref), { update });
  }

  setNodePoolAutoscaling(ref: ClusterRef, pool: string, autoscaling: NodePoolAutoscaling): Promise<Operation> {
    return this.call('set node pool autoscaling', ref, 'POST', `${clusterPath(ref)}/nodePools/${pool}:setAutoscaling`, {
      autoscaling,
    });
  }

  setNodePoolSize(ref: ClusterRef, pool: string, nodeCount: number): Promise<Operation> {
    return this.call('set node pool size', ref, 'POST', `${clusterPath(ref)}/nodePools/${pool}:setSize`, { nodeCount });
  }

  setResourceLabels(
    ref: ClusterRef,
    resourceLabels: Record<string, string>,
    labelFingerprint: string,
  ): Promise<Operation> {
    return this.call('set resource labels', ref, 'POST', `${clusterPath(ref)}:setResourceLabels`, {
      resourceLabels,
      labelFingerprint,
    });
  }

  /** name: `operation-...` (short) or `projects/.../operations/...` (full). */
  getOperation(ref: Pick<ClusterRef, 'project' | 'location'>, name: string): Promise<Operation> {
    const path = name.startsWith('projects/')
      ? name
      : `projects/${ref.project}/locations/${ref.location}/operations/${name}`;
    return this.call('get operation', ref, 'GET', path);
  }

  async listOperations(ref: Pick<ClusterRef, 'project' | 'location'>): Promise<Operation[]> {
    const r = await this.call<{ operations?: Operation[] }>(
      'list operations',
      ref,
      'GET',
      `projects/${ref.project}/locations/${ref.location}/operations`,
    );
    return r.operations ?? [];
  }
}
