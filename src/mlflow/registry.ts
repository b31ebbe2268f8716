import { formatDuration } from '../common/duration.js';
import { KfopsError, networkFailure, quote } from '../common/errors.js';
import { parseJsonBody } from '../common/json.js';
import { redactUrlCredentials, splitUrlCredentials } from '../common/redact.js';

/**
 * Resolves an MLflow Model Registry reference (`models:/<name>@<alias>`, `models:/<name>/<version>`)
 * to the storage URI of the directory that holds the model's MLmodel file, through the tracking
 * server's REST API (api/2.0/mlflow). KServe cannot read `models:/` URIs itself.
 */

export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

export interface MlflowClientOptions {
  /** The tracking server, e.g. https://mlflow.example.com or http://127.0.0.1:5000; user:password@ in it is sent as basic auth. */
  trackingUri: string;
  username?: string;
  password?: string;
  token?: string;
  fetch?: FetchLike;
  /** Per request, from connecting to the last byte of the answer (default 15 s). */
  timeoutMs?: number;
  /** Ends every request at once (the caller's overall deadline). */
  signal?: AbortSignal;
}

export type RegistryRef =
  { name: string; alias: string; version?: undefined } | { name: string; version: string; alias?: undefined };

export interface ModelVersion {
  name: string;
  version: string;
  source?: string;
  run_id?: string;
  model_id?: string;
  status?: string;
  aliases?: string[];
}

export interface ResolvedModel {
  /** The storage URI KServe reads (s3://, gs://, ...). */
  uri: string;
  /** The URI the registry gave, before mlflow-artifacts:/ was mapped. */
  registryUri: string;
  name: string;
  version: string;
  alias?: string;
  runId?: string;
  modelId?: string;
}

export const MODELS_URI_FORM = '`models:/<name>@<alias>` or `models:/<name>/<version>` (an MLflow registry reference)';

/** Parses `models:/name@alias` or `models:/name/3`; the expected form (`problem`) when the text is not one. */
export function parseRegistryRef(text: string): RegistryRef | { problem: string } {
  const m = /^models:\/([^/@]+)(?:@([\w.-]+)|\/(\d+))$/.exec(text);
  if (!m) {
    const latest = /^models:\/([^/@]+)\/(latest|[A-Za-z]+)$/.exec(text);
    const hint = latest
      ? ` (stages such as "${latest[2]}" are deprecated in MLflow: give an alias, e.g. models:/${latest[1]}@champion, or a version number)`
      : '';
    return { problem: `${MODELS_URI_FORM}${hint}` };
  }
  let name: string;
  try {
    name = decodeURIComponent(m[1] as string);
  } catch {
    return { problem: `${MODELS_URI_FORM}, with a model name that is valid percent-encoding` };
  }
  return m[2] ? { name, alias: m[2] } : { name, version: m[3] as string };
}

export const TRACKING_URI_FORM = 'the http(s) URL of the MLflow tracking server, e.g. https://mlflow.example.com';

/** A setting of the MLflow client that cannot be used; `field` names it (the actions layer maps it to its input). */
export class MlflowSettingError extends Error {
  override readonly name = 'MlflowSettingError';
  constructor(
    readonly field: 'trackingUri' | 'artifactRoot',
    /** The value (URL credentials replaced by ***), or undefined when it is missing. */
    readonly value: string | undefined,
    readonly expected: string,
  ) {
    super(`${field}${value === undefined ? ' is missing' : ` ${JSON.stringify(value)}`}: expected ${expected}`);
  }
}

/**
 * The tracking server URL without credentials, and the credentials a user put in it
 * (`https://user:pass@host`): fetch refuses URLs with credentials, so they travel as basic auth.
 */
export function parseTrackingUri(text: string): { url: string; username?: string; password?: string } {
  const split = splitUrlCredentials(text.trim());
  let url: URL;
  try {
    url = new URL(split.url);
  } catch {
    throw new MlflowSettingError('trackingUri', split.url, TRACKING_URI_FORM);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || /\s/.test(text))
    throw new MlflowSettingError('trackingUri', split.url, TRACKING_URI_FORM);
  if (url.search || url.hash)
    throw new MlflowSettingError('trackingUri', split.url, `${TRACKING_URI_FORM}, without a query or fragment`);
  if (split.password !== undefined && split.username === undefined)
    throw new MlflowSettingError(
      'trackingUri',
      split.url,
      `${TRACKING_URI_FORM}; credentials in it need a user name (https://user:password@host)`,
    );
  return {
    url: split.url.replace(/\/+$/, ''),
    ...(split.username !== undefined ? { username: split.username } : {}),
    ...(split.password !== undefined ? { password: split.password } : {}),
  };
}

