import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { describeError } from '../../src/common/errors.js';
import type { Logger } from '../../src/common/logger.js';
import { markerComment, renderReleaseComment, upsertStickyComment } from '../../src/github/comment.js';
import type { ReleaseRun } from '../../src/release/types.js';
import { startGithubStandin, type GithubStandin } from '../support/github-standin.js';

const TOKEN = 'ghs_Zq8secretTOKENvalue1234567890';
const MARKER = '<!-- kfops:release -->';
const REPO = 'octo-org/models';

/** A logger that keeps every line, to check what reaches the log. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug: ${m}`),
    info: (m) => lines.push(`info: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: (_n, fn) => fn(),
  };
}

const run: ReleaseRun = {
  mode: 'candidate',
  runUrl: 'https://github.com/octo-org/models/actions/runs/4242',
  commit: '0123456789abcdef0123456789abcdef01234567',
  releases: [
    {
      file: 'models/wine.yaml',
      service: 'wine',
      namespace: 'kubeflow-user-example-com',
      mode: 'candidate',
      deployedAs: 'wine-pr-7',
      current: {
        reference: 'models:/wine@champion',
        uri: 's3://mlflow/1/abc/artifacts/model',
        registeredModel: 'wine',
        version: '1',
      },
      candidate: {
        reference: 'models:/wine@candidate',
        uri: 's3://mlflow/1/def/artifacts/model',
        registeredModel: 'wine',
        version: '2',
      },
      outcome: 'passed',
      url: 'http://wine-pr-7.kubeflow-user-example-com.example.com',
      smoke: { requests: 20, errors: 0, errorRate: 0, p50Ms: 12.34, p95Ms: 45.6, p99Ms: 180.2 },
      durationMs: 42_000,
    },
    {
      file: 'models/iris.yaml',
      service: 'iris',
      namespace: 'team-a',
      mode: 'candidate',
      deployedAs: 'iris-pr-7',
      current: { reference: 'models:/iris/3', registeredModel: 'iris', version: '3' },
      candidate: { reference: 'https://admin:hunter2@models.example.com/iris|v4.tar.gz' },
      outcome: 'failed',
      cause:
        'smoke test: p95 910 ms > max-p95-ms 800 | see https://bob:s3cr3t@logs.example.com/x\nsecond line <script>',
      smoke: { requests: 20, errors: 1, errorRate: 0.05, p50Ms: 300, p95Ms: 910, p99Ms: 1200 },
      durationMs: 61_500,
    },
    {
      service: 'fraud',
      namespace: 'team-b',
      mode: 'candidate',
      deployedAs: 'fraud-pr-7',
      candidate: { reference: 'models:/fraud/1', registeredModel: 'fraud', version: '1' },
      outcome: 'rolled-back',
      cause: 'the model server crashed: OOMKilled',
      durationMs: 5000,
    },
  ],
};

/** Pipes that separate cells (not escaped ones). */
const separators = (line: string): number => (line.match(/(?<!\\)\|/g) ?? []).length;

