import { Agent as HttpsAgent } from 'node:https';
import { KfopsError } from '../common/errors.js';
import type { KubeObject } from '../kube/types.js';

/** KServe's S3 annotations on a credentials Secret (REFERENCE §5; KServe's storage-initializer reads them). */
export const S3_ANNOTATIONS = {
  endpoint: 'serving.kserve.io/s3-endpoint',
  useHttps: 'serving.kserve.io/s3-usehttps',
  region: 'serving.kserve.io/s3-region',
  verifySsl: 'serving.kserve.io/s3-verifyssl',
  anonymous: 'serving.kserve.io/s3-useanoncredential',
} as const;

export interface S3Settings {
  /** host[:port] without a scheme; undefined for AWS S3 itself. */
  endpoint?: string;
  region: string;
  useHttps: boolean;
  verifySsl: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Parses an S3 endpoint: `minio.minio:9000`, `http://127.0.0.1:9000` or `https://s3.example.com`.
 * A scheme, when given, decides `useHttps` (KServe wants host:port without one in its annotation).
 * Undefined when the text is not one.
 */
export function parseEndpoint(text: string): { host: string; useHttps?: boolean } | undefined {
  const m = /^(?:(https?):\/\/)?([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?\/?$/.exec(
    text.trim(),
  );
  if (!m) return undefined;
  if (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535)) return undefined;
  const host = `${m[2]}${m[3] ? `:${m[3]}` : ''}`;
  return m[1] ? { host, useHttps: m[1] === 'https' } : { host };
}

export const ENDPOINT_FORM =
  'host[:port] of the S3-compatible server (port 1 to 65535), e.g. minio-service.kubeflow:9000 or https://storage.example.com';

/** Where the S3 check goes, for messages: the endpoint URL or AWS S3 and its region. */
export function describeS3(s3: S3Settings): string {
  return s3.endpoint ? `${s3.useHttps ? 'https' : 'http'}://${s3.endpoint}` : `AWS S3 (${s3.region})`;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/**
 * The credentials Secret (keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, with KServe's S3 annotations)
 * and a ServiceAccount listing it, which the predictor names in serviceAccountName. The Secret carries
 * `data` (base64), not `stringData`, so re-applying the same credentials changes nothing.
 */
export function storageObjects(
  names: { secret: string; serviceAccount: string },
  namespace: string,
  s3: S3Settings,
  labels: Record<string, string> = {},
): KubeObject[] {
  const annotations: Record<string, string> = {
    [S3_ANNOTATIONS.useHttps]: s3.useHttps ? '1' : '0',
    [S3_ANNOTATIONS.region]: s3.region,
    [S3_ANNOTATIONS.verifySsl]: s3.verifySsl ? '1' : '0',
  };
  if (s3.endpoint) annotations[S3_ANNOTATIONS.endpoint] = s3.endpoint;
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: names.secret, namespace, labels, annotations },
      type: 'Opaque',
      data: { AWS_ACCESS_KEY_ID: b64(s3.accessKeyId), AWS_SECRET_ACCESS_KEY: b64(s3.secretAccessKey) },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: names.serviceAccount, namespace, labels },
      secrets: [{ name: names.secret }],
    },
  ];
}

/** The files a model format's server needs in the storage directory; [] means any object will do. */
export function expectedFiles(modelFormat: string): { files: RegExp[]; describe: string } {
  switch (modelFormat.toLowerCase()) {
    case 'mlflow':
      return { files: [/^MLmodel$/], describe: 'MLmodel' };
    case 'sklearn':
      return { files: [/\.(joblib|pkl|pickle)$/], describe: 'a model.joblib, model.pkl or model.pickle file' };
    case 'xgboost':
      return { files: [/\.(bst|json|ubj)$/], describe: 'a model.bst or model.json file' };
    case 'lightgbm':
      return { files: [/\.bst$/], describe: 'a model.bst file' };
    case 'onnx':
      return { files: [/\.onnx$/], describe: 'a model.onnx file' };
    default:
      return { files: [], describe: 'at least one object' };
  }
}

export interface LocationReport {
  bucket: string;
  prefix: string;
  /** Objects directly in the directory (names relative to it). */
  files: string[];
  /** Sub-directories directly in it. */
  directories: string[];
  /** The expected file found. */
  found: string;
}