export class MlflowError extends KfopsError {
  override readonly name = 'MlflowError';
  constructor(
    message: string,
    details: { cause?: string; fix?: string },
    readonly status?: number,
    readonly errorCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, details, options);
  }
}

export class MlflowClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly doFetch: FetchLike;
  private readonly timeoutMs: number;

  constructor(private readonly options: MlflowClientOptions) {
    const server = parseTrackingUri(options.trackingUri);
    this.base = server.url;
    this.headers = { Accept: 'application/json' };
    const username = options.username ?? server.username;
    const password = options.password ?? server.password;
    if (options.token) this.headers['Authorization'] = `Bearer ${options.token}`;
    else if (username !== undefined) {
      this.headers['Authorization'] = `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
    }
    this.doFetch = options.fetch ?? ((u, init) => fetch(u, init));
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** The server's URL, without credentials (safe to print). */
  get url(): string {
    return this.base;
  }

  /** One REST call; MlflowError with the server's error_code and message when it fails. */
  async call<T>(method: 'GET' | 'POST', path: string, query: Record<string, string> = {}, body?: unknown): Promise<T> {
    const qs = new URLSearchParams(query).toString();
    const url = `${this.base}/api/2.0/mlflow/${path}${qs ? `?${qs}` : ''}`;
    // One deadline for the whole exchange (connect, headers and body), and the caller's signal.
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = this.options.signal ? AbortSignal.any([timeout, this.options.signal]) : timeout;
    let status: number;
    let text: string;
    try {
      const response = await this.doFetch(url, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal,
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      const timedOut = timeout.aborted;
      throw new MlflowError(
        timedOut
          ? `The MLflow tracking server at ${this.base} did not answer within ${formatDuration(this.timeoutMs)}`
          : `The MLflow tracking server at ${this.base} is not reachable`,
        {
          cause: `${method} ${path} failed: ${timedOut ? 'no answer before the deadline (the server accepted the connection, or the connection could not be made, and nothing came back)' : redactUrlCredentials(networkFailure(error))}`,
          fix: timedOut
            ? 'check that mlflow-tracking-uri points at the tracking server itself (not a proxy or port that holds connections open) and that the server is not overloaded'
            : 'check mlflow-tracking-uri (scheme, host and port) and that the server runs and is reachable from this runner',
        },
        undefined,
        undefined,
        { cause: error },
      );
    }
    const parsed = parseJsonBody(text);
    if (status >= 200 && status < 300 && parsed !== undefined) return parsed as T;
    const err = (parsed ?? {}) as { error_code?: string; message?: string };
    const detail = err.message ?? text.slice(0, 300);
    if (status === 401 || status === 403) {
      throw new MlflowError(
        `The MLflow tracking server at ${this.base} refused the request (${status})`,
        {
          cause: detail || `HTTP ${status}`,
          fix: 'set mlflow-username and mlflow-password (basic auth, or user:password in mlflow-tracking-uri) or mlflow-token to credentials that may read the model registry',
        },
        status,
        err.error_code,
      );
    }
    if (parsed === undefined) {
      throw new MlflowError(
        `${this.base} did not answer like an MLflow tracking server`,
        {
          cause: `${method} ${path} gave HTTP ${status} with a non-JSON body: ${quote(text, 200)}`,
          fix: 'point mlflow-tracking-uri at the tracking server itself (not at a login page or proxy)',
        },
        status,
      );
    }
    throw new MlflowError(
      `MLflow ${method} ${path} failed: ${err.error_code ?? `HTTP ${status}`}`,
      { cause: detail },
      status,
      err.error_code,
    );
  }

  /** The version an alias points to; a missing alias names the aliases the model has. */
  async versionByAlias(name: string, alias: string): Promise<ModelVersion> {
    try {
      const r = await this.call<{ model_version: ModelVersion }>('GET', 'registered-models/alias', { name, alias });
      return r.model_version;
    } catch (error) {
      if (
        !(error instanceof MlflowError) ||
        (error.errorCode !== 'RESOURCE_DOES_NOT_EXIST' && error.errorCode !== 'INVALID_PARAMETER_VALUE')
      )
        throw error;
      const model = await this.registeredModel(name);
      const aliases = (model.aliases ?? []).map((a) => `@${a.alias} (version ${a.version})`).sort();
      throw new MlflowError(
        `Registered model "${name}" has no alias "${alias}"`,
        {
          cause: aliases.length
            ? `its aliases are ${aliases.join(', ')}`
            : `it has no aliases; its latest versions are ${(model.latest_versions ?? []).map((v) => v.version).join(', ') || 'none'}`,
          fix: `set the alias in MLflow (e.g. MlflowClient().set_registered_model_alias("${name}", "${alias}", <version>)) or use one of the existing aliases or a version number (models:/${name}/<version>)`,
        },
        error.status,
        error.errorCode,
      );
    }
  }

  async version(name: string, version: string): Promise<ModelVersion> {
    try {
      const r = await this.call<{ model_version: ModelVersion }>('GET', 'model-versions/get', { name, version });
      return r.model_version;
    } catch (error) {
      if (!(error instanceof MlflowError) || error.errorCode !== 'RESOURCE_DOES_NOT_EXIST') throw error;
      const model = await this.registeredModel(name);
      throw new MlflowError(
        `Registered model "${name}" has no version ${version}`,
        {
          cause: `its latest versions are ${(model.latest_versions ?? []).map((v) => v.version).join(', ') || 'none'}`,
          fix: 'use an existing version number or an alias',
        },
        error.status,
        error.errorCode,
      );
    }
  }

  async registeredModel(
    name: string,
  ): Promise<{ name: string; aliases?: { alias: string; version: string }[]; latest_versions?: ModelVersion[] }> {
    try {
      return (
        await this.call<{
          registered_model: {
            name: string;
            aliases?: { alias: string; version: string }[];
            latest_versions?: ModelVersion[];
          };
        }>('GET', 'registered-models/get', { name })
      ).registered_model;
    } catch (error) {
      if (error instanceof MlflowError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') {
        throw new MlflowError(
          `The MLflow registry at ${this.base} has no registered model "${name}"`,
          {
            cause: error.details.cause ?? 'RESOURCE_DOES_NOT_EXIST',
            fix: 'register the model first (mlflow.register_model or registered_model_name= when logging), or fix the name (it is case-sensitive)',
          },
          error.status,
          error.errorCode,
        );
      }
      throw error;
    }
  }

  /** The storage location of a version's artifacts (resolves runs:/ and models:/ sources on the server). */
  async downloadUri(name: string, version: string): Promise<string> {
    return (await this.call<{ artifact_uri: string }>('GET', 'model-versions/get-download-uri', { name, version }))
      .artifact_uri;
  }
}

/**
 * Maps `mlflow-artifacts:` URIs (artifacts proxied by the tracking server) onto the server's artifact
 * destination (its --artifacts-destination, given as `artifactRoot`): `mlflow-artifacts:/1/abc/artifacts/model`
 * with root `s3://bucket/mlflow` is `s3://bucket/mlflow/1/abc/artifacts/model`. Other URIs pass through.
 */
export function mapArtifactUri(uri: string, artifactRoot: string | undefined): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(uri);
  if (!m) return uri;
  if (!artifactRoot) {
    throw new MlflowSettingError(
      'artifactRoot',
      undefined,
      `the storage URI behind the tracking server's proxied artifacts (its --artifacts-destination, e.g. s3://mlflow/artifacts), because the registry gave ${quote(uri)}, which KServe cannot read`,
    );
  }
  return `${artifactRoot.replace(/\/+$/, '')}/${m[1]}`;
}

/**
 * A download URI the server left symbolic: `runs:/<run>/<path>` (the run's artifact URI + path) or
 * `models:/m-<id>` (an MLflow 3 logged model's artifact location). Others pass through.
 */
async function storageLocation(client: MlflowClient, uri: string): Promise<string> {
  const run = /^runs:\/([^/]+)\/?(.*)$/.exec(uri);
  if (run) {
    const r = await client.call<{ run: { info: { artifact_uri: string } } }>('GET', 'runs/get', {
      run_id: run[1] as string,
    });
    return `${r.run.info.artifact_uri.replace(/\/+$/, '')}${run[2] ? `/${run[2]}` : ''}`;
  }
  const logged = /^models:\/(m-[\w-]+)$/.exec(uri);
  if (logged) {
    const r = await client.call<{ model: { info: { artifact_uri: string } } }>('GET', `logged-models/${logged[1]}`);
    return r.model.info.artifact_uri;
  }
  return uri;
}

const SERVABLE = /^(s3|gs|pvc|https?|hdfs|webhdfs|oci):\/\//;

/** Resolves a registry reference to the directory holding MLmodel. */
export async function resolveModel(
  client: MlflowClient,
  ref: RegistryRef,
  options: { artifactRoot?: string } = {},
): Promise<ResolvedModel> {
  const mv =
    ref.alias !== undefined
      ? await client.versionByAlias(ref.name, ref.alias)
      : await client.version(ref.name, ref.version);
  if (mv.status && mv.status !== 'READY') {
    throw new MlflowError(`Version ${mv.version} of "${ref.name}" is not ready in the registry (status ${mv.status})`, {
      cause: mv.status === 'FAILED_REGISTRATION' ? 'its registration failed' : 'its registration has not finished',
      fix:
        mv.status === 'FAILED_REGISTRATION'
          ? 'register the model again'
          : 'wait for the registration to finish, then run again',
    });
  }
  const registryUri = (await storageLocation(client, await client.downloadUri(ref.name, mv.version))).replace(
    /\/+$/,
    '',
  );
  const uri = mapArtifactUri(registryUri, options.artifactRoot);
  if (!SERVABLE.test(uri)) {
    throw new MlflowError(
      `Version ${mv.version} of "${ref.name}" is stored where KServe cannot read it: ${quote(registryUri)}`,
      {
        cause: /^(file:|\/)/.test(uri)
          ? 'the tracking server keeps artifacts on its own disk (its default artifact root is a local path)'
          : `the scheme of ${quote(uri)} is not one KServe's storage initializer supports`,
        fix: 'run the tracking server with an object-store artifact root (e.g. --artifacts-destination s3://bucket/path or --default-artifact-root s3://bucket/path) and log the model again, or pass model-uri as the storage URI directly',
      },
    );
  }
  return {
    uri,
    registryUri,
    name: mv.name ?? ref.name,
    version: mv.version,
    ...(ref.alias !== undefined ? { alias: ref.alias } : {}),
    ...(mv.run_id ? { runId: mv.run_id } : {}),
    ...(mv.model_id
      ? { modelId: mv.model_id }
      : mv.source?.startsWith('models:/m-')
        ? { modelId: mv.source.slice('models:/'.length) }
        : {}),
  };
}

/** An alias moved: the version it points at now (read back from the registry) and the one before, if any. */
export interface AliasMove {
  name: string;
  alias: string;
  version: string;
  previousVersion?: string;
}

/** The version an alias points at, or undefined when the model has no such alias. */
export async function readAlias(client: MlflowClient, name: string, alias: string): Promise<string | undefined> {
  try {
    const r = await client.call<{ model_version?: ModelVersion }>('GET', 'registered-models/alias', { name, alias });
    return r.model_version?.version;
  } catch (error) {
    if (
      error instanceof MlflowError &&
      (error.errorCode === 'RESOURCE_DOES_NOT_EXIST' || error.errorCode === 'INVALID_PARAMETER_VALUE')
    ) {
      // The alias is missing, or the model is (registeredModel says which, with its own fix).
      await client.registeredModel(name);
      return undefined;
    }
    throw error;
  }
}

/**
 * Points `alias` of registered model `name` at `version` (POST registered-models/alias), then reads it
 * back (GET registered-models/alias) and fails unless it reads `version`. The version the alias pointed
 * at before is returned, so a caller can record it (and point it back).
 */
export async function moveAlias(
  client: MlflowClient,
  name: string,
  alias: string,
  version: string,
): Promise<AliasMove> {
  const previousVersion = await readAlias(client, name, alias);
  try {
    await client.call('POST', 'registered-models/alias', undefined, { name, alias, version });
  } catch (error) {
    if (error instanceof MlflowError && (error.status === 401 || error.status === 403)) {
      throw new MlflowError(
        `The MLflow tracking server at ${client.url} refused to set alias "${alias}" of "${name}" (${error.status})`,
        {
          cause: error.details.cause ?? `HTTP ${error.status}`,
          fix: `give the credentials (mlflow-username/mlflow-password or mlflow-token) the EDIT permission on registered model "${name}"`,
        },
        error.status,
        error.errorCode,
        { cause: error },
      );
    }
    if (error instanceof MlflowError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') {
      // Which one is missing: the model, or the version.
      await client.version(name, version);
    }
    throw error;
  }
  const now = await readAlias(client, name, alias);
  if (now !== version) {
    throw new MlflowError(`Alias "${alias}" of "${name}" did not move to version ${version}`, {
      cause: `reading it back after setting it gave ${now === undefined ? 'no alias' : `version ${now}`}`,
      fix: 'another run may have moved it at the same time (run releases of one model one at a time), or a proxy in front of the tracking server answers writes without forwarding them',
    });
  }
  return { name, alias, version, ...(previousVersion !== undefined ? { previousVersion } : {}) };
}

/** The MLflow UI page of a model version (the tracking server serves the UI at its root). */
export function modelVersionUrl(trackingUrl: string, name: string, version: string): string {
  return `${trackingUrl.replace(/\/+$/, '')}/#/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
}