describe('renderReleaseComment', () => {
  const md = renderReleaseComment(run, { marker: MARKER, mlflowUiUrl: 'http://ui:pw@mlflow.example.com:5000/' });
  const rows = md.split('\n').filter((l) => l.startsWith('| **'));

  it('starts with the marker and a heading naming the worst outcome', () => {
    expect(md.startsWith(`${MARKER}\n## `)).toBe(true);
    const heading = md.split('\n')[1]!;
    expect(heading).toContain('failed');
    expect(heading).toContain('3 services');
    expect(heading).toMatch(/1 passed.*1 failed.*1 rolled-back/);
  });

  it("has one row per service, each with the table's seven cells", () => {
    expect(rows).toHaveLength(3);
    for (const [i, name] of ['wine', 'iris', 'fraud'].entries()) expect(rows[i]).toContain(`**${name}**`);
    const header = md.split('\n').find((l) => l.startsWith('| Service'))!;
    expect(separators(header)).toBe(8);
    for (const r of rows) expect(separators(r)).toBe(8);
  });

  it('shows current and candidate versions with MLflow links, figures and the run link', () => {
    const wine = rows[0]!;
    expect(wine).toContain('[wine v1](http://mlflow.example.com:5000/#/models/wine/versions/1)');
    expect(wine).toContain('[wine v2](http://mlflow.example.com:5000/#/models/wine/versions/2)');
    expect(wine).toContain('s3://mlflow/1/def/artifacts/model');
    expect(wine).toContain('12.3 / 45.6 / 180');
    expect(wine).toContain('0% (0/20)');
    expect(wine).toContain('passed in 42s');
    expect(wine).toContain('as wine-pr-7');
    expect(wine).toContain(`[run](${run.runUrl})`);
    expect(rows[1]).toContain('5% (1/20)');
    expect(rows[1]).toContain('300 / 910 / 1200');
    expect(rows[2]).toContain('none (first release)');
    expect(md).toContain(`[workflow run](${run.runUrl})`);
    expect(md).toContain('commit 0123456789ab');
  });

  it('shows the cause of a failure, escaped, and redacts every credential', () => {
    expect(rows[1]).toContain(
      '**Cause:** smoke test: p95 910 ms \\> max-p95-ms 800 \\| see https://\\*\\*\\*@logs.example.com/x<br>second line \\<script\\>',
    );
    expect(rows[2]).toContain('**Cause:** the model server crashed: OOMKilled');
    expect(rows[0]).not.toContain('Cause');
    expect(rows[1]).toContain('https://\\*\\*\\*@models.example.com/iris\\|v4.tar.gz');
    for (const secret of ['hunter2', 's3cr3t', 'ui:pw', 'pw@']) expect(md).not.toContain(secret);
  });

  it('is the same text for the same run, and says so when nothing changed', () => {
    expect(renderReleaseComment(run, { marker: MARKER, mlflowUiUrl: 'http://ui:pw@mlflow.example.com:5000/' })).toBe(
      md,
    );
    const none = renderReleaseComment({ mode: 'production', releases: [] }, { marker: 'kfops:release' });
    expect(none).toContain('<!-- kfops:release -->');
    expect(none).toContain('no release file changed');
    expect(none).not.toContain('| Service');
  });

  it('rejects a marker that would end the HTML comment early', () => {
    expect(() => markerComment('<!-- a -- b -->')).toThrow(/marker/);
    expect(() => markerComment('a-->b')).toThrow(/marker/);
  });
});

