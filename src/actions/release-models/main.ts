import * as core from '@actions/core';
import { ConfigurationError, describeError, KfopsError } from '../../common/errors.js';
import { createHttpClient } from '../../inference/http.js';
import { smokeTest } from '../../inference/smoke-test.js';
import { ISVC_API_VERSION } from '../../kserve/inferenceservice.js';
import { releaseModel } from '../../kserve/release.js';
import { KubeClient } from '../../kube/client.js';
import { MlflowClient, moveAlias } from '../../mlflow/registry.js';
import { changedReleaseFiles, listReleaseFiles } from '../../release/discover.js';
import { readReleaseFile, ReleaseFileError, type ReleaseSpec } from '../../release/file.js';
import { runFailure, runReleases, type PipelineDeps } from '../../release/pipeline.js';
import type { ReleaseRun } from '../../release/types.js';
import { renderReleaseComment, upsertStickyComment } from '../../github/comment.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';
import { writeFailedRunSummary } from '../summary.js';
import { INPUT, readSettings, SECRET_INPUTS, type Settings } from './inputs.js';
import { setOutputs, writeSummary } from './outputs.js';

export { readSettings } from './inputs.js';

/** The hidden marker of the one pull-request comment this action keeps. */
export const COMMENT_MARKER = 'kfops:release-models';

/** The releases the inputs ask for: the inline one, or the release files (changed ones only with changed-since). */
async function releaseSpecs(settings: Settings, cwd: string): Promise<{ specs: ReleaseSpec[]; note?: string }> {
  const which = settings.which;
  if (which.kind === 'inline') return { specs: [which.spec] };
  let files: string[];
  let note: string | undefined;
  if (which.changedSince) {
    const changed = await changedReleaseFiles(which.changedSince, which.globs, cwd);
    files = changed.files;
    if (changed.deleted.length)
      core.info(
        `release files deleted since ${which.changedSince} (nothing to release): ${changed.deleted.join(', ')}`,
      );
    note = `No release file matching ${which.globs.join(', ')} changed since ${which.changedSince}.`;
  } else {
    files = listReleaseFiles(which.globs, cwd);
    note = `No file matches ${which.globs.join(', ')}.`;
  }
  core.info(files.length ? `release files: ${files.join(', ')}` : note);
  // Every file is checked before anything is deployed.
  const specs = files.map((f) => readReleaseFile(f, cwd));
  const seen = new Map<string, string>();
  for (const s of specs) {
    const key = `${s.namespace}/${s.service}`;
    const other = seen.get(key);
    if (other)
      throw new ReleaseFileError(
        s.file as string,
        'service',
        s.service,
        `a service no other release file names in namespace ${s.namespace} (${other} releases ${key} too)`,
      );
    seen.set(key, s.file as string);
  }
  return { specs, ...(specs.length ? {} : { note }) };
}

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

/** Writes or updates the pull request's one comment, when `comment` says so; a failure to write is a warning. */
async function comment(settings: Settings, run: ReleaseRun): Promise<void> {
  const env = process.env;
  const { mode, token } = settings.comment;
  const pr = settings.pipeline.pullRequest;
  const isPr = env['GITHUB_EVENT_NAME'] === 'pull_request' || env['GITHUB_EVENT_NAME'] === 'pull_request_target';
  if (mode === 'never' || (mode === 'auto' && (!isPr || !token))) {
    if (mode === 'auto' && isPr && !token) core.info('no pull request comment: github-token is empty');
    return;
  }
  if (!token || pr === undefined || !env['GITHUB_REPOSITORY']) {
    core.warning(
      `no pull request comment: ${!token ? 'github-token is empty' : pr === undefined ? 'no pull request number (set pull-request, or run on a pull_request event)' : 'GITHUB_REPOSITORY is not set'}`,
    );
    return;
  }
  const body = renderReleaseComment(run, {
    marker: COMMENT_MARKER,
    ...(settings.pipeline.mlflow ? { mlflowUiUrl: settings.pipeline.mlflow.url } : {}),
  });
  try {
    const r = await upsertStickyComment({
      token,
      apiUrl: env['GITHUB_API_URL'] || 'https://api.github.com',
      repository: env['GITHUB_REPOSITORY'],
      issueNumber: pr,
      marker: COMMENT_MARKER,
      body,
      timeoutMs: 30_000,
      logger: coreLogger,
    });
    core.info(`pull request comment ${r.action}: ${r.url}`);
    core.setOutput('comment-url', r.url);
  } catch (error) {
    core.warning(`pull request comment not written: ${describeError(error)}`);
  }
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
  const cwd = process.env['GITHUB_WORKSPACE'] || process.cwd();
  const { specs, note } = await releaseSpecs(settings, cwd);
  if (specs.some((s) => s.source.kind === 'registry') && !settings.pipeline.mlflow)
    throw new ConfigurationError(
      INPUT.mlflowTrackingUri,
      undefined,
      `the MLflow tracking server URL, to resolve the models:/ references of ${specs
        .filter((s) => s.source.kind === 'registry')
        .map((s) => s.file ?? s.service)
        .join(', ')}`,
    );
  const env = process.env;
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
  await comment(settings, run);
  const failure = runFailure(run);
  if (failure) throw new ReleasesFailed(failure.message, failure.details);
}
