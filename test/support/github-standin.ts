/**
 * A GitHub REST stand-in on 127.0.0.1 for the issue-comments endpoints, following GitHub's documented
 * behaviour: list (per_page default 30, at most 100; page; a Link header with next/last/first/prev),
 * create (201 with Location), update (PATCH, 200), get one; `Authorization: Bearer <t>` or `token <t>`
 * (401 "Requires authentication" without one, "Bad credentials" with a wrong one); error bodies
 * `{message, documentation_url, status}`; 404 for an unknown repository, issue or comment; 403 when
 * configured to refuse writes ("Resource not accessible by integration"); 422 for a missing or too long
 * body; X-RateLimit-* headers on every answer and 403 once the quota is spent. It can be mounted under
 * a base path (GitHub Enterprise Server: /api/v3), hold comments from other users so that pagination
 * is exercised, answer queued failures (5xx, secondary rate limits) and stay silent (accept and never
 * answer).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface StandinComment {
  id: number;
  repository: string;
  issue: number;
  body: string;
  login: string;
  createdAt: string;
  updatedAt: string;
}

export interface StandinRequest {
  method: string;
  /** Path below the base path, without the query. */
  path: string;
  query: Record<string, string>;
  /** The Authorization scheme used ('bearer', 'token', 'none', or another word); the token itself is not kept. */
  auth: string;
  status: number;
}

export interface InjectedFailure {
  /** Only requests with this method (default: any). */
  method?: string;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface GithubStandinOptions {
  /** The token it accepts (default: ghs_standin_token). */
  token?: string;
  /** Mount point of the API (e.g. /api/v3 as on GitHub Enterprise Server); default: the root. */
  basePath?: string;
  /** Repositories that exist (owner/repo); default: ['octo-org/models']. */
  repositories?: string[];
  /** Issue and pull request numbers that exist in each repository; default: 1..1000. */
  issues?: number[];
  /** Writes (POST, PATCH) answered 403 as a GITHUB_TOKEN without `pull-requests: write` is. */
  refuseWrites?: boolean;
  /** Accepts connections and never answers (true), or sends the headers and part of the body and then nothing ('body'). */
  silent?: boolean | 'body';
  /** Comments from other users already on issue `issue` of the first repository. */
  preexisting?: { issue: number; count: number; login?: string };
  /** More comments on issues of the first repository, after the preexisting ones (e.g. one with a marker, by someone else). */
  seed?: Array<{ issue: number; body: string; login?: string }>;
  /** The login the token belongs to (default: github-actions[bot]). */
  login?: string;
  /** Requests allowed per window before the primary rate limit answers 403 (default 5000). */
  rateLimit?: number;
}

export interface GithubStandin {
  /** The API root to pass as GITHUB_API_URL (includes the base path). */
  url: string;
  /** The comments held now, oldest first. */
  comments(filter?: { repository?: string; issue?: number }): StandinComment[];
  requests: StandinRequest[];
  /** Answers the next matching request with this failure (queued, first in first out). */
  failNext(failure: InjectedFailure): void;
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest/issues/comments';

export async function startGithubStandin(options: GithubStandinOptions = {}): Promise<GithubStandin> {
  const token = options.token ?? 'ghs_standin_token';
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const repositories = new Set((options.repositories ?? ['octo-org/models']).map((r) => r.toLowerCase()));
  const issueExists = (n: number): boolean => (options.issues ? options.issues.includes(n) : n >= 1 && n <= 1000);
  const login = options.login ?? 'github-actions[bot]';
  const limit = options.rateLimit ?? 5000;
  const resetAt = Math.floor(Date.now() / 1000) + 3600;
  let used = 0;
  const comments: StandinComment[] = [];
  const requests: StandinRequest[] = [];
  const failures: InjectedFailure[] = [];
  const sockets = new Set<Socket>();
  let nextId = 1_000_001;
  let origin = '';

  if (options.preexisting) {
    const repository = [...repositories][0] ?? 'octo-org/models';
    for (let i = 0; i < options.preexisting.count; i++) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
      comments.push({
        id: nextId++,
        repository,
        issue: options.preexisting.issue,
        body: `Comment ${i + 1} from a reviewer`,
        login: options.preexisting.login ?? `reviewer-${i % 3}`,
        createdAt: at,
        updatedAt: at,
      });
    }
  }

  for (const c of options.seed ?? []) {
    const at = new Date(Date.UTC(2026, 0, 2)).toISOString();
    const repository = [...repositories][0] ?? 'octo-org/models';
    comments.push({
      id: nextId++,
      repository,
      issue: c.issue,
      body: c.body,
      login: c.login ?? 'octocat',
      createdAt: at,
      updatedAt: at,
    });
  }