describe('the GitHub REST stand-in', () => {
  it('answers as the documented issue-comments API does', async () => {
    const s = await startGithubStandin({ token: TOKEN, preexisting: { issue: 3, count: 65 } });
    try {
      const list = `${s.url}/repos/${REPO}/issues/3/comments`;
      const anonymous = await fetch(list);
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({
        message: 'Requires authentication',
        documentation_url: expect.any(String),
      });
      const wrong = await fetch(list, { headers: { authorization: 'Bearer nope' } });
      expect(((await wrong.json()) as { message: string }).message).toBe('Bad credentials');
      const page1 = await fetch(list, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(page1.status).toBe(200);
      expect((await page1.json()) as unknown[]).toHaveLength(30);
      expect(page1.headers.get('link')).toMatch(/[?&]page=2>; rel="next", <[^>]*[?&]page=3>; rel="last"/);
      expect(page1.headers.get('x-ratelimit-remaining')).toBe('4999');
      const page3 = await fetch(`${list}?per_page=30&page=3`, { headers: { authorization: `token ${TOKEN}` } });
      expect((await page3.json()) as unknown[]).toHaveLength(5);
      expect(page3.headers.get('link')).toMatch(/rel="prev".*rel="first"/);
      const created = await fetch(list, {
        method: 'POST',
        headers: { authorization: `token ${TOKEN}` },
        body: '{"body":"hi"}',
      });
      expect(created.status).toBe(201);
      const json = (await created.json()) as { id: number; url: string; user: { login: string } };
      expect(created.headers.get('location')).toBe(json.url);
      expect(json.user.login).toBe('github-actions[bot]');
      const empty = await fetch(`${s.url}/repos/${REPO}/issues/comments/${json.id}`, {
        method: 'PATCH',
        headers: { authorization: `token ${TOKEN}` },
        body: '{}',
      });
      expect(empty.status).toBe(422);
      const missing = await fetch(`${s.url}/repos/octo-org/nope/issues/3/comments`, {
        headers: { authorization: `token ${TOKEN}` },
      });
      expect(missing.status).toBe(404);
      expect(s.requests.map((r) => r.auth)).toEqual(['none', 'bearer', 'bearer', 'token', 'token', 'token', 'token']);
    } finally {
      await s.close();
    }
  });
});

describe('upsertStickyComment against the GitHub REST stand-in', () => {
  let standin: GithubStandin | undefined;
  afterEach(async () => {
    await standin?.close();
    standin = undefined;
  });

  const upsert = (s: GithubStandin, body: string, extra: Partial<Parameters<typeof upsertStickyComment>[0]> = {}) => {
    const logger = recordingLogger();
    const result = upsertStickyComment({
      token: TOKEN,
      apiUrl: s.url,
      repository: REPO,
      issueNumber: 7,
      marker: MARKER,
      body,
      timeoutMs: 10_000,
      logger,
      ...extra,
    });
    return { result, logger };
  };

  it('creates the comment once, then updates that same comment, among 150 comments of others on two pages', async () => {
    standin = await startGithubStandin({ token: TOKEN, preexisting: { issue: 7, count: 150 } });
    const body1 = renderReleaseComment(run, { marker: MARKER });
    const call1 = upsert(standin, body1);
    const first = await call1.result;
    expect(first.action).toBe('created');
    expect(call1.logger.lines.some((l) => l.startsWith('info: Created comment '))).toBe(true);
    expect(call1.logger.lines.join('\n')).not.toContain(TOKEN);
    expect(first.url).toBe(`${new URL(standin.url).origin}/${REPO}/pull/7#issuecomment-${first.id}`);
    const lists = standin.requests.filter((r) => r.method === 'GET');
    expect(lists.map((r) => [r.query['per_page'], r.query['page'] ?? '1'])).toEqual([
      ['100', '1'],
      ['100', '2'],
    ]);
    expect(standin.requests.every((r) => r.auth === 'token' || r.auth === 'bearer')).toBe(true);

    const body2 = renderReleaseComment({ ...run, commit: 'fedcba9876543210' }, { marker: MARKER });
    const second = await upsert(standin, body2).result;
    expect(second).toMatchObject({ action: 'updated', id: first.id });
    const mine = standin.comments({ issue: 7 }).filter((c) => c.body.startsWith(MARKER));
    expect(mine).toHaveLength(1);
    expect(mine[0]!.body).toBe(body2);
    expect(standin.comments({ issue: 7 })).toHaveLength(151);
    expect(standin.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(standin.requests.filter((r) => r.method === 'PATCH').map((r) => r.path)).toEqual([
      `/repos/${REPO}/issues/comments/${first.id}`,
    ]);
  });

  it('writes nothing when the comment already has the body', async () => {
    standin = await startGithubStandin({ token: TOKEN, preexisting: { issue: 7, count: 3 } });
    const body = renderReleaseComment(run, { marker: MARKER });
    const first = await upsert(standin, body).result;
    const writes = () => standin!.requests.filter((r) => r.method !== 'GET').length;
    expect(writes()).toBe(1);
    const again = await upsert(standin, body).result;
    expect(again).toMatchObject({ action: 'unchanged', id: first.id });
    expect(writes()).toBe(1);
  });

  it('updates the oldest marker comment, whoever wrote it, and leaves comments that only quote the marker', async () => {
    standin = await startGithubStandin({
      token: TOKEN,
      preexisting: { issue: 7, count: 120 },
      seed: [
        { issue: 7, body: `> quoting ${MARKER} in a review`, login: 'reviewer-9' },
        { issue: 7, body: `${MARKER}\nwritten with a personal token`, login: 'octocat' },
        { issue: 7, body: `${MARKER}\na later copy`, login: 'octocat' },
        { issue: 8, body: `${MARKER}\nanother pull request`, login: 'octocat' },
      ],
    });
    const oldest = standin.comments({ issue: 7 }).find((c) => c.body.startsWith(MARKER))!;
    const r = await upsert(standin, `${MARKER}\nnew`).result;
    expect(r).toMatchObject({ action: 'updated', id: oldest.id });
    expect(standin.comments({ issue: 7 }).find((c) => c.id === oldest.id)!.body).toBe(`${MARKER}\nnew`);
    expect(standin.comments({ issue: 8 })[0]!.body).toContain('another pull request');
    expect(standin.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
  });

  it('honours a GitHub Enterprise Server API root (/api/v3)', async () => {
    standin = await startGithubStandin({ token: TOKEN, basePath: '/api/v3' });
    expect(standin.url).toMatch(/\/api\/v3$/);
    const r = await upsert(standin, `${MARKER}\nhello`, { apiUrl: `${standin.url}/` }).result;
    expect(r.action).toBe('created');
    expect(standin.comments({ issue: 7 })).toHaveLength(1);
    // Without the base path the same server has nothing to offer: the API root is really used.
    const rootless = upsert(standin, `${MARKER}\nhello`, { apiUrl: new URL(standin.url).origin }).result;
    await expect(rootless).rejects.toThrow(/404/);
  });

  it('retries a 502 and a secondary rate limit with Retry-After, logging each retry, and still writes once', async () => {
    standin = await startGithubStandin({ token: TOKEN });
    standin.failNext({ method: 'GET', status: 502, body: { message: 'Server Error' } });
    standin.failNext({
      method: 'POST',
      status: 403,
      headers: { 'retry-after': '1' },
      body: { message: 'You have exceeded a secondary rate limit.', documentation_url: 'https://docs.github.com/rest' },
    });
    const { result, logger } = upsert(standin, `${MARKER}\nretried`);
    expect((await result).action).toBe('created');
    const retries = logger.lines.filter((l) => l.startsWith('info: ') && l.includes('retry'));
    expect(retries).toHaveLength(2);
    expect(retries[0]).toContain('HTTP 502');
    expect(retries[1]).toContain('secondary rate limit');
    expect(standin.comments({ issue: 7 })).toHaveLength(1);
  });

  it('looks again before repeating a create that got a 5xx', async () => {
    standin = await startGithubStandin({ token: TOKEN });
    standin.failNext({ method: 'POST', status: 500 });
    const { result, logger } = upsert(standin, `${MARKER}\nonce`);
    expect((await result).action).toBe('created');
    expect(logger.lines.some((l) => l.includes('looking again'))).toBe(true);
    expect(standin.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 200',
      'POST 500',
      'GET 200',
      'POST 201',
    ]);
    expect(standin.comments({ issue: 7 })).toHaveLength(1);
  });

  const failures: Array<[string, () => Promise<{ s: GithubStandin; extra?: Record<string, unknown> }>, RegExp[]]> = [
    [
      'a wrong token (401)',
      async () => ({ s: await startGithubStandin({ token: 'ghs_other' }) }),
      [/refused the token \(401\)/, /Bad credentials/, /github-token/],
    ],
    [
      'no write permission (403)',
      async () => ({ s: await startGithubStandin({ token: TOKEN, refuseWrites: true }) }),
      [
        /may not write comments on octo-org\/models#7 \(403\)/,
        /Resource not accessible by integration/,
        /pull-requests: write/,
      ],
    ],
    [
      'an unknown repository (404)',
      async () => ({ s: await startGithubStandin({ token: TOKEN, repositories: ['octo-org/other'] }) }),
      [
        /octo-org\/models#7 was not found on 127\.0\.0\.1:\d+, or the token cannot see it \(404\)/,
        /GITHUB_TOKEN reaches only/,
      ],
    ],
    [
      'an unknown pull request (404)',
      async () => ({ s: await startGithubStandin({ token: TOKEN, issues: [1, 2] }) }),
      [/was not found.*\(404\)/],
    ],
    [
      'a spent primary rate limit (403, resets in an hour)',
      async () => ({ s: await startGithubStandin({ token: TOKEN, rateLimit: 1 }) }),
      [/rate limit refused POST/, /until \d{4}-\d\d-\d\dT/, /would pass the timeout/],
    ],
  ];

  for (const [name, start, patterns] of failures) {
    it(`fails with the cause and fix on ${name}, without the token`, async () => {
      const { s } = await start();
      standin = s;
      const { result, logger } = upsert(s, `${MARKER}\nx`);
      const error = await result.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeDefined();
      const text = describeError(error);
      for (const p of patterns) expect(text).toMatch(p);
      expect(text).toMatch(/\nFix: /);
      expect(`${text}\n${logger.lines.join('\n')}`).not.toContain(TOKEN);
      expect(s.comments({ issue: 7 })).toHaveLength(0);
    });
  }

  for (const silent of [true, 'body'] as const)
    it(`ends within its timeout against a server that ${silent === true ? 'accepts and never answers' : 'stops in the middle of a body'}, naming the host`, async () => {
      standin = await startGithubStandin({ token: TOKEN, silent });
      const started = Date.now();
      const { result, logger } = upsert(standin, `${MARKER}\nx`, { timeoutMs: 1500 });
      const error = await result.then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1400);
      expect(elapsed).toBeLessThan(1500 + 1000);
      const text = describeError(error);
      expect(text).toContain(`The GitHub API at ${new URL(standin.url).host} did not answer in time`);
      expect(text).toMatch(/Fix: check GITHUB_API_URL/);
      expect(`${text}\n${logger.lines.join('\n')}`).not.toContain(TOKEN);
    });

  it('names a server that refuses connections', async () => {
    standin = await startGithubStandin({ token: TOKEN });
    const url = standin.url;
    await standin.close();
    standin = undefined;
    const error = await upsertStickyComment({
      token: TOKEN,
      apiUrl: url,
      repository: REPO,
      issueNumber: 7,
      marker: MARKER,
      body: 'x',
      timeoutMs: 5000,
      logger: recordingLogger(),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const text = describeError(error);
    expect(text).toContain(`The GitHub API at ${new URL(url).host} is not reachable`);
    expect(text).toMatch(/ECONNREFUSED/);
  });

  it('refuses bad settings before any request', async () => {
    standin = await startGithubStandin({ token: TOKEN });
    const base = {
      token: TOKEN,
      apiUrl: standin.url,
      repository: REPO,
      issueNumber: 7,
      marker: MARKER,
      body: 'x',
      timeoutMs: 5000,
      logger: recordingLogger(),
    };
    await expect(upsertStickyComment({ ...base, repository: 'models' })).rejects.toThrow(/owner\/repo/);
    await expect(upsertStickyComment({ ...base, issueNumber: 0 })).rejects.toThrow(/pull request number/);
    await expect(upsertStickyComment({ ...base, token: '' })).rejects.toThrow(/github-token/);
    await expect(upsertStickyComment({ ...base, apiUrl: 'api.github.com' })).rejects.toThrow(/GITHUB_API_URL/);
    expect(standin.requests).toHaveLength(0);
  });
});

describe('renderReleaseComment size', () => {
  it("stays within GitHub's 65536 characters, naming the services it has no room for", () => {
    const base = run.releases[1]!;
    const many: ReleaseRun = {
      ...run,
      releases: Array.from({ length: 200 }, (_, i) => ({
        ...base,
        service: `svc-${i}`,
        cause: `${'|<x>'.repeat(400)} ${i}`,
      })),
    };
    const md = renderReleaseComment(many, { marker: MARKER });
    expect(md.length).toBeLessThanOrEqual(65_536);
    const shown = md.split('\n').filter((l) => l.startsWith('| **svc-')).length;
    expect(shown).toBeGreaterThan(5);
    expect(shown).toBeLessThan(200);
    expect(md).toContain(`…and ${200 - shown} more services (svc-${shown}: failed`);
  });
});

describe('upsertStickyComment: API root', () => {
  it('asks for GITHUB_API_URL when no API root is given', async () => {
    const base = { token: TOKEN, repository: REPO, issueNumber: 7, marker: MARKER, body: 'x', timeoutMs: 5000 };
    await expect(upsertStickyComment({ ...base, apiUrl: '', logger: recordingLogger() })).rejects.toThrow(
      /Input 'GITHUB_API_URL' is required: expected the REST API root/,
    );
  });

  it('says when the API root serves a web page instead of the REST API', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<html><body>Sign in to GitHub</body></html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const error = await upsertStickyComment({
        token: TOKEN,
        apiUrl: url,
        repository: REPO,
        issueNumber: 7,
        marker: MARKER,
        body: 'x',
        timeoutMs: 5000,
        logger: recordingLogger(),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const text = describeError(error);
      expect(text).toContain(`${url} did not answer like the GitHub REST API`);
      expect(text).toMatch(/Fix: set GITHUB_API_URL to the REST API root/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
