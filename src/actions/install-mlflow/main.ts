import * as core from '@actions/core';
import { ConfigurationError, KfopsError } from '../../common/errors.js';
import { formatDuration } from '../../common/duration.js';
import { KubeClient } from '../../kube/client.js';
import { kubeMlflowCluster } from '../../mlflow/install/cluster.js';
import {
  installMlflow,
  MLFLOW_STEPS,
  MlflowDeadlineError,
  newMlflowReport,
  type InstallMlflowReport,
} from '../../mlflow/install/install-mlflow.js';
import { reportKnownProblems } from '../known-problems.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';
import { asInputError, readSettings, SECRET_INPUTS } from './inputs.js';
import { setOutputs, writeFailureSummary, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

/** The run's deadline, in the action's words; other errors as the inputs the user sets, or unchanged. */
function asActionError(error: unknown): unknown {
  if (!(error instanceof MlflowDeadlineError)) return asInputError(error);
  return new KfopsError(
    `install-mlflow did not finish within ${formatDuration(error.timeoutMs)}: it was at "${MLFLOW_STEPS[error.step]}"`,
    error.details,
  );
}

export function run(): Promise<void> {
  return runAction('install-mlflow', async () => {
    let report: InstallMlflowReport | undefined;
    let client: KubeClient | undefined;
    try {
      const settings = readSettings(actionInputs(SECRET_INPUTS));
      client = KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env });
      core.info(`cluster: ${client.server} (from ${client.source})`);
      report = newMlflowReport(settings, client.server);
      await installMlflow(settings, kubeMlflowCluster(client), {
        logger: coreLogger,
        report,
        mask: (secret) => core.setSecret(secret),
      });
      setOutputs(report);
      await writeSummary(report);
    } catch (thrown) {
      const error = asActionError(thrown);
      if (!(error instanceof ConfigurationError)) {
        if (report) setOutputs(report, 'failure');
        else core.setOutput('result', 'failure');
        await writeFailureSummary(report, error);
        if (client && report && !(thrown instanceof MlflowDeadlineError))
          await reportKnownProblems(client, [
            'default-storage-class',
            'insufficient-resources',
            'webhooks-without-endpoints',
          ]);
      }
      throw error;
    }
  });
}
