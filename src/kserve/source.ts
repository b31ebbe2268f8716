import { redactUrlCredentials } from '../common/redact.js';
import { isKubeName } from '../common/names.js';
import { parseRegistryRef, type RegistryRef } from '../mlflow/registry.js';

/**
 * Where a model comes from, parsed once from the text a user gives:
 * - registry: an MLflow Model Registry reference (models:/name@alias, models:/name/3), resolved later
 *   to one of the storage kinds below;
 * - s3 / gcs: a bucket and the prefix of the model directory;
 * - pvc: a PersistentVolumeClaim and the path inside it;
 * - uri: an http(s) URL KServe's storage-initializer downloads.
 * `uri` is always the text KServe reads (spec.predictor.model.storageUri) for the storage kinds.
 */
export type ModelSource =
  | { kind: 'registry'; uri: string; ref: RegistryRef }
  | { kind: 's3'; uri: string; bucket: string; prefix: string }
  | { kind: 'gcs'; uri: string; bucket: string; prefix: string }
  | { kind: 'pvc'; uri: string; claim: string; path: string }
  | { kind: 'uri'; uri: string; scheme: string };

/** A model source KServe can read (a registry reference resolved). */
export type StorageSource = Exclude<ModelSource, { kind: 'registry' }>;

export const MODEL_SOURCE_FORM =
  'a storage URI (s3://bucket/path, gs://bucket/path, pvc://claim/path or https://...) of the directory holding the model, or an MLflow registry reference models:/<name>@<alias> or models:/<name>/<version>';

/** A model reference that cannot be used; `field` names the setting (the actions layer maps it to its input). */
export class ModelSourceError extends Error {
  override readonly name = 'ModelSourceError';
  constructor(
    readonly field: 'model' | 'resolved',
    /** The text, with any URL credentials replaced by ***. */
    readonly value: string,
    readonly expected: string,
  ) {
    super(`model reference ${JSON.stringify(value)}: expected ${expected}`);
  }
}

// S3 (current naming rules) and GCS bucket names.
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** Parses a model reference; throws ModelSourceError (field `model`, or `resolved` for what a registry gave). */
export function parseModelSource(text: string, field: 'model' | 'resolved' = 'model'): ModelSource {
  const shown = redactUrlCredentials(text);
  const fail = (expected: string): never => {
    throw new ModelSourceError(field, shown, expected);
  };
  if (/\s/.test(text)) fail(`${MODEL_SOURCE_FORM} (without spaces)`);
  if (text.startsWith('models:')) {
    if (field === 'resolved') fail('a storage URI');
    const ref = parseRegistryRef(text);
    if ('problem' in ref) return fail(ref.problem);
    return { kind: 'registry', uri: text, ref };
  }
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/i.exec(text);
  if (!m) return fail(MODEL_SOURCE_FORM);
  const scheme = (m[1] as string).toLowerCase();
  const authority = m[2] as string;
  const path = (m[3] ?? '').replace(/^\/+|\/+$/g, '');
  if (/(^|\/)MLmodel$/.test(path))
    fail(`the directory that holds MLmodel (${text.replace(/\/?MLmodel$/, '')}), not the file itself`);
  switch (scheme) {
    case 's3':
      if (!authority) fail('s3://<bucket>/<path to the model directory>: the bucket is missing');
      if (!S3_BUCKET.test(authority))
        fail(
          `s3://<bucket>/<path>, with a bucket name of 3 to 63 lowercase letters, digits, '.' and '-' (got bucket ${JSON.stringify(authority)})`,
        );
      return { kind: 's3', uri: text, bucket: authority, prefix: path };
    case 'gs':
      if (!authority) fail('gs://<bucket>/<path to the model directory>: the bucket is missing');
      if (!GCS_BUCKET.test(authority))
        fail(
          `gs://<bucket>/<path>, with a bucket name of 3 to 63 lowercase letters, digits, '.', '_' and '-' (got bucket ${JSON.stringify(authority)})`,
        );
      return { kind: 'gcs', uri: text, bucket: authority, prefix: path };
    case 'pvc':
      if (!authority || !isKubeName(authority, 'subdomain'))
        fail(
          "pvc://<claim>/<path>, with the name of a PersistentVolumeClaim in the namespace (lowercase letters, digits, '-' and '.')",
        );
      return { kind: 'pvc', uri: text, claim: authority, path };
    case 'http':
    case 'https': {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return fail(`an http(s) URL of the model (${MODEL_SOURCE_FORM})`);
      }
      if (!url.hostname) fail('an http(s) URL with a host');
      if (url.username || url.password) {
        fail(
          'a URL without credentials: they would be stored in clear in the InferenceService spec (serve the model from a bucket with s3 credentials, or from a URL that needs none)',
        );
      }
      return { kind: 'uri', uri: text, scheme };
    }
    case 'hdfs':
    case 'webhdfs':
    case 'oci':
      // Schemes KServe reads that a registry may give; not offered as an input form.
      if (field === 'resolved' && authority) return { kind: 'uri', uri: text, scheme };
      return fail(MODEL_SOURCE_FORM);
    default:
      return fail(MODEL_SOURCE_FORM);
  }
}

/** The storage source a registry resolved to; a ModelSourceError (field `resolved`) when KServe cannot read it. */
export function storageSource(text: string): StorageSource {
  return parseModelSource(text, 'resolved') as StorageSource;
}
