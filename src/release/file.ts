/**
 * Model release files (`models/<service>.yaml` in the caller's repository): parsed and checked once,
 * before anything touches a server. Unknown fields are errors. Every error names the file, the field
 * path, the value (URL credentials replaced by ***) and the expected form. schemas/release.schema.json
 * describes the same format for editors; test/unit/release-file.test.ts checks that both agree.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { ConfigurationError, describeError, quote } from '../common/errors.js';
import { isKubeName } from '../common/names.js';
import { redactUrlCredentials } from '../common/redact.js';
import {
  COMPARE_MODES,
  parseTolerance,
  TOLERANCE_FORM,
  type CompareMode,
  type Tolerance,
} from '../inference/compare.js';
import {
  defaultProtocol,
  protocolProblem,
  PROTOCOLS,
  type DeploymentMode,
  type Protocol,
  type Resources,
} from '../kserve/inferenceservice.js';
import { ModelSourceError, MODEL_SOURCE_FORM, parseModelSource, type ModelSource } from '../kserve/source.js';

/** The longest service name: KServe and Knative append -predictor-00001 and the namespace in host names. */
export const MAX_SERVICE_NAME = 45;

export interface SmokeSpec {
  payload: unknown;
  expected?: unknown;
  compare?: CompareMode;
  tolerance?: Tolerance;
  requests?: number;
  maxP95Ms?: number;
  maxErrorRate?: number;
}

/** One release, as a release file (or the inline inputs) asks for it. */
export interface ReleaseSpec {
  /** The release file, as given (relative to the repository root); absent for inline inputs. */
  file?: string;
  service: string;
  namespace: string;
  /** The model reference as written (models:/name@alias, models:/name/version or a storage URI). */
  model: string;
  source: ModelSource;
  format: string;
  protocol: Protocol;
  runtime?: string;
  resources?: Resources;
  replicas?: { min?: number; max?: number };
  /** Percent of production traffic for the new model while it is smoke-tested; 0 replaces directly. */
  canary: number;
  /** Serverless (Knative: canary, scale to zero) or RawDeployment (a Deployment; no canary). */
  deploymentMode: DeploymentMode;
  /** The MLflow alias moved to the released version after a passed smoke test (registry references only). */
  alias?: string;
  smoke: SmokeSpec;
}

/**
 * A release file that cannot be used: the file, the field path (e.g. `smoke.max-p95-ms`), the value and
 * the expected form. A ConfigurationError, so the action reports it like a bad input (no stack).
 */
export class ReleaseFileError extends ConfigurationError {
  constructor(
    readonly file: string,
    readonly path: string,
    value: unknown,
    expected: string,
    problem?: 'missing' | 'unknown',
  ) {
    super(`${file}: ${path}`, value === undefined ? undefined : show(value), expected);
    this.message =
      problem === 'unknown'
        ? `${file}: ${path} is not a field of a release file: expected ${expected}.`
        : value === undefined
          ? `${file}: ${path} is missing: expected ${expected}.`
          : `${file}: ${path} has the value ${quote(show(value))}: expected ${expected}.`;
  }
}

/** The value as a message shows it: JSON for non-strings, URL credentials replaced by ***. */
function show(value: unknown): string {
  return redactUrlCredentials(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)));
}

const TOP_FIELDS = [
  'service',
  'namespace',
  'model',
  'format',
  'protocol',
  'runtime',
  'resources',
  'replicas',
  'canary',
  'deployment-mode',
  'alias',
  'smoke',
] as const;
const SMOKE_FIELDS = [
  'payload',
  'payload-file',
  'expected',
  'expected-file',
  'compare',
  'tolerance',
  'requests',
  'max-p95-ms',
  'max-error-rate',
] as const;

export const SERVICE_FORM = `the InferenceService name: a lowercase DNS label (a-z, 0-9, -; starting with a letter), at most ${MAX_SERVICE_NAME} characters`;
export const ALIAS_FORM = 'an MLflow alias such as champion (letters, digits, _, . and -)';
const FORMAT_FORM =
  'a KServe model format name such as mlflow, sklearn, xgboost, tensorflow, pytorch, onnx, huggingface';
const QUANTITY = /^\d+(\.\d+)?([mkMGTPE]|[KMGTPE]i|e\d+)?$/;
const RESOURCE_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

type Doc = Record<string, unknown>;

const isMap = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What a release file's paths are read relative to, and how files it names are read. */
export interface ParseContext {
  /** The release file, as shown in errors. */
  file: string;
  /** Reads a file the release file names (payload-file, expected-file), by its path relative to the release file. */
  readFile?: (relativePath: string) => string;
}

