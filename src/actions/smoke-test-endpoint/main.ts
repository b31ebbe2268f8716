import * as core from '@actions/core';
import { ConfigurationError, describeError, KfopsError } from '../../common/errors.js';
import { KubeClient } from '../../kube/client.js';
import { createHttpClient } from '../../inference/http.js';
import { modelOf, SettingError, smokeTest } from '../../inference/smoke-test.js';
import { Inputs } from '../../common/inputs.js';
import { coreLogger, runAction } from '../runner.js';
import { inputOf, readSettings, type Settings } from './inputs.js';
import { redactError, redactingLogger, setOutputs, writeFailure, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

export function run(): Promise<void> {
  return runAction('smoke-test-endpoint', async () => {
    // Secrets (token, credentials in url) are masked once every input is valid, before anything is logged;
    // an input error never quotes them, so a refused run never writes them anywhere, not even to mask them.
    const secrets: string[] = [];
    const settings = readSettings(
      new Inputs(
        (name) => core.getInput(name),
        (value) => secrets.push(value),
      ),
    );
    for (const s of secrets) core.setSecret(s);
    try {
      await body(settings);
    } catch (error) {
      const shown = redactError(
        error instanceof SettingError
          ? new ConfigurationError(inputOf(error.field, settings), error.value, error.expected)
          : error,
      );
      if (!(shown instanceof ConfigurationError))
        await writeFailure(modelOf(settings.target), shown).catch((e: unknown) =>
          core.warning(`job summary not written: ${describeError(e)}`),
        );
      throw shown;
    }
  });
}

async function body(settings: Settings): Promise<void> {
  const logger = redactingLogger(coreLogger);
  const { endpoint, report } = await smokeTest(settings, {
    kube: () => KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env }),
    http: createHttpClient,
    logger,
    secret: (value) => core.setSecret(value),
  });
  setOutputs(report);
  await writeSummary(report);
  if (report.failures.length) {
    throw new KfopsError(report.failures.join('\n'), {
      fix: report.differences.length
        ? 'compare the model with the one that produced `expected`, or loosen `compare`/`tolerance` if the difference is acceptable'
        : 'look at the latency and errors in the job summary; raise the thresholds only if the model is known to be this slow',
    });
  }
  logger.info(
    `passed: ${endpoint.model} answers correctly${report.load ? ` (p95 ${report.load.latency?.p95.toFixed(1) ?? '-'}ms, ${report.load.throughput.toFixed(1)} req/s)` : ''}`,
  );
}
