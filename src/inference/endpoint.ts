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
  /** Final even under `auto`: the answer already says what is wrong (another model name, another kind of server). */
  final?: boolean;
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

/**
 * The exception a Python traceback ends with, compactly: `MlflowException: Model is missing inputs ['y'].`
 * (the class without its module; of a message that nests an `Error: ...`, the innermost part). Undefined
 * when the text holds no traceback.
 */
export function pythonException(text: string): string | undefined {
  if (!/Traceback \(most recent call last\)/.test(text)) return undefined;
  const lines = text.split(/\r?\n/);
  // The last traceback's frames are indented; the exception follows the last frame's code lines.
  let i = lines.map((l) => /^\s+File "/.test(l)).lastIndexOf(true) + 1;
  while (i < lines.length && /^\s/.test(lines[i] ?? '')) i++;
  const end = lines.findIndex((l, j) => j > i && /^(During handling|The above exception|Traceback)/.test(l));
  const exception = lines
    .slice(i, end < 0 ? undefined : end)
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  const m = /^([A-Za-z_][\w.]*)(?::\s*(.*))?$/.exec(exception);
  if (!m) return exception ? short(exception, 300) : undefined;
  const name = (m[1] ?? '').split('.').pop() ?? '';
  let message = m[2] ?? '';
  const inner = message.lastIndexOf('Error: ');
  if (inner > 0) message = message.slice(inner + 'Error: '.length);
  return short(message ? `${name}: ${message}` : name, 300);
}

/** The `error` / `detail` / `message` of a JSON error body, or the body's text; a Python traceback as its exception. */
export function errorText(body: string): string {
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    for (const k of ['error', 'detail', 'message']) {
      const v = j?.[k];
      if (typeof v === 'string') return pythonException(v) ?? v;
      if (v !== undefined) return JSON.stringify(v);
    }
  } catch {
    // not JSON
  }
  return pythonException(body) ?? short(body);
}

/** An HTML page (a web server's or dashboard's page, not a model server's JSON), with its title when it has one. */
export function htmlPage(res: HttpResponse): { title: string } | undefined {
  const type = res.headers['content-type'] ?? '';
  if (!/text\/html/i.test(type) && !/^\s*(<!doctype html|<html)/i.test(res.body)) return undefined;
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(res.body)?.[1] ?? /<h1[^>]*>([^<]*)<\/h1>/i.exec(res.body)?.[1];
  return { title: short(title ?? '', 100) };
}

/** What kind of server answers at an address, when it is not a KServe model server. */
export interface ServerKind {
  name: string;
  detail: string;
  fix: string;
}

/** A connection reset or closed by the peer (not a timeout, refusal or TLS failure). */
export function isClosedConnection(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  }
  return false;
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
    listModels(p: Protocol): Promise<ModelList | undefined>;
    modelInputs(): Promise<string | undefined>;
    identify(): Promise<ServerKind | undefined>;
  };
}

/** The models a server holds, and the call that listed them; `states` when the server gives them (MLServer). */
export interface ModelList {
  names: string[];
  states: Record<string, { state: string; reason: string }>;
  via: string;
}

/** FastAPI's answer for a path it has no route for: the server answers, but not on this path. */
const isNoRoute = (res: HttpResponse): boolean => /^\s*\{\s*"detail"\s*:\s*"Not Found"\s*\}\s*$/.test(res.body);
/** A model server's "no such model": MLServer `Model iris not found`, KServe `Model with name iris does not exist.` */
const isNoSuchModel = (text: string, model: string): boolean =>
  text.includes(model) && /not found|does not exist|no such|unknown model/i.test(text);

/** A kind of answer: when it applies, and what it means (ok, pending: retried until the deadline, fatal: fails at once). */
interface AnswerRule {
  name: string;
  matches(a: Answer): boolean;
  verdict(a: Answer): Promise<Verdict>;
}

