import * as core from '@actions/core';
import { ConfigurationError } from '../../common/errors.js';
import { formatDuration } from '../../common/duration.js';
import type { Inputs } from '../../common/inputs.js';
import { KubeClient } from '../../kube/client.js';
import { release, type ReleaseReport, type ReleaseSettings } from '../../kserve/deploy.js';
import { checkProtocol, defaultProtocol, parseResources, parseStringMap, PROTOCOLS, type DeploymentMode, type ModelInfo, type Protocol, type ReleaseAction } from '../../kserve/inferenceservice.js';
import { checkS3Location, parseEndpoint, s3Client, type S3Settings } from '../../kserve/storage.js';
import { MlflowClient, parseRegistryUri, resolveModel } from '../../mlflow/registry.js';
import { actionInputs, coreLogger, runAction } from '../runner.js';

const NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const MODEL_URI_FORM = 'a storage URI (s3://bucket/path, gs://bucket/path, pvc://claim/path or https://...) of the directory holding the model, or an MLflow registry reference models:/<name>@<alias> or models:/<name>/<version>';
const SECRETS = ['s3-access-key-id', 's3-secret-access-key', 'mlflow-password', 'mlflow-token'];

export interface Settings {
  kubeconfig?: string;
  release: Omit<ReleaseSettings, 'predictor' | 'model' | 's3'> & { predictor?: ReleaseSettings['predictor'] };
  modelUri?: string;
  mlflow?: { trackingUri: string; username?: string; password?: string; token?: string; artifactRoot?: string };
  s3?: { settings: S3Settings; secretName: string; serviceAccountName: string };
  s3Check: boolean;
}

