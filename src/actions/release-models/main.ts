import * as core from '@actions/core';
import { ConfigurationError, describeError, KfopsError } from '../../common/errors.js';
import { createHttpClient } from '../../inference/http.js';
import { smokeTest } from '../../inference/smoke-test.js';
import { ISVC_API_VERSION } from '../../kserve/inferenceservice.js';
import { releaseModel } from '../../kserve/release.js';
import { KubeClient } from '../../kube/client.js';
import { MlflowClient, moveAlias } from '../../mlflow/registry.js';
import { commentOnPullRequest } from '../../release/comment.js';
import { selectReleases } from '../../release/select.js';
import { runFailure, runReleases, type PipelineDeps } from '../../release/pipeline.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';
import { writeFailedRunSummary } from '../summary.js';
import { INPUT, readSettings, SECRET_INPUTS, type Settings } from './inputs.js';
import { setOutputs, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

function realDeps(settings: Settings): PipelineDeps {
  let kube: KubeClient | undefined;
  const client = (): KubeClient =>
    (kube ??= KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env }));
  const m = settings.pipeline.mlflow;
  return {
    releaseModel: (s, report) => releaseModel(s, { kube: client }, { logger: coreLogger, report }),
    smokeTest: (s) =>
      smokeTest(s, {
        kube: client,
        http: createHttpClient,
        logger: coreLogger,
        secret: (value) => core.setSecret(value),
      }),
    readService: (namespace, name) =>
      client().get({ apiVersion: ISVC_API_VERSION, kind: 'InferenceService', namespace, name }),
    moveAlias: (name, alias, version) => {
      if (!m) throw new Error('an alias move needs the MLflow settings; this is a bug');
      const mlflow = new MlflowClient({
        trackingUri: m.url,
        ...(m.username !== undefined ? { username: m.username } : {}),
        ...(m.password !== undefined ? { password: m.password } : {}),
        ...(m.token !== undefined ? { token: m.token } : {}),
      });
      return moveAlias(mlflow, name, alias, version);
    },
    logger: coreLogger,
  };
}

export function run(): Promise<void> {
  return runAction('release-models', async () => {
    const settings = readSettings(actionInputs(SECRET_INPUTS));
    try {
      await release(settings);
    } catch (error) {
      // Errors before any release (reading the files, git); a failed release already wrote its table.
      if (!(error instanceof ConfigurationError) && !(error instanceof ReleasesFailed))
        await writeFailedRunSummary('release-models failed', error);
      throw error;
    }
  });
}

/** The run ended with failed or rolled-back releases (the job summary has them). */
class ReleasesFailed extends KfopsError {}

async function release(settings: Settings): Promise<void> {
  const env = process.env;
  const cwd = env['GITHUB_WORKSPACE'] || process.cwd();
  const { specs, note } = await selectReleases(settings.which, cwd, coreLogger);
  if (specs.some((s) => s.source.kind === 'registry') && !settings.pipeline.mlflow)
    throw new ConfigurationError(
      INPUT.mlflowTrackingUri,
      undefined,
      `the MLflow tracking server URL, to resolve the models:/ references of ${specs
        .filter((s) => s.source.kind === 'registry')
        .map((s) => s.file ?? s.service)
        .join(', ')}`,
    );
  const run = await runReleases(settings.pipeline, specs, realDeps(settings), {
    ...(env['GITHUB_RUN_ID'] && env['GITHUB_REPOSITORY']
      ? {
          runUrl: `${env['GITHUB_SERVER_URL'] || 'https://github.com'}/${env['GITHUB_REPOSITORY']}/actions/runs/${env['GITHUB_RUN_ID']}`,
        }
      : {}),
    ...(env['GITHUB_SHA'] ? { commit: env['GITHUB_SHA'] } : {}),
  });
  setOutputs(run);
  await writeSummary(run, note).catch((e: unknown) => core.warning(`job summary not written: ${describeError(e)}`));
  const commented = await commentOnPullRequest(
    {
      ...settings.comment,
      ...(settings.pipeline.pullRequest !== undefined ? { pullRequest: settings.pipeline.pullRequest } : {}),
      ...(env['GITHUB_REPOSITORY'] ? { repository: env['GITHUB_REPOSITORY'] } : {}),
      ...(env['GITHUB_EVENT_NAME'] ? { event: env['GITHUB_EVENT_NAME'] } : {}),
      apiUrl: env['GITHUB_API_URL'] || 'https://api.github.com',
      ...(settings.pipeline.mlflow ? { mlflowUiUrl: settings.pipeline.mlflow.url } : {}),
    },
    run,
    coreLogger,
  );
  if (commented.written) {
    core.info(`pull request comment ${commented.action}: ${commented.url}`);
    core.setOutput('comment-url', commented.url);
  } else if (commented.warn) core.warning(`no pull request comment: ${commented.reason}`);
  else core.info(`no pull request comment: ${commented.reason}`);
  const failure = runFailure(run);
  if (failure) throw new ReleasesFailed(failure.message, failure.details);
}
