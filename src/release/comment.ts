/**
 * The pull request's one comment of a release run: whether to write it, and writing it. A comment that
 * cannot be written is reported, never a failed release.
 */
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { renderReleaseComment, upsertStickyComment } from '../github/comment.js';
import type { ReleaseRun } from './types.js';

/** The hidden marker of the one pull-request comment a release run keeps. */
export const COMMENT_MARKER = 'kfops:release-models';

export interface CommentSettings {
  mode: 'auto' | 'always' | 'never';
  token?: string;
  pullRequest?: number;
  /** owner/repo */
  repository?: string;
  /** The event that started the run (pull_request, push, ...). */
  event?: string;
  apiUrl: string;
  mlflowUiUrl?: string;
  timeoutMs?: number;
}

export type CommentResult =
  | { written: true; url: string; action: 'created' | 'updated' | 'unchanged' }
  | { written: false; reason: string; warn: boolean };

export async function commentOnPullRequest(
  s: CommentSettings,
  run: ReleaseRun,
  logger: Logger,
): Promise<CommentResult> {
  const isPr = s.event === 'pull_request' || s.event === 'pull_request_target';
  if (s.mode === 'never') return { written: false, reason: 'comment: never', warn: false };
  if (s.mode === 'auto' && !isPr) return { written: false, reason: 'not a pull request event', warn: false };
  if (!s.token) return { written: false, reason: 'github-token is empty', warn: s.mode === 'always' };
  if (s.pullRequest === undefined)
    return {
      written: false,
      reason: 'no pull request number (set pull-request, or run on a pull_request event)',
      warn: true,
    };
  if (!s.repository) return { written: false, reason: 'GITHUB_REPOSITORY is not set', warn: true };
  const body = renderReleaseComment(run, {
    marker: COMMENT_MARKER,
    ...(s.mlflowUiUrl ? { mlflowUiUrl: s.mlflowUiUrl } : {}),
  });
  try {
    const r = await upsertStickyComment({
      token: s.token,
      apiUrl: s.apiUrl,
      repository: s.repository,
      issueNumber: s.pullRequest,
      marker: COMMENT_MARKER,
      body,
      timeoutMs: s.timeoutMs ?? 30_000,
      logger,
    });
    return { written: true, url: r.url, action: r.action };
  } catch (error) {
    return { written: false, reason: describeError(error), warn: true };
  }
}
