import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { COMMENT_MARKER, commentOnPullRequest, type CommentSettings } from '../../src/release/comment.js';
import type { ReleaseRun } from '../../src/release/types.js';
import { startGithubStandin, type GithubStandin } from '../support/github-standin.js';

const TOKEN = 'ghs_releaseCommentToken0123456789';
const run: ReleaseRun = {
  mode: 'candidate',
  releases: [
    {
      service: 'wine',
      namespace: 'team',
      mode: 'candidate',
      deployedAs: 'wine-pr-9',
      candidate: { reference: 'models:/wine/2', registeredModel: 'wine', version: '2' },
      outcome: 'passed',
      durationMs: 1200,
    },
  ],
};

let standin: GithubStandin | undefined;
afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

const base = (apiUrl: string): CommentSettings => ({
  mode: 'auto',
  token: TOKEN,
  pullRequest: 9,
  repository: 'octo-org/models',
  event: 'pull_request',
  apiUrl,
  timeoutMs: 5_000,
});

describe('commentOnPullRequest', () => {
  it('writes nothing and sends no request when the run is not for a pull request, or comments are off', async () => {
    standin = await startGithubStandin({ token: TOKEN });
    const push = await commentOnPullRequest({ ...base(standin.url), event: 'push' }, run, silentLogger);
    const never = await commentOnPullRequest({ ...base(standin.url), mode: 'never' }, run, silentLogger);
    expect(push).toEqual({ written: false, reason: 'not a pull request event', warn: false });
    expect(never).toMatchObject({ written: false, warn: false });
    expect(standin.requests).toHaveLength(0);
  });

  it('warns (never fails) when it should comment but cannot: no token with always, no number, no repository', async () => {
    const { token: _t, ...tokenless } = base('http://127.0.0.1:9');
    const noToken = await commentOnPullRequest({ ...tokenless, mode: 'always' }, run, silentLogger);
    expect(noToken).toMatchObject({ written: false, warn: true, reason: 'github-token is empty' });
    const { pullRequest: _n, ...noNumber } = base('http://127.0.0.1:9');
    expect(await commentOnPullRequest(noNumber, run, silentLogger)).toMatchObject({ written: false, warn: true });
    const { repository: _r, ...noRepo } = base('http://127.0.0.1:9');
    expect(await commentOnPullRequest(noRepo, run, silentLogger)).toMatchObject({
      written: false,
      warn: true,
      reason: 'GITHUB_REPOSITORY is not set',
    });
  });

  it('creates the comment once with the marker, then leaves it unchanged on the same run', async () => {
    standin = await startGithubStandin({ token: TOKEN });
    const first = await commentOnPullRequest(base(standin.url), run, silentLogger);
    const second = await commentOnPullRequest(base(standin.url), run, silentLogger);
    expect(first).toMatchObject({ written: true, action: 'created' });
    expect(second).toMatchObject({ written: true, action: 'unchanged' });
    const comments = standin.comments();
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain(COMMENT_MARKER);
    expect(comments[0]?.body).toContain('wine');
  });

  it('turns a refused write into a warning naming the cause, without the token', async () => {
    standin = await startGithubStandin({ token: 'another-token' });
    const r = await commentOnPullRequest(base(standin.url), run, silentLogger);
    expect(r).toMatchObject({ written: false, warn: true });
    expect(r.written ? '' : r.reason).toMatch(/401|token/i);
    expect(JSON.stringify(r)).not.toContain(TOKEN);
  });
});
