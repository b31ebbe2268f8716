/**
 * After a failed run: the doctor's checks that fit the action, run read-only within a short deadline,
 * and every problem they find added to the log (as warnings) and to the job summary, so the failure
 * says which known problem it hit. Best effort: nothing here may hide or replace the run's own error.
 */
import * as core from '@actions/core';
import { describeError } from '../common/errors.js';
import { CHECKS, type Finding } from '../doctor/checks.js';
import { doctor } from '../doctor/doctor.js';
import { readSnapshot, type SnapshotKey } from '../doctor/snapshot.js';
import type { KubeClient } from '../kube/client.js';

export const KNOWN_PROBLEM_TIMEOUT_MS = 15_000;

export async function reportKnownProblems(
  client: KubeClient,
  checks: readonly string[],
  timeoutMs = KNOWN_PROBLEM_TIMEOUT_MS,
): Promise<Finding[]> {
  try {
    const needs = new Set<SnapshotKey>(CHECKS.filter((c) => checks.includes(c.id)).flatMap((c) => c.needs));
    const report = await doctor(
      { server: client.server, snapshot: () => readSnapshot(client, needs) },
      { checks: [...checks], timeoutMs },
    );
    const problems = report.findings.filter((f) => f.status === 'problem');
    for (const f of problems)
      core.warning(
        `known problem ${f.check}: ${f.summary}${f.evidence[0] ? ` (${f.evidence[0]})` : ''}; fix: ${f.fix ?? ''}`,
      );
    if (problems.length) {
      core.summary.addHeading('Known problems found on the cluster', 3).addTable([
        [
          { data: 'check', header: true },
          { data: 'what was found', header: true },
          { data: 'fix', header: true },
        ],
        ...problems.map((f) => [f.check, [f.summary, ...f.evidence].map(escape).join('<br>'), escape(f.fix ?? '')]),
      ]);
      await core.summary.write();
    }
    return problems;
  } catch (error) {
    core.info(`known problems not checked: ${describeError(error)}`);
    return [];
  }
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
