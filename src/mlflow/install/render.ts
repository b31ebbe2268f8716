/**
 * The objects of an MLflow tracking server and model registry on a Kubeflow cluster, rendered from the
 * settings and the Secrets' values (pure: no cluster access). The same objects are applied on the
 * cluster and, in the tests, their containers' commands are run against real PostgreSQL and S3.
 */
import { storageObjects, type S3Settings } from '../../kserve/storage.js';
import type { KubeObject } from '../../kube/types.js';
import { createHash } from 'node:crypto';
import { CHECK_STORES_SCRIPT, SERVER_SCRIPT, UPGRADE_SCRIPT, USERS_SCRIPT } from './scripts.js';

export const DEFAULT_MLFLOW_VERSION = '3.17.2';
/** MLflow's own image with every database and storage driver (the `-full` variant, published from 3.9.0). */
export const mlflowImage = (version: string): string => `ghcr.io/mlflow/mlflow:v${version}-full`;
export const DEFAULT_POSTGRES_IMAGE = 'postgres:16.10';

export const NAMES = {
  server: 'mlflow',
  postgres: 'mlflow-postgres',
  postgresInit: 'mlflow-postgres-init',
  admin: 'mlflow-admin',
  s3: 'mlflow-s3',
  upgradeJob: 'mlflow-db-upgrade',
  /** MLflow users besides the admin (notebooks' and extra ones): key users.json, {"name": "password"}. */
  users: 'mlflow-users',
  usersJob: 'mlflow-users',
  /** In profile namespaces: the namespace's MLflow user, which the PodDefault gives to notebooks. */
  notebookCredentials: 'mlflow-credentials',
  podDefault: 'mlflow',
  /** In model namespaces: KServe's S3 credentials, in the form deploy-inferenceservice uses. */
  modelSecret: 'mlflow-s3',
  modelServiceAccount: 'mlflow-models',
} as const;

export const PORT = 5000;
export const POSTGRES_PORT = 5432;
/** The annotation on the server's Deployment that records the MLflow version it runs (upgrades read it). */
export const VERSION_ANNOTATION = 'kfops.dev/mlflow-version';
export const MANAGED = { 'app.kubernetes.io/managed-by': 'kfops', 'app.kubernetes.io/part-of': 'mlflow' };
/** The PodDefault's selector: a notebook that selects the configuration "MLflow" in the spawner gets it. */
export const PODDEFAULT_LABEL = 'access-mlflow';
export const AUTH_CONFIG_PATH = '/etc/mlflow-auth/basic_auth.ini';
const GATEWAY = 'kubeflow/kubeflow-gateway';

export type DatabaseSettings =
  | { type: 'postgres'; image: string; storage: string; storageClass?: string }
  /** A Secret in the MLflow namespace: key `uri` (SQLAlchemy URI of the tracking store), optional `auth-uri`. */
  | { type: 'external'; secret: string };

export interface ArtifactSettings {
  /** s3://bucket[/prefix] or gs://bucket[/prefix] */
  destination: string;
  /** The S3 endpoint and options (the keys are secrets, passed apart); absent for gs://. */
  s3?: Omit<S3Settings, 'accessKeyId' | 'secretAccessKey'>;
  createBucket: boolean;
}

export interface MlflowRenderSettings {
  namespace: string;
  version: string;
  image: string;
  database: DatabaseSettings;
  artifacts: ArtifactSettings;
  /** Host headers the server accepts besides the in-cluster names and private addresses (e.g. the gateway's domain). */
  externalHosts: string[];
  /** Profile namespaces that get the PodDefault. */
  notebookNamespaces: string[];
  /** Namespaces that get KServe's S3 credentials Secret and ServiceAccount. */
  modelNamespaces: string[];
  /** The permission every user has on what others made (MLflow's default_permission). */
  defaultPermission: 'READ' | 'EDIT' | 'MANAGE' | 'NO_PERMISSIONS';
  /** Workers of the server (gunicorn/uvicorn). */
  workers: number;
  /** A Google service account for the server's pods (GKE Workload Identity), e.g. for a gs:// destination. */
  gcpServiceAccount?: string;
}

/** Secret values: generated on the first install and read back from the cluster afterwards. */
export interface MlflowSecrets {
  adminUsername: string;
  adminPassword: string;
  flaskSecretKey: string;
  /** The in-cluster PostgreSQL's password (database type postgres). */
  databasePassword?: string;
  /** S3 keys of the artifact store (s3:// destinations). */
  s3?: { accessKeyId: string; secretAccessKey: string };
  /** MLflow users besides the admin, name -> password: one per notebook namespace, and the extra users. */
  users: Record<string, string>;
}

