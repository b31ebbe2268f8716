import { kubeconfigInput } from '../kubeconfig.js';
import { ConfigurationError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { isKubeName } from '../../common/names.js';
import type { ReleaseAction } from '../../kserve/inferenceservice.js';
import {
  APPLIED_ANNOTATION,
  DEPLOYMENT_MODE_ANNOTATION,
  defaultProtocol,
  PREVIOUS_ANNOTATION,
  protocolProblem,
  PROTOCOLS,
  type DeploymentMode,
  type Protocol,
  type Resources,
} from '../../kserve/inferenceservice.js';
import type { MlflowSettings, ReleaseModelSettings } from '../../kserve/release.js';
import { ModelSourceError, MODEL_SOURCE_FORM, parseModelSource } from '../../kserve/source.js';
import { ENDPOINT_FORM, parseEndpoint } from '../../kserve/storage.js';
import { MlflowSettingError, parseTrackingUri } from '../../mlflow/registry.js';

/** The inputs, by name (action.yml). */
export const INPUT = {
  kubeconfig: 'kubeconfig',
  action: 'action',
  name: 'name',
  namespace: 'namespace',
  modelUri: 'model-uri',
  modelFormat: 'model-format',
  modelFormatVersion: 'model-format-version',
  protocol: 'protocol',
  runtime: 'runtime',
  resources: 'resources',
  minReplicas: 'min-replicas',
  maxReplicas: 'max-replicas',
  canary: 'canary-traffic-percent',
  deploymentMode: 'deployment-mode',
  annotations: 'annotations',
  labels: 'labels',
  serviceAccount: 'service-account',
  s3Endpoint: 's3-endpoint',
  s3Region: 's3-region',
  s3UseHttps: 's3-use-https',
  s3VerifySsl: 's3-verify-ssl',
  s3AccessKeyId: 's3-access-key-id',
  s3SecretAccessKey: 's3-secret-access-key',
  s3Check: 's3-check',
  mlflowTrackingUri: 'mlflow-tracking-uri',
  mlflowUsername: 'mlflow-username',
  mlflowPassword: 'mlflow-password',
  mlflowToken: 'mlflow-token',
  mlflowArtifactRoot: 'mlflow-artifact-root',
  authPolicy: 'auth-policy',
  authAllowNamespaces: 'auth-allow-namespaces',
  wait: 'wait',
  timeout: 'timeout',
  forceConflicts: 'force-conflicts',
} as const;

/** Inputs masked before anything else is read. */
export const SECRET_INPUTS = [INPUT.s3AccessKeyId, INPUT.s3SecretAccessKey, INPUT.mlflowPassword, INPUT.mlflowToken];

export interface Settings {
  kubeconfig?: string;
  releaseModel: ReleaseModelSettings;
}

/** The longest InferenceService name: KServe and Knative append -predictor-00001 and the namespace in host names. */
const MAX_NAME = 45;

/**
 * A domain error about one of its own fields, as the input the user sets; anything else unchanged.
 * Used for readSettings and for what only shows once the registry answered (e.g. mlflow-artifact-root).
 */
export function asInputError(error: unknown): unknown {
  if (error instanceof ModelSourceError) {
    if (error.field === 'resolved') return error;
    return new ConfigurationError(INPUT.modelUri, error.value, error.expected);
  }
  if (error instanceof MlflowSettingError) {
    return new ConfigurationError(
      error.field === 'trackingUri' ? INPUT.mlflowTrackingUri : INPUT.mlflowArtifactRoot,
      error.value,
      error.expected,
    );
  }
  return error;
}

/** Reads and checks every input once, before anything touches a server. */
export function readSettings(inputs: Inputs): Settings {
  try {
    return read(inputs);
  } catch (error) {
    throw asInputError(error);
  }
}

function read(inputs: Inputs): Settings {
  const action = inputs.choice<ReleaseAction>(INPUT.action, ['deploy', 'promote', 'rollback'], 'deploy');
  const name = inputs.optional(INPUT.name);
  if (!name) throw new ConfigurationError(INPUT.name, undefined, 'the InferenceService name, a lowercase DNS label');
  if (!isKubeName(name, 'label') || !/^[a-z]/.test(name))
    throw new ConfigurationError(
      INPUT.name,
      name,
      `a lowercase DNS label (a-z, 0-9, -; starting with a letter), at most ${MAX_NAME} characters`,
    );
  if (name.length > MAX_NAME)
    throw new ConfigurationError(
      INPUT.name,
      name,
      `at most ${MAX_NAME} characters (KServe and Knative append -predictor-00001 and the namespace to it in host names)`,
    );
  const namespace = inputs.kubeName(INPUT.namespace, 'label', 'a namespace name', 'default') as string;
  const deploymentMode = inputs.choice<DeploymentMode>(
    INPUT.deploymentMode,
    ['Serverless', 'RawDeployment'],
    'Serverless',
  );
  const kubeconfig = kubeconfigInput(inputs, INPUT.kubeconfig);
  const service = {
    name,
    namespace,
    deploymentMode,
    annotations: parseStringMap(INPUT.annotations, inputs, 'annotation'),
    labels: parseStringMap(INPUT.labels, inputs, 'label'),
  };
  const fromNamespaces = inputs.list(INPUT.authAllowNamespaces);
  for (const ns of fromNamespaces)
    if (!isKubeName(ns, 'label'))
      throw new ConfigurationError(
        INPUT.authAllowNamespaces,
        ns,
        'namespace names (lowercase DNS labels), one per line',
      );
  const release: ReleaseModelSettings['release'] = {
    action,
    service,
    auth: { mode: inputs.choice(INPUT.authPolicy, ['auto', 'skip'] as const, 'auto'), fromNamespaces },
    wait: inputs.boolean(INPUT.wait, true),
    forceConflicts: inputs.boolean(INPUT.forceConflicts, false),
  };
  const settings: Settings = {
    ...(kubeconfig ? { kubeconfig } : {}),
    releaseModel: {
      release,
      s3Check: inputs.boolean(INPUT.s3Check, true),
      timeoutMs: inputs.duration(INPUT.timeout, '10m', { positive: true }),
    },
  };
  if (action !== 'deploy') return settings;

  const source = parseModelSource(inputs.required(INPUT.modelUri, MODEL_SOURCE_FORM));
  const modelFormat = inputs.matching(
    INPUT.modelFormat,
    /^[a-z][\w.-]*$/i,
    'a KServe model format name such as mlflow, sklearn, xgboost, tensorflow, pytorch, onnx, huggingface',
    'mlflow',
  ) as string;
  const protocol = inputs.choice<Protocol>(INPUT.protocol, PROTOCOLS, defaultProtocol(modelFormat));
  const problem = protocolProblem(modelFormat, protocol);
  if (problem) throw new ConfigurationError(INPUT.protocol, protocol, problem);
  const canaryText = inputs.optional(INPUT.canary);
  const canary = canaryText === undefined ? undefined : inputs.integer(INPUT.canary, 100, { min: 0, max: 100 });
  if (canary !== undefined && deploymentMode === 'RawDeployment') {
    throw new ConfigurationError(
      INPUT.canary,
      canaryText,
      'no value with deployment-mode RawDeployment: the traffic split of a canary rollout is done by Knative, which RawDeployment does not use',
    );
  }
  const minReplicas =
    inputs.optional(INPUT.minReplicas) === undefined
      ? undefined
      : inputs.integer(INPUT.minReplicas, 1, { min: 0, max: 1000 });
  const maxReplicas =
    inputs.optional(INPUT.maxReplicas) === undefined
      ? undefined
      : inputs.integer(INPUT.maxReplicas, 1, { min: 1, max: 1000 });
  if (minReplicas !== undefined && maxReplicas !== undefined && maxReplicas < minReplicas) {
    throw new ConfigurationError(
      INPUT.maxReplicas,
      String(maxReplicas),
      `a number at least min-replicas (${minReplicas})`,
    );
  }
  if (minReplicas === 0 && deploymentMode === 'RawDeployment')
    throw new ConfigurationError(
      INPUT.minReplicas,
      '0',
      'at least 1 with deployment-mode RawDeployment (scale to zero needs Knative)',
    );

  const serviceAccount = inputs.kubeName(INPUT.serviceAccount, 'subdomain', 'a ServiceAccount name');
  const s3 = readS3(inputs, name, serviceAccount);
  if (s3) release.s3 = s3;

  const trackingUri = inputs.optional(INPUT.mlflowTrackingUri);
  if (source.kind === 'registry') {
    if (!trackingUri)
      throw new ConfigurationError(
        INPUT.mlflowTrackingUri,
        undefined,
        `the MLflow tracking server URL, to resolve ${source.uri}`,
      );
    settings.releaseModel.mlflow = readMlflow(inputs, trackingUri);
  }
  const runtime = inputs.kubeName(
    INPUT.runtime,
    'subdomain',
    'the name of a ServingRuntime or ClusterServingRuntime, e.g. kserve-mlserver',
  );
  const formatVersion = inputs.matching(
    INPUT.modelFormatVersion,
    /^[\w.+-]{1,63}$/,
    'a model format version such as 1, 2.1 or 1.3.2',
  );
  const resources = parseResources(inputs);
  settings.releaseModel.model = {
    source,
    predictor: {
      modelFormat,
      ...(formatVersion ? { modelFormatVersion: formatVersion } : {}),
      protocol,
      ...(runtime ? { runtime } : {}),
      ...(resources ? { resources } : {}),
      ...(minReplicas !== undefined ? { minReplicas } : {}),
      ...(maxReplicas !== undefined ? { maxReplicas } : {}),
      ...(canary !== undefined ? { canaryTrafficPercent: canary } : {}),
      ...(s3
        ? { serviceAccountName: s3.serviceAccountName }
        : serviceAccount
          ? { serviceAccountName: serviceAccount }
          : {}),
    },
  };
  return settings;
}

function readS3(
  inputs: Inputs,
  name: string,
  serviceAccount: string | undefined,
): ReleaseModelSettings['release']['s3'] {
  const accessKey = inputs.secret(INPUT.s3AccessKeyId);
  const secretKey = inputs.secret(INPUT.s3SecretAccessKey);
  if ((accessKey === undefined) !== (secretKey === undefined)) {
    throw new ConfigurationError(
      accessKey === undefined ? INPUT.s3AccessKeyId : INPUT.s3SecretAccessKey,
      undefined,
      'both s3-access-key-id and s3-secret-access-key, or neither',
    );
  }
  const endpointText = inputs.optional(INPUT.s3Endpoint);
  const endpoint = endpointText === undefined ? undefined : parseEndpoint(endpointText);
  if (endpointText !== undefined && !endpoint)
    throw new ConfigurationError(INPUT.s3Endpoint, endpointText, ENDPOINT_FORM);
  if (accessKey === undefined || secretKey === undefined) {
    if (endpoint)
      throw new ConfigurationError(
        INPUT.s3AccessKeyId,
        undefined,
        'credentials when s3-endpoint is given (the storage-initializer needs them to read the bucket)',
      );
    return undefined;
  }
  const useHttps = inputs.boolean(INPUT.s3UseHttps, endpoint?.useHttps ?? true);
  if (endpoint?.useHttps !== undefined && useHttps !== endpoint.useHttps) {
    throw new ConfigurationError(
      INPUT.s3UseHttps,
      String(useHttps),
      `${endpoint.useHttps} or empty: s3-endpoint ${endpointText} already says ${endpoint.useHttps ? 'https' : 'http'}`,
    );
  }
  return {
    settings: {
      ...(endpoint ? { endpoint: endpoint.host } : {}),
      region: inputs.matching(
        INPUT.s3Region,
        /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/,
        'an S3 region such as us-east-1 (lowercase letters, digits and -)',
        'us-east-1',
      ) as string,
      useHttps,
      verifySsl: inputs.boolean(INPUT.s3VerifySsl, true),
      accessKeyId: accessKey,
      secretAccessKey: secretKey,
    },
    secretName: `${name}-s3`,
    serviceAccountName: serviceAccount ?? `${name}-sa`,
  };
}

function readMlflow(inputs: Inputs, trackingUri: string): MlflowSettings {
  const server = parseTrackingUri(trackingUri);
  if (server.password !== undefined) inputs.mask(server.password);
  const username = inputs.optional(INPUT.mlflowUsername);
  const password = inputs.secret(INPUT.mlflowPassword);
  const token = inputs.secret(INPUT.mlflowToken);
  if (server.username !== undefined && (username !== undefined || password !== undefined || token !== undefined)) {
    throw new ConfigurationError(
      INPUT.mlflowTrackingUri,
      server.url,
      'credentials either in the URL (https://user:password@host) or in mlflow-username/mlflow-password or mlflow-token, not both',
    );
  }
  if (token !== undefined && (username !== undefined || password !== undefined)) {
    throw new ConfigurationError(
      INPUT.mlflowToken,
      undefined,
      'either mlflow-token (bearer) or mlflow-username and mlflow-password (basic auth), not both; leave it empty',
    );
  }
  if (password !== undefined && username === undefined)
    throw new ConfigurationError(INPUT.mlflowUsername, undefined, 'the user name that goes with mlflow-password');
  if (username !== undefined && password === undefined)
    throw new ConfigurationError(INPUT.mlflowPassword, undefined, 'the password that goes with mlflow-username');
  const artifactRoot = inputs.matching(
    INPUT.mlflowArtifactRoot,
    /^(s3|gs):\/\/[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](\/\S*)?$/,
    "the storage URI of the tracking server's --artifacts-destination, e.g. s3://mlflow/artifacts",
  );
  const user = username ?? server.username;
  const pass = password ?? server.password;
  return {
    url: server.url,
    ...(user !== undefined ? { username: user } : {}),
    ...(pass !== undefined ? { password: pass } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(artifactRoot ? { artifactRoot } : {}),
  };
}

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const RESERVED = new Set([DEPLOYMENT_MODE_ANNOTATION, APPLIED_ANNOTATION, PREVIOUS_ANNOTATION]);

/** A label or annotation key: [prefix/]name, prefix a DNS subdomain, name at most 63 characters. */
function keyProblem(key: string): string | undefined {
  const parts = key.split('/');
  const [prefix, part] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (parts.length > 2 || prefix === '' || (prefix !== undefined && !isKubeName(prefix, 'subdomain')))
    return `key "${key}" is not [prefix/]name with a DNS subdomain as prefix`;
  if (!part || part.length > 63 || !NAME_PART.test(part))
    return `key "${key}": the name part must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  if (RESERVED.has(key)) return `key "${key}" is set by this action (use deployment-mode for the deployment mode)`;
  return undefined;
}

/** `key: value` YAML mapping or `key=value` lines, for the annotations and labels inputs. */
function parseStringMap(input: string, inputs: Inputs, what: 'annotation' | 'label'): Record<string, string> {
  const raw = inputs.optional(input);
  const value = inputs.structured(input);
  if (value === undefined || value === null) return {};
  const form = 'a YAML mapping (key: value) or key=value lines';
  let entries: [string, string][];
  if (typeof value === 'string') {
    // The text itself, not the YAML scalar (YAML folds the lines of a plain scalar into one).
    entries = [];
    for (const line of (raw as string)
      .split(/[\n,]/)
      .map((l) => l.trim())
      .filter(Boolean)) {
      const m = /^([^=\s]+)=(.*)$/.exec(line);
      if (!m) throw new ConfigurationError(input, raw, form);
      entries.push([m[1] as string, m[2] as string]);
    }
  } else if (typeof value === 'object' && !Array.isArray(value)) {
    entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      typeof v === 'string' ? v : JSON.stringify(v),
    ]);
  } else throw new ConfigurationError(input, raw, form);
  for (const [k, v] of entries) {
    const problem = keyProblem(k);
    if (problem) throw new ConfigurationError(input, raw, `${form} with Kubernetes ${what} keys (${problem})`);
    if (what === 'label' && v !== '' && (v.length > 63 || !NAME_PART.test(v))) {
      throw new ConfigurationError(
        input,
        raw,
        `${form} with label values of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (the value of "${k}" is not)`,
      );
    }
  }
  return Object.fromEntries(entries);
}

/** The resources input: {requests: {cpu, memory, ...}, limits: {...}}. */
function parseResources(inputs: Inputs): Resources | undefined {
  const raw = inputs.optional(INPUT.resources);
  const value = inputs.structured(INPUT.resources);
  if (value === undefined || value === null) return undefined;
  const form = 'a YAML mapping such as {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: "1", memory: 2Gi}}';
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigurationError(INPUT.resources, raw, form);
  const out: Resources = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k !== 'requests' && k !== 'limits')
      throw new ConfigurationError(INPUT.resources, raw, `${form} (unknown key "${k}")`);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConfigurationError(INPUT.resources, raw, form);
    const entries: Record<string, string> = {};
    for (const [resource, q] of Object.entries(v as Record<string, unknown>)) {
      const text = String(q);
      if (keyProblem(resource))
        throw new ConfigurationError(
          INPUT.resources,
          raw,
          `${form} (${k}: "${resource}" is not a resource name such as cpu, memory or nvidia.com/gpu)`,
        );
      if (!/^\d+(\.\d+)?([mkMGTPE]|[KMGTPE]i|e\d+)?$/.test(text))
        throw new ConfigurationError(
          INPUT.resources,
          raw,
          `${form} (${k}.${resource}: "${text}" is not a Kubernetes quantity)`,
        );
      entries[resource] = text;
    }
    out[k] = entries;
  }
  return out;
}