/** Checks a parsed YAML document as a release file. */
export function parseReleaseDocument(doc: unknown, ctx: ParseContext): ReleaseSpec {
  const { file } = ctx;
  const fail = (path: string, value: unknown, expected: string): never => {
    throw new ReleaseFileError(file, path, value, expected);
  };
  if (!isMap(doc))
    return fail(
      '(document)',
      doc,
      'a YAML mapping with at least service, namespace, model and smoke (see schemas/release.schema.json)',
    );
  unknownFields(file, '', doc, TOP_FIELDS);

  const service = doc['service'];
  if (service === undefined) throw new ReleaseFileError(file, 'service', undefined, SERVICE_FORM);
  if (
    typeof service !== 'string' ||
    !isKubeName(service, 'label') ||
    !/^[a-z]/.test(service) ||
    service.length > MAX_SERVICE_NAME
  )
    fail('service', service, SERVICE_FORM);
  const namespace = doc['namespace'];
  const nsForm = 'a namespace name (a lowercase DNS label), e.g. a Kubeflow profile namespace';
  if (namespace === undefined) throw new ReleaseFileError(file, 'namespace', undefined, nsForm);
  if (typeof namespace !== 'string' || !isKubeName(namespace, 'label')) fail('namespace', namespace, nsForm);

  const model = doc['model'];
  if (model === undefined) throw new ReleaseFileError(file, 'model', undefined, MODEL_SOURCE_FORM);
  if (typeof model !== 'string') return fail('model', model, MODEL_SOURCE_FORM);
  let source: ModelSource;
  try {
    source = parseModelSource(model);
  } catch (error) {
    if (error instanceof ModelSourceError) return fail('model', error.value, error.expected);
    throw error;
  }

  const format = doc['format'] ?? 'mlflow';
  if (typeof format !== 'string' || !/^[a-z][\w.-]*$/i.test(format)) fail('format', format, FORMAT_FORM);
  const protocol = doc['protocol'] ?? defaultProtocol(format as string);
  if (typeof protocol !== 'string' || !(PROTOCOLS as readonly string[]).includes(protocol))
    fail('protocol', protocol, `one of ${PROTOCOLS.join(', ')}`);
  const problem = protocolProblem(format as string, protocol as Protocol);
  if (problem) fail('protocol', protocol, problem);

  const runtime = doc['runtime'];
  if (runtime !== undefined && (typeof runtime !== 'string' || !isKubeName(runtime, 'subdomain')))
    fail('runtime', runtime, 'the name of a ServingRuntime or ClusterServingRuntime, e.g. kserve-mlserver');

  const resources = doc['resources'] === undefined ? undefined : parseResources(file, doc['resources']);
  const replicas = doc['replicas'] === undefined ? undefined : parseReplicas(file, doc['replicas']);

  const canary = doc['canary'] ?? 0;
  if (!Number.isInteger(canary) || (canary as number) < 0 || (canary as number) > 99)
    fail(
      'canary',
      canary,
      'a whole number of percent from 0 to 99: the share of production traffic the new model takes while it is smoke-tested (0: it replaces the old one directly)',
    );

  const deploymentMode = doc['deployment-mode'] ?? 'Serverless';
  if (deploymentMode !== 'Serverless' && deploymentMode !== 'RawDeployment')
    fail(
      'deployment-mode',
      deploymentMode,
      'Serverless (Knative: canary and scale to zero) or RawDeployment (a Deployment and Service)',
    );
  if (deploymentMode === 'RawDeployment' && (canary as number) > 0)
    fail(
      'canary',
      canary,
      '0 (or no canary) with deployment-mode RawDeployment: the traffic split of a canary is done by Knative, which RawDeployment does not use',
    );
  if (deploymentMode === 'RawDeployment' && replicas?.min === 0)
    fail('replicas.min', 0, 'at least 1 with deployment-mode RawDeployment (scale to zero needs Knative)');

  const alias = doc['alias'];
  if (alias !== undefined) {
    if (typeof alias !== 'string' || !/^[\w.-]+$/.test(alias)) fail('alias', alias, ALIAS_FORM);
    if (source.kind !== 'registry')
      fail(
        'alias',
        alias,
        `no alias with a storage URI model (an MLflow alias points at a registered version): give model as models:/<name>/<version> or models:/<name>@<alias>, or remove alias`,
      );
  }

  const smoke = parseSmoke(ctx, doc['smoke']);
  return {
    file,
    service: service as string,
    namespace: namespace as string,
    model,
    source,
    format: format as string,
    protocol: protocol as Protocol,
    ...(runtime !== undefined ? { runtime: runtime as string } : {}),
    ...(resources ? { resources } : {}),
    ...(replicas ? { replicas } : {}),
    canary: canary as number,
    deploymentMode: deploymentMode as DeploymentMode,
    ...(alias !== undefined ? { alias: alias as string } : {}),
    smoke,
  };
}