  const toJson = (c: StandinComment): Record<string, unknown> => {
    const api = `${origin}${basePath}/repos/${c.repository}`;
    return {
      id: c.id,
      node_id: `IC_${Buffer.from(String(c.id)).toString('base64')}`,
      url: `${api}/issues/comments/${c.id}`,
      html_url: `${origin}/${c.repository}/pull/${c.issue}#issuecomment-${c.id}`,
      issue_url: `${api}/issues/${c.issue}`,
      body: c.body,
      user: { login: c.login, id: c.login.length * 1000 + 7, type: c.login.endsWith('[bot]') ? 'Bot' : 'User' },
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: c.login.endsWith('[bot]') ? 'NONE' : 'MEMBER',
      performed_via_github_app: null,
    };
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (options.silent === true) return; // accepted, never answered
    if (options.silent === 'body') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': '1000' });
      res.write('[{"id": 1,');
      return; // the rest never comes
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = req.method ?? 'GET';
      const authorization = req.headers.authorization ?? '';
      const [scheme = '', presented = ''] = authorization.split(/\s+/, 2);
      const record: StandinRequest = {
        method,
        path: url.pathname.startsWith(basePath) ? url.pathname.slice(basePath.length) : url.pathname,
        query: Object.fromEntries(url.searchParams),
        auth: authorization ? scheme.toLowerCase() : 'none',
        status: 0,
      };
      requests.push(record);
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        record.status = status;
        const text = body === undefined ? '' : JSON.stringify(body);
        res.writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'x-github-media-type': 'github.v3; format=json',
          'x-ratelimit-limit': String(limit),
          'x-ratelimit-remaining': String(Math.max(0, limit - used)),
          'x-ratelimit-reset': String(resetAt),
          'x-ratelimit-used': String(used),
          'x-ratelimit-resource': 'core',
          ...headers,
        });
        res.end(text);
      };
      const error = (status: number, message: string, docs = DOCS, extra: Record<string, unknown> = {}): void =>
        send(status, { message, ...extra, documentation_url: docs, status: String(status) });

      if (!url.pathname.startsWith(`${basePath}/`)) return error(404, 'Not Found', 'https://docs.github.com/rest');
      const path = record.path;
      const failureIndex = failures.findIndex((f) => !f.method || f.method === method);
      if (failureIndex >= 0) {
        const [f] = failures.splice(failureIndex, 1);
        return send(f!.status, f!.body ?? { message: 'Server Error' }, f!.headers ?? {});
      }
      if (!authorization) return error(401, 'Requires authentication', 'https://docs.github.com/rest');
      if (!['bearer', 'token'].includes(scheme.toLowerCase()) || presented !== token)
        return error(401, 'Bad credentials', 'https://docs.github.com/rest');
      used++;
      if (used > limit)
        return error(
          403,
          'API rate limit exceeded for installation.',
          'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api',
        );

      const list = path.match(/^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/);
      const one = path.match(/^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/);
      const repository = list || one ? `${(list ?? one)![1]}/${(list ?? one)![2]}`.toLowerCase() : '';
      if ((!list && !one) || !repositories.has(repository)) return error(404, 'Not Found');
      let payload: { body?: unknown } = {};
      if (method === 'POST' || method === 'PATCH') {
        if (options.refuseWrites)
          return error(
            403,
            'Resource not accessible by integration',
            `${DOCS}#${method === 'POST' ? 'create-an-issue-comment' : 'update-an-issue-comment'}`,
          );
        try {
          payload = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { body?: unknown };
        } catch {
          return error(400, 'Problems parsing JSON');
        }
        if (typeof payload.body !== 'string' || payload.body.length === 0 || payload.body.length > 65536)
          return error(422, 'Validation Failed', DOCS, {
            errors: [
              {
                resource: 'IssueComment',
                code: typeof payload.body === 'string' && payload.body.length > 0 ? 'custom' : 'missing_field',
                field: 'body',
                ...(typeof payload.body === 'string' && payload.body.length > 65536
                  ? { message: 'body is too long (maximum is 65536 characters)' }
                  : {}),
              },
            ],
          });
      }

      if (list) {
        const issue = Number(list[3]);
        if (!issueExists(issue)) return error(404, 'Not Found');
        if (method === 'GET') {
          const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
          const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
          const all = comments.filter((c) => c.repository === repository && c.issue === issue);
          const last = Math.max(1, Math.ceil(all.length / perPage));
          const pageUrl = (p: number): string => {
            const q = new URLSearchParams(url.searchParams);
            q.set('per_page', String(perPage));
            q.set('page', String(p));
            return `<${origin}${url.pathname}?${q.toString()}>`;
          };
          const links: string[] = [];
          if (page > 1) links.push(`${pageUrl(page - 1)}; rel="prev"`);
          if (page < last) links.push(`${pageUrl(page + 1)}; rel="next"`, `${pageUrl(last)}; rel="last"`);
          if (page > 1) links.push(`${pageUrl(1)}; rel="first"`);
          return send(
            200,
            all.slice((page - 1) * perPage, page * perPage).map(toJson),
            links.length ? { link: links.join(', ') } : {},
          );
        }
        if (method === 'POST') {
          const at = new Date().toISOString();
          const c: StandinComment = {
            id: nextId++,
            repository,
            issue,
            body: payload.body as string,
            login,
            createdAt: at,
            updatedAt: at,
          };
          comments.push(c);
          const json = toJson(c);
          return send(201, json, { location: String(json['url']) });
        }
        return error(404, 'Not Found');
      }
      const id = Number(one![3]);
      const c = comments.find((x) => x.id === id && x.repository === repository);
      if (!c) return error(404, 'Not Found');
      if (method === 'GET') return send(200, toJson(c));
      if (method === 'PATCH') {
        c.body = payload.body as string;
        c.updatedAt = new Date().toISOString();
        return send(200, toJson(c));
      }
      return error(404, 'Not Found');
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    url: `${origin}${basePath}`,
    comments: (filter = {}) =>
      comments
        .filter(
          (c) =>
            (!filter.repository || c.repository === filter.repository.toLowerCase()) &&
            (filter.issue === undefined || c.issue === filter.issue),
        )
        .map((c) => ({ ...c })),
    requests,
    failNext: (f) => failures.push(f),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
