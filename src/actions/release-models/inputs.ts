import { readFileSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';
import { kubeconfigInput } from '../kubeconfig.js';
import { ConfigurationError } from '../../common/errors.js';
import { Inputs } from '../../common/inputs.js';
import type { MlflowSettings } from '../../kserve/release.js';
import type { S3Settings } from '../../kserve/storage.js';
import { readSettings as readDeploySettings, asInputError } from '../deploy-inferenceservice/inputs.js';
import { REF_FORM, REF_PATTERN } from '../../release/discover.js';
import { parseReleaseDocument, ReleaseFileError, type ReleaseSpec } from '../../release/file.js';
import type { PipelineSettings } from '../../release/pipeline.js';
import type { ReleaseMode } from '../../release/types.js';

/** The inputs, by name (action.yml). */
export const INPUT = {
  mode: 'mode',
  files: 'files',
  changedSince: 'changed-since',
  service: 'service',
  namespace: 'namespace',
  model: 'model',
  format: 'format',
  protocol: 'protocol',
  runtime: 'runtime',
  resources: 'resources',
  minReplicas: 'min-replicas',
  maxReplicas: 'max-replicas',
  canary: 'canary',
  deploymentMode: 'deployment-mode',
  alias: 'alias',
  smokePayload: 'smoke-payload',
  smokePayloadFile: 'smoke-payload-file',
  smokeExpected: 'smoke-expected',
  smokeExpectedFile: 'smoke-expected-file',
  smokeCompare: 'smoke-compare',
  smokeTolerance: 'smoke-tolerance',
  smokeRequests: 'smoke-requests',
  smokeMaxP95Ms: 'smoke-max-p95-ms',
  smokeMaxErrorRate: 'smoke-max-error-rate',
  smokeAuth: 'smoke-auth',
  smokeToken: 'smoke-token',
  smokeServiceAccount: 'smoke-service-account',
  smokeTimeout: 'smoke-timeout',
  requestTimeout: 'request-timeout',
  pullRequest: 'pull-request',
  kubeconfig: 'kubeconfig',
  ingressAddress: 'ingress-address',
  mlflowTrackingUri: 'mlflow-tracking-uri',
  mlflowUsername: 'mlflow-username',
  mlflowPassword: 'mlflow-password',
  mlflowToken: 'mlflow-token',
  mlflowArtifactRoot: 'mlflow-artifact-root',
  s3Endpoint: 's3-endpoint',
  s3Region: 's3-region',
  s3UseHttps: 's3-use-https',
  s3VerifySsl: 's3-verify-ssl',
  s3AccessKeyId: 's3-access-key-id',
  s3SecretAccessKey: 's3-secret-access-key',
  s3Check: 's3-check',
  authPolicy: 'auth-policy',
  authAllowNamespaces: 'auth-allow-namespaces',
  timeout: 'timeout',
  forceConflicts: 'force-conflicts',
  githubToken: 'github-token',
  comment: 'comment',
} as const;

/** Inputs masked before anything else is read. */
export const SECRET_INPUTS = [
  INPUT.s3AccessKeyId,
  INPUT.s3SecretAccessKey,
  INPUT.mlflowPassword,
  INPUT.mlflowToken,
  INPUT.smokeToken,
  INPUT.githubToken,
];

/** The release file field each inline input sets (its path in the file), for errors found by the parser. */
const INLINE: Record<string, string> = {
  service: INPUT.service,
  namespace: INPUT.namespace,
  model: INPUT.model,
  format: INPUT.format,
  protocol: INPUT.protocol,
  runtime: INPUT.runtime,
  resources: INPUT.resources,
  'replicas.min': INPUT.minReplicas,
  'replicas.max': INPUT.maxReplicas,
  canary: INPUT.canary,
  'deployment-mode': INPUT.deploymentMode,
  alias: INPUT.alias,
  smoke: INPUT.smokePayload,
  'smoke.payload': INPUT.smokePayload,
  'smoke.payload-file': INPUT.smokePayloadFile,
  'smoke.expected': INPUT.smokeExpected,
  'smoke.expected-file': INPUT.smokeExpectedFile,
  'smoke.compare': INPUT.smokeCompare,
  'smoke.tolerance': INPUT.smokeTolerance,
  'smoke.requests': INPUT.smokeRequests,
  'smoke.max-p95-ms': INPUT.smokeMaxP95Ms,
  'smoke.max-error-rate': INPUT.smokeMaxErrorRate,
};

import type { Which } from '../../release/select.js';
export type { Which } from '../../release/select.js';

export interface Settings {
  kubeconfig?: string;
  which: Which;
  pipeline: PipelineSettings;
  comment: { mode: 'auto' | 'always' | 'never'; token?: string };
}

/** The environment the runner gives (event name and payload path, repository, API URL). */
export type RunnerEnv = Record<string, string | undefined>;

/** The pull request number of the event that started the run (pull_request / pull_request_target). */
export function eventPullRequest(env: RunnerEnv, readFile: (p: string) => string): number | undefined {
  const path = env['GITHUB_EVENT_PATH'];
  if (!path) return undefined;
  try {
    const event = JSON.parse(readFile(path)) as { pull_request?: { number?: unknown }; number?: unknown };
    const n = event.pull_request?.number ?? undefined;
    return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

const isPullRequestEvent = (env: RunnerEnv): boolean =>
  env['GITHUB_EVENT_NAME'] === 'pull_request' || env['GITHUB_EVENT_NAME'] === 'pull_request_target';

/** A scalar input as YAML reads it (10 -> 10, "1%" -> "1%"), so the parser sees numbers as numbers. */
function scalar(inputs: Inputs, name: string): unknown {
  const v = inputs.optional(name);
  if (v === undefined) return undefined;
  try {
    const parsed = loadYaml(v);
    return typeof parsed === 'number' || typeof parsed === 'string' ? parsed : v;
  } catch {
    return v;
  }
}

/** One release from the inline inputs, checked by the release file parser; errors name the inputs. */
function inlineSpec(inputs: Inputs): ReleaseSpec {
  const structured = (name: string): unknown => inputs.structured(name);
  const doc: Record<string, unknown> = {};
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) doc[key] = value;
  };
  set('service', inputs.optional(INPUT.service));
  set('namespace', inputs.optional(INPUT.namespace) ?? 'default');
  set('model', inputs.optional(INPUT.model));
  set('format', inputs.optional(INPUT.format));
  set('protocol', inputs.optional(INPUT.protocol));
  set('runtime', inputs.optional(INPUT.runtime));
  set('resources', structured(INPUT.resources));
  const min = scalar(inputs, INPUT.minReplicas);
  const max = scalar(inputs, INPUT.maxReplicas);
  if (min !== undefined || max !== undefined)
    doc['replicas'] = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
  set('canary', scalar(inputs, INPUT.canary));
  set('deployment-mode', inputs.optional(INPUT.deploymentMode));
  set('alias', inputs.optional(INPUT.alias));
  const smoke: Record<string, unknown> = {};
  const setSmoke = (key: string, value: unknown): void => {
    if (value !== undefined) smoke[key] = value;
  };
  setSmoke('payload', structured(INPUT.smokePayload));
  setSmoke('payload-file', inputs.optional(INPUT.smokePayloadFile));
  setSmoke('expected', structured(INPUT.smokeExpected));
  setSmoke('expected-file', inputs.optional(INPUT.smokeExpectedFile));
  setSmoke('compare', inputs.optional(INPUT.smokeCompare));
  setSmoke('tolerance', scalar(inputs, INPUT.smokeTolerance));
  setSmoke('requests', scalar(inputs, INPUT.smokeRequests));
  setSmoke('max-p95-ms', scalar(inputs, INPUT.smokeMaxP95Ms));
  setSmoke('max-error-rate', scalar(inputs, INPUT.smokeMaxErrorRate));
  doc['smoke'] = smoke;
  try {
    // Files named by smoke-payload-file / smoke-expected-file are relative to the working directory.
    const spec = parseReleaseDocument(doc, { file: 'inputs', readFile: (p) => readFileSync(p, 'utf8') });
    delete spec.file;
    return spec;
  } catch (error) {
    if (!(error instanceof ReleaseFileError)) throw error;
    throw new ConfigurationError(INLINE[error.path] ?? error.path, error.value, error.expected);
  }
}

/** MLflow and S3 settings, read and checked as deploy-inferenceservice reads its inputs of the same names. */
function registryAndStorage(
  inputs: Inputs,
  needsRegistry: boolean,
): { mlflow?: MlflowSettings; s3?: S3Settings; s3Check: boolean } {
  const passthrough = [
    INPUT.mlflowTrackingUri,
    INPUT.mlflowUsername,
    INPUT.mlflowPassword,
    INPUT.mlflowToken,
    INPUT.mlflowArtifactRoot,
    INPUT.s3Endpoint,
    INPUT.s3Region,
    INPUT.s3UseHttps,
    INPUT.s3VerifySsl,
    INPUT.s3AccessKeyId,
    INPUT.s3SecretAccessKey,
    INPUT.s3Check,
  ];
  const tracking = inputs.optional(INPUT.mlflowTrackingUri);
  if (needsRegistry && !tracking)
    throw new ConfigurationError(
      INPUT.mlflowTrackingUri,
      undefined,
      'the MLflow tracking server URL, to resolve models:/ references and move aliases',
    );
  const values: Record<string, string> = {};
  for (const name of passthrough) values[name] = inputs.optional(name) ?? '';
  values['name'] = 'release';
  // A registry reference makes the deploy reader check the MLflow inputs; a storage URI only the S3 ones.
  values['model-uri'] = tracking ? 'models:/release/1' : 's3://release-check/model';
  const deploy = readDeploySettings(new Inputs((name) => values[name] ?? '', inputs.mask));
  const mlflow = deploy.releaseModel.mlflow;
  const s3 = deploy.releaseModel.release.s3?.settings;
  return { ...(mlflow ? { mlflow } : {}), ...(s3 ? { s3 } : {}), s3Check: deploy.releaseModel.s3Check };
}

/** Reads and checks every input once, before anything touches a server (release files are read later). */
export function readSettings(
  inputs: Inputs,
  env: RunnerEnv = process.env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Settings {
  try {
    return read(inputs, env, readFile);
  } catch (error) {
    throw asInputError(error);
  }
}

function read(inputs: Inputs, env: RunnerEnv, readFile: (path: string) => string): Settings {
  const modeInput = inputs.choice(INPUT.mode, ['auto', 'production', 'candidate'] as const, 'auto');
  const mode: ReleaseMode = modeInput === 'auto' ? (isPullRequestEvent(env) ? 'candidate' : 'production') : modeInput;

  const inline = inputs.optional(INPUT.service) !== undefined;
  let which: Which;
  if (inline) {
    // `files` has a default (the runner always sets it), so only changed-since contradicts an inline release.
    for (const other of [INPUT.changedSince])
      if (inputs.optional(other) !== undefined)
        throw new ConfigurationError(
          other,
          inputs.optional(other),
          `nothing with service (inline release); or leave service empty to release files`,
        );
    which = { kind: 'inline', spec: inlineSpec(inputs) };
  } else {
    for (const name of Object.values(INLINE))
      if (name !== INPUT.service && name !== INPUT.namespace && inputs.optional(name) !== undefined)
        throw new ConfigurationError(
          INPUT.service,
          undefined,
          `the service name when ${name} is given (inline release); or leave ${name} empty and put it in the release file`,
        );
    const globs = inputs.list(INPUT.files);
    const changedSince = inputs.optional(INPUT.changedSince);
    if (changedSince !== undefined && !REF_PATTERN.test(changedSince))
      throw new ConfigurationError(INPUT.changedSince, changedSince, REF_FORM);
    which = {
      kind: 'files',
      globs: globs.length ? globs : ['models/*.yaml'],
      ...(changedSince !== undefined && !/^0+$/.test(changedSince) ? { changedSince } : {}),
    };
  }

  const kubeconfig = kubeconfigInput(inputs, INPUT.kubeconfig);

  const needsRegistry = which.kind === 'inline' && which.spec.source.kind === 'registry';
  const { mlflow, s3, s3Check } = registryAndStorage(inputs, needsRegistry);

  const ingressAddress = inputs.optional(INPUT.ingressAddress);
  if (ingressAddress?.includes('@'))
    throw new ConfigurationError(
      INPUT.ingressAddress,
      ingressAddress,
      "the gateway's address without credentials: an IP or host name with an optional port",
      { hideValue: true },
    );
  if (ingressAddress !== undefined && !/^(https?:\/\/)?[A-Za-z0-9.:[\]-]+(:\d+)?\/?$/.test(ingressAddress))
    throw new ConfigurationError(
      INPUT.ingressAddress,
      ingressAddress,
      "the gateway's address: an IP or host name with an optional port, e.g. 34.120.1.2 or 127.0.0.1:8080",
    );

  const smokeToken = inputs.secret(INPUT.smokeToken);
  const smokeAuthKind = inputs.choice(
    INPUT.smokeAuth,
    ['serviceaccount', 'bearer', 'none'] as const,
    smokeToken ? 'bearer' : 'serviceaccount',
  );
  if (smokeAuthKind === 'bearer' && !smokeToken)
    throw new ConfigurationError(INPUT.smokeToken, undefined, 'a bearer token (from a secret) with smoke-auth: bearer');
  if (smokeAuthKind !== 'bearer' && smokeToken)
    throw new ConfigurationError(INPUT.smokeAuth, smokeAuthKind, 'bearer (or empty) when smoke-token is given');
  const smokeAuth: PipelineSettings['smokeAuth'] =
    smokeAuthKind === 'bearer'
      ? { kind: 'bearer', token: smokeToken as string }
      : smokeAuthKind === 'none'
        ? { kind: 'none' }
        : {
            kind: 'serviceaccount',
            serviceAccount: inputs.kubeName(
              INPUT.smokeServiceAccount,
              'subdomain',
              'the ServiceAccount whose token the smoke test sends (in the release namespace)',
              'default-editor',
            ) as string,
          };

  const prText = inputs.optional(INPUT.pullRequest);
  const pullRequest =
    prText !== undefined ? inputs.integer(INPUT.pullRequest, 0, { min: 1 }) : eventPullRequest(env, readFile);
  if (mode === 'production' && prText !== undefined)
    throw new ConfigurationError(INPUT.pullRequest, prText, 'nothing with mode production (it names a candidate)');

  const fromNamespaces = inputs.list(INPUT.authAllowNamespaces);
  for (const ns of fromNamespaces)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63)
      throw new ConfigurationError(
        INPUT.authAllowNamespaces,
        ns,
        'namespace names (lowercase DNS labels), one per line',
      );

  const comment = inputs.choice(INPUT.comment, ['auto', 'always', 'never'] as const, 'auto');
  const githubToken = inputs.secret(INPUT.githubToken);
  if (comment === 'always' && !githubToken)
    throw new ConfigurationError(
      INPUT.githubToken,
      undefined,
      'a token that may write pull request comments (e.g. ${{ github.token }}) with comment: always',
    );

  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    which,
    pipeline: {
      mode,
      ...(pullRequest !== undefined ? { pullRequest } : {}),
      ...(mlflow ? { mlflow } : {}),
      ...(s3 ? { s3 } : {}),
      s3Check,
      ...(ingressAddress ? { ingressAddress } : {}),
      smokeAuth,
      auth: { mode: inputs.choice(INPUT.authPolicy, ['auto', 'skip'] as const, 'auto'), fromNamespaces },
      timeoutMs: inputs.duration(INPUT.timeout, '10m', { positive: true }),
      smokeTimeoutMs: inputs.duration(INPUT.smokeTimeout, '5m', { positive: true }),
      requestTimeoutMs: inputs.duration(INPUT.requestTimeout, '30s', { positive: true }),
      forceConflicts: inputs.boolean(INPUT.forceConflicts, false),
    },
    comment: { mode: comment, ...(githubToken ? { token: githubToken } : {}) },
  };
}
