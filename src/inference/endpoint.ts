/**
 * Calling a model endpoint and telling its answers apart: "not ready yet" (503, 404 while routes
 * propagate, no answer) is retried until a deadline; answers that will not heal on their own (302 to
 * the Dex login, 401, 403, 405, a 404 on one protocol's path while the other protocol answers) fail at
 * once, each with the cause and the fix.
 */
import { formatDuration } from '../common/duration.js';
import { KfopsError, networkFailure } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { HttpClient, HttpRequest, HttpResponse } from './http.js';
import { describeCall, other, pathsFor, type Protocol } from './protocol.js';

/** The audience Kubeflow's gateway accepts for machine-to-machine ServiceAccount tokens. */
export const DEFAULT_AUDIENCE = 'istio-ingressgateway.istio-system.svc.cluster.local';

export interface Endpoint {
  /** Scheme, host and optional port (and path prefix) to call, without a trailing slash. */
  baseUrl: string;
  /** The Host header to send (the host of the InferenceService's URL when calling through the gateway). */
  hostHeader?: string;
  model: string;
  /** How it was found, for messages (e.g. `InferenceService team/iris via the ingress gateway at 10.0.0.5`). */
  via: string;
  /** The InferenceService's URL is cluster-local (*.svc.cluster.local) but the call goes through the gateway. */
  clusterLocalUrl?: string;
  inferenceService?: { namespace: string; name: string };
}

export type AuthKind = 'none' | 'basic' | 'bearer' | 'serviceaccount';

export interface Auth {
  kind: AuthKind;
  token?: string;
  /** User name and password (from the address): sent as a Basic Authorization header. */
  basic?: { username: string; password: string };
  /** Who the token is for, e.g. system:serviceaccount:team:default-editor. */
  subject?: string;
  audience?: string;
}

export interface Problem {
  summary: string;
  cause: string;
  fix: string;
  status?: number;
}

export type Verdict = { state: 'ok'; response: HttpResponse } | ({ state: 'pending' | 'fatal' } & Problem);

/** A call that failed for a reason found on the endpoint, with the HTTP status when there was an answer. */
export class EndpointError extends KfopsError {
  override readonly name = 'EndpointError';
  constructor(
    message: string,
    details: { cause: string; fix: string },
    readonly status?: number,
  ) {
    super(message, details);
  }
}

export interface CallerDeps {
  http: HttpClient;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Deadline of each call; a call made by until() also ends at until()'s deadline (at least 1 s). */
  requestTimeoutMs?: number;
  /** A deadline (epoch ms) for every call this caller makes outside until() (e.g. the call without a token). */
  deadline?: number;
}

/** A call's time allowed: the request timeout, shortened to the time left before the deadline, at least 1 s. */
export function callTimeout(requestTimeoutMs: number, deadline: number | undefined, now: number): number {
  return deadline === undefined ? requestTimeoutMs : Math.min(requestTimeoutMs, Math.max(1000, deadline - now));
}

const AUTHENTICATE = `authenticate the call: \`auth: serviceaccount\` (a short-lived token for a ServiceAccount, audience ${DEFAULT_AUDIENCE}) or \`auth: bearer\` with a token`;
const short = (text: string, max = 160): string => {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
};

/** The `error` / `detail` / `message` of a JSON error body, or the body's text. */
export function errorText(body: string): string {
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    for (const k of ['error', 'detail', 'message']) {
      const v = j?.[k];
      if (typeof v === 'string') return v;
      if (v !== undefined) return JSON.stringify(v);
    }
  } catch {
    // not JSON
  }
  return short(body);
}

const isLogin = (location: string): boolean => /\/dex\b|\/oauth2\b|\/auth\b|login|signin/i.test(location);

/** One answer with what is known about the call, for the rules below. */
interface Answer {
  res: HttpResponse;
  status: number;
  /** The error text of the body (JSON error/detail/message, or the text). */
  text: string;
  /** The call as the messages name it: method, URL and Host. */
  call: string;
  tokenSent: boolean;
  protocol: Protocol;
  method: 'GET' | 'POST';
  path: string;
  endpoint: Endpoint;
  auth: Auth;
  host: string;
  /** Further calls to the same server, to tell causes apart. */
  probe: {
    otherProtocolAnswers(p: Protocol): Promise<boolean>;
    listModels(p: Protocol): Promise<string[] | undefined>;
    modelInputs(): Promise<string | undefined>;
  };
}

