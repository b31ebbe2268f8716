import { ConfigurationError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { isKubeName, kubeNameForm } from '../../common/names.js';
import { ENDPOINT_FORM, parseEndpoint } from '../../kserve/storage.js';
import { MlflowSettingError, type InstallMlflowSettings } from '../../mlflow/install/install-mlflow.js';
import {
  DEFAULT_MLFLOW_VERSION,
  DEFAULT_POSTGRES_IMAGE,
  mlflowImage,
  parseDestination,
} from '../../mlflow/install/render.js';
import { kubeconfigInput } from '../kubeconfig.js';

/** The inputs, by name (action.yml). */
export const INPUT = {
  kubeconfig: 'kubeconfig',
  namespace: 'namespace',
  version: 'mlflow-version',
  image: 'image',
  database: 'database',
  databaseSecret: 'database-secret',
  postgresImage: 'postgres-image',
  postgresStorage: 'postgres-storage',
  storageClass: 'storage-class',
  artifacts: 'artifacts-destination',
  s3Endpoint: 's3-endpoint',
  s3Region: 's3-region',
  s3VerifySsl: 's3-verify-ssl',
  s3AccessKeyId: 's3-access-key-id',
  s3SecretAccessKey: 's3-secret-access-key',
  createBucket: 'create-bucket',
  externalHosts: 'external-hosts',
  notebookNamespaces: 'notebook-namespaces',
  modelNamespaces: 'model-namespaces',
  users: 'users',
  adminUsername: 'admin-username',
  defaultPermission: 'default-permission',
  dashboardLink: 'dashboard-link',
  workers: 'workers',
  gcpServiceAccount: 'gcp-service-account',
  timeout: 'timeout',
  concurrency: 'concurrency',
  forceConflicts: 'force-conflicts',
} as const;

/** Inputs masked before anything else runs. */
export const SECRET_INPUTS = [INPUT.s3AccessKeyId, INPUT.s3SecretAccessKey];

export interface Settings extends InstallMlflowSettings {
  kubeconfig?: string;
}

const VERSION_FORM = 'an MLflow release such as 3.17.2 (major.minor.patch)';
const QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const HOST = /^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:(\d{1,5}|\*))?$/;
const USER = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$/;

/** A use-case setting the cluster showed to be unusable, as the input the user sets; anything else unchanged. */
export function asInputError(error: unknown): unknown {
  if (!(error instanceof MlflowSettingError)) return error;
  const input =
    error.field === 'version' ? INPUT.version : error.field === 's3Keys' ? INPUT.s3AccessKeyId : INPUT.artifacts;
  return new ConfigurationError(input, error.value || undefined, error.expected);
}

function namespaces(inputs: Inputs, name: string): string[] {
  const list = inputs.list(name);
  for (const ns of list)
    if (!isKubeName(ns)) throw new ConfigurationError(name, ns, kubeNameForm('label', 'each a namespace name'));
  return [...new Set(list)];
}

function gcp(inputs: Inputs): { gcpServiceAccount?: string } {
  const sa = inputs.matching(
    INPUT.gcpServiceAccount,
    /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/,
    'a Google service account e-mail such as mlflow@my-project.iam.gserviceaccount.com',
  );
  return sa ? { gcpServiceAccount: sa } : {};
}