/** The answers told apart, in order: the first rule that matches decides. */
const ANSWER_RULES: readonly AnswerRule[] = [
  {
    // an HTML page where a model server answers JSON: a plain web server, a dashboard, a login or error page
    name: 'html page',
    matches: (a) =>
      ((a.status >= 200 && a.status < 300) || a.status === 404 || a.status === 405 || a.status === 501) &&
      htmlPage(a.res) !== undefined,
    verdict: async (a) => {
      const { status, call, endpoint } = a;
      const title = htmlPage(a.res)?.title;
      const dashboard = /kubeflow|central ?dashboard/i.test(`${title} ${a.res.body.slice(0, 4000)}`);
      return {
        state: 'fatal',
        final: true,
        status,
        summary: `${call} answered ${status} with an HTML page${title ? ` ("${title}")` : ''}, not a model server's JSON`,
        cause: dashboard
          ? `the Kubeflow dashboard answered: the gateway sent the call to the dashboard because the Host header (${a.host}) is not the host of an InferenceService`
          : `${endpoint.baseUrl} is a web server or web page, not a KServe model server (which answers JSON on /v1/models/... and /v2/models/...)`,
        fix: dashboard
          ? "send the host of the InferenceService's status.url as the Host header (input `host-header`, or give `inferenceservice` to read it)"
          : "point `url` at the model server (the InferenceService's URL, or the predictor Service), or give `inferenceservice` to find it",
      };
    },
  },
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
      const list = await probe.listModels(protocol);
      const model = endpoint.model;
      if (list && !list.names.includes(model)) {
        return {
          state: 'fatal',
          final: true,
          status,
          summary: `${call} answered 404 (${text || 'no body'})`,
          cause: list.names.length
            ? `the server holds ${list.names.map((m) => `"${m}"`).join(', ')} (${list.via}), not "${model}"`
            : `the server holds no model at all (${list.via}): the model failed to load, or is served elsewhere`,
          fix: list.names.length
            ? 'set `model-name` to one of them (KServe names the model after the InferenceService)'
            : "read the predictor's log for why the model did not load",
        };
      }
      if (!list && isNoRoute(a.res)) {
        const kind = await probe.identify();
        if (kind) {
          return {
            state: 'fatal',
            final: true,
            status,
            summary: `${call} answered 404: ${endpoint.baseUrl} is ${kind.name}`,
            cause: kind.detail,
            fix: kind.fix,
          };
        }
      }
      if (!list && a.res.body.trim() && isNoSuchModel(text, model)) {
        return {
          state: 'fatal',
          final: true,
          status,
          summary: `${call} answered 404 (${text})`,
          cause: `the model server answers that it has no model "${model}"; it did not list the models it holds (neither POST /v2/repository/index nor GET ${protocol === 'v1' ? '/v1/models' : '/v2/models'} answered a list)`,
          fix: 'set `model-name` to the name the server serves (KServe names the model after the InferenceService; MLServer after MLSERVER_MODEL_NAME)',
        };
      }
      // Listed but not ready: MLServer lists the models it is configured with, UNAVAILABLE while loading
      // (and after a failed load, which only its log tells apart).
      const held = list?.states[model];
      if (held) {
        return {
          state: 'pending',
          status,
          summary: `${call} answered 404 (${text || 'no body'}); the server lists "${model}" as ${held.state}${held.reason ? ` (${held.reason})` : ''}`,
          cause: `the model "${model}" is configured on the server but not loaded (still loading, or its load failed)`,
          fix: "wait for the model to load; if it never does, read the predictor's log for why",
        };
      }
      return {
        state: 'pending',
        status,
        summary: `${call} answered 404 (${text || 'no body'})`,
        cause: `the server answers but has no model "${model}" on the ${protocol} path (still loading, another name, or another protocol)`,
        fix: `check \`model-name\` (KServe names the model after the InferenceService) and \`protocol\`: ${protocol} calls ${describeCall(protocol, model)}`,
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
    const once = () => this.deps.http.send({ ...this.request(method, path, body, withToken), timeoutMs });
    try {
      try {
        return await once();
      } catch (error) {
        // A kept-alive connection the server closed while idle (uvicorn closes them after 5 s): the call
        // never reached the server. Sent again at once on a fresh connection; only a second failure counts.
        if (!isClosedConnection(error)) throw error;
        this.logger.debug(`${method} ${path}: the kept-alive connection was closed by the server; sent again`);
        return await once();
      }
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
        identify: () => this.identify(),
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

  /**
   * The models the server holds, or undefined when it lists none: MLServer's `POST /v2/repository/index`
   * ([{name, state, reason}]), then KServe's `GET /v2/models` or `GET /v1/models` ({"models": [...]}).
   */
  async listModels(protocol: Protocol): Promise<ModelList | undefined> {
    const index = await this.send('POST', '/v2/repository/index', {});
    if ('status' in index && index.status === 200) {
      try {
        const entries = JSON.parse(index.body) as unknown;
        if (Array.isArray(entries)) {
          const states: ModelList['states'] = {};
          for (const e of entries as { name?: unknown; state?: unknown; reason?: unknown }[])
            if (typeof e?.name === 'string')
              states[e.name] = { state: String(e.state ?? 'UNKNOWN'), reason: String(e.reason ?? '') };
          return { names: Object.keys(states), states, via: 'POST /v2/repository/index' };
        }
      } catch {
        // not MLServer's index
      }
    }
    const paths = protocol === 'v1' ? ['/v1/models', '/v2/models'] : ['/v2/models', '/v1/models'];
    for (const path of paths) {
      const res = await this.send('GET', path);
      if (!('status' in res) || res.status !== 200) continue;
      try {
        const models = (JSON.parse(res.body) as { models?: unknown }).models;
        if (Array.isArray(models)) {
          const names = models.map((m) => (typeof m === 'string' ? m : String((m as { name?: unknown })?.name)));
          return { names, states: {}, via: `GET ${path}` };
        }
      } catch {
        // not a list
      }
    }
    return undefined;
  }

  /**
   * What answers here when it is not a KServe model server: MLflow's scoring server (`mlflow models serve`:
   * /ping, /version, /invocations and no /v2/health/ready). Undefined when nothing is recognised.
   */
  async identify(): Promise<ServerKind | undefined> {
    const health = await this.send('GET', '/v2/health/ready');
    if ('status' in health && health.status >= 200 && health.status < 300) return undefined;
    const ping = await this.send('GET', '/ping');
    if (!('status' in ping) || ping.status !== 200) return undefined;
    const version = await this.send('GET', '/version');
    const v = 'status' in version && version.status === 200 ? version.body.replace(/["\s]/g, '').slice(0, 40) : '';
    return {
      name: `MLflow's scoring server${v ? ` (MLflow ${v})` : ''}`,
      detail:
        'it answers GET /ping and POST /invocations (`mlflow models serve`), not the KServe protocols (v1 /v1/models/..., v2 /v2/models/...) this check calls',
      fix: 'deploy the model with KServe (deploy-inferenceservice, modelFormat mlflow: MLServer speaks v2) and point the check at the InferenceService; to try MLflow\'s server itself, POST {"dataframe_split": ...} to /invocations',
    };
  }

  /** A v2 model's metadata (GET /v2/models/{m}), or undefined when it does not answer 200 with JSON. */
  async metadata(): Promise<unknown> {
    const res = await this.send('GET', pathsFor('v2', this.endpoint.model).metadata);
    if (!('status' in res) || res.status !== 200) return undefined;
    try {
      return JSON.parse(res.body) as unknown;
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
        if (v.state === 'fatal' && (v.final || !(protocol === 'auto' && (v.status === 404 || v.status === 405))))
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