/** A kind of answer: when it applies, and what it means (ok, pending: retried until the deadline, fatal: fails at once). */
interface AnswerRule {
  name: string;
  matches(a: Answer): boolean;
  verdict(a: Answer): Promise<Verdict>;
}

/** The answers told apart, in order: the first rule that matches decides. */
const ANSWER_RULES: readonly AnswerRule[] = [
  {
    // a 2xx answer: ok, unless a readiness answer says {"ready": false}
    name: 'answered',
    matches: (a) => a.status >= 200 && a.status < 300,
    verdict: async (a) => {
      const { res, status, call, method } = a;
      if (method === 'GET') {
        try {
          if (res.body && (JSON.parse(res.body) as { ready?: unknown })?.ready === false) {
            return {
              state: 'pending',
              summary: `${call} says the model is not ready ({"ready": false})`,
              cause: 'the model is still loading',
              fix: "wait for the model to load; if it never does, read the predictor's log",
              status,
            };
          }
        } catch {
          // A ready answer need not be JSON (MLServer answers 200 with an empty body).
        }
      }
      return { state: 'ok', response: res };
    },
  },
  {
    // a redirect: to the Dex login (no token, or a token the gateway did not take), or elsewhere
    name: 'redirected',
    matches: (a) => a.status >= 300 && a.status < 400,
    verdict: async (a) => {
      const { res, status, call, tokenSent } = a;
      const location = res.headers['location'] ?? '';
      if (isLogin(location)) {
        return {
          state: 'fatal',
          status,
          summary: `${call} was redirected to the login page (${status} to ${short(location, 100)})`,
          cause: tokenSent
            ? 'the gateway did not take the Authorization header as a machine-to-machine token and sent the call to the Dex login (oauth2-proxy)'
            : "the call carried no token, so Kubeflow's oauth2-proxy sent it to the Dex login: a browser sign-in, not a model answer",
          fix: tokenSent
            ? 'check that the gateway accepts tokens of this issuer and audience (RequestAuthentication istio-system/m2m-token-issuer; install-kubeflow m2m-auth: true)'
            : AUTHENTICATE,
        };
      }
      return {
        state: 'fatal',
        status,
        summary: `${call} was redirected (${status} to ${short(location, 100)})`,
        cause: 'the endpoint moved (e.g. http to https)',
        fix: `call the final address (${short(location, 100)}) directly`,
      };
    },
  },
  {
    // 401: no token, the token is refused (issuer, expiry, audience, signature), or the credentials from url are
    name: 'unauthorized',
    matches: (a) => a.status === 401,
    verdict: async (a) => {
      const { status, text, call, tokenSent, auth } = a;
      if (!tokenSent)
        return {
          state: 'fatal',
          status,
          summary: `${call} was rejected: 401 Unauthorized (${text || 'no body'})`,
          cause: 'the call carried no token and the gateway requires one',
          fix: AUTHENTICATE,
        };
      if (auth.kind === 'basic') {
        return {
          state: 'fatal',
          status,
          summary: `${call} was rejected: 401 Unauthorized (${text || 'no body'})`,
          cause: 'the server rejected the user name and password given in `url` (sent as Basic authorization)',
          fix: 'check the credentials, or authenticate with a token (`auth: bearer` or `auth: serviceaccount`) and a url without credentials',
        };
      }
      const who =
        auth.kind === 'serviceaccount'
          ? `the token of ${auth.subject ?? 'the ServiceAccount'}`
          : 'the given bearer token';
      let cause = `the gateway rejected ${who} (${text || '401 with no body'})`;
      let fix = `check the token's audience (${auth.audience ?? 'unknown'}) and issuer against the gateway's RequestAuthentication`;
      if (/issuer is not configured/i.test(text)) {
        cause = `the gateway does not know the issuer of ${who}: RequestAuthentication istio-system/m2m-token-issuer names another issuer (on GKE the cluster's issuer is https://container.googleapis.com/v1/projects/P/locations/L/clusters/C, not Kubeflow's default)`;
        fix =
          "set the cluster's real issuer (GET /.well-known/openid-configuration on the API server) on istio-system/m2m-token-issuer: install-kubeflow with `m2m-auth: true`; do not exclude /v1/* and /v2/* from the JWT check";
      } else if (/expired/i.test(text)) {
        cause = `${who} has expired`;
        fix = 'mint a fresh token (`auth: serviceaccount` mints one per run) or pass a current one';
      } else if (/audience/i.test(text)) {
        cause = `the audience of ${who} is not one the gateway accepts`;
        fix = `set \`audience\` to what RequestAuthentication istio-system/m2m-token-issuer expects (Kubeflow: ${DEFAULT_AUDIENCE})`;
      } else if (/verification fail|not in the form|signature/i.test(text)) {
        cause = `${who} does not verify at the gateway (${text}): signed by another cluster, for another audience, or not a JWT`;
      }
      return { state: 'fatal', status, summary: `${call} was rejected: 401 Unauthorized`, cause, fix };
    },
  },
  {
    // 403: an anonymous call, or an AuthorizationPolicy that denies the identity
    name: 'forbidden',
    matches: (a) => a.status === 403,
    verdict: async (a) => {
      const { res, status, text, call, tokenSent, endpoint, auth, host } = a;
      const rbac = /RBAC: access denied/i.test(res.body);
      const isvc = endpoint.inferenceService;
      if (!tokenSent) {
        return {
          state: 'fatal',
          status,
          summary: `${call} was refused: 403 Forbidden (${text || 'no body'})`,
          cause: 'the call carried no token and the gateway refuses anonymous calls',
          fix: AUTHENTICATE,
        };
      }
      return {
        state: 'fatal',
        status,
        summary: `${call} was refused: 403 Forbidden (${text || 'no body'})`,
        cause: rbac
          ? `the token is valid but an Istio AuthorizationPolicy denies ${auth.subject ?? 'its identity'} for ${host}: Kubeflow's profile policy (ns-owner-access-istio) admits only calls through the gateway carrying the namespace owner's kubeflow-userid`
          : `the gateway refused ${auth.subject ?? "the token's identity"} (${text || 'no body'})`,
        fix: `add an ALLOW AuthorizationPolicy in namespace ${isvc?.namespace ?? '<namespace>'} that selects only this model's predictor pods (label serving.knative.dev/service: ${isvc ? `${isvc.name}-predictor` : '<isvc>-predictor'}) and admits requests with a valid token (deploy-inferenceservice adds it), or call as an identity the profile admits; do not exclude /v1/* and /v2/* from the gateway's JWT check, which opens every model to anyone`,
      };
    },
  },
  {
    // 404 with an empty body: the gateway has no route for the Host (propagating, or a cluster-local URL)
    name: 'no route at the gateway',
    matches: (a) => a.status === 404 && a.res.body.trim() === '',
    verdict: async (a) => {
      const { status, call, endpoint, host } = a;
      if (endpoint.clusterLocalUrl) {
        return {
          state: 'fatal',
          status,
          summary: `${call} got 404 from the gateway: no route for Host ${host}`,
          cause: `the InferenceService's URL ${endpoint.clusterLocalUrl} is cluster-local: Knative's config-domain has no external domain, so the ingress gateway has no route for it`,
          fix: 'give Knative a domain (ConfigMap knative-serving/config-domain; install-kubeflow with `domain: sslip` or a DNS domain) so the InferenceService gets an external URL, or call from inside the cluster with `route: cluster-local`',
        };
      }
      return {
        state: 'pending',
        status,
        summary: `${call} got 404 from the gateway: no route for Host ${host} (yet)`,
        cause: `the gateway has no route for Host ${host}: the InferenceService's routes are still propagating, or the Host header is not the host of its status.url`,
        fix: `send the host of the InferenceService's status.url as the Host header (input \`host-header\`, or give \`inferenceservice\` to read it) and wait until its IngressReady condition is True`,
      };
    },
  },
  {
    // 404/405 from the model server: the other protocol, another model name, or a model still loading
    name: 'wrong path',
    matches: (a) => a.status === 404 || a.status === 405,
    verdict: async (a) => {
      const { status, text, call, protocol, method, path, endpoint, probe } = a;
      const wrongProtocol = await probe.otherProtocolAnswers(protocol);
      const alt = other(protocol);
      if (wrongProtocol) {
        return {
          state: 'fatal',
          status,
          summary: `${call} answered ${status}${status === 405 ? ' Method Not Allowed' : ' Not Found'} (${text || 'no body'})`,
          cause: `the model "${endpoint.model}" is served with the ${alt} protocol (GET ${pathsFor(alt, endpoint.model).ready} answers), not ${protocol}${alt === 'v2' ? ' (MLflow models run on MLServer, which speaks only v2)' : ''}`,
          fix: `set \`protocol: ${alt}\` (or \`auto\`), which calls ${describeCall(alt, endpoint.model)}`,
        };
      }
      if (status === 405) {
        return {
          state: 'fatal',
          status,
          summary: `${call} answered 405 Method Not Allowed (${text || 'no body'})`,
          cause: `the server has ${path} only for other methods: the URL is not a ${protocol} ${method === 'POST' ? 'inference' : 'readiness'} path for this server`,
          fix: `check \`protocol\` and \`model-name\`: ${protocol} calls ${describeCall(protocol, endpoint.model)}; give \`url\` as the base address only (no /v1 or /v2 path)`,
        };
      }
      const models = await probe.listModels(protocol);
      if (models && models.length && !models.includes(endpoint.model)) {
        return {
          state: 'fatal',
          status,
          summary: `${call} answered 404 (${text || 'no body'})`,
          cause: `the server holds ${models.map((m) => `"${m}"`).join(', ')}, not "${endpoint.model}"`,
          fix: `set \`model-name\` to one of them (KServe names the model after the InferenceService)`,
        };
      }
      return {
        state: 'pending',
        status,
        summary: `${call} answered 404 (${text || 'no body'})`,
        cause: `the server answers but has no model "${endpoint.model}" on the ${protocol} path (still loading, another name, or another protocol)`,
        fix: `check \`model-name\` (KServe names the model after the InferenceService) and \`protocol\`: ${protocol} calls ${describeCall(protocol, endpoint.model)}`,
      };
    },
  },
  {
    // 502/503/504: no ready backend yet
    name: 'no ready backend',
    matches: (a) => a.status === 503 || a.status === 502 || a.status === 504,
    verdict: async (a) => {
      const { res, status, text, call, endpoint } = a;
      const noUpstream = /no healthy upstream|upstream connect error/i.test(res.body);
      return {
        state: 'pending',
        status,
        summary: `${call} answered ${status} (${text || 'no body'})`,
        cause: noUpstream
          ? 'the gateway has no ready backend for the model (pods starting, scaling from zero, or crashing)'
          : 'the model is not ready yet',
        fix: `if it never becomes ready, read the predictor's events and log${endpoint.inferenceService ? ` (kubectl logs -n ${endpoint.inferenceService.namespace} -l serving.knative.dev/service=${endpoint.inferenceService.name}-predictor -c kserve-container)` : ''}`,
      };
    },
  },
  {
    // 400/422 on the inference call: the payload does not fit the model
    name: 'payload rejected',
    matches: (a) => a.method === 'POST' && (a.status === 400 || a.status === 422),
    verdict: async (a) => {
      const { status, text, protocol, probe } = a;
      const inputs = protocol === 'v2' ? await probe.modelInputs() : undefined;
      return {
        state: 'fatal',
        status,
        summary: `the model rejected the request: ${status} (${text || 'no body'})`,
        cause: `the payload does not fit the model's inputs${inputs ? `; the model declares inputs ${inputs}` : ''}`,
        fix:
          protocol === 'v2'
            ? "match each input's name, shape and datatype (give plain rows and `datatype` to have the request built)"
            : 'send {"instances": [...]} shaped as the model was trained',
      };
    },
  },
  {
    // other 5xx: readiness failing, or the model failing while predicting
    name: 'server error',
    matches: (a) => a.status >= 500,
    verdict: async (a) => {
      const { status, text, call, protocol, method, endpoint, probe } = a;
      const inputs = method === 'POST' && protocol === 'v2' ? await probe.modelInputs() : undefined;
      return {
        state: method === 'GET' ? 'pending' : 'fatal',
        status,
        summary: `${call} answered ${status} (${text || 'no body'})`,
        cause:
          method === 'GET'
            ? 'the model server is failing its readiness check'
            : `the model failed while predicting: ${text || 'no detail'} (a server that reports Ready can still fail every call)${inputs ? `; the model declares inputs ${inputs}, check that the payload matches them` : ''}`,
        fix: `read the predictor's log${endpoint.inferenceService ? ` (kubectl logs -n ${endpoint.inferenceService.namespace} -l serving.knative.dev/service=${endpoint.inferenceService.name}-predictor -c kserve-container)` : ''}`,
      };
    },
  },
];

