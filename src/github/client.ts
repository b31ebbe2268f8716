import { getOctokit } from '@actions/github';
import { EnvHttpProxyAgent, fetch as undiciFetch } from 'undici';
import { formatDuration } from '../common/duration.js';
import { ConfigurationError, KfopsError, networkFailure } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { redactUrlCredentials } from '../common/redact.js';
import { abortableSleep } from '../common/retry.js';

/**
 * The few GitHub REST calls kfops makes (issue comments), through @actions/github's Octokit, with a
 * deadline on every request and on the whole exchange, retries for what can heal (5xx, rate limits
 * that say when to come back, a request that got no answer) and errors that name the cause and fix.
 */

export interface IssueComment {
  id: number;
  body?: string | null;
  html_url: string;
  user?: { login?: string } | null;
}

export interface GithubClientOptions {
  token: string;
  /** The REST API root, e.g. https://api.github.com or https://ghe.example.com/api/v3. */
  apiUrl: string;
  /** Deadline for everything done through this client. */
  timeoutMs: number;
  logger: Logger;
  /** What the calls are about, for messages (e.g. owner/repo#12). */
  target: string;
}

/** A GitHub API failure, with the HTTP status when there was an answer. */
export class GithubError extends KfopsError {
  override readonly name = 'GithubError';
  constructor(
    message: string,
    details: { cause?: string; fix?: string },
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, details, options);
  }
}

/** A request that got no (complete) answer in time; `deadline` when the whole exchange ran out of time. */
class NoAnswer extends Error {
  override readonly name = 'NoAnswer';
  constructor(
    readonly kind: 'request' | 'deadline',
    readonly afterMs: number,
  ) {
    super(
      kind === 'deadline'
        ? `the timeout of ${formatDuration(afterMs)} ran out`
        : `no answer within ${formatDuration(afterMs)}`,
    );
  }
}

interface HttpFailure {
  status?: number;
  message?: string;
  response?: { status: number; headers: Record<string, string | number | undefined>; data?: unknown };
  cause?: unknown;
}

function noAnswerIn(error: unknown): NoAnswer | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++)
    if (e instanceof NoAnswer) return e;
  return undefined;
}

function header(error: HttpFailure, name: string): string | undefined {
  const v = error.response?.headers[name];
  return v === undefined ? undefined : String(v);
}

function apiMessage(error: HttpFailure): string {
  const data = error.response?.data;
  if (data && typeof data === 'object') {
    const d = data as { message?: unknown; errors?: unknown };
    const errors = Array.isArray(d.errors)
      ? d.errors.map((e) => (typeof e === 'object' && e && 'message' in e ? String(e.message) : JSON.stringify(e)))
      : [];
    return [typeof d.message === 'string' ? d.message : '', ...errors].filter(Boolean).join(': ');
  }
  return typeof data === 'string' ? data.slice(0, 200) : '';
}

/** A rate-limit refusal: GitHub documents 403 or 429 with x-ratelimit-remaining 0, a retry-after header or a message that says so. */
function rateLimit(error: HttpFailure): { waitMs?: number; secondary: boolean } | undefined {
  const status = error.response?.status;
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = header(error, 'retry-after');
  const remaining = header(error, 'x-ratelimit-remaining');
  const reset = Number(header(error, 'x-ratelimit-reset'));
  const message = apiMessage(error);
  if (retryAfter !== undefined && Number.isFinite(Number(retryAfter)))
    return { waitMs: Number(retryAfter) * 1000, secondary: true };
  if (remaining === '0')
    return {
      secondary: false,
      ...(Number.isFinite(reset) ? { waitMs: Math.max(1000, reset * 1000 - Date.now()) } : {}),
    };
  if (/secondary rate limit|abuse detection/i.test(message)) return { secondary: true };
  if (status === 429 || /rate limit/i.test(message)) return { secondary: false };
  return undefined;
}

/** Whether a failure can heal by asking again (the answer may have been lost, so only for requests that can repeat). */
function transient(error: HttpFailure): string | undefined {
  const status = error.response?.status;
  if (status !== undefined && status >= 500)
    return `HTTP ${status}${apiMessage(error) ? ` (${apiMessage(error)})` : ''}`;
  const na = noAnswerIn(error);
  if (na?.kind === 'request') return na.message;
  return undefined;
}