function unknownFields(file: string, prefix: string, doc: Doc, known: readonly string[]): void {
  for (const key of Object.keys(doc))
    if (!known.includes(key))
      throw new ReleaseFileError(file, `${prefix}${key}`, undefined, `one of ${known.join(', ')}`, 'unknown');
}

function parseResources(file: string, value: unknown): Resources {
  const form = 'a mapping such as {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}';
  if (!isMap(value)) throw new ReleaseFileError(file, 'resources', value, form);
  unknownFields(file, 'resources.', value, ['requests', 'limits']);
  const out: Resources = {};
  for (const k of ['requests', 'limits'] as const) {
    const v = value[k];
    if (v === undefined) continue;
    if (!isMap(v)) throw new ReleaseFileError(file, `resources.${k}`, v, 'a mapping of resource names to quantities');
    const entries: Record<string, string> = {};
    for (const [name, q] of Object.entries(v)) {
      if (!RESOURCE_NAME.test(name))
        throw new ReleaseFileError(
          file,
          `resources.${k}`,
          name,
          'resource names such as cpu, memory or nvidia.com/gpu',
        );
      const text = typeof q === 'number' ? String(q) : q;
      if (typeof text !== 'string' || !QUANTITY.test(text))
        throw new ReleaseFileError(file, `resources.${k}.${name}`, q, 'a Kubernetes quantity such as 500m, 2, 1Gi');
      entries[name] = text;
    }
    out[k] = entries;
  }
  return out;
}

function parseReplicas(file: string, value: unknown): { min?: number; max?: number } {
  if (!isMap(value)) throw new ReleaseFileError(file, 'replicas', value, 'a mapping such as {min: 1, max: 3}');
  unknownFields(file, 'replicas.', value, ['min', 'max']);
  const { min, max } = value;
  if (min !== undefined && (!Number.isInteger(min) || (min as number) < 0 || (min as number) > 1000))
    throw new ReleaseFileError(
      file,
      'replicas.min',
      min,
      'a whole number from 0 to 1000 (0 lets the model scale to zero)',
    );
  if (max !== undefined && (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 1000))
    throw new ReleaseFileError(file, 'replicas.max', max, 'a whole number from 1 to 1000');
  if (min !== undefined && max !== undefined && (max as number) < (min as number))
    throw new ReleaseFileError(file, 'replicas.max', max, `a number at least replicas.min (${String(min)})`);
  return { ...(min !== undefined ? { min: min as number } : {}), ...(max !== undefined ? { max: max as number } : {}) };
}

const PAYLOAD_FORM =
  'a request body ({inputs: [...]} for v2, {instances: [...]} for v1) or a non-empty list of rows such as [[5.1, 3.5, 1.4, 0.2]]';

/** A document inline, or from a file next to the release file. */
function smokeDocument(
  ctx: ParseContext,
  smoke: Doc,
  inline: 'payload' | 'expected',
  fileField: 'payload-file' | 'expected-file',
): unknown {
  const { file } = ctx;
  if (smoke[inline] !== undefined && smoke[fileField] !== undefined)
    throw new ReleaseFileError(
      file,
      `smoke.${fileField}`,
      smoke[fileField],
      `either smoke.${inline} or smoke.${fileField}, not both`,
    );
  if (smoke[inline] !== undefined) return smoke[inline];
  const path = smoke[fileField];
  if (path === undefined) return undefined;
  const pathForm = 'a path relative to the release file, e.g. wine-payload.json';
  if (typeof path !== 'string' || !path.trim() || path.startsWith('/'))
    throw new ReleaseFileError(file, `smoke.${fileField}`, path, pathForm);
  if (!ctx.readFile)
    throw new ReleaseFileError(file, `smoke.${fileField}`, path, `smoke.${inline} inline (no file is read here)`);
  let text: string;
  try {
    text = ctx.readFile(path);
  } catch (error) {
    throw new ReleaseFileError(
      file,
      `smoke.${fileField}`,
      path,
      `${pathForm}, of a readable file (${(error as { code?: string }).code ?? describeError(error)})`,
    );
  }
  try {
    return loadYaml(text);
  } catch (error) {
    throw new ReleaseFileError(
      file,
      `smoke.${fileField}`,
      path,
      `a file holding JSON or YAML (the parser said: ${describeError(error).split('\n')[0]})`,
    );
  }
}

