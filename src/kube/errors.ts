import { KfopsError } from '../common/errors.js';
import { describeRef, type ObjectRef } from './types.js';

/** A Kubernetes API failure explained: what was attempted, the cause found, and the fix. */
export class KubeApiError extends KfopsError {
  override readonly name = 'KubeApiError';
  constructor(
    message: string,
    details: { cause?: string; fix?: string },
    readonly code: number | undefined,
    readonly reason: KubeErrorReason,
    options?: { cause?: unknown; webhook?: WebhookCall },
  ) {
    super(message, details, options);
    if (options?.webhook) this.webhook = options.webhook;
  }

  /** For 'webhook-unreachable': the webhook, the Service it calls (when it names one) and what the API server said. */
  readonly webhook?: WebhookCall;
}

export interface WebhookCall {
  name: string;
  service?: { namespace: string; name: string };
  /** The API server's description of the failed call, e.g. "dial tcp 10.0.0.5:443: connect: connection refused". */
  detail: string;
}

export type KubeErrorReason =
  | 'forbidden'
  | 'unauthorized'
  | 'kind-not-served'
  | 'webhook-unreachable'
  | 'webhook-denied'
  | 'conflict'
  | 'invalid'
  | 'not-found'
  | 'already-exists'
  | 'throttled'
  | 'server'
  | 'unreachable'
  | 'other';

interface StatusBody {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
  };
}

const NETWORK_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
];

/** The HTTP status of an error thrown by @kubernetes/client-node (ApiException.code or watch statusCode). */
export function statusCodeOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** The Status body of an API error, parsed when it came as a string. */
export function statusBodyOf(error: unknown): StatusBody | undefined {
  const body = (error as { body?: unknown } | undefined)?.body;
  if (body && typeof body === 'object') return body as StatusBody;
  if (typeof body === 'string' && body.startsWith('{')) {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function networkCodeOf(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.includes(code)) return code;
    const msg = (e as { message?: unknown }).message;
    if (typeof msg === 'string') {
      const m =
        NETWORK_CODES.find((c) => msg.includes(c)) ??
        (/socket hang up|other side closed|fetch failed/i.test(msg) ? 'connection failed' : undefined);
      if (m) return m;
    }
  }
  return undefined;
}

export interface ErrorContext {
  /** What was attempted, e.g. "apply" or "watch". */
  action: string;
  ref?: ObjectRef;
  /** The API server URL, for connection errors. */
  server?: string;
}

/** What one error says, read once, with the constructor of its explanation. */
interface ErrorFacts {
  ctx: ErrorContext;
  code: number | undefined;
  status: StatusBody | undefined;
  /** The Status message, or the error's first line. */
  message: string;
  error: unknown;
  make(reason: KubeErrorReason, summary: string, cause: string, fix?: string, webhook?: WebhookCall): KubeApiError;
}

/** One kind of failure: explains the error when it is of that kind. */
interface ErrorRule {
  name: string;
  explain(f: ErrorFacts): KubeApiError | undefined;
}

const kindNotServed: ErrorRule = {
  name: 'kind not served',
  explain: (f) => {
    const m =
      /Unrecognized API version and kind: (\S+) (\S+)/.exec(f.message) ??
      /no matches for kind "([^"]+)" in version "([^"]+)"/.exec(f.message);
    if (!m) return undefined;
    const [apiVersion, kind] = m[0].startsWith('no matches') ? [m[2], m[1]] : [m[1], m[2]];
    return f.make(
      'kind-not-served',
      `the API server does not serve kind ${kind} in ${apiVersion}`,
      `no CustomResourceDefinition for ${kind} (${apiVersion}) is installed, or it is not Established yet`,
      `apply the CustomResourceDefinition that defines ${kind} first and wait until its Established condition is True`,
    );
  },
};

