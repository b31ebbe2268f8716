import * as core from '@actions/core';
import { formatDuration } from '../../common/duration.js';
import type { DoctorReport } from '../../doctor/doctor.js';

export function setOutputs(r: DoctorReport): void {
  core.setOutput('problems', r.counts.problems);
  core.setOutput('errors', r.counts.errors);
  core.setOutput('warnings', r.counts.warnings);
  core.setOutput('unknown', r.counts.unknown);
  core.setOutput('report', JSON.stringify({ server: r.server, counts: r.counts, findings: r.findings }));
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function writeSummary(r: DoctorReport): Promise<void> {
  const c = r.counts;
  core.summary
    .addHeading('doctor', 2)
    .addRaw(
      `${r.server}: ${c.ok} OK, ${c.errors} error(s), ${c.warnings} warning(s), ${c.unknown} unknown, ${c.notApplicable} not applicable (${formatDuration(r.durationMs)}).`,
      true,
    )
    .addTable([
      [
        { data: 'check', header: true },
        { data: 'status', header: true },
        { data: 'what was found', header: true },
        { data: 'fix', header: true },
      ],
      ...r.findings.map((f) => [
        escape(f.check),
        f.status === 'problem' ? `problem (${f.severity})` : f.status,
        [f.summary, ...f.evidence].map(escape).join('<br>'),
        escape(f.fix ?? ''),
      ]),
    ]);
  await core.summary.write();
}