function parseSmoke(ctx: ParseContext, value: unknown): SmokeSpec {
  const { file } = ctx;
  const form =
    'a mapping with payload (or payload-file) and optional expected, tolerance, requests, max-p95-ms, max-error-rate';
  if (value === undefined) throw new ReleaseFileError(file, 'smoke', undefined, form);
  if (!isMap(value)) throw new ReleaseFileError(file, 'smoke', value, form);
  unknownFields(file, 'smoke.', value, SMOKE_FIELDS);
  const payload = smokeDocument(ctx, value, 'payload', 'payload-file');
  const payloadField = value['payload-file'] !== undefined ? 'smoke.payload-file' : 'smoke.payload';
  if (payload === undefined) throw new ReleaseFileError(file, 'smoke.payload', undefined, PAYLOAD_FORM);
  if (payload === null || typeof payload !== 'object' || (Array.isArray(payload) && payload.length === 0))
    throw new ReleaseFileError(file, payloadField, payload, PAYLOAD_FORM);
  const expected = smokeDocument(ctx, value, 'expected', 'expected-file');

  const compare = value['compare'];
  if (compare !== undefined && (typeof compare !== 'string' || !(COMPARE_MODES as readonly string[]).includes(compare)))
    throw new ReleaseFileError(file, 'smoke.compare', compare, `one of ${COMPARE_MODES.join(', ')}`);
  const toleranceValue = value['tolerance'];
  let tolerance: Tolerance | undefined;
  if (toleranceValue !== undefined) {
    tolerance =
      (typeof toleranceValue === 'number' && toleranceValue >= 0) || typeof toleranceValue === 'string'
        ? parseTolerance(String(toleranceValue))
        : undefined;
    if (!tolerance) throw new ReleaseFileError(file, 'smoke.tolerance', toleranceValue, TOLERANCE_FORM);
  }
  const requests = value['requests'];
  if (
    requests !== undefined &&
    (!Number.isInteger(requests) || (requests as number) < 0 || (requests as number) > 1_000_000)
  )
    throw new ReleaseFileError(
      file,
      'smoke.requests',
      requests,
      'a whole number of calls from 0 to 1000000 (0: no load phase)',
    );
  const maxP95 = value['max-p95-ms'];
  if (maxP95 !== undefined && (typeof maxP95 !== 'number' || !(maxP95 > 0)))
    throw new ReleaseFileError(file, 'smoke.max-p95-ms', maxP95, 'a positive number of milliseconds such as 800');
  const maxErrorRate = value['max-error-rate'];
  if (maxErrorRate !== undefined && (typeof maxErrorRate !== 'number' || !(maxErrorRate >= 0 && maxErrorRate <= 1)))
    throw new ReleaseFileError(file, 'smoke.max-error-rate', maxErrorRate, 'a fraction from 0 to 1 such as 0.01');
  return {
    payload,
    ...(expected !== undefined ? { expected } : {}),
    ...(compare !== undefined ? { compare: compare as CompareMode } : {}),
    ...(tolerance ? { tolerance } : {}),
    ...(requests !== undefined ? { requests: requests as number } : {}),
    ...(maxP95 !== undefined ? { maxP95Ms: maxP95 as number } : {}),
    ...(maxErrorRate !== undefined ? { maxErrorRate: maxErrorRate as number } : {}),
  };
}

/** Parses the text of a release file (YAML or JSON). */
export function parseReleaseText(text: string, ctx: ParseContext): ReleaseSpec {
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (error) {
    // The reason and position only: the excerpt the parser adds quotes the text, which may hold anything.
    const mark = (error as { mark?: { line?: number; column?: number } }).mark;
    const reason = (error instanceof Error ? error.message : String(error))
      .split('\n')[0]
      ?.replace(/\s*\(\d+:\d+\)$/, '');
    const at = mark?.line !== undefined ? ` at line ${mark.line + 1}, column ${(mark.column ?? 0) + 1}` : '';
    const e = new ReleaseFileError(ctx.file, '(document)', undefined, 'YAML');
    e.message = `${ctx.file} is not valid YAML${at}: ${reason}.`;
    throw e;
  }
  return parseReleaseDocument(doc, ctx);
}

/** Reads and parses a release file; `root` is the repository root the path is relative to. */
export function readReleaseFile(path: string, root = process.cwd()): ReleaseSpec {
  const full = join(root, path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    throw new ReleaseFileError(
      path,
      '(file)',
      undefined,
      `a readable release file (${(error as { code?: string }).code ?? describeError(error)})`,
    );
  }
  return parseReleaseText(text, {
    file: path,
    readFile: (relative) => readFileSync(join(dirname(full), relative), 'utf8'),
  });
}
