import * as core from '@actions/core';
import { ConfigurationError, describeError } from '../../common/errors.js';
import { KubeClient } from '../../kube/client.js';
import { DeadlineError, newReleaseReport, releaseModel, type ReleaseModelReport } from '../../kserve/release.js';
import { reportKnownProblems } from '../known-problems.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';
import { asInputError, readSettings, SECRET_INPUTS, type Settings } from './inputs.js';
import { setOutputs, writeFailureSummary, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

/** True once the deadline passed during a call: that call may still hold a socket open. */
let abandoned = false;

export function run(): Promise<void> {
  return runAction('deploy-inferenceservice', async () => {
    let settings: Settings | undefined;
    let report: ReleaseModelReport | undefined;
    try {
      settings = readSettings(actionInputs(SECRET_INPUTS));
      const kubeconfig = settings.kubeconfig;
      report = newReleaseReport(settings.releaseModel.release.action);
      await releaseModel(
        settings.releaseModel,
        { kube: () => KubeClient.fromSources({ kubeconfig, env: process.env }) },
        { logger: coreLogger, report },
      );
      setOutputs(report);
      await writeSummary(report, settings.releaseModel.release.service);
    } catch (thrown) {
      const error = asInputError(thrown);
      if (error instanceof DeadlineError) abandoned = true;
      if (!(error instanceof ConfigurationError) || report) {
        if (report) setOutputs(report);
        // Best effort: a summary that cannot be written must not hide the error itself.
        await writeFailureSummary(report, settings?.releaseModel.release.service, error).catch((e: unknown) =>
          core.warning(`job summary not written: ${describeError(e)}`),
        );
        // A deploy that reached the cluster and did not run out of time: which known problem did it hit?
        if (settings && report && !(error instanceof DeadlineError)) {
          const kubeconfig = settings.kubeconfig;
          await reportKnownProblems(KubeClient.fromSources({ kubeconfig, env: process.env }), [
            'inferenceservices',
            'model-authorization',
            'jwt-issuer',
            'kserve-domain',
            'insufficient-resources',
          ]);
        }
      }
      throw error;
    }
  });
}

/** Ends the process once the step has failed at its deadline, instead of waiting on an abandoned call. */
export function exitIfAbandoned(): void {
  if (abandoned) process.exit();
}
