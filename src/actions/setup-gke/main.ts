import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import * as core from '@actions/core';
import { formatDuration } from '../../common/duration.js';
import { describeError } from '../../common/errors.js';
import { ContainerApi, REQUEST_TIMEOUT_MS } from '../../gke/api.js';
import { adcTokenSource, staticTokenSource } from '../../gke/auth.js';
import { AUTH_PLUGIN } from '../../gke/kubeconfig.js';
import { selfSubjectReview, setupGke, type SetupProgress } from '../../gke/setup.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';
import { httpDeadlines } from './deadlines.js';
import { readSettings } from './inputs.js';
import { setOutputs, writeFailureSummary, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

/** The path of an executable named command on PATH, or undefined. */
export function findOnPath(command: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

export function run(): Promise<void> {
  return runAction('setup-gke', async () => {
    const envToken = process.env['CLOUDSDK_AUTH_ACCESS_TOKEN'];
    if (envToken) core.setSecret(envToken);
    const settings = readSettings(actionInputs(), process.env);
    const started = Date.now();
    const signal = AbortSignal.timeout(settings.timeoutMs);
    const closeHttp = httpDeadlines(signal, REQUEST_TIMEOUT_MS);
    const tokens = envToken
      ? staticTokenSource(envToken, 'the access token in CLOUDSDK_AUTH_ACCESS_TOKEN')
      : adcTokenSource({ projectId: settings.spec.project, signal, logger: coreLogger, env: process.env });
    const api = new ContainerApi({ endpoint: settings.apiEndpoint, tokens, signal, retry: { logger: coreLogger } });
    core.info(
      `Container API ${api.endpoint}, credentials: ${tokens.description}, overall timeout ${formatDuration(settings.timeoutMs)}`,
    );
    const progress: SetupProgress = {};
    const writeFile = (path: string, text: string): void => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text, { mode: 0o600 });
    };
    try {
      const report = await setupGke(
        settings,
        {
          api,
          signal,
          tokens,
          findPlugin: () => findOnPath(AUTH_PLUGIN, process.env['PATH']),
          writeFile,
          whoAmI: selfSubjectReview,
          mask: (s) => core.setSecret(s),
          logger: coreLogger,
        },
        progress,
      );
      setOutputs(settings, report);
      await writeSummary(settings, report);
    } catch (error) {
      await writeFailureSummary(settings, progress.ensured, error, Date.now() - started).catch((e: unknown) =>
        core.warning(`job summary not written: ${describeError(e)}`),
      );
      throw error;
    } finally {
      closeHttp();
    }
  });
}