export function readSettings(inputs: Inputs): Settings {
  const action = inputs.choice('action', ['deploy', 'promote', 'rollback'] as const, 'deploy') as ReleaseAction;
  const name = inputs.matching('name', NAME, 'a lowercase DNS label (a-z, 0-9, -; starting with a letter), at most 45 characters') as string;
  if (!name) throw new ConfigurationError('name', undefined, 'the InferenceService name, a lowercase DNS label');
  if (name.length > 45) throw new ConfigurationError('name', name, 'at most 45 characters (KServe and Knative append -predictor-00001 and the namespace to it in host names)');
  const namespace = inputs.matching('namespace', NAME, 'a namespace name (lowercase DNS label)', 'default') as string;
  const deploymentMode = inputs.choice('deployment-mode', ['Serverless', 'RawDeployment'] as const, 'Serverless') as DeploymentMode;
  const kubeconfig = inputs.optional('kubeconfig');
  const service = {
    name,
    namespace,
    deploymentMode,
    annotations: parseStringMap('annotations', inputs.structured('annotations'), inputs.optional('annotations')),
    labels: parseStringMap('labels', inputs.structured('labels'), inputs.optional('labels')),
  };
  const auth = { mode: inputs.choice('auth-policy', ['auto', 'skip'] as const, 'auto'), fromNamespaces: inputs.list('auth-allow-namespaces') };
  for (const ns of auth.fromNamespaces) if (!NAME.test(ns)) throw new ConfigurationError('auth-allow-namespaces', ns, 'namespace names, one per line');
  const common = {
    action,
    service,
    auth,
    wait: inputs.boolean('wait', true),
    timeoutMs: inputs.duration('timeout', '10m'),
    forceConflicts: inputs.boolean('force-conflicts', false),
  };
  const settings: Settings = { ...(kubeconfig ? { kubeconfig } : {}), release: common, s3Check: inputs.boolean('s3-check', true) };
  if (action !== 'deploy') return settings;

  const modelUri = inputs.required('model-uri', MODEL_URI_FORM);
  if (!/^(s3|gs|pvc|https?):\/\/\S+$/.test(modelUri) && !modelUri.startsWith('models:')) throw new ConfigurationError('model-uri', modelUri, MODEL_URI_FORM);
  parseRegistryUri('model-uri', modelUri);
  settings.modelUri = modelUri;
  const modelFormat = inputs.matching('model-format', /^[a-z][\w.-]*$/i, 'a KServe model format name such as mlflow, sklearn, xgboost, tensorflow, pytorch, onnx, huggingface', 'mlflow') as string;
  const protocol = inputs.choice('protocol', PROTOCOLS, defaultProtocol(modelFormat)) as Protocol;
  checkProtocol(modelFormat, protocol);
  const canaryText = inputs.optional('canary-traffic-percent');
  const canary = canaryText === undefined ? undefined : inputs.integer('canary-traffic-percent', 100, { min: 0, max: 100 });
  if (canary !== undefined && deploymentMode === 'RawDeployment') {
    throw new ConfigurationError('canary-traffic-percent', canaryText, 'no value with deployment-mode RawDeployment: the traffic split of a canary rollout is done by Knative, which RawDeployment does not use');
  }
  const minReplicas = inputs.optional('min-replicas') === undefined ? undefined : inputs.integer('min-replicas', 1, { min: 0, max: 1000 });
  const maxReplicas = inputs.optional('max-replicas') === undefined ? undefined : inputs.integer('max-replicas', 1, { min: 1, max: 1000 });
  if (minReplicas !== undefined && maxReplicas !== undefined && maxReplicas < minReplicas) {
    throw new ConfigurationError('max-replicas', String(maxReplicas), `a number at least min-replicas (${minReplicas})`);
  }
  if (minReplicas === 0 && deploymentMode === 'RawDeployment') throw new ConfigurationError('min-replicas', '0', 'at least 1 with deployment-mode RawDeployment (scale to zero needs Knative)');

  const accessKey = inputs.secret('s3-access-key-id');
  const secretKey = inputs.secret('s3-secret-access-key');
  const serviceAccount = inputs.matching('service-account', NAME, 'a ServiceAccount name');
  if ((accessKey === undefined) !== (secretKey === undefined)) {
    throw new ConfigurationError(accessKey === undefined ? 's3-access-key-id' : 's3-secret-access-key', undefined, 'both s3-access-key-id and s3-secret-access-key, or neither');
  }
  if (accessKey !== undefined && secretKey !== undefined) {
    const endpointText = inputs.optional('s3-endpoint');
    const endpoint = endpointText ? parseEndpoint(endpointText) : undefined;
    const useHttps = inputs.boolean('s3-use-https', endpoint?.useHttps ?? true);
    settings.s3 = {
      settings: {
        ...(endpoint ? { endpoint: endpoint.host } : {}),
        region: inputs.matching('s3-region', /^[a-z0-9-]+$/, 'an S3 region such as us-east-1', 'us-east-1') as string,
        useHttps,
        verifySsl: inputs.boolean('s3-verify-ssl', true),
        accessKeyId: accessKey,
        secretAccessKey: secretKey,
      },
      secretName: `${name}-s3`,
      serviceAccountName: serviceAccount ?? `${name}-sa`,
    };
  } else if (inputs.optional('s3-endpoint')) {
    throw new ConfigurationError('s3-access-key-id', undefined, 'credentials when s3-endpoint is given (the storage-initializer needs them to read the bucket)');
  }

  const trackingUri = inputs.optional('mlflow-tracking-uri');
  if (modelUri.startsWith('models:')) {
    if (!trackingUri) throw new ConfigurationError('mlflow-tracking-uri', undefined, `the MLflow tracking server URL, to resolve ${modelUri}`);
    const username = inputs.optional('mlflow-username');
    const password = inputs.secret('mlflow-password');
    const token = inputs.secret('mlflow-token');
    const artifactRoot = inputs.matching('mlflow-artifact-root', /^(s3|gs):\/\/[^/\s]+(\/\S*)?$/, 'the storage URI of the tracking server\'s --artifacts-destination, e.g. s3://mlflow/artifacts');
    settings.mlflow = { trackingUri, ...(username ? { username } : {}), ...(password ? { password } : {}), ...(token ? { token } : {}), ...(artifactRoot ? { artifactRoot } : {}) };
  }
  const runtime = inputs.matching('runtime', NAME, 'the name of a ServingRuntime or ClusterServingRuntime, e.g. kserve-mlserver');
  const formatVersion = inputs.optional('model-format-version');
  const resources = parseResources(inputs.structured('resources'), inputs.optional('resources'));
  settings.release.predictor = {
    storageUri: modelUri,
    modelFormat,
    ...(formatVersion ? { modelFormatVersion: formatVersion } : {}),
    protocol,
    ...(runtime ? { runtime } : {}),
    ...(resources ? { resources } : {}),
    ...(minReplicas !== undefined ? { minReplicas } : {}),
    ...(maxReplicas !== undefined ? { maxReplicas } : {}),
    ...(canary !== undefined ? { canaryTrafficPercent: canary } : {}),
    ...(settings.s3 ? { serviceAccountName: settings.s3.serviceAccountName } : serviceAccount ? { serviceAccountName: serviceAccount } : {}),
  };
  return settings;
}