const backoff = (attempt: number): number => Math.min(8000, 500 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);

export interface GithubClient {
  /** The issue's comments, a page (up to 100) at a time, oldest first. */
  listIssueComments(owner: string, repo: string, issueNumber: number): AsyncGenerator<IssueComment[]>;
  updateIssueComment(owner: string, repo: string, commentId: number, body: string): Promise<IssueComment>;
  /**
   * Creates a comment. When a create fails in a way that may have written it (5xx, no answer), `recheck`
   * runs before the next attempt: a value it returns ends the create (the comment was there after all).
   */
  createIssueComment<T>(
    owner: string,
    repo: string,
    issueNumber: number,
    body: string,
    recheck: () => Promise<T | undefined>,
  ): Promise<IssueComment | T>;
  close(): Promise<void>;
}

export function githubClient(o: GithubClientOptions): GithubClient {
  let base: URL;
  try {
    base = new URL(o.apiUrl);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new ConfigurationError(
      'GITHUB_API_URL',
      redactUrlCredentials(o.apiUrl),
      'the REST API root: https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise Server',
    );
  }
  const baseUrl = redactUrlCredentials(o.apiUrl).replace(/\/+$/, '');
  if (base.username || base.password)
    throw new ConfigurationError(
      'GITHUB_API_URL',
      baseUrl,
      'a URL without credentials (the token is passed as github-token)',
    );
  const host = base.host;
  const started = Date.now();
  const deadline = AbortSignal.timeout(o.timeoutMs);
  const requestTimeoutMs = Math.min(o.timeoutMs, Math.max(5000, Math.min(30_000, Math.round(o.timeoutMs / 3))));
  // Honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY per request, as runners behind a proxy need.
  const dispatcher = new EnvHttpProxyAgent({ connect: { timeout: Math.min(10_000, requestTimeoutMs) } });
  const scrub = (text: string): string => {
    const t = redactUrlCredentials(text);
    return o.token.length >= 4 ? t.split(o.token).join('***') : t;
  };

  // Each request (headers and the whole body) ends within its own deadline and the overall one.
  const deadlineFetch = async (url: string, init: RequestInit = {}): Promise<Response> => {
    if (deadline.aborted) throw new NoAnswer('deadline', o.timeoutMs);
    const perRequest = AbortSignal.timeout(
      Math.min(requestTimeoutMs, Math.max(1, o.timeoutMs - (Date.now() - started))),
    );
    const signal = AbortSignal.any([deadline, perRequest, ...(init.signal ? [init.signal] : [])]);
    try {
      const response = await undiciFetch(url, {
        ...(init as Parameters<typeof undiciFetch>[1]),
        signal,
        dispatcher,
      });
      const bytes = await response.arrayBuffer();
      const empty = [101, 204, 205, 304].includes(response.status);
      return new Response(empty ? null : bytes, {
        status: response.status,
        statusText: response.statusText,
        headers: new Headers([...response.headers]),
      });
    } catch (error) {
      if (deadline.aborted) throw new NoAnswer('deadline', o.timeoutMs);
      if (perRequest.aborted) throw new NoAnswer('request', requestTimeoutMs);
      throw error;
    }
  };

  const octokit = getOctokit(o.token, {
    baseUrl,
    userAgent: 'kfops',
    request: { fetch: deadlineFetch },
    log: {
      debug: (m: string) => o.logger.debug(scrub(m)),
      info: (m: string) => o.logger.debug(scrub(m)),
      warn: (m: string) => o.logger.warning(scrub(m)),
      error: (m: string) => o.logger.debug(scrub(m)),
    },
  });

  const remainingMs = (): number => o.timeoutMs - (Date.now() - started);

  // Every request (each page included) is retried here when the refusal can heal: a rate limit
  // (for every method: the request was refused, not done) and, for requests that can repeat, 5xx
  // and a request without an answer.
  octokit.hook.wrap('request', async (request, options) => {
    const what = `${String(options.method)} ${String(options.url)}`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await request(options);
      } catch (error) {
        const e = error as HttpFailure;
        const limited = rateLimit(e);
        const heal = options.method === 'POST' ? undefined : transient(e);
        if (!limited && !heal) throw error;
        if (limited && limited.waitMs === undefined && !limited.secondary) throw error;
        // Secondary limits without a Retry-After: GitHub asks for at least a minute.
        const delay = limited ? (limited.waitMs ?? 60_000 * 2 ** (attempt - 1)) : backoff(attempt);
        if (delay >= remainingMs() - 100) throw Object.assign(error as object, { kfopsWaitMs: delay });
        o.logger.info(
          `GitHub API ${what} for ${o.target}: ${limited ? `${limited.secondary ? 'secondary ' : ''}rate limit${limited.waitMs !== undefined ? ` (come back in ${formatDuration(limited.waitMs)})` : ''}` : heal}; retry ${attempt} in ${formatDuration(delay)}, ${formatDuration(Math.max(0, remainingMs() - delay))} left`,
        );
        await abortableSleep(delay, deadline);
        if (deadline.aborted) throw new NoAnswer('deadline', o.timeoutMs);
      }
    }
  });

  /** The error to show for a failed call: what was asked, why it failed and what to do. */
  const explain = (error: unknown, what: string): GithubError => {
    if (error instanceof GithubError || error instanceof ConfigurationError) return error as GithubError;
    const e = (error ?? {}) as HttpFailure & { kfopsWaitMs?: number };
    const status = e.response?.status;
    const said = scrub(apiMessage(e));
    if (status === undefined) {
      const na = noAnswerIn(error);
      if (na)
        return new GithubError(
          `The GitHub API at ${host} did not answer in time: ${what} got no answer (${na.message})`,
          {
            cause: `${scrub(baseUrl)} accepted the request, or the connection could not be completed, and nothing (or not all) came back`,
            fix: 'check GITHUB_API_URL (on GitHub Enterprise Server https://HOST/api/v3), that this runner reaches it (a proxy needs HTTPS_PROXY and NO_PROXY), and raise the timeout if the server is slow',
          },
          undefined,
          { cause: error },
        );
      return new GithubError(
        `The GitHub API at ${host} is not reachable: ${what} failed`,
        {
          cause: scrub(networkFailure(e.cause ?? error)),
          fix: 'check GITHUB_API_URL (https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise Server) and that this runner reaches it (a proxy needs HTTPS_PROXY and NO_PROXY)',
        },
        undefined,
        { cause: error },
      );
    }
    const limited = rateLimit(e);
    if (limited) {
      const reset = Number(header(e, 'x-ratelimit-reset'));
      const until = Number.isFinite(reset) && reset > 0 ? ` until ${new Date(reset * 1000).toISOString()}` : '';
      return new GithubError(
        `GitHub's ${limited.secondary ? 'secondary ' : ''}rate limit refused ${what} (${status})`,
        {
          cause: `${said || 'rate limit exceeded'}${until}${e.kfopsWaitMs !== undefined ? `; waiting ${formatDuration(e.kfopsWaitMs)} would pass the timeout of ${formatDuration(o.timeoutMs)}` : ''}`,
          fix: limited.secondary
            ? 'run fewer jobs that write comments at the same time, then run the job again'
            : `run the job again after the limit resets${until}, or use a token with its own quota (a GITHUB_TOKEN has 1,000 requests per hour per repository)`,
        },
        status,
        { cause: error },
      );
    }
    if (status === 401)
      return new GithubError(
        `GitHub refused the token (401): ${what}`,
        {
          cause: said || 'Bad credentials',
          fix: 'pass a valid token as github-token (usually ${{ github.token }}); a personal access token may have expired or been revoked',
        },
        status,
        { cause: error },
      );
    if (status === 403)
      return new GithubError(
        `The token may not ${what.startsWith('GET') ? 'read the comments of' : 'write comments on'} ${o.target} (403): ${what}`,
        {
          cause: said || 'Forbidden',
          fix: "add `pull-requests: write` to the `permissions:` of the job that writes the comment (`issues: write` when the number is an issue); a job calling a reusable workflow must grant it as well; pull requests from forks get a read-only GITHUB_TOKEN; a fine-grained token needs 'Pull requests: Read and write' on the repository",
        },
        status,
        { cause: error },
      );
    if (status === 404 && what.startsWith('PATCH'))
      return new GithubError(
        `The comment to update on ${o.target} is gone (404): ${what}`,
        {
          cause: `${said || 'Not Found'}: it was deleted after it was found, or the token cannot see it`,
          fix: 'run the job again: it creates a new comment when none has the marker',
        },
        status,
        { cause: error },
      );
    if (status === 404)
      return new GithubError(
        `${o.target} was not found on ${host}, or the token cannot see it (404): ${what}`,
        {
          cause: said || 'Not Found',
          fix: 'check the repository (owner/repo) and the pull request number; a GITHUB_TOKEN reaches only the repository of its workflow; on GitHub Enterprise Server GITHUB_API_URL is https://HOST/api/v3',
        },
        status,
        { cause: error },
      );
    if (status === 422)
      return new GithubError(
        `GitHub rejected the comment (422): ${what}`,
        { cause: said || 'Validation Failed', fix: 'a comment body holds at most 65536 characters' },
        status,
        { cause: error },
      );
    return new GithubError(
      `GitHub answered ${status} to ${what}`,
      {
        cause: said || `HTTP ${status}`,
        fix:
          status >= 500
            ? 'GitHub may be degraded: run the job again later'
            : 'check GITHUB_API_URL and the token; the server did not answer as the GitHub REST API does',
      },
      status,
      { cause: error },
    );
  };

  const expectComment = (data: unknown, what: string): IssueComment => {
    const c = data as IssueComment | undefined;
    if (c && typeof c === 'object' && typeof c.id === 'number' && typeof c.html_url === 'string') return c;
    throw notGithub(data, what);
  };
  const notGithub = (data: unknown, what: string): GithubError =>
    new GithubError(`${scrub(baseUrl)} did not answer like the GitHub REST API: ${what}`, {
      cause: `the answer was ${typeof data === 'string' ? `text: ${JSON.stringify(scrub(data).slice(0, 120))}` : typeof data}`,
      fix: 'set GITHUB_API_URL to the REST API root: https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise Server',
    });

  return {
    async *listIssueComments(owner, repo, issueNumber) {
      const what = `GET /repos/${owner}/${repo}/issues/${issueNumber}/comments`;
      const iterable = octokit.paginate.iterator(octokit.rest.issues.listComments, {
        owner,
        repo,
        issue_number: issueNumber,
        per_page: 100,
      });
      const pages = iterable[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<{ data: unknown }>;
        try {
          next = await pages.next();
        } catch (error) {
          // The paginator fails on a body that is not JSON (e.g. an HTML page at a wrong API URL).
          if (error instanceof TypeError && (error as HttpFailure).status === undefined)
            throw notGithub('a body that is not a JSON list', what);
          throw explain(error, what);
        }
        if (next.done) return;
        if (!Array.isArray(next.value.data)) throw notGithub(next.value.data, what);
        yield next.value.data.map((c) => expectComment(c, what));
      }
    },

    async updateIssueComment(owner, repo, commentId, body) {
      const what = `PATCH /repos/${owner}/${repo}/issues/comments/${commentId}`;
      try {
        const r = await octokit.rest.issues.updateComment({ owner, repo, comment_id: commentId, body });
        return expectComment(r.data, what);
      } catch (error) {
        throw explain(error, what);
      }
    },

    async createIssueComment(owner, repo, issueNumber, body, recheck) {
      const what = `POST /repos/${owner}/${repo}/issues/${issueNumber}/comments`;
      for (let attempt = 1; ; attempt++) {
        try {
          const r = await octokit.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
          return expectComment(r.data, what);
        } catch (error) {
          const heal = transient(error as HttpFailure);
          const delay = backoff(attempt);
          if (!heal || delay >= remainingMs() - 100) throw explain(error, what);
          o.logger.info(
            `GitHub API ${what}: ${heal}; the comment may have been written, looking again before retry ${attempt} in ${formatDuration(delay)}`,
          );
          await abortableSleep(delay, deadline);
          if (deadline.aborted) throw explain(new NoAnswer('deadline', o.timeoutMs), what);
          const found = await recheck();
          if (found !== undefined) return found;
        }
      }
    },

    async close() {
      await dispatcher.destroy().catch(() => undefined);
    },
  };
}
