import * as core from '@actions/core';
import { formatDuration } from '../../common/duration.js';
import { redactUrlCredentials } from '../../common/redact.js';
import { overallResult } from '../../release/pipeline.js';
import type { ModelRef, ReleaseRun, ServiceRelease } from '../../release/types.js';

const num = (v: number | undefined, digits = 1): string =>
  v === undefined || !Number.isFinite(v) ? '' : String(Math.round(v * 10 ** digits) / 10 ** digits);

/** Every output: the records as JSON, the overall result, and for a single release its figures. */
export function setOutputs(run: ReleaseRun): void {
  core.setOutput('results', redactUrlCredentials(JSON.stringify(run.releases)));
  core.setOutput('result', overallResult(run));
  const one = run.releases.length === 1 ? run.releases[0] : undefined;
  core.setOutput('url', one?.url ?? '');
  core.setOutput('model-version', one?.candidate.version ?? '');
  core.setOutput('previous-version', one?.alias?.previousVersion ?? one?.current?.version ?? '');
  core.setOutput('p50-ms', num(one?.smoke?.p50Ms));
  core.setOutput('p95-ms', num(one?.smoke?.p95Ms));
  core.setOutput('p99-ms', num(one?.smoke?.p99Ms));
  core.setOutput('error-rate', one?.smoke ? num(one.smoke.errorRate, 4) : '');
}

function model(ref: ModelRef | undefined): string {
  if (!ref) return 'none';
  return `${ref.reference}${ref.version && !ref.reference.endsWith(`/${ref.version}`) ? ` (v${ref.version})` : ''}`;
}

function row(r: ServiceRelease): string[] {
  const s = r.smoke;
  return [
    `${r.namespace}/${r.deployedAs}${r.file ? `<br>${r.file}` : ''}`,
    model(r.current),
    model(r.candidate),
    `${r.outcome}${r.cause ? `: ${r.cause}` : ''}`,
    s ? `${num(s.p50Ms)} / ${num(s.p95Ms)} / ${num(s.p99Ms)}` : '-',
    s ? `${num(s.errorRate * 100, 2)}% of ${s.requests}` : '-',
    r.alias ? `${r.alias.name}: ${r.alias.previousVersion ?? 'none'} → ${r.alias.version}` : '-',
    formatDuration(r.durationMs),
  ].map(redactUrlCredentials);
}

export async function writeSummary(run: ReleaseRun, note?: string): Promise<void> {
  const heading = `release-models (${run.mode}): ${overallResult(run)}`;
  core.summary.addHeading(heading, 2);
  if (!run.releases.length) core.summary.addRaw(note ?? 'No release file to release.', true);
  else
    core.summary.addTable([
      ['service', 'serving before', 'released', 'outcome', 'p50 / p95 / p99 ms', 'errors', 'alias', 'time'].map(
        (data) => ({ data, header: true }),
      ),
      ...run.releases.map(row),
    ]);
  await core.summary.write();
}