/** The MLflow user of a profile namespace's notebooks. */
export const notebookUser = (namespace: string): string => `profile-${namespace}`;

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

export function serviceHost(namespace: string): string {
  return `${NAMES.server}.${namespace}.svc.cluster.local`;
}

/** The tracking URI inside the cluster (notebooks, Jobs, KServe's resolver). */
export function inClusterUri(namespace: string): string {
  return `http://${serviceHost(namespace)}:${PORT}`;
}

/** The bucket and prefix of an artifact destination (s3:// or gs://), or undefined when it is not one. */
export function parseDestination(text: string): { scheme: 's3' | 'gs'; bucket: string; prefix: string } | undefined {
  const m = /^(s3|gs):\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/[^\s]*)?$/.exec(text);
  if (!m) return undefined;
  return { scheme: m[1] as 's3' | 'gs', bucket: m[2] as string, prefix: (m[3] ?? '').replace(/^\/+|\/+$/g, '') };
}

/** Host headers the server accepts: its Service names, loopback, private addresses (probes, pod IPs) and the given hosts. */
export function allowedHosts(namespace: string, external: readonly string[]): string[] {
  const names = [
    serviceHost(namespace),
    `${NAMES.server}.${namespace}.svc`,
    `${NAMES.server}.${namespace}`,
    NAMES.server,
  ];
  return [
    ...names.flatMap((n) => [n, `${n}:${PORT}`]),
    'localhost',
    'localhost:*',
    '127.0.0.1',
    '127.0.0.1:*',
    '10.*',
    '192.168.*',
    ...Array.from({ length: 16 }, (_, i) => `172.${16 + i}.*`),
    ...external,
  ];
}

