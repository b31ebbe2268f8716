import { Agent, Client, Pool, request as undiciRequest, type Dispatcher } from 'undici';

/** One HTTP exchange as the smoke test sees it. Redirects are never followed (a 302 to a login page is an answer). */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Time allowed for the whole exchange (connect, headers, body) with send(); the client's timeout when unset. */
  timeoutMs?: number;
}

export interface HttpClient {
  /** Sends one request; rejects only when no HTTP answer came (connection refused, reset, timeout, TLS). */
  send(request: HttpRequest): Promise<HttpResponse>;
  /** Like send, for the load phase: only the status is kept and the body is drained, not decoded. */
  status(request: HttpRequest): Promise<number>;
  /**
   * status() with a callback instead of a promise (no promise or microtask per call), for the load loop.
   * Calls with the same `lane` share one keep-alive connection of their own, as a load generator's
   * connections do; without a lane the origin's pool picks a connection. `signal` aborts the call in flight
   * (done is then called with the abort's reason).
   */
  statusThen(
    request: HttpRequest,
    done: (error: Error | undefined, status: number) => void,
    lane?: number,
    signal?: AbortSignal,
  ): void;
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** Keep-alive connections per origin (the load phase's concurrency). */
  connections?: number;
  /** Time allowed for the answer's headers and body, each. */
  timeoutMs?: number;
  /** TLS server name (SNI) to present, e.g. the Host header's name when calling a gateway by IP. */
  servername?: string;
  /** Accept any TLS certificate (a gateway with a self-signed certificate). */
  insecure?: boolean;
}

const abortReason = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new Error('the call was aborted');

/** An HttpClient over one pooled undici Agent: connections are reused across every request of a run. */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const timeout = options.timeoutMs ?? 30_000;
  const poolOptions = {
    connections: options.connections ?? 8,
    pipelining: 1,
    // Below uvicorn's 5 s (MLServer, KServe's model server): an idle connection is dropped here first.
    keepAliveTimeout: 4_000,
    keepAliveTimeoutThreshold: 1_000,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    connect: {
      ...(options.servername ? { servername: options.servername } : {}),
      ...(options.insecure ? { rejectUnauthorized: false } : {}),
    },
  };
  const agent = new Agent(poolOptions);
  // The load phase dispatches straight to the origin's pool (one lookup less per call than the Agent).
  const pools = new Map<string, Pool>();
  const laneClients = new Map<string, Client[]>();
  const underSignal = new WeakMap<AbortSignal, Set<Dispatcher.DispatchController>>();
  const prepared = new WeakMap<HttpRequest, { pool: Pool; origin: string; dispatch: Dispatcher.DispatchOptions }>();
  const call = (r: HttpRequest) =>
    undiciRequest(r.url, {
      method: r.method,
      dispatcher: agent,
      headers: r.headers ?? {},
      ...(r.body !== undefined ? { body: r.body } : {}),
      signal: AbortSignal.timeout(r.timeoutMs ?? timeout),
    });
  return {
    async send(r) {
      const res = await call(r);
      const body = await res.body.text();
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
      return { status: res.statusCode, headers, body };
    },
    status(r) {
      return new Promise<number>((resolve, reject) =>
        statusThen(r, (error, status) => (error ? reject(error) : resolve(status))),
      );
    },
    statusThen: (r, done, lane, signal) => statusThen(r, done, lane, signal),
    close: async () => {
      await Promise.all([
        agent.close(),
        ...[...pools.values()].map((p) => p.close()),
        ...[...laneClients.values()].flat().map((c) => c.close()),
      ]);
    },
  };
  function inFlightUnder(signal: AbortSignal): Set<Dispatcher.DispatchController> {
    let calls = underSignal.get(signal);
    if (!calls) {
      const set = new Set<Dispatcher.DispatchController>();
      underSignal.set(signal, (calls = set));
      signal.addEventListener(
        'abort',
        () => {
          for (const c of set) c.abort(abortReason(signal));
          set.clear();
        },
        { once: true },
      );
    }
    return calls;
  }
  function laneClient(origin: string, lane: number): Client {
    let clients = laneClients.get(origin);
    if (!clients) laneClients.set(origin, (clients = []));
    const { connections: _c, ...clientOptions } = poolOptions;
    return (clients[lane] ??= new Client(origin, clientOptions));
  }
  function statusThen(
    r: HttpRequest,
    done: (error: Error | undefined, status: number) => void,
    lane?: number,
    signal?: AbortSignal,
  ): void {
    // The load phase's path: the dispatcher's handler API without a response stream, the body
    // encoded once per request object, the URL split once. Only the status is kept.
    let p = prepared.get(r);
    if (!p) {
      const u = new URL(r.url);
      let pool = pools.get(u.origin);
      if (!pool) pools.set(u.origin, (pool = new Pool(u.origin, poolOptions)));
      p = {
        pool,
        origin: u.origin,
        dispatch: {
          path: `${u.pathname}${u.search}`,
          method: r.method,
          headers: r.headers ?? {},
          ...(r.body === undefined ? {} : { body: Buffer.from(r.body) }),
        },
      };
      prepared.set(r, p);
    }
    let code = 0;
    // One listener per signal, not per call: the calls in flight under a signal are a set.
    const inFlight = signal ? inFlightUnder(signal) : undefined;
    let controller: Dispatcher.DispatchController | undefined;
    const end = (error: Error | undefined, status: number): void => {
      if (controller) inFlight?.delete(controller);
      done(error, status);
    };
    (lane === undefined ? p.pool : laneClient(p.origin, lane)).dispatch(p.dispatch, {
      onRequestStart: (c) => {
        controller = c;
        if (signal?.aborted) c.abort(abortReason(signal));
        else inFlight?.add(c);
      },
      onResponseStart: (_c, statusCode) => {
        code = statusCode;
      },
      onResponseData: () => undefined,
      onResponseEnd: () => end(undefined, code),
      onResponseError: (_c, error) => end(error, 0),
    });
  }
}
