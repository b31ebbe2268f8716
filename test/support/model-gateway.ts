/**
 * A small stand-in for Kubeflow's Istio ingress gateway, in front of real model servers on 127.0.0.1.
 * It answers the way the real gateway does in each case the smoke test must tell apart:
 * - no Authorization header: 302 to the Dex login (oauth2-proxy's CUSTOM policy);
 * - a token whose issuer it does not know: 401 "Jwt issuer is not configured" (RequestAuthentication);
 * - a token for another audience: 401 "Audiences in Jwt are not allowed";
 * - a token the API server does not authenticate (TokenReview against the real control plane): 401
 *   "Jwt verification fails";
 * - a valid token whose identity the route does not admit: 403 "RBAC: access denied";
 * - a Host with no route: 404 with an empty body (server: istio-envoy);
 * - a route whose backend does not answer: 503 "no healthy upstream";
 * otherwise it proxies the call to the route's upstream. Routes can be added while it runs (routes propagating).
 */
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { KubeClient } from '../../src/kube/client.js';

export interface GatewayRoute {
  /** Base URL of the model server, e.g. http://127.0.0.1:8080. */
  upstream: string;
  /** Identities (TokenReview usernames) admitted; undefined admits any valid token. */
  allow?: string[];
  /** An open route: no token needed (a gateway whose JWT requirement was weakened). */
  open?: boolean;
  /** After this many proxied calls the backend is gone: 503 "no healthy upstream" (pods crashing under load). */
  failAfter?: number;
}

export interface GatewayOptions {
  /** TokenReview against this API server. */
  client: KubeClient;
  audience: string;
  /** The issuer the gateway's RequestAuthentication names. */
  issuer: string;
}

export interface Gateway {
  url: string;
  port: number;
  routes: Map<string, GatewayRoute>;
  /** Requests answered, by status. */
  answered: Map<number, number>;
  stop(): Promise<void>;
}

const claims = (token: string): { iss?: string; aud?: string | string[] } | undefined => {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { iss?: string; aud?: string | string[] };
  } catch {
    return undefined;
  }
};

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const routes = new Map<string, GatewayRoute>();
  const answered = new Map<number, number>();
  const reviews = new Map<string, Promise<string | undefined>>();
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const review = (token: string): Promise<string | undefined> => {
    let r = reviews.get(token);
    if (!r) {
      r = options.client
        .request<{ status?: { authenticated?: boolean; user?: { username?: string } } }>(
          'POST',
          '/apis/authentication.k8s.io/v1/tokenreviews',
          {
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenReview',
              spec: { token, audiences: [options.audience] },
            },
          },
        )
        .then((res) => (res.status?.authenticated ? res.status.user?.username : undefined));
      reviews.set(token, r);
    }
    return r;
  };

  const reply = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    answered.set(status, (answered.get(status) ?? 0) + 1);
    res.writeHead(status, {
      server: 'istio-envoy',
      'content-length': String(Buffer.byteLength(body)),
      ...(body ? { 'content-type': 'text/plain' } : {}),
      ...headers,
    });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const route = routes.get(host);
    const auth = req.headers.authorization;
    if (!route?.open) {
      if (!auth) {
        const state = Buffer.from(`rd=${req.url ?? '/'}`).toString('base64url');
        reply(res, 302, '', {
          location: `/dex/auth?client_id=kubeflow-oidc-authservice&redirect_uri=%2Foauth2%2Fcallback&response_type=code&scope=openid+profile+email+groups&state=${state}`,
        });
        return;
      }
      const token = /^Bearer (.+)$/.exec(auth)?.[1] ?? '';
      const c = claims(token);
      if (c?.iss !== undefined && c.iss !== options.issuer) {
        reply(res, 401, 'Jwt issuer is not configured');
        return;
      }
      const aud = c?.aud === undefined ? [] : Array.isArray(c.aud) ? c.aud : [c.aud];
      if (c && !aud.includes(options.audience)) {
        reply(res, 401, 'Audiences in Jwt are not allowed');
        return;
      }
      const user = await review(token).catch(() => undefined);
      if (!user) {
        reply(res, 401, 'Jwt verification fails');
        return;
      }
      if (!route) {
        reply(res, 404, '');
        return;
      }
      if (route.allow && !route.allow.includes(user)) {
        reply(res, 403, 'RBAC: access denied');
        return;
      }
    }
    if (!route) {
      reply(res, 404, '');
      return;
    }
    if (route.failAfter !== undefined && route.failAfter-- <= 0) {
      reply(res, 503, 'no healthy upstream');
      return;
    }
    const target = new URL(req.url ?? '/', route.upstream);
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization;
    const up = httpRequest(target, { method: req.method, headers, agent }, (upRes) => {
      answered.set(upRes.statusCode ?? 0, (answered.get(upRes.statusCode ?? 0) ?? 0) + 1);
      res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, server: 'istio-envoy' });
      upRes.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) reply(res, 503, 'no healthy upstream');
      else res.destroy();
    });
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, 'gateway error');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    routes,
    answered,
    stop: () =>
      new Promise<void>((r) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