/** A failed storage check: the S3 error code (or what was missing), the cause and the fix. */
export class StorageCheckError extends KfopsError {
  override readonly name = 'StorageCheckError';
  constructor(
    message: string,
    details: { cause?: string; fix?: string },
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, details, options);
  }
}

/** Per-attempt deadlines of the S3 check: connecting, and the whole request (it throws, not only warns). */
export const S3_CONNECT_TIMEOUT_MS = 5_000;
export const S3_REQUEST_TIMEOUT_MS = 10_000;
export const S3_MAX_ATTEMPTS = 2;

/** One page of a delimited listing: the keys and the common prefixes under a prefix. */
export interface Listing {
  keys: string[];
  prefixes: string[];
}

/** What the check needs of an S3 client: one ListObjectsV2 call. */
export interface S3Lister {
  list(bucket: string, prefix: string, options?: { signal?: AbortSignal }): Promise<Listing>;
}

/**
 * An S3 client for the check. The AWS SDK is loaded on the first call, not with the action: only runs
 * that check an s3:// location need it.
 */
export function s3Client(s3: S3Settings, timeoutMs = S3_REQUEST_TIMEOUT_MS): S3Lister {
  let lister: Promise<S3Lister['list']> | undefined;
  const load = async (): Promise<S3Lister['list']> => {
    const [{ ListObjectsV2Command, S3Client }, { NodeHttpHandler }] = await Promise.all([
      import('@aws-sdk/client-s3'),
      import('@smithy/node-http-handler'),
    ]);
    const scheme = s3.useHttps ? 'https' : 'http';
    const sdk = new S3Client({
      region: s3.region,
      ...(s3.endpoint ? { endpoint: `${scheme}://${s3.endpoint}` } : {}),
      // MinIO and most S3-compatible servers serve buckets as paths, not virtual hosts.
      forcePathStyle: Boolean(s3.endpoint),
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      maxAttempts: S3_MAX_ATTEMPTS,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: Math.min(S3_CONNECT_TIMEOUT_MS, timeoutMs),
        requestTimeout: timeoutMs,
        // Without it a request past requestTimeout only logs a warning and waits on: a peer that accepts
        // the connection and never answers would hold the check forever.
        throwOnRequestTimeout: true,
        ...(s3.useHttps && !s3.verifySsl ? { httpsAgent: new HttpsAgent({ rejectUnauthorized: false }) } : {}),
      }),
    });
    return async (bucket, prefix, options = {}) => {
      const r = await sdk.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', MaxKeys: 1000 }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      return {
        keys: (r.Contents ?? []).map((o) => o.Key ?? ''),
        prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
      };
    };
  };
  return {
    list: async (bucket, prefix, options) => (await (lister ??= load()))(bucket, prefix, options),
  };
}

/**
 * Checks with the given credentials that the location (s3://bucket/dir) exists and holds the file the
 * model format needs (MLmodel for mlflow), listing the directory once. Wrong keys, a wrong bucket or a
 * wrong path each fail here with the server's error, in seconds, instead of a revision that never scales.
 * `signal` ends a pending request at once (the caller's overall deadline).
 */
export async function checkS3Location(
  client: S3Lister,
  location: { uri: string; bucket: string; prefix: string },
  modelFormat: string,
  where: string,
  options: { signal?: AbortSignal } = {},
): Promise<LocationReport> {
  const { uri, bucket, prefix } = location;
  const expected = expectedFiles(modelFormat);
  const list = async (p: string): Promise<{ files: string[]; directories: string[] }> => {
    const dir = p ? `${p}/` : '';
    try {
      const r = await client.list(bucket, dir, options);
      return {
        files: r.keys.map((k) => k.slice(dir.length)).filter(Boolean),
        directories: r.prefixes.map((p) => p.slice(dir.length).replace(/\/$/, '')).filter(Boolean),
      };
    } catch (error) {
      throw explainS3Error(error, bucket, where);
    }
  };
  const { files, directories } = await list(prefix);
  const found = expected.files.length === 0 ? files[0] : files.find((f) => expected.files.some((re) => re.test(f)));
  if (found) return { bucket, prefix, files, directories, found };

  if (files.length === 0 && directories.length === 0) {
    throw new StorageCheckError(
      `Nothing is stored at ${uri}`,
      {
        cause: `bucket "${bucket}" exists and the credentials can list it, but no object has the prefix "${prefix}/"`,
        fix: 'check the path in model-uri (or the artifact location MLflow reports for this model version)',
      },
      'EmptyLocation',
    );
  }
  // A common slip: the run's artifact root instead of the model directory inside it.
  let hint = '';
  if (expected.files.length) {
    for (const d of directories.slice(0, 10)) {
      const sub = await list(prefix ? `${prefix}/${d}` : d);
      if (sub.files.some((f) => expected.files.some((re) => re.test(f)))) {
        hint = `; ${uri.replace(/\/+$/, '')}/${d} holds it: use that URI`;
        break;
      }
    }
  }
  const listing = [...files, ...directories.map((d) => `${d}/`)];
  throw new StorageCheckError(
    `${uri} does not hold ${expected.describe}`,
    {
      cause: `the directory holds ${listing.slice(0, 12).join(', ')}${listing.length > 12 ? `, … (${listing.length} entries)` : ''}${hint}`,
      fix:
        modelFormat === 'mlflow'
          ? "point model-uri at the directory that holds MLmodel (an MLflow model logged with log_model), or set model-format to the model's real format"
          : `point model-uri at the directory that holds ${expected.describe}`,
    },
    `Missing${expected.describe === 'MLmodel' ? 'MLmodel' : 'ModelFile'}`,
  );
}