function env(name: string, value: string): Record<string, unknown> {
  return { name, value };
}
function secretEnv(name: string, secret: string, key: string): Record<string, unknown> {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

/** The backend store URI and the auth database URI, as environment (Kubernetes expands $(VAR) references). */
function storeEnv(settings: MlflowRenderSettings): Record<string, unknown>[] {
  const db = settings.database;
  if (db.type === 'external') {
    return [
      secretEnv('MLFLOW_BACKEND_STORE_URI', db.secret, 'uri'),
      {
        name: 'MLFLOW_AUTH_DATABASE_URI',
        valueFrom: { secretKeyRef: { name: db.secret, key: 'auth-uri', optional: true } },
      },
    ];
  }
  const host = `${NAMES.postgres}.${settings.namespace}.svc.cluster.local:${POSTGRES_PORT}`;
  return [
    secretEnv('MLFLOW_DB_USER', NAMES.postgres, 'username'),
    secretEnv('MLFLOW_DB_PASSWORD', NAMES.postgres, 'password'),
    env('MLFLOW_BACKEND_STORE_URI', `postgresql+psycopg2://$(MLFLOW_DB_USER):$(MLFLOW_DB_PASSWORD)@${host}/mlflow`),
    env(
      'MLFLOW_AUTH_DATABASE_URI',
      `postgresql+psycopg2://$(MLFLOW_DB_USER):$(MLFLOW_DB_PASSWORD)@${host}/mlflow_auth`,
    ),
  ];
}

function artifactEnv(settings: MlflowRenderSettings): Record<string, unknown>[] {
  const out = [env('MLFLOW_ARTIFACTS_DESTINATION', settings.artifacts.destination)];
  const s3 = settings.artifacts.s3;
  if (s3) {
    out.push(secretEnv('AWS_ACCESS_KEY_ID', NAMES.s3, 'AWS_ACCESS_KEY_ID'));
    out.push(secretEnv('AWS_SECRET_ACCESS_KEY', NAMES.s3, 'AWS_SECRET_ACCESS_KEY'));
    out.push(env('AWS_DEFAULT_REGION', s3.region));
    if (s3.endpoint) out.push(env('MLFLOW_S3_ENDPOINT_URL', `${s3.useHttps ? 'https' : 'http'}://${s3.endpoint}`));
    if (s3.useHttps && !s3.verifySsl) out.push(env('MLFLOW_S3_IGNORE_TLS', 'true'));
  }
  return out;
}

const labels = (component: string): Record<string, string> => ({
  ...MANAGED,
  'app.kubernetes.io/name': 'mlflow',
  'app.kubernetes.io/component': component,
});

function postgresObjects(settings: MlflowRenderSettings, secrets: MlflowSecrets): KubeObject[] {
  const db = settings.database;
  if (db.type !== 'postgres') return [];
  const ns = settings.namespace;
  const select = { 'app.kubernetes.io/name': 'mlflow', 'app.kubernetes.io/component': 'postgres' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: NAMES.postgres, namespace: ns, labels: labels('postgres') },
      type: 'Opaque',
      data: {
        username: b64('mlflow'),
        password: b64(secrets.databasePassword ?? ''),
        database: b64('mlflow'),
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: NAMES.postgresInit, namespace: ns, labels: labels('postgres') },
      // Run once by the image's entrypoint on an empty data directory: the auth app's own database.
      data: { '10-mlflow-auth.sql': 'CREATE DATABASE mlflow_auth;\n' },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: NAMES.postgres, namespace: ns, labels: labels('postgres') },
      spec: {
        selector: select,
        ports: [{ name: 'postgres', port: POSTGRES_PORT, targetPort: 'postgres' }],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: NAMES.postgres, namespace: ns, labels: labels('postgres') },
      spec: {
        serviceName: NAMES.postgres,
        replicas: 1,
        selector: { matchLabels: select },
        template: {
          metadata: { labels: { ...labels('postgres'), ...select } },
          spec: {
            securityContext: { fsGroup: 999 },
            containers: [
              {
                name: 'postgres',
                image: db.image,
                ports: [{ name: 'postgres', containerPort: POSTGRES_PORT }],
                env: [
                  secretEnv('POSTGRES_USER', NAMES.postgres, 'username'),
                  secretEnv('POSTGRES_PASSWORD', NAMES.postgres, 'password'),
                  secretEnv('POSTGRES_DB', NAMES.postgres, 'database'),
                  env('PGDATA', '/var/lib/postgresql/data/pgdata'),
                ],
                readinessProbe: {
                  exec: { command: ['sh', '-c', 'pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB" -h 127.0.0.1'] },
                  periodSeconds: 5,
                },
                resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
                volumeMounts: [
                  { name: 'data', mountPath: '/var/lib/postgresql/data' },
                  { name: 'init', mountPath: '/docker-entrypoint-initdb.d', readOnly: true },
                ],
              },
            ],
            volumes: [{ name: 'init', configMap: { name: NAMES.postgresInit } }],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: {
              accessModes: ['ReadWriteOnce'],
              ...(db.storageClass ? { storageClassName: db.storageClass } : {}),
              resources: { requests: { storage: db.storage } },
            },
          },
        ],
      },
    },
  ];
}