export class Caller {
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    readonly endpoint: Endpoint,
    readonly auth: Auth,
    private readonly deps: CallerDeps,
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.now = deps.now ?? Date.now;
    this.deadline = deps.deadline;
  }

  /** The request for a path; `withToken: false` leaves out the Authorization header. */
  request(method: 'GET' | 'POST', path: string, body?: unknown, withToken = true): HttpRequest {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.endpoint.hostHeader) headers['host'] = this.endpoint.hostHeader;
    if (withToken && this.auth.token) headers['authorization'] = `Bearer ${this.auth.token}`;
    else if (withToken && this.auth.basic)
      headers['authorization'] =
        `Basic ${Buffer.from(`${this.auth.basic.username}:${this.auth.basic.password}`).toString('base64')}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return {
      method,
      url: this.endpoint.baseUrl + path,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    };
  }

  /** The deadline in force: until()'s while it runs (probes included), else the caller's own. */
  private deadline: number | undefined;

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    withToken = true,
  ): Promise<HttpResponse | { error: string }> {
    const timeoutMs = callTimeout(this.deps.requestTimeoutMs ?? 30_000, this.deadline, this.now());
    try {
      return await this.deps.http.send({ ...this.request(method, path, body, withToken), timeoutMs });
    } catch (error) {
      const e = error as { name?: string };
      if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
        return {
          error: `no answer within ${formatDuration(timeoutMs)}: the peer accepted the connection but did not answer`,
        };
      return { error: networkFailure(error) };
    }
  }

  private get host(): string {
    return this.endpoint.hostHeader ?? new URL(this.endpoint.baseUrl).host;
  }

  /** Whether the other protocol's readiness path answers 200 for this model (after a 404/405). */
  private async otherProtocolAnswers(protocol: Protocol): Promise<boolean> {
    const res = await this.send('GET', pathsFor(other(protocol), this.endpoint.model).ready);
    return 'status' in res && res.status >= 200 && res.status < 300;
  }

  /** Classifies one answer by the first rule of ANSWER_RULES that matches; some rules probe the server further. */
  async classify(
    res: HttpResponse | { error: string },
    protocol: Protocol,
    method: 'GET' | 'POST',
    path: string,
    withToken = true,
  ): Promise<Verdict> {
    const call = `${method} ${this.endpoint.baseUrl}${path}${this.endpoint.hostHeader ? ` (Host: ${this.endpoint.hostHeader})` : ''}`;
    if ('error' in res) {
      return {
        state: 'pending',
        summary: `${call} got no answer (${res.error})`,
        cause: `nothing answered at ${this.endpoint.baseUrl} (${this.endpoint.via})`,
        fix: "check the address: the ingress gateway's LoadBalancer address (input `ingress-address`, or Service istio-system/istio-ingressgateway of type LoadBalancer) and that this runner can reach it",
      };
    }
    const answer: Answer = {
      res,
      status: res.status,
      text: errorText(res.body),
      call,
      tokenSent: withToken && (this.auth.token !== undefined || this.auth.basic !== undefined),
      protocol,
      method,
      path,
      endpoint: this.endpoint,
      auth: this.auth,
      host: this.host,
      probe: {
        otherProtocolAnswers: (p) => this.otherProtocolAnswers(p),
        listModels: (p) => this.listModels(p),
        modelInputs: () => this.modelInputs(),
      },
    };
    const rule = ANSWER_RULES.find((r) => r.matches(answer));
    if (rule) return rule.verdict(answer);
    return {
      state: 'fatal',
      status: res.status,
      summary: `${call} answered ${res.status} (${answer.text || 'no body'})`,
      cause: 'an answer this check does not expect',
      fix: 'call the endpoint by hand with the same Host header and token to see why',
    };
  }

  /** Model names the server lists (v1 GET /v1/models), or undefined. */
  private async listModels(protocol: Protocol): Promise<string[] | undefined> {
    const path = pathsFor(protocol, this.endpoint.model).list;
    if (!path) return undefined;
    const res = await this.send('GET', path);
    if (!('status' in res) || res.status !== 200) return undefined;
    try {
      const models = (JSON.parse(res.body) as { models?: unknown }).models;
      return Array.isArray(models)
        ? models.map((m) => (typeof m === 'string' ? m : String((m as { name?: unknown })?.name)))
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** The inputs a v2 model declares (GET /v2/models/{m}), as short JSON, or undefined. */
  private async modelInputs(): Promise<string | undefined> {
    const res = await this.send('GET', pathsFor('v2', this.endpoint.model).metadata);
    if (!('status' in res) || res.status !== 200) return undefined;
    try {
      const inputs = (JSON.parse(res.body) as { inputs?: unknown }).inputs;
      return Array.isArray(inputs) && inputs.length ? short(JSON.stringify(inputs), 400) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Calls until the answer is ok or will not heal, or the deadline passes. `auto` tries v2 then v1
   * each round. Returns the answer and the protocol that gave it.
   */
  async until(
    what: string,
    protocol: Protocol | 'auto',
    call: (p: Protocol) => { method: 'GET' | 'POST'; path: string; body?: unknown },
    deadline: number,
  ): Promise<{ response: HttpResponse; protocol: Protocol; attempts: number }> {
    const outer = this.deadline;
    this.deadline = Math.min(deadline, outer ?? Infinity);
    try {
      return await this.attempts(what, protocol, call, deadline);
    } finally {
      this.deadline = outer;
    }
  }

  private async attempts(
    what: string,
    protocol: Protocol | 'auto',
    call: (p: Protocol) => { method: 'GET' | 'POST'; path: string; body?: unknown },
    deadline: number,
  ): Promise<{ response: HttpResponse; protocol: Protocol; attempts: number }> {
    let delay = 250;
    let lastLogged = '';
    for (let attempt = 1; ; attempt++) {
      const protocols: Protocol[] = protocol === 'auto' ? ['v2', 'v1'] : [protocol];
      const problems: (Problem & { state: 'pending' | 'fatal' })[] = [];
      for (const p of protocols) {
        const c = call(p);
        const res = await this.send(c.method, c.path, c.body);
        const v = await this.classify(res, p, c.method, c.path);
        if (v.state === 'ok') return { response: v.response, protocol: p, attempts: attempt };
        // Under `auto`, a 404/405 on one protocol's path only means: try the other one.
        if (v.state === 'fatal' && !(protocol === 'auto' && (v.status === 404 || v.status === 405)))
          throw new EndpointError(v.summary, { cause: v.cause, fix: v.fix }, v.status);
        problems.push(v);
        // Past the deadline, the other protocol's path is not tried: the deadline holds.
        if (v.state === 'pending' && this.now() >= deadline) break;
      }
      const pending = problems.find((v) => v.state === 'pending');
      if (!pending) {
        const v = problems[0] as Problem;
        throw new EndpointError(
          `${v.summary}; the other protocol's path did not answer either`,
          { cause: v.cause, fix: v.fix },
          v.status,
        );
      }
      const remaining = deadline - this.now();
      if (remaining <= 0) {
        throw new EndpointError(
          `${what}: not ready after ${attempt} attempt(s): ${pending.summary}`,
          { cause: pending.cause, fix: pending.fix },
          pending.status,
        );
      }
      if (pending.summary !== lastLogged) {
        this.logger.info(`${what}: waiting (${pending.summary}); ${formatDuration(remaining)} left`);
        lastLogged = pending.summary;
      }
      await this.sleep(Math.min(delay, remaining));
      delay = Math.min(5000, delay * 2);
    }
  }

  /** Sends the call without the token; the gateway must refuse it (302 to login, 401 or 403). */
  async assertTokenRequired(method: 'GET' | 'POST', path: string, body: unknown): Promise<number> {
    const res = await this.send(method, path, body, false);
    if ('error' in res)
      throw new EndpointError(`the call without a token got no answer (${res.error})`, {
        cause: 'the endpoint stopped answering',
        fix: 'run the check again',
      });
    const { status } = res;
    if (status === 401 || status === 403 || (status >= 300 && status < 400 && isLogin(res.headers['location'] ?? '')))
      return status;
    if (status >= 200 && status < 300) {
      throw new EndpointError(
        `the model answered a call WITHOUT a token (${status}): anyone who can reach ${this.host} can call it`,
        {
          cause:
            'the gateway does not require a token for this path: e.g. istio-ingressgateway-require-jwt excludes /v1/* and /v2/*, or istio-ingressgateway-oauth2-proxy skips them',
          fix: "restore Kubeflow's gateway policies (require a request principal on every path except /dex and /oauth2) and admit model calls with a narrow ALLOW policy plus machine-to-machine tokens",
        },
        status,
      );
    }
    throw new EndpointError(
      `the call without a token answered ${status} (${errorText(res.body) || 'no body'}), so it cannot show whether a token is required`,
      {
        cause: 'the gateway neither refused it (302/401/403) nor answered it',
        fix: 'check the endpoint with a token first; set `assert-token-required: false` to skip this check',
      },
      status,
    );
  }
}