const groupNotServed: ErrorRule = {
  name: 'group version not served',
  explain: (f) => {
    if (f.code !== 404 || !/Failed to fetch resource metadata for (\S+)/.test(f.message)) return undefined;
    const apiVersion = /Failed to fetch resource metadata for ([^/]+\/[^/]+|[^/]+)\/(\S+?):/.exec(f.message);
    return f.make(
      'kind-not-served',
      `the API group version ${apiVersion?.[1] ?? f.ctx.ref?.apiVersion ?? '?'} is not served`,
      `no CustomResourceDefinition for ${f.ctx.ref?.kind ?? apiVersion?.[2] ?? 'this kind'} is installed, or it is not Established yet`,
      'apply its CustomResourceDefinition first and wait until its Established condition is True',
    );
  },
};

const webhookUnreachable: ErrorRule = {
  name: 'webhook not reachable',
  explain: (f) => {
    const webhook = /failed calling webhook "([^"]+)": (.*)/.exec(f.message);
    if (!webhook) return undefined;
    const url = /(?:Post|Get) "?https?:\/\/([^/:"]+)(?::\d+)?/.exec(webhook[2] ?? '');
    const host = url?.[1] ?? '';
    const svc = /^([^.]+)\.([^.]+)\.svc/.exec(host);
    const service = svc ? `Service ${svc[2]}/${svc[1]}` : host ? `endpoint ${host}` : 'its endpoint';
    const detail = (webhook[2] ?? '').replace(/^failed to call webhook: /, '');
    return f.make(
      'webhook-unreachable',
      `admission webhook "${webhook[1]}" could not be called`,
      `the webhook's ${service} did not answer (${detail})`,
      svc
        ? `if Service ${svc[2]}/${svc[1]} has no ready endpoints, make the workload behind it ready; if it has, see why the API server cannot call it (${refusalHint(detail)})`
        : 'make the webhook endpoint reachable, then apply again',
      {
        name: webhook[1] as string,
        ...(svc ? { service: { namespace: svc[2] as string, name: svc[1] as string } } : {}),
        detail,
      },
    );
  },
};

const webhookDenied: ErrorRule = {
  name: 'webhook denied',
  explain: (f) => {
    const denied = /admission webhook "([^"]+)" denied the request: (.*)/.exec(f.message);
    return denied
      ? f.make(
          'webhook-denied',
          `admission webhook "${denied[1]}" denied the request`,
          denied[2] ?? f.message,
          'change the object so that the webhook accepts it',
        )
      : undefined;
  },
};

const forbidden: ErrorRule = {
  name: 'forbidden',
  explain: (f) => {
    if (f.code !== 403) return undefined;
    const m =
      /User "([^"]*)" cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)"| at the cluster scope)?/.exec(
        f.message,
      );
    if (!m) return f.make('forbidden', 'forbidden', f.message, 'check the RBAC permissions of the credentials in use');
    const [, user, verb, resource, group, ns] = m;
    const res = group ? `${resource}.${group}` : resource;
    const where = ns ? `in namespace "${ns}"` : 'at the cluster scope';
    return f.make(
      'forbidden',
      `forbidden: user "${user}" may not ${verb} ${res} ${where}`,
      f.message,
      `grant "${verb}" on "${resource}" (apiGroup "${group ?? ''}") to "${user}" with a ${ns ? 'Role and RoleBinding in that namespace' : 'ClusterRole and ClusterRoleBinding'}, or run with credentials that have it`,
    );
  },
};

const unauthorized: ErrorRule = {
  name: 'unauthorized',
  explain: (f) =>
    f.code === 401
      ? f.make(
          'unauthorized',
          'the API server rejected the credentials (401 Unauthorized)',
          f.message,
          'refresh the kubeconfig credentials (an expired token or a certificate from another cluster)',
        )
      : undefined,
};

const conflict: ErrorRule = {
  name: 'conflict',
  explain: (f) => {
    if (f.code !== 409) return undefined;
    const fields = (f.status?.details?.causes ?? []).map((c) => c.message ?? c.field).filter(Boolean);
    if (f.status?.reason === 'Conflict' && (fields.length > 0 || /conflict/i.test(f.message))) {
      return f.make(
        'conflict',
        'fields are owned by another field manager',
        fields.length ? fields.join('; ') : f.message,
        'set force-conflicts to take ownership of these fields, or stop the other manager from setting them',
      );
    }
    return f.make('already-exists', 'already exists', f.message);
  },
};

