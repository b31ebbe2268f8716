/**
 * install-mlflow on the local control plane, with the CRDs, central dashboard config and Profiles of
 * the real Kubeflow 1.9.1 render. The fake nodes run nothing, so a pod stand-in runs the MLflow pod's
 * containers (from the live pod, with the live Secrets) on the pod's own IP against real PostgreSQL
 * and S3: the install's health check goes through the API server's service proxy to a real server,
 * and the users Job's container really creates the users.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyObjects, FIELD_MANAGER } from '../../src/kube/apply.js';
import { install } from '../../src/kube/install.js';
import type { KubeObject } from '../../src/kube/types.js';
import { kubeMlflowCluster } from '../../src/mlflow/install/cluster.js';
import {
  installMlflow,
  MlflowInstallError,
  type InstallMlflowReport,
  type InstallMlflowSettings,
} from '../../src/mlflow/install/install-mlflow.js';
import {
  DEFAULT_POSTGRES_IMAGE,
  MLFLOW_LINK,
  mlflowImage,
  NAMES,
  VERSION_ANNOTATION,
} from '../../src/mlflow/install/render.js';
import { initPostgresFromCluster, startPodStandin, startPostgres, type Postgres } from '../support/mlflow-pod.js';
import { loadKubeflowRender } from '../support/kubeflow-render.js';
import { startProfileStandin } from '../support/profile-standin.js';
import { pythonEnv } from '../support/python.js';
import { startS3, type S3Server } from '../support/servers.js';
import { adminClient, ensureDefaultStorageClass, recordingLogger, uniqueName } from './helpers.js';

const client = adminClient();
const ns = uniqueName('mlflow');
const profiles = [uniqueName('alice'), uniqueName('bob')];
let s3: S3Server;
let pg: Postgres;
let standin: ReturnType<typeof startPodStandin>;
let profilesStandin: { stop(): void };
const render = loadKubeflowRender();

const secretOf = async (name: string, namespace = ns): Promise<Record<string, string>> => {
  const s = (await client.get({ apiVersion: 'v1', kind: 'Secret', namespace, name })) as unknown as {
    data: Record<string, string>;
  };
  return Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
};

function settings(overrides: Partial<InstallMlflowSettings> = {}): InstallMlflowSettings {
  return {
    namespace: ns,
    version: '3.17.2',
    image: mlflowImage('3.17.2'),
    database: { type: 'postgres', image: DEFAULT_POSTGRES_IMAGE, storage: '1Gi' },
    artifacts: {
      destination: `s3://${ns}/artifacts`,
      s3: { endpoint: `127.0.0.1:${s3.port}`, region: 'us-east-1', useHttps: false, verifySsl: true },
      createBucket: true,
    },
    s3Keys: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    externalHosts: [],
    allProfiles: true,
    notebookNamespaces: [],
    modelNamespaces: [],
    modelNamespacesAsNotebooks: true,
    extraUsers: ['ci-bot'],
    adminUsername: 'admin',
    defaultPermission: 'READ',
    workers: 1,
    dashboardLink: true,
    timeoutMs: 300_000,
    concurrency: 8,
    forceConflicts: false,
    ...overrides,
  };
}

const byName = (kind: string, name: string): KubeObject => {
  const o = render.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind} ${name} not in the render`);
  return o;
};

beforeAll(async () => {
  const venv = pythonEnv('mlflow-server');
  s3 = await startS3();
  pg = await startPostgres(`127.${30 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}.9`, 5432);
  await ensureDefaultStorageClass(client);
  // From the real render, as install-kubeflow leaves them: the CRDs install-mlflow writes to, the
  // kubeflow namespace and the central dashboard's config.
  await install(
    client,
    [
      byName('CustomResourceDefinition', 'profiles.kubeflow.org'),
      byName('CustomResourceDefinition', 'poddefaults.kubeflow.org'),
      byName('CustomResourceDefinition', 'virtualservices.networking.istio.io'),
      byName('Namespace', 'kubeflow'),
      byName('ConfigMap', 'centraldashboard-config'),
    ],
    { timeoutMs: 120_000 },
  );
  profilesStandin = startProfileStandin(client);
  await applyObjects(
    client,
    profiles.map((p) => ({
      apiVersion: 'kubeflow.org/v1',
      kind: 'Profile',
      metadata: { name: p },
      spec: { owner: { kind: 'User', name: `${p}@example.com` } },
    })),
    { fieldManager: 'test-setup' },
  );
  // The in-cluster PostgreSQL's pod: the local server, initialised the way its image would be once the
  // install has made its Secret (see the pod stand-in's overrides: libpq connects to PGHOSTADDR).
  standin = startPodStandin(client, ns, {
    venv,
    serverLabel: 'server',
    // The Service names resolve to the pods: PostgreSQL's to the local server (libpq's PGHOSTADDR),
    // MLflow's to its pod.
    overrides: (_podIP, serverIP) => ({
      PGHOSTADDR: pg.host,
      ...(serverIP ? { MLFLOW_TRACKING_URI: `http://${serverIP}:5000` } : {}),
    }),
  });
}, 600_000);

afterAll(async () => {
  profilesStandin?.stop();
  await standin?.stop();
  await pg?.stop();
  await s3?.stop();
  for (const n of [ns, ...profiles])
    await client.remove({ apiVersion: 'v1', kind: 'Namespace', name: n }).catch(() => undefined);
  for (const p of profiles)
    await client.remove({ apiVersion: 'kubeflow.org/v1', kind: 'Profile', name: p }).catch(() => undefined);
});

const initDatabaseWhenSecretExists = (): Promise<void> =>
  initPostgresFromCluster(client, pg, ns, { secret: NAMES.postgres, initConfigMap: NAMES.postgresInit });

describe('install-mlflow on the local control plane', () => {
  let first: InstallMlflowReport;
  let firstLog: string[];
  let admin: Record<string, string>;

  it('installs: objects applied in order and ready, stores checked, /health through the API server, users created', async () => {
    const logger = recordingLogger();
    const masked: string[] = [];
    const linksBefore = (
      JSON.parse(
        (
          (await client.get({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            namespace: 'kubeflow',
            name: 'centraldashboard-config',
          })) as unknown as {
            data: { links: string };
          }
        ).data.links,
      ) as { menuLinks: unknown[] }
    ).menuLinks.length;
    const [report] = await Promise.all([
      installMlflow(settings(), kubeMlflowCluster(client), { logger, mask: (s) => masked.push(s) }),
      initDatabaseWhenSecretExists(),
    ]);
    first = report;
    firstLog = logger.lines;
    admin = await secretOf(NAMES.admin);

    expect(report.step).toBe('done');
    expect(report.previousVersion).toBeUndefined();
    // Every Profile of the cluster (files before this one may have left theirs), ours among them.
    const all = (await client.list({ apiVersion: 'kubeflow.org/v1', kind: 'Profile' })).items
      .map((p) => p.metadata.name)
      .sort();
    expect(all).toEqual(expect.arrayContaining(profiles));
    expect(report.generated).toEqual([NAMES.admin, `${NAMES.users} (${all.length + 1} user(s))`, NAMES.postgres]);
    expect(report.notebookNamespaces).toEqual(all);
    expect(report.modelNamespaces).toEqual(all);
    expect(report.install?.ready).toBe(2); // the server's Deployment and PostgreSQL's StatefulSet
    expect(report.health?.status).toBe(200);
    expect(report.dashboard).toBe('added');
    expect(report.users).toMatchObject({ names: ['ci-bot', ...all.map((p) => `profile-${p}`)].sort(), ran: true });

    // What the pod stand-in ran for real: the store checks, the server, the users Job (whose fake node
    // reports it complete at once, so its real run may end after the install).
    for (let i = 0; i < 240 && !standin.runs.some((r) => r.container === 'users'); i++)
      await new Promise((r) => setTimeout(r, 500));
    const runs = standin.runs.map((r) => `${r.container}:${r.code}`);
    expect(runs).toEqual(expect.arrayContaining(['check-stores:0', 'mlflow:0', 'users:0']));
    const users = standin.runs.find((r) => r.container === 'users');
    expect(users?.output).toContain('user ci-bot: created');
    expect(users?.output).toContain('registry round trip: created, read and deleted a registered model');
    expect(standin.runs.find((r) => r.container === 'check-stores')?.output).toContain(`bucket ${ns} created`);

    // Every secret was handed to the mask, and none is in the log.
    expect(masked).toEqual(expect.arrayContaining([admin['password'], admin['flask-secret-key']]));
    for (const secret of masked) expect(firstLog.join('\n')).not.toContain(secret);

    // Notebooks and KServe in every profile namespace.
    for (const p of profiles) {
      const pd = await client.get({
        apiVersion: 'kubeflow.org/v1alpha1',
        kind: 'PodDefault',
        namespace: p,
        name: NAMES.podDefault,
      });
      expect((pd as unknown as { spec: { selector: unknown } }).spec.selector).toEqual({
        matchLabels: { 'access-mlflow': 'true' },
      });
      expect((await secretOf(NAMES.notebookCredentials, p))['MLFLOW_TRACKING_USERNAME']).toBe(`profile-${p}`);
      const kserve = (await client.get({
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: p,
        name: NAMES.modelSecret,
      })) as KubeObject;
      expect(kserve.metadata.annotations?.['serving.kserve.io/s3-endpoint']).toBe(`127.0.0.1:${s3.port}`);
      const sa = (await client.get({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        namespace: p,
        name: NAMES.modelServiceAccount,
      })) as unknown as {
        secrets: { name: string }[];
      };
      expect(sa.secrets).toEqual([{ name: NAMES.modelSecret }]);
    }

    // The dashboard menu: one more link, MLflow's, the others kept.
    const links = JSON.parse(
      (
        (await client.get({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: 'kubeflow',
          name: 'centraldashboard-config',
        })) as unknown as {
          data: { links: string };
        }
      ).data.links,
    ) as { menuLinks: { link: string }[] };
    expect(links.menuLinks.length).toBe(linksBefore + 1);
    expect(links.menuLinks.filter((l) => l.link === MLFLOW_LINK.link)).toHaveLength(1);

    // The real server behind the proxy has the admin with the stored password.
    const server = standin.server();
    expect(server).toBeDefined();
    const proxied = await client.request<string>(
      'GET',
      `/api/v1/namespaces/${ns}/services/http:${NAMES.server}:5000/proxy/health`,
      { accept: '*/*' },
    );
    expect(proxied).toBe('OK');
  }, 600_000);

  it('a second run changes nothing and says so; the Secrets keep their values', async () => {
    const logger = recordingLogger();
    const report = await installMlflow(settings(), kubeMlflowCluster(client), { logger });
    expect(report.install?.counts).toMatchObject({ created: 0, configured: 0 });
    expect(report.generated).toEqual([]);
    expect(report.dashboard).toBe('present');
    expect(report.users?.ran).toBe(false);
    expect(logger.lines.join('\n')).toMatch(
      /nothing changed: all \d+ object\(s\) were already as declared; MLflow 3\.17\.2 is healthy/,
    );
    expect(await secretOf(NAMES.admin)).toEqual(admin);
    expect(first.install?.counts.created).toBeGreaterThan(0);
  }, 300_000);

  it('a downgrade is refused with the reason, and nothing changes', async () => {
    const error = await installMlflow(
      settings({ version: '3.16.0', image: mlflowImage('3.16.0') }),
      kubeMlflowCluster(client),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowInstallError);
    expect(String((error as Error).message)).toBe(`MLflow 3.17.2 runs in ${ns}; 3.16.0 would be a downgrade`);
    expect((error as MlflowInstallError).details.cause).toMatch(/migrates its database forward only/);
    const dep = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: NAMES.server });
    expect(dep?.metadata.annotations?.[VERSION_ANNOTATION]).toBe('3.17.2');
  }, 60_000);

  it('the field manager of every object is kfops', async () => {
    const dep = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: NAMES.server });
    const managers = (dep?.metadata.managedFields ?? []).filter((m) => m.operation === 'Apply').map((m) => m.manager);
    expect(managers).toEqual([FIELD_MANAGER]);
  });
});