function serverObjects(settings: MlflowRenderSettings, secrets: MlflowSecrets): KubeObject[] {
  const ns = settings.namespace;
  const select = { 'app.kubernetes.io/name': 'mlflow', 'app.kubernetes.io/component': 'server' };
  const stores = [...storeEnv(settings), ...artifactEnv(settings)];
  const out: KubeObject[] = [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: NAMES.server,
        namespace: ns,
        labels: labels('server'),
        ...(settings.gcpServiceAccount
          ? { annotations: { 'iam.gke.io/gcp-service-account': settings.gcpServiceAccount } }
          : {}),
      },
      // The server and its Jobs never call the Kubernetes API.
      automountServiceAccountToken: false,
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: NAMES.admin, namespace: ns, labels: labels('server') },
      type: 'Opaque',
      data: {
        username: b64(secrets.adminUsername),
        password: b64(secrets.adminPassword),
        'flask-secret-key': b64(secrets.flaskSecretKey),
      },
    },
  ];
  if (settings.artifacts.s3 && secrets.s3) {
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: NAMES.s3, namespace: ns, labels: labels('server') },
      type: 'Opaque',
      data: { AWS_ACCESS_KEY_ID: b64(secrets.s3.accessKeyId), AWS_SECRET_ACCESS_KEY: b64(secrets.s3.secretAccessKey) },
    });
  }
  out.push(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: NAMES.server, namespace: ns, labels: labels('server') },
      spec: { selector: select, ports: [{ name: 'http', port: PORT, targetPort: 'http' }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: NAMES.server,
        namespace: ns,
        labels: labels('server'),
        annotations: { [VERSION_ANNOTATION]: settings.version },
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: select },
        template: {
          metadata: { labels: { ...labels('server'), ...select } },
          spec: {
            serviceAccountName: NAMES.server,
            initContainers: [
              {
                name: 'check-stores',
                image: settings.image,
                command: ['python', '-c', CHECK_STORES_SCRIPT],
                env: [...stores, env('MLFLOW_CHECK_CREATE_BUCKET', String(settings.artifacts.createBucket))],
                terminationMessagePolicy: 'FallbackToLogsOnError',
                resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              },
            ],
            containers: [
              {
                name: 'mlflow',
                image: settings.image,
                command: ['/bin/sh', '-c', SERVER_SCRIPT],
                env: [
                  ...stores,
                  env('MLFLOW_HOST', '0.0.0.0'),
                  env('MLFLOW_PORT', String(PORT)),
                  env('MLFLOW_WORKERS', String(settings.workers)),
                  env('MLFLOW_AUTH_CONFIG_PATH', AUTH_CONFIG_PATH),
                  env('MLFLOW_AUTH_DEFAULT_PERMISSION', settings.defaultPermission),
                  secretEnv('MLFLOW_ADMIN_USERNAME', NAMES.admin, 'username'),
                  secretEnv('MLFLOW_ADMIN_PASSWORD', NAMES.admin, 'password'),
                  secretEnv('MLFLOW_FLASK_SERVER_SECRET_KEY', NAMES.admin, 'flask-secret-key'),
                  env('MLFLOW_SERVER_ALLOWED_HOSTS', allowedHosts(ns, settings.externalHosts).join(',')),
                ],
                ports: [{ name: 'http', containerPort: PORT }],
                readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 5, timeoutSeconds: 3 },
                livenessProbe: {
                  httpGet: { path: '/health', port: 'http' },
                  initialDelaySeconds: 60,
                  periodSeconds: 20,
                  timeoutSeconds: 5,
                  failureThreshold: 6,
                },
                resources: { requests: { cpu: '200m', memory: '512Mi' }, limits: { memory: '2Gi' } },
                volumeMounts: [{ name: 'auth-config', mountPath: '/etc/mlflow-auth' }],
              },
            ],
            volumes: [{ name: 'auth-config', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }],
          },
        },
      },
    },
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name: NAMES.server, namespace: ns, labels: labels('server') },
      spec: {
        gateways: [GATEWAY],
        hosts: ['*'],
        http: [
          {
            match: [{ uri: { prefix: '/mlflow/' } }],
            rewrite: { uri: '/' },
            headers: { request: { add: { 'x-forwarded-prefix': '/mlflow' } } },
            route: [{ destination: { host: serviceHost(ns), port: { number: PORT } } }],
          },
        ],
      },
    },
  );
  return out;
}

/** The Job that migrates the backend store's schema to `settings.version` before the new server rolls out. */
export function upgradeJob(settings: MlflowRenderSettings, from: string): KubeObject {
  const stores = storeEnv(settings);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: `${NAMES.upgradeJob}-${settings.version.replace(/[^0-9a-z]+/g, '-')}`,
      namespace: settings.namespace,
      labels: labels('db-upgrade'),
      annotations: { [VERSION_ANNOTATION]: settings.version, 'kfops.dev/mlflow-version-from': from },
    },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 86_400,
      template: {
        metadata: { labels: labels('db-upgrade') },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: NAMES.server,
          containers: [
            {
              name: 'upgrade',
              image: settings.image,
              command: ['/bin/sh', '-c', UPGRADE_SCRIPT],
              env: stores,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
            },
          ],
        },
      },
    },
  };
}

/** The PodDefault of a profile namespace: notebooks that select it log to this MLflow with no more setup. */
export function podDefault(settings: MlflowRenderSettings, namespace: string): KubeObject {
  return {
    apiVersion: 'kubeflow.org/v1alpha1',
    kind: 'PodDefault',
    metadata: { name: NAMES.podDefault, namespace, labels: labels('notebooks') },
    spec: {
      desc: 'MLflow tracking server',
      selector: { matchLabels: { [PODDEFAULT_LABEL]: 'true' } },
      env: [
        { name: 'MLFLOW_TRACKING_URI', value: inClusterUri(settings.namespace) },
        // Runs go to the namespace's own experiment (created on first use, so its user manages it): with
        // the READ default permission, nobody may write to the shared Default experiment.
        { name: 'MLFLOW_EXPERIMENT_NAME', value: namespace },
        secretEnv('MLFLOW_TRACKING_USERNAME', NAMES.notebookCredentials, 'MLFLOW_TRACKING_USERNAME'),
        secretEnv('MLFLOW_TRACKING_PASSWORD', NAMES.notebookCredentials, 'MLFLOW_TRACKING_PASSWORD'),
      ],
    },
  };
}