const invalid: ErrorRule = {
  name: 'invalid',
  explain: (f) => {
    if (f.code !== 422 && f.status?.reason !== 'Invalid') return undefined;
    const causes = (f.status?.details?.causes ?? []).map((c) => `${c.field ?? ''}: ${c.message ?? c.reason ?? ''}`);
    return f.make(
      'invalid',
      'the API server rejected the object as invalid',
      causes.length ? causes.join('; ') : f.message,
      'fix the listed fields in the manifest',
    );
  },
};

const notInSchema: ErrorRule = {
  name: 'not in the schema',
  explain: (f) => {
    const typed = /failed to create typed patch object \(([^)]*)\): (.*)/.exec(f.message);
    return typed
      ? f.make(
          'invalid',
          `the object does not fit its schema: ${typed[2]}`,
          `server-side apply checks every field against the schema (${typed[1]})`,
          'remove the field from the manifest, or declare it in the CustomResourceDefinition schema',
        )
      : undefined;
  },
};

const byStatus: ErrorRule = {
  name: 'not found, throttled, server error',
  explain: (f) => {
    if (f.code === 404) return f.make('not-found', 'not found', f.message);
    if (f.code === 429) return f.make('throttled', 'the API server is throttling requests (429)', f.message);
    if (f.code !== undefined && f.code >= 500)
      return f.make('server', `the API server answered ${f.code}: ${f.message}`, f.message);
    return undefined;
  },
};

const unreachable: ErrorRule = {
  name: 'unreachable',
  explain: (f) => {
    const net =
      (f.error as { name?: unknown } | undefined)?.name === 'TimeoutError'
        ? 'no answer before the request deadline'
        : networkCodeOf(f.error);
    if (!net) return undefined;
    return f.make(
      'unreachable',
      `the API server${f.ctx.server ? ` at ${f.ctx.server}` : ''} is not reachable (${net})`,
      f.message,
      'check that the cluster is running and that the kubeconfig points at its API server',
    );
  },
};

/** The rules, most specific first: a message names a webhook or a kind before its status code says anything. */
const ERROR_RULES: readonly ErrorRule[] = [
  kindNotServed,
  groupNotServed,
  webhookUnreachable,
  webhookDenied,
  forbidden,
  unauthorized,
  conflict,
  invalid,
  notInSchema,
  byStatus,
  unreachable,
];

/**
 * Turns any error from the Kubernetes client into a KubeApiError that names the cause and the fix,
 * by the first rule of ERROR_RULES that recognises it. A KubeApiError passes through unchanged.
 */
export function explainKubeError(error: unknown, ctx: ErrorContext): KubeApiError {
  if (error instanceof KubeApiError) return error;
  const head = `${ctx.action}${ctx.ref ? ` ${describeRef(ctx.ref)}` : ''} failed`;
  const code = statusCodeOf(error);
  const status = statusBodyOf(error);
  const message = status?.message ?? (error instanceof Error ? error.message.split('\n')[0] : String(error)) ?? '';
  const facts: ErrorFacts = {
    ctx,
    code,
    status,
    message,
    error,
    make: (reason, summary, cause, fix, webhook) =>
      new KubeApiError(`${head}: ${summary}`, fix === undefined ? { cause } : { cause, fix }, code, reason, {
        cause: error,
        ...(webhook ? { webhook } : {}),
      }),
  };
  for (const rule of ERROR_RULES) {
    const explained = rule.explain(facts);
    if (explained) return explained;
  }
  return facts.make('other', code ? `HTTP ${code}: ${message}` : message, message);
}

