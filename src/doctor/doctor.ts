/**
 * The doctor use case: read the cluster once (within a deadline), run the checks, and say which
 * problems are bad enough to fail the run. Read-only: it changes nothing on the cluster.
 */
import { formatDuration } from '../common/duration.js';
import { KfopsError } from '../common/errors.js';
import { CHECKS, runChecks, type Finding } from './checks.js';
import type { Snapshot } from './snapshot.js';

export interface DoctorReport {
  server: string;
  findings: Finding[];
  counts: { ok: number; problems: number; errors: number; warnings: number; unknown: number; notApplicable: number };
  durationMs: number;
}

export class DoctorDeadlineError extends KfopsError {
  override readonly name = 'DoctorDeadlineError';
}

export async function doctor(
  cluster: { server: string; snapshot: () => Promise<Snapshot> },
  options: { checks: string[]; timeoutMs: number },
): Promise<DoctorReport> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const snapshot = await Promise.race([
    cluster.snapshot(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DoctorDeadlineError(`The cluster was not read within ${formatDuration(options.timeoutMs)}`, {
              cause: `the API server at ${cluster.server} did not answer every list before the deadline`,
              fix: 'check that the cluster answers at that address; raise timeout only if it is just slow',
            }),
          ),
        options.timeoutMs,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  const checks = options.checks.length ? CHECKS.filter((c) => options.checks.includes(c.id)) : CHECKS;
  const findings = runChecks(snapshot, checks);
  const count = (f: (x: Finding) => boolean): number => findings.filter(f).length;
  return {
    server: cluster.server,
    findings,
    counts: {
      ok: count((f) => f.status === 'ok'),
      problems: count((f) => f.status === 'problem'),
      errors: count((f) => f.status === 'problem' && f.severity === 'error'),
      warnings: count((f) => f.status === 'problem' && f.severity === 'warning'),
      unknown: count((f) => f.status === 'unknown'),
      notApplicable: count((f) => f.status === 'not-applicable'),
    },
    durationMs: Date.now() - started,
  };
}

const MARK: Record<Finding['status'], string> = {
  ok: 'OK',
  problem: 'PROBLEM',
  'not-applicable': 'n/a',
  unknown: 'UNKNOWN',
};

/** The report as log lines: one per check, then the evidence and the fix of each problem. */
export function formatFindings(findings: readonly Finding[]): string[] {
  const lines: string[] = [];
  for (const f of findings) {
    const mark = f.status === 'problem' ? `${MARK[f.status]} (${f.severity})` : MARK[f.status];
    lines.push(`${mark.padEnd(17)} ${f.check}: ${f.summary}`);
    if (f.status !== 'not-applicable') {
      for (const e of f.evidence) lines.push(`                    - ${e}`);
      if (f.fix) lines.push(`                    fix: ${f.fix}`);
    }
  }
  return lines;
}