export function run(): Promise<void> {
  return runAction('deploy-inferenceservice', async () => {
    const settings = readSettings(actionInputs(SECRETS));
    const logger = coreLogger;
    let model: ModelInfo | undefined;
    if (settings.release.action === 'deploy') {
      model = await core.group('resolve the model', async () => {
        const uri = settings.modelUri as string;
        const ref = parseRegistryUri('model-uri', uri);
        if (!ref || !settings.mlflow) {
          core.info(`model: ${uri}`);
          return { uri };
        }
        const m = settings.mlflow;
        const client = new MlflowClient({ trackingUri: m.trackingUri, ...(m.username !== undefined ? { username: m.username } : {}), ...(m.password !== undefined ? { password: m.password } : {}), ...(m.token !== undefined ? { token: m.token } : {}) });
        const resolved = await resolveModel(client, ref, m.artifactRoot ? { artifactRoot: m.artifactRoot } : {});
        core.info(`${uri} -> version ${resolved.version}${resolved.runId ? ` (run ${resolved.runId})` : ''}${resolved.modelId ? ` (logged model ${resolved.modelId})` : ''}: ${resolved.uri}${resolved.registryUri !== resolved.uri ? ` (registry: ${resolved.registryUri})` : ''}`);
        return { uri: resolved.uri, version: resolved.version, name: resolved.name, registry: uri };
      });
      const predictor = settings.release.predictor as NonNullable<ReleaseSettings['predictor']>;
      predictor.storageUri = model.uri;
      core.setOutput('model-uri', model.uri);
      core.setOutput('model-version', model.version ?? '');

      if (settings.s3 && model.uri.startsWith('s3://')) {
        if (settings.s3Check) {
          const s3 = settings.s3.settings;
          const where = s3.endpoint ? `${s3.useHttps ? 'https' : 'http'}://${s3.endpoint}` : `AWS S3 (${s3.region})`;
          await core.group('check the model location with the given credentials', async () => {
            const started = Date.now();
            const found = await checkS3Location(s3Client(s3), model?.uri as string, predictor.modelFormat, where);
            core.info(`${model?.uri} holds ${found.found} (${found.files.length} file(s), ${found.directories.length} folder(s)); checked in ${formatDuration(Date.now() - started)}`);
          });
        } else core.info('s3-check: false; the model location is not checked before deploying');
      } else if (settings.s3 && !model.uri.startsWith('s3://')) {
        core.warning(`S3 credentials were given but the model is at ${model.uri}: they are stored for the predictor, not checked`);
      }
    }

    const client = KubeClient.fromSources({ kubeconfig: settings.kubeconfig, env: process.env });
    core.info(`cluster: ${client.server} (from ${client.source})`);
    const releaseSettings: ReleaseSettings = {
      ...settings.release,
      ...(model ? { model } : {}),
      ...(settings.s3 ? { s3: settings.s3 } : {}),
    };
    const started = Date.now();
    const report = await core.group(`${settings.release.action} InferenceService ${settings.release.service.namespace}/${settings.release.service.name}`, () => release(client, releaseSettings, { logger }));
    setOutputs(report, model);
    await writeSummary(report, model, Date.now() - started);
  });
}

function setOutputs(r: ReleaseReport, model: ModelInfo | undefined): void {
  const m = model ?? r.plan.applied.model;
  core.setOutput('model-uri', m?.uri ?? '');
  core.setOutput('model-version', m?.version ?? '');
  core.setOutput('changed', r.outcome !== 'unchanged');
  core.setOutput('url', r.ready?.url ?? '');
  core.setOutput('address', r.ready?.address ?? '');
  core.setOutput('host', r.ready?.host ?? '');
  core.setOutput('latest-revision', r.ready?.latestRevision ?? '');
  core.setOutput('previous-revision', r.ready?.previousRevision ?? r.plan.previous?.revision ?? '');
  core.setOutput('traffic', JSON.stringify((r.ready?.traffic ?? []).map((t) => ({ revision: t.revision, percent: t.percent, latest: t.latest }))));
  core.setOutput('ready-seconds', r.ready ? Math.round(r.ready.readyMs / 100) / 10 : '');
  core.setOutput('auth-policy', r.policy.applied ? r.policy.name : '');
}

async function writeSummary(r: ReleaseReport, model: ModelInfo | undefined, totalMs: number): Promise<void> {
  const m = model ?? r.plan.applied.model;
  const ns = r.applied.metadata.namespace ?? '';
  const traffic = (r.ready?.traffic ?? []).map((t) => `${t.revision} ${t.percent}%${t.latest ? ' (latest)' : ''}`).join('<br>') || '-';
  await core.summary
    .addHeading(`deploy-inferenceservice: ${r.action} ${ns}/${r.applied.metadata.name}`, 2)
    .addTable([
      [
        { data: 'model', header: true },
        { data: 'version', header: true },
        { data: 'URI', header: true },
        { data: 'revision', header: true },
        { data: 'traffic', header: true },
        { data: 'ready in', header: true },
      ],
      [m?.registry ?? m?.name ?? '-', m?.version ?? '-', m?.uri ?? '-', r.ready?.latestRevision ?? '-', traffic, r.ready ? formatDuration(r.ready.readyMs) : 'not waited'],
    ])
    .addRaw(
      [
        `InferenceService ${r.outcome}${r.plan.previous?.revision ? `; previous release: ${r.plan.previous.revision}${r.plan.previous.model?.uri ? ` (${r.plan.previous.model.uri})` : ''}` : ''}.`,
        r.rolledBackFrom ? ` Rolled back from ${r.rolledBackFrom}.` : '',
        r.ready?.url ? ` URL: ${r.ready.url} (Host header ${r.ready.host ?? '-'}); cluster-local: ${r.ready.address ?? '-'}.` : '',
        r.policy.applied ? ` AuthorizationPolicy ${r.policy.name} ${r.policy.outcome}.` : ` No AuthorizationPolicy (${r.policy.reason}).`,
        ` Total ${formatDuration(totalMs)}.`,
      ].join(''),
      true,
    )
    .write();
}
