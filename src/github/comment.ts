import { formatDuration } from '../common/duration.js';
import { ConfigurationError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { splitUrlCredentials } from '../common/redact.js';
import { modelVersionUrl } from '../mlflow/registry.js';
import type { ModelRef, ReleaseOutcome, ReleaseRun, ServiceRelease, SmokeFigures } from '../release/types.js';
import { githubClient, type IssueComment } from './client.js';
import { cell, link, row } from './markdown.js';

/**
 * The sticky pull-request comment of a model release: one comment per pull request, found again by a
 * hidden marker, created once and then updated on every push.
 */

/** The hidden HTML comment that marks the sticky comment: `<!-- kfops:release ... -->` as given, or built from an id. */
export function markerComment(marker: string): string {
  const m = marker.trim();
  if (/^<!--[\s\S]*-->$/.test(m)) {
    if (m.slice(4, -3).includes('--'))
      throw new ConfigurationError('marker', marker, 'an HTML comment without "--" inside');
    return m;
  }
  if (!m || m.includes('--') || /[\r\n<>]/.test(m))
    throw new ConfigurationError(
      'marker',
      marker,
      'an id such as kfops:release or an HTML comment such as <!-- kfops:release -->',
    );
  return `<!-- ${m} -->`;
}

const OUTCOME_LABEL: Record<ReleaseOutcome, string> = {
  passed: '✅ passed',
  failed: '❌ failed',
  'rolled-back': '↩️ rolled back',
  unchanged: '⏸️ unchanged',
  skipped: '⏭️ skipped',
};

/** What GitHub accepts as a comment body (characters), with room to spare for the marker and the last line. */
const MAX_BODY = 65_536 - 2_000;

/** The run's overall result: the worst outcome of its services. */
export function overallOutcome(run: ReleaseRun): ReleaseOutcome | 'none' {
  const outcomes = run.releases.map((r) => r.outcome);
  if (outcomes.length === 0) return 'none';
  for (const o of ['failed', 'rolled-back', 'skipped', 'passed'] as const) if (outcomes.includes(o)) return o;
  return 'unchanged';
}

function heading(run: ReleaseRun): string {
  const overall = overallOutcome(run);
  const what = run.mode === 'candidate' ? 'Model release candidate' : 'Model release';
  if (overall === 'none') return `## ${what}: no release file changed`;
  const counts = (Object.keys(OUTCOME_LABEL) as ReleaseOutcome[])
    .map((o) => [o, run.releases.filter((r) => r.outcome === o).length] as const)
    .filter(([, n]) => n > 0)
    .map(([o, n]) => `${n} ${o}`)
    .join(', ');
  const n = run.releases.length;
  return `## ${what}: ${OUTCOME_LABEL[overall]} (${n} service${n === 1 ? '' : 's'}: ${counts})`;
}

function versionLink(ref: ModelRef | undefined, mlflowUiUrl: string | undefined, given?: string): string {
  if (!ref?.registeredModel || !ref.version) return '';
  const url = given ?? (mlflowUiUrl ? modelVersionUrl(mlflowUiUrl, ref.registeredModel, ref.version) : undefined);
  return link(`${ref.registeredModel} v${ref.version}`, url);
}

function modelCell(ref: ModelRef | undefined, mlflowUiUrl: string | undefined, given?: string): string {
  if (!ref) return 'none (first release)';
  const parts: string[] = [];
  const version = versionLink(ref, mlflowUiUrl, given);
  if (version) parts.push(`**${version}**`);
  parts.push(cell(ref.reference, 300));
  if (ref.uri && ref.uri !== ref.reference) parts.push(cell(ref.uri, 300));
  return parts.join('<br>');
}

function ms(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}

function latencyCell(smoke: SmokeFigures | undefined): string {
  if (!smoke || (smoke.p50Ms === undefined && smoke.p95Ms === undefined && smoke.p99Ms === undefined)) return '–';
  return `${ms(smoke.p50Ms)} / ${ms(smoke.p95Ms)} / ${ms(smoke.p99Ms)}`;
}

function errorRateCell(smoke: SmokeFigures | undefined): string {
  if (!smoke) return '–';
  const pct = Math.round(smoke.errorRate * 10_000) / 100;
  return `${pct}% (${smoke.errors}/${smoke.requests})`;
}

function outcomeCell(r: ServiceRelease): string {
  const parts = [`${OUTCOME_LABEL[r.outcome]}${r.durationMs > 0 ? ` in ${formatDuration(r.durationMs)}` : ''}`];
  if (r.alias && r.outcome === 'passed')
    parts.push(
      cell(
        `alias ${r.alias.name} → v${r.alias.version}${r.alias.previousVersion ? ` (was v${r.alias.previousVersion})` : ''}`,
      ),
    );
  if (r.cause && (r.outcome === 'failed' || r.outcome === 'rolled-back' || r.outcome === 'skipped'))
    parts.push(`**Cause:** ${cell(r.cause, 1000)}`);
  return parts.join('<br>');
}

function serviceCell(r: ServiceRelease): string {
  const parts = [`**${cell(r.service, 100)}**`, cell(r.namespace, 100)];
  if (r.deployedAs && r.deployedAs !== r.service) parts.push(`as ${cell(r.deployedAs, 100)}`);
  if (r.url) parts.push(link('endpoint', r.url));
  if (r.file) parts.push(cell(r.file, 200));
  return parts.join('<br>');
}

/**
 * The comment's markdown: the hidden marker, a heading with the overall result, one table row per
 * service (current and candidate model, outcome with its cause, smoke latency and error rate, links),
 * and a link to the workflow run. Everything taken from the run is escaped and has its URL credentials
 * redacted. The text depends only on the run (no clock), so the same run renders the same body.
 */
export function renderReleaseComment(run: ReleaseRun, opts: { marker: string; mlflowUiUrl?: string }): string {
  // The UI link never carries the tracking server's credentials (the reader signs in there).
  const mlflowUiUrl = opts.mlflowUiUrl ? splitUrlCredentials(opts.mlflowUiUrl).url : undefined;
  const lines = [markerComment(opts.marker), heading(run), ''];
  const context: string[] = [run.mode === 'candidate' ? 'Candidates deployed beside production' : 'Production'];
  if (run.commit) context.push(`commit ${cell(run.commit.slice(0, 12), 40)}`);
  if (run.runUrl) context.push(link('workflow run', run.runUrl));
  lines.push(context.join(' · '), '');
  if (run.releases.length > 0) {
    lines.push(
      row(['Service', 'Current', 'Candidate', 'Outcome', 'p50 / p95 / p99 ms', 'Error rate', 'Links']),
      row(['---', '---', '---', '---', '---:', '---:', '---']),
    );
    let used = lines.join('\n').length;
    for (const [i, r] of run.releases.entries()) {
      const links = [
        versionLink(r.candidate, mlflowUiUrl, r.modelVersionUrl),
        run.runUrl ? link('run', run.runUrl) : '',
      ].filter(Boolean);
      const line = row([
        serviceCell(r),
        modelCell(r.current, mlflowUiUrl),
        modelCell(r.candidate, mlflowUiUrl, r.modelVersionUrl),
        outcomeCell(r),
        latencyCell(r.smoke),
        errorRateCell(r.smoke),
        links.join('<br>') || '–',
      ]);
      // GitHub keeps at most 65536 characters per comment: the rows that do not fit are named, not shown.
      if (used + 1 + line.length > MAX_BODY) {
        const rest = run.releases.slice(i);
        const names = rest.map((x) => `${x.service}: ${x.outcome}`).join(', ');
        lines.push(
          '',
          `…and ${rest.length} more service${rest.length === 1 ? '' : 's'} (${cell(names, 600)}): no room left in the comment; the workflow run has them all.`,
        );
        break;
      }
      lines.push(line);
      used += 1 + line.length;
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface StickyCommentOptions {
  token: string;
  /** The REST API root: GITHUB_API_URL (https://api.github.com, or https://HOST/api/v3 on GitHub Enterprise Server). */
  apiUrl: string;
  /** owner/repo */
  repository: string;
  /** The pull request (or issue) number. */
  issueNumber: number;
  marker: string;
  body: string;
  /** Deadline for the whole exchange (every page, write and retry). */
  timeoutMs: number;
  logger: Logger;
}

export interface StickyCommentResult {
  id: number;
  action: 'created' | 'updated' | 'unchanged';
  url: string;
}

const REPOSITORY = /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/;

function sameBody(a: string, b: string): boolean {
  const norm = (s: string): string => s.replace(/\r\n/g, '\n').trimEnd();
  return norm(a) === norm(b);
}

/**
 * Keeps one comment per pull request: finds the comment that starts with the marker (whoever wrote
 * it; the oldest when there are several), updates it when its body differs, or creates it. Pages
 * through every comment (100 per page). Never writes when the body is already there.
 */
export async function upsertStickyComment(opts: StickyCommentOptions): Promise<StickyCommentResult> {
  if (!opts.token) throw new ConfigurationError('github-token', undefined, 'a GitHub token (e.g. ${{ github.token }})');
  if (!REPOSITORY.test(opts.repository))
    throw new ConfigurationError('repository', opts.repository, 'owner/repo (as GITHUB_REPOSITORY gives it)');
  if (!Number.isSafeInteger(opts.issueNumber) || opts.issueNumber <= 0)
    throw new ConfigurationError('issue number', String(opts.issueNumber), 'a pull request number such as 12');
  if (!(opts.timeoutMs > 0)) throw new ConfigurationError('timeout', String(opts.timeoutMs), 'a positive number of ms');
  const marker = markerComment(opts.marker);
  const body = opts.body.trimStart().startsWith(marker) ? opts.body : `${marker}\n${opts.body}`;
  const [owner, repo] = opts.repository.split('/') as [string, string];
  const where = `${opts.repository}#${opts.issueNumber}`;
  const client = githubClient({
    token: opts.token,
    apiUrl: opts.apiUrl,
    timeoutMs: opts.timeoutMs,
    logger: opts.logger,
    target: where,
  });
  try {
    const find = async (): Promise<IssueComment | undefined> => {
      let seen = 0;
      for await (const page of client.listIssueComments(owner, repo, opts.issueNumber)) {
        seen += page.length;
        const found = page.find((c) => typeof c.body === 'string' && c.body.trimStart().startsWith(marker));
        if (found) return found;
      }
      opts.logger.debug(`${where}: no comment with the marker among ${seen}`);
      return undefined;
    };
    const settle = async (existing: IssueComment): Promise<StickyCommentResult> => {
      if (sameBody(existing.body ?? '', body)) {
        opts.logger.info(`Comment ${existing.html_url} is up to date`);
        return { id: existing.id, action: 'unchanged', url: existing.html_url };
      }
      const updated = await client.updateIssueComment(owner, repo, existing.id, body);
      opts.logger.info(`Updated comment ${updated.html_url}`);
      return { id: updated.id, action: 'updated', url: updated.html_url };
    };
    const existing = await find();
    if (existing) return await settle(existing);
    // A create whose answer was lost may have been written: look again before a second create.
    const created = await client.createIssueComment(owner, repo, opts.issueNumber, body, async () => {
      const again = await find();
      return again ? await settle(again) : undefined;
    });
    if ('action' in created) return created;
    opts.logger.info(`Created comment ${created.html_url}`);
    return { id: created.id, action: 'created', url: created.html_url };
  } finally {
    await client.close();
  }
}