/** Reads and checks every input before anything touches the cluster. */
export function readSettings(inputs: Inputs): Settings {
  const kubeconfig = kubeconfigInput(inputs, INPUT.kubeconfig);
  const namespace = inputs.kubeName(INPUT.namespace, 'label', 'a namespace name', 'mlflow') as string;
  const version = inputs.matching(INPUT.version, /^\d+\.\d+\.\d+$/, VERSION_FORM, DEFAULT_MLFLOW_VERSION) as string;
  const image =
    inputs.matching(
      INPUT.image,
      /^[a-z0-9][\w.\-/:@]*$/,
      'a container image reference, e.g. ghcr.io/mlflow/mlflow:v3.17.2-full (it must hold MLflow with its database and storage drivers)',
    ) ?? mlflowImage(version);

  const dbType = inputs.choice(INPUT.database, ['postgres', 'external'] as const, 'postgres');
  const dbSecret = inputs.kubeName(INPUT.databaseSecret, 'subdomain', 'the name of a Secret in the MLflow namespace');
  if (dbType === 'external' && !dbSecret)
    throw new ConfigurationError(
      INPUT.databaseSecret,
      undefined,
      'with database: external, the name of a Secret in the MLflow namespace whose key `uri` is the SQLAlchemy URI of the database (e.g. postgresql+psycopg2://user:password@host:5432/mlflow), optional key `auth-uri` for the users database',
    );
  if (dbType === 'postgres' && dbSecret)
    throw new ConfigurationError(
      INPUT.databaseSecret,
      dbSecret,
      'no database-secret with database: postgres (set database: external to use it)',
    );
  const storage = inputs.matching(INPUT.postgresStorage, QUANTITY, 'a storage size such as 10Gi', '10Gi') as string;
  const storageClass = inputs.kubeName(INPUT.storageClass, 'subdomain', 'the name of a StorageClass');
  const database: Settings['database'] =
    dbType === 'external'
      ? { type: 'external', secret: dbSecret as string }
      : {
          type: 'postgres',
          image: inputs.matching(
            INPUT.postgresImage,
            /^[a-z0-9][\w.\-/:@]*$/,
            'a container image reference, e.g. postgres:16.10',
            DEFAULT_POSTGRES_IMAGE,
          ) as string,
          storage,
          ...(storageClass ? { storageClass } : {}),
        };

  const destination = inputs.optional(INPUT.artifacts) ?? 's3://mlflow/artifacts';
  const dest = parseDestination(destination);
  if (!dest)
    throw new ConfigurationError(
      INPUT.artifacts,
      destination,
      "s3://bucket[/prefix] (S3 or an S3-compatible server such as Kubeflow's MinIO) or gs://bucket[/prefix] (Google Cloud Storage, with Workload Identity)",
    );
  let s3: Settings['artifacts']['s3'];
  let s3Keys: Settings['s3Keys'];
  if (dest.scheme === 's3') {
    const endpointText = inputs.optional(INPUT.s3Endpoint) ?? 'minio-service.kubeflow:9000';
    const endpoint = endpointText === 'aws' ? undefined : parseEndpoint(endpointText);
    if (endpointText !== 'aws' && !endpoint)
      throw new ConfigurationError(INPUT.s3Endpoint, endpointText, `${ENDPOINT_FORM}, or \`aws\` for AWS S3 itself`);
    s3 = {
      ...(endpoint ? { endpoint: endpoint.host } : {}),
      region: inputs.matching(INPUT.s3Region, /^[a-z0-9-]+$/, 'an S3 region such as us-east-1', 'us-east-1') as string,
      useHttps: endpoint ? (endpoint.useHttps ?? false) : true,
      verifySsl: inputs.boolean(INPUT.s3VerifySsl, true),
    };
    const id = inputs.secret(INPUT.s3AccessKeyId);
    const key = inputs.secret(INPUT.s3SecretAccessKey);
    if (Boolean(id) !== Boolean(key))
      throw new ConfigurationError(
        id ? INPUT.s3SecretAccessKey : INPUT.s3AccessKeyId,
        undefined,
        `both ${INPUT.s3AccessKeyId} and ${INPUT.s3SecretAccessKey}, or neither (then the keys stored by an earlier run, or Kubeflow's MinIO keys)`,
        { hideValue: true },
      );
    if (id && key) s3Keys = { accessKeyId: id, secretAccessKey: key };
  } else {
    // s3-endpoint has a default (Kubeflow's MinIO): only keys given for nothing are refused.
    for (const name of [INPUT.s3AccessKeyId, INPUT.s3SecretAccessKey])
      if (inputs.optional(name) !== undefined)
        throw new ConfigurationError(
          name,
          inputs.optional(name),
          `nothing with a gs:// ${INPUT.artifacts} (Google Cloud Storage uses Workload Identity)`,
          { hideValue: true },
        );
  }

  const externalHosts = inputs.list(INPUT.externalHosts);
  for (const h of externalHosts)
    if (!HOST.test(h))
      throw new ConfigurationError(
        INPUT.externalHosts,
        h,
        'host names (optionally :port or :*), e.g. kubeflow.example.com, that browsers use to reach the Kubeflow gateway',
      );

  const notebookText = inputs.list(INPUT.notebookNamespaces);
  const allProfiles = notebookText.length === 0 || (notebookText.length === 1 && notebookText[0] === 'all');
  const none = notebookText.length === 1 && notebookText[0] === 'none';
  const notebookNamespaces = allProfiles || none ? [] : namespaces(inputs, INPUT.notebookNamespaces);
  const modelNamespaces = namespaces(inputs, INPUT.modelNamespaces);

  const users = inputs.list(INPUT.users);
  for (const u of users)
    if (!USER.test(u) || u.startsWith('profile-'))
      throw new ConfigurationError(
        INPUT.users,
        u,
        "MLflow user names (letters, digits, . _ @ -, at most 63; `profile-` is kept for the notebooks' users)",
      );
  const adminUsername = inputs.matching(
    INPUT.adminUsername,
    USER,
    'an MLflow user name (letters, digits, . _ @ -)',
    'admin',
  ) as string;
  if (users.includes(adminUsername))
    throw new ConfigurationError(INPUT.users, adminUsername, `users other than the admin (${INPUT.adminUsername})`);

  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    namespace,
    version,
    image,
    database,
    artifacts: { destination, ...(s3 ? { s3 } : {}), createBucket: inputs.boolean(INPUT.createBucket, true) },
    ...(s3Keys ? { s3Keys } : {}),
    externalHosts,
    allProfiles,
    notebookNamespaces,
    modelNamespaces,
    modelNamespacesAsNotebooks: modelNamespaces.length === 0,
    extraUsers: [...new Set(users)],
    adminUsername,
    defaultPermission: inputs.choice(
      INPUT.defaultPermission,
      ['READ', 'EDIT', 'MANAGE', 'NO_PERMISSIONS'] as const,
      'READ',
    ),
    dashboardLink: inputs.boolean(INPUT.dashboardLink, true),
    workers: inputs.integer(INPUT.workers, 2, { min: 1, max: 32 }),
    ...gcp(inputs),
    timeoutMs: inputs.duration(INPUT.timeout, '15m', { positive: true }),
    concurrency: inputs.integer(INPUT.concurrency, 8, { min: 1, max: 64 }),
    forceConflicts: inputs.boolean(INPUT.forceConflicts, false),
  };
}