/** What a failed webhook call's detail points at, in a few words. */
function refusalHint(detail: string): string {
  if (/x509|certificate|tls:/i.test(detail))
    return "the webhook's caBundle does not hold the CA that signed its serving certificate";
  if (/connection refused|no route to host|i\/o timeout|context deadline exceeded|Client\.Timeout/i.test(detail))
    return "the control plane cannot reach the webhook's pods on their port";
  if (/\b404\b|not found/i.test(detail)) return 'the webhook serves no such path';
  return 'read the message above';
}

/**
 * A webhook call that failed although the webhook's Service has ready endpoints: waiting for endpoints
 * cannot help, so the cause and fix name what can (CA bundle injection, the network path to the pods'
 * port, the path), from what the API server reported.
 */
export function explainWebhookRefusal(
  error: KubeApiError,
  service: { namespace: string; name: string; endpoints?: number; targetPort?: string | number; injectedBy?: string },
): KubeApiError {
  const call = error.webhook;
  if (!call) return error;
  const where = `Service ${service.namespace}/${service.name}`;
  const port = service.targetPort !== undefined ? ` (target port ${service.targetPort})` : '';
  const cause = `${where} has ${service.endpoints === undefined ? 'ready endpoints' : `${service.endpoints} ready endpoint(s)`}, yet the API server could not call webhook "${call.name}" through it: ${call.detail}`;
  let fix: string;
  if (/x509|certificate|tls:/i.test(call.detail)) {
    fix = `the webhook configuration's caBundle does not hold the CA that signed the serving certificate of ${where}: make sure ${service.injectedBy ?? "the component that injects it (cert-manager's cainjector for the annotation cert-manager.io/inject-ca-from, istiod, Knative's webhook)"} is running and has injected it (and that the Certificate it names is Ready), then run again`;
  } else if (
    /connection refused|no route to host|i\/o timeout|context deadline exceeded|Client\.Timeout|EOF/i.test(call.detail)
  ) {
    fix = `the API server cannot reach the pods of ${where}${port}: allow traffic from the control plane to that port (on a GKE private cluster, a firewall rule from the control plane's range to the nodes on port ${service.targetPort ?? 'the target port'}), check NetworkPolicies in namespace ${service.namespace}, and that the pods listen on that port`;
  } else if (/\b404\b|not found/i.test(call.detail)) {
    fix = `the pods of ${where} do not serve the webhook's path: check that the webhook configuration and the workload are of the same version`;
  } else {
    fix = `the pods of ${where} are ready but the webhook call fails: read the message above and the webhook pods' logs`;
  }
  return new KubeApiError(
    error.message.replace(/could not be called$/, `could not be called although ${where} has ready endpoints`),
    { cause, fix },
    error.code,
    error.reason,
    { cause: error, webhook: call },
  );
}

/** Classes of errors that heal on their own, for RetryPolicy.classify. */
export function healableClass(error: unknown): string | undefined {
  const e = explainKubeError(error, { action: 'request' });
  switch (e.reason) {
    case 'throttled':
    case 'unreachable':
    case 'webhook-unreachable':
    case 'kind-not-served':
      return e.reason;
    case 'server':
      return 'server';
    default:
      return undefined;
  }
}

/**
 * healableClass, plus 'restarting' for a 403/401 from an API server that was unreachable moments ago
 * (it answers so until its RBAC caches are filled after a start).
 */
export function classifyFor(client: { recentlyUnreachable(): boolean }): (error: unknown) => string | undefined {
  return (error) => {
    const healable = healableClass(error);
    if (healable) return healable;
    const reason = explainKubeError(error, { action: 'request' }).reason;
    return (reason === 'forbidden' || reason === 'unauthorized') && client.recentlyUnreachable()
      ? 'restarting'
      : undefined;
  };
}

/** Default budgets (ms) per healable class. */
export const DEFAULT_RETRY_BUDGETS: Record<string, number> = {
  throttled: 60_000,
  server: 60_000,
  unreachable: 30_000,
  'webhook-unreachable': 180_000,
  'kind-not-served': 60_000,
  restarting: 20_000,
};
