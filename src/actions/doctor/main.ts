import * as core from '@actions/core';
import { KfopsError } from '../../common/errors.js';
import { doctor, formatFindings, type DoctorReport } from '../../doctor/doctor.js';
import { readSnapshot } from '../../doctor/snapshot.js';
import { KubeClient } from '../../kube/client.js';
import { actionInputs, runAction } from '../runner.js';
import { readSettings } from './inputs.js';
import { setOutputs, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

export function run(): Promise<void> {
  return runAction('doctor', async () => {
    const settings = readSettings(actionInputs());
    const client = KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env });
    client.requestTimeoutMs = Math.min(client.requestTimeoutMs, settings.timeoutMs);
    core.info(`cluster: ${client.server} (from ${client.source}); read-only`);
    const report: DoctorReport = await doctor(
      { server: client.server, snapshot: () => readSnapshot(client) },
      { checks: settings.checks, timeoutMs: settings.timeoutMs },
    );
    for (const line of formatFindings(report.findings)) core.info(line);
    const c = report.counts;
    core.info(
      `${report.findings.length} check(s): ${c.ok} OK, ${c.errors} error(s), ${c.warnings} warning(s), ${c.unknown} unknown, ${c.notApplicable} not applicable`,
    );
    setOutputs(report);
    await writeSummary(report);
    const failing = settings.failOn === 'never' ? 0 : settings.failOn === 'warning' ? c.problems : c.errors;
    if (failing > 0) {
      const names = report.findings
        .filter((f) => f.status === 'problem' && (settings.failOn === 'warning' || f.severity === 'error'))
        .map((f) => f.check);
      throw new KfopsError(`${failing} problem(s) found: ${names.join(', ')}`, {
        fix: "see each problem's evidence and fix above (and in the job summary); fail-on: never reports without failing",
      });
    }
  });
}