/** The fix for each S3 error code the check can meet. */
const S3_FIXES: Record<string, string> = {
  InvalidAccessKeyId:
    'the access key id is unknown to this S3 server: check s3-access-key-id (and that s3-endpoint is the server that issued it)',
  SignatureDoesNotMatch: 'the secret key does not match the access key id: check s3-secret-access-key',
  NoSuchBucket:
    'the bucket does not exist on this server: check the bucket name in model-uri (or the MLflow artifact root), and s3-endpoint',
  AccessDenied:
    'the credentials are valid but may not list this bucket: grant s3:ListBucket and s3:GetObject on it to this key',
  AllAccessDisabled: 'access to this bucket is disabled: use another bucket or ask its owner',
  PermanentRedirect: "the bucket is in another region: set s3-region to the bucket's region",
  AuthorizationHeaderMalformed: "the region in the signature is wrong: set s3-region to the bucket's region",
  InvalidBucketName: 'the bucket name in model-uri is not a valid S3 bucket name',
};

function explainS3Error(error: unknown, bucket: string, where: string): StorageCheckError {
  // An answer of the server (an S3ServiceException: it carries $fault and $metadata), not a network failure.
  const service = error as {
    name?: string;
    message?: string;
    Message?: string;
    $fault?: string;
    $metadata?: { httpStatusCode?: number };
  };
  if (error instanceof Error && service.$fault && service.$metadata?.httpStatusCode) {
    const code = error.name;
    const status = service.$metadata.httpStatusCode;
    const message = error.message && error.message !== code ? error.message : (service.Message ?? '');
    return new StorageCheckError(
      `The S3 check of bucket "${bucket}" at ${where} failed: ${code}${status ? ` (HTTP ${status})` : ''}`,
      {
        cause: message || code,
        fix: S3_FIXES[code] ?? 'read the S3 error above; the same credentials would make the storage-initializer fail',
      },
      code,
      { cause: error },
    );
  }
  const e = error as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const net = e.code ?? e.cause?.code ?? e.name;
  if (net === 'TimeoutError' || net === 'ETIMEDOUT' || /requestTimeout|timed? ?out/i.test(e.message ?? '')) {
    return new StorageCheckError(
      `The S3 server at ${where} did not answer in time`,
      {
        cause: `${net ?? 'timeout'}: ${e.message ?? String(error)} (after ${S3_MAX_ATTEMPTS} attempt(s))`,
        fix: 'check s3-endpoint (host, port and s3-use-https: a TLS server spoken to in plain HTTP, or a port that holds connections open, never answers); set s3-check: false when the storage is reachable only from inside the cluster',
      },
      'Timeout',
      { cause: error },
    );
  }
  return new StorageCheckError(
    `The S3 server at ${where} could not be reached`,
    {
      cause: `${net ?? 'error'}: ${e.message ?? String(error)}`,
      fix: 'check s3-endpoint and s3-use-https; the check runs from this runner, so the endpoint must be reachable from here (set s3-check: false when the storage is reachable only from inside the cluster)',
    },
    String(net ?? 'NetworkError'),
    { cause: error },
  );
}
