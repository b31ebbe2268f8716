import * as core from '@actions/core';
import { ConfigurationError, KfopsError } from '../../common/errors.js';
import { nodeExec } from '../../common/exec.js';
import { formatDuration } from '../../common/duration.js';
import { KubeClient } from '../../kube/client.js';
import {
  installPlatform,
  kubePlatformClients,
  newPlatformReport,
  PLATFORM_STEPS,
  PlatformDeadlineError,
  type InstallPlatformReport,
} from '../../kubeflow/install-platform.js';
import { reportKnownProblems } from '../known-problems.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';
import { asInputError, readSettings } from './inputs.js';
import { setOutputs, writeFailureSummary, writePlanSummary, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

/** The doctor's checks of what stops an install. */
const KNOWN_PROBLEM_CHECKS = [
  'default-storage-class',
  'insufficient-resources',
  'crds',
  'webhooks-without-endpoints',
  'dex-users',
  'gateway-exposure',
];

/** The run's deadline, in the action's words; other errors as the inputs the user sets, or unchanged. */
function asActionError(error: unknown): unknown {
  if (!(error instanceof PlatformDeadlineError)) return asInputError(error);
  return new KfopsError(
    `install-kubeflow did not finish within ${formatDuration(error.timeoutMs)}: it was at "${PLATFORM_STEPS[error.step]}"`,
    error.details,
  );
}

export function run(): Promise<void> {
  return runAction('install-kubeflow', async () => {
    let report: InstallPlatformReport | undefined;
    let client: KubeClient | undefined;
    try {
      const settings = readSettings(actionInputs(), process.env);
      for (const password of settings.passwords.values()) core.setSecret(password);
      client = KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env });
      core.info(`cluster: ${client.server} (from ${client.source})`);
      report = newPlatformReport(settings, client.server);
      await installPlatform(
        settings,
        kubePlatformClients(client, { exec: nodeExec, logger: coreLogger, env: process.env }),
        { logger: coreLogger, report },
      );
      setOutputs(report);
      await (settings.planOnly ? writePlanSummary(report) : writeSummary(report));
    } catch (thrown) {
      const error = asActionError(thrown);
      if (!(error instanceof ConfigurationError)) {
        if (report) setOutputs(report, 'failure');
        else core.setOutput('result', 'failure');
        await writeFailureSummary(report, error);
        // A run that reached the cluster and did not run out of time: which known problem did it hit?
        if (client && report && report.step !== 'render' && !(thrown instanceof PlatformDeadlineError))
          await reportKnownProblems(client, KNOWN_PROBLEM_CHECKS);
      }
      throw error;
    }
  });
}