/** The namespace's MLflow user and password, for its notebooks (the PodDefault reads it). */
export function notebookCredentials(namespace: string, secrets: MlflowSecrets): KubeObject {
  const user = notebookUser(namespace);
  const password = secrets.users[user];
  if (password === undefined) throw new Error(`no password for MLflow user ${user}; this is a bug`);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: NAMES.notebookCredentials, namespace, labels: labels('notebooks') },
    type: 'Opaque',
    data: { MLFLOW_TRACKING_USERNAME: b64(user), MLFLOW_TRACKING_PASSWORD: b64(password) },
  };
}

/** The users' document as stored (sorted keys, so the same users give the same bytes and the same Job name). */
export function usersJson(users: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(users).sort(([a], [b]) => a.localeCompare(b))));
}

/**
 * The Job that makes MLflow's users match the mlflow-users Secret, named after a hash of its content:
 * the same users give the same Job, which is not run again once it completed.
 */
export function usersJob(settings: MlflowRenderSettings, secrets: MlflowSecrets): KubeObject {
  const hash = createHash('sha256').update(usersJson(secrets.users)).digest('hex').slice(0, 10);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${NAMES.usersJob}-${hash}`, namespace: settings.namespace, labels: labels('users') },
    spec: {
      backoffLimit: 2,
      ttlSecondsAfterFinished: 86_400,
      template: {
        metadata: { labels: labels('users') },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: NAMES.server,
          containers: [
            {
              name: 'users',
              image: settings.image,
              command: ['python', '-c', USERS_SCRIPT],
              env: [
                env('MLFLOW_TRACKING_URI', inClusterUri(settings.namespace)),
                secretEnv('MLFLOW_ADMIN_USERNAME', NAMES.admin, 'username'),
                secretEnv('MLFLOW_ADMIN_PASSWORD', NAMES.admin, 'password'),
                secretEnv('MLFLOW_USERS_JSON', NAMES.users, 'users.json'),
              ],
              terminationMessagePolicy: 'FallbackToLogsOnError',
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } },
            },
          ],
        },
      },
    },
  };
}

/**
 * Every object of the install but the upgrade Job and the dashboard link (which depend on what the
 * cluster has): namespace, PostgreSQL, the server, its exposure, notebooks' PodDefaults and KServe's
 * credentials in the model namespaces.
 */
export function renderMlflow(settings: MlflowRenderSettings, secrets: MlflowSecrets): KubeObject[] {
  const objects: KubeObject[] = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: settings.namespace, labels: { ...MANAGED } },
    },
    ...postgresObjects(settings, secrets),
    ...serverObjects(settings, secrets),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: NAMES.users, namespace: settings.namespace, labels: labels('users') },
      type: 'Opaque',
      data: { 'users.json': b64(usersJson(secrets.users)) },
    },
    ...settings.notebookNamespaces.flatMap((ns) => [notebookCredentials(ns, secrets), podDefault(settings, ns)]),
  ];
  const s3 = settings.artifacts.s3;
  if (s3 && secrets.s3) {
    for (const ns of settings.modelNamespaces) {
      objects.push(
        ...storageObjects(
          { secret: NAMES.modelSecret, serviceAccount: NAMES.modelServiceAccount },
          ns,
          { ...s3, ...secrets.s3 },
          labels('models'),
        ),
      );
    }
  }
  return objects;
}

export interface MenuLink {
  type: string;
  link: string;
  text: string;
  icon?: string;
}

export const MLFLOW_LINK: MenuLink = { type: 'item', link: '/mlflow/', text: 'MLflow', icon: 'timeline' };

/**
 * The central dashboard's `links` document with the MLflow menu item added once (after the last item),
 * every other link and key kept; undefined when it is already there (nothing to change).
 */
export function withMlflowLink(linksJson: string): string | undefined {
  const doc = JSON.parse(linksJson) as { menuLinks?: MenuLink[] } & Record<string, unknown>;
  const menu = Array.isArray(doc.menuLinks) ? doc.menuLinks : [];
  if (menu.some((l) => l && l.link === MLFLOW_LINK.link)) return undefined;
  return JSON.stringify({ ...doc, menuLinks: [...menu, MLFLOW_LINK] }, null, 4);
}
