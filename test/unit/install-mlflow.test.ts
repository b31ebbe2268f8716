import { describe, expect, it } from 'vitest';
import { asInputError } from '../../src/actions/install-mlflow/inputs.js';
import { ConfigurationError } from '../../src/common/errors.js';
import type { InstallReport } from '../../src/kube/install.js';
import type { KubeObject, ObjectRef } from '../../src/kube/types.js';
import {
  compareVersions,
  generatePassword,
  installMlflow,
  KUBEFLOW_MINIO,
  MlflowDeadlineError,
  MlflowInstallError,
  MlflowSettingError,
  type InstallMlflowSettings,
  type MlflowCluster,
} from '../../src/mlflow/install/install-mlflow.js';
import {
  DEFAULT_POSTGRES_IMAGE,
  MLFLOW_LINK,
  mlflowImage,
  NAMES,
  renderMlflow,
  VERSION_ANNOTATION,
  withMlflowLink,
} from '../../src/mlflow/install/render.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const key = (r: ObjectRef): string => `${r.kind}/${r.namespace ?? ''}/${r.name}`;

function settings(overrides: Partial<InstallMlflowSettings> = {}): InstallMlflowSettings {
  return {
    namespace: 'mlflow',
    version: '3.17.2',
    image: mlflowImage('3.17.2'),
    database: { type: 'postgres', image: DEFAULT_POSTGRES_IMAGE, storage: '10Gi' },
    artifacts: {
      destination: 's3://mlflow/artifacts',
      s3: { endpoint: KUBEFLOW_MINIO.endpoint, region: 'us-east-1', useHttps: false, verifySsl: true },
      createBucket: true,
    },
    externalHosts: [],
    allProfiles: true,
    notebookNamespaces: [],
    modelNamespaces: [],
    modelNamespacesAsNotebooks: true,
    extraUsers: [],
    adminUsername: 'admin',
    defaultPermission: 'READ',
    workers: 2,
    dashboardLink: true,
    timeoutMs: 60_000,
    concurrency: 8,
    forceConflicts: false,
    ...overrides,
  };
}

const counts = { created: 1, configured: 0, unchanged: 0 };
const installReport = (objects: readonly KubeObject[]): InstallReport =>
  ({
    plan: {},
    phases: [],
    counts: { ...counts, created: objects.length },
    ready: 2,
    yielded: [],
    durationMs: 5,
  }) as unknown as InstallReport;

/** A cluster that records every call; `live` holds the objects it has. */
function fakeCluster(live: KubeObject[] = [], options: { job?: { ok: boolean; log: string }; health?: number[] } = {}) {
  const calls: string[] = [];
  const installed: KubeObject[][] = [];
  const health = [...(options.health ?? [200])];
  const minio: KubeObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: KUBEFLOW_MINIO.secret.name, namespace: 'kubeflow' },
    data: { accesskey: b64('minio'), secretkey: b64('minio123') },
  } as KubeObject;
  const store = new Map([...live, minio].map((o) => [key({ ...o, ...o.metadata } as unknown as ObjectRef), o]));
  const cluster: MlflowCluster = {
    server: 'https://fake',
    find: async (ref) => {
      calls.push(`find ${key(ref)}`);
      return store.get(key(ref));
    },
    profileNamespaces: async () => ['alice', 'bob'],
    install: async (objects) => {
      calls.push(
        `install ${objects.length}${objects.some((o) => o.kind === 'Deployment') ? ' with server' : ' without server'}`,
      );
      installed.push([...objects]);
      return installReport(objects);
    },
    apply: async (objects) => {
      calls.push(`apply ${objects.map((o) => key({ ...o, ...o.metadata } as unknown as ObjectRef)).join(',')}`);
      return { counts: { created: 0, configured: 1, unchanged: 0 }, objects: [] } as never;
    },
    runJob: async (job) => {
      calls.push(`job ${job.metadata.name}`);
      return options.job ?? { ok: true, log: '' };
    },
    proxyGet: async (_ns, service, port, path) => {
      calls.push(`GET ${service}:${port}${path}`);
      const status = health.length > 1 ? (health.shift() as number) : (health[0] as number);
      return { status, body: status === 200 ? 'OK' : 'no' };
    },
  };
  return { cluster, calls, installed };
}

const deployment = (version: string): KubeObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAMES.server, namespace: 'mlflow', annotations: { [VERSION_ANNOTATION]: version } },
  }) as KubeObject;

describe('installMlflow (a fake cluster that records calls)', () => {
  it('a first install: reads, installs everything once, adds nothing to a missing dashboard, checks /health, creates the users', async () => {
    const { cluster, calls, installed } = fakeCluster();
    const masked: string[] = [];
    const report = await installMlflow(settings(), cluster, { mask: (s) => masked.push(s) });
    expect(report.step).toBe('done');
    expect(report.s3Keys).toBe('kubeflow-minio');
    expect(report.notebookNamespaces).toEqual(['alice', 'bob']);
    expect(report.dashboard).toBe('absent');
    expect(calls.filter((c) => !c.startsWith('find'))).toEqual([
      'install 20 with server',
      'GET mlflow:5000/health',
      expect.stringMatching(/^job mlflow-users-[0-9a-f]{10}$/),
    ]);
    // The MinIO keys went into the server's Secret and the KServe Secrets, and to the mask.
    expect(masked).toContain('minio123');
    const s3 = installed[0]?.filter((o) => o.kind === 'Secret' && o.metadata.name === NAMES.modelSecret) ?? [];
    expect(s3.map((o) => o.metadata.namespace)).toEqual(['mlflow', 'alice', 'bob']); // the server's, then KServe's
  });

  it('an upgrade: everything but the server first, then the migration Job, then the server', async () => {
    const { cluster, calls } = fakeCluster([deployment('3.10.0')]);
    const report = await installMlflow(settings(), cluster);
    expect(report.previousVersion).toBe('3.10.0');
    expect(report.upgraded).toBe(true);
    expect(calls.filter((c) => c.startsWith('install') || c.startsWith('job mlflow-db'))).toEqual([
      'install 19 without server',
      'job mlflow-db-upgrade-3-17-2',
      'install 20 with server',
    ]);
  });

  it('a failed migration stops before the new server, with the log tail; the old one keeps serving', async () => {
    const { cluster, calls } = fakeCluster([deployment('3.10.0')], {
      job: { ok: false, log: "alembic.util.exc.CommandError: Can't locate revision identified by 'abc'" },
    });
    const error = (await installMlflow(settings(), cluster).catch((e: unknown) => e)) as MlflowInstallError;
    expect(error).toBeInstanceOf(MlflowInstallError);
    expect(error.message).toBe(
      'The database migration to MLflow 3.17.2 failed (Job mlflow-db-upgrade-3-17-2); MLflow 3.10.0 keeps serving',
    );
    expect(error.details.cause).toContain("Can't locate revision");
    expect(calls).not.toContain('install 20 with server');
  });

  it('the same version: no migration; a lower one: refused before anything is written', async () => {
    const same = fakeCluster([deployment('3.17.2')]);
    expect((await installMlflow(settings(), same.cluster)).upgraded).toBe(false);
    expect(same.calls.some((c) => c.startsWith('job mlflow-db'))).toBe(false);
    const lower = fakeCluster([deployment('3.18.0')]);
    await expect(installMlflow(settings(), lower.cluster)).rejects.toThrow(
      'MLflow 3.18.0 runs in mlflow; 3.17.2 would be a downgrade',
    );
    expect(lower.calls.filter((c) => !c.startsWith('find'))).toEqual([]);
  });

  it('keeps stored secrets and S3 keys; a completed users Job is not run again', async () => {
    const first = fakeCluster();
    await installMlflow(settings({ extraUsers: ['ci-bot'] }), first.cluster);
    const stored = (first.installed[0] ?? []).filter((o) => o.kind === 'Secret' && o.metadata.namespace === 'mlflow');
    const users = stored.find((o) => o.metadata.name === NAMES.users) as KubeObject;
    const job = first.calls.find((c) => c.startsWith('job mlflow-users'))?.slice(4) as string;
    const completed = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: job, namespace: 'mlflow' },
      status: { succeeded: 1 },
    } as KubeObject;
    const again = fakeCluster([...stored, completed]);
    const report = await installMlflow(settings({ extraUsers: ['ci-bot'] }), again.cluster);
    expect(report.generated).toEqual([]);
    expect(report.s3Keys).toBe('stored');
    expect(report.users).toMatchObject({ ran: false, names: ['ci-bot', 'profile-alice', 'profile-bob'] });
    expect(again.calls.some((c) => c.startsWith('job'))).toBe(false);
    const usersAgain = (again.installed[0] ?? []).find((o) => o.kind === 'Secret' && o.metadata.name === NAMES.users);
    expect(usersAgain).toEqual(users);
    // A new user: a new Job (its name is the users' hash), the old passwords kept.
    const more = fakeCluster([...stored, completed]);
    const r3 = await installMlflow(settings({ extraUsers: ['ci-bot', 'auditor'] }), more.cluster);
    expect(r3.generated).toEqual([`${NAMES.users} (1 user(s))`]);
    expect(more.calls.some((c) => c.startsWith('job mlflow-users') && !c.endsWith(job))).toBe(true);
  });

  it('S3 keys: neither given, nor stored, nor Kubeflow MinIO -> the input named', async () => {
    const { cluster } = fakeCluster();
    const s = settings();
    const error = await installMlflow(
      { ...s, artifacts: { ...s.artifacts, s3: { region: 'eu-west-1', useHttps: true, verifySsl: true } } },
      cluster,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowSettingError);
    const input = asInputError(error) as ConfigurationError;
    expect(input).toBeInstanceOf(ConfigurationError);
    expect(input.message).toBe("Input 's3-access-key-id' is required: expected S3 keys for AWS S3.");
  });

  it('/health: retried while the server starts, then the run fails naming the last answer', async () => {
    const slow = fakeCluster([], { health: [503, 503, 200] });
    const report = await installMlflow(settings(), slow.cluster);
    expect(slow.calls.filter((c) => c.startsWith('GET'))).toHaveLength(3);
    expect(report.health?.status).toBe(200);
    const never = fakeCluster([], { health: [502] });
    const error = (await installMlflow(settings({ timeoutMs: 3000 }), never.cluster).catch(
      (e: unknown) => e,
    )) as MlflowInstallError;
    expect(error).toBeInstanceOf(MlflowInstallError);
    expect(error.message).toMatch(/^MLflow's \/health did not answer 200 within/);
    expect(error.details.cause).toBe("the last answer through the API server's service proxy was: HTTP 502 no");
  }, 20_000);

  it('a cluster that never answers: the run ends at its deadline, naming the step', async () => {
    const { cluster } = fakeCluster();
    const silent: MlflowCluster = { ...cluster, find: () => new Promise(() => undefined) };
    const started = Date.now();
    const error = await installMlflow(settings({ timeoutMs: 200 }), silent).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowDeadlineError);
    expect((error as Error).message).toBe('The install did not finish within 200ms: it was at "read the cluster"');
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 20_000);

  it('the dashboard link is added once, keeping every other link and key', async () => {
    const links = JSON.stringify({
      menuLinks: [{ type: 'item', link: '/jupyter/', text: 'Notebooks' }],
      documentationItems: [1],
    });
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'centraldashboard-config', namespace: 'kubeflow', labels: { app: 'centraldashboard' } },
      data: { links, settings: '{"DASHBOARD_FORCE_IFRAME": true}' },
    } as KubeObject;
    const { cluster, calls } = fakeCluster([cm]);
    expect((await installMlflow(settings(), cluster)).dashboard).toBe('added');
    expect(calls).toContain('apply ConfigMap/kubeflow/centraldashboard-config');
    const added = withMlflowLink(links) as string;
    expect(JSON.parse(added)).toEqual({
      menuLinks: [{ type: 'item', link: '/jupyter/', text: 'Notebooks' }, MLFLOW_LINK],
      documentationItems: [1],
    });
    expect(withMlflowLink(added)).toBeUndefined();
  });
});

describe('install-mlflow helpers', () => {
  it('compares versions numerically', () => {
    expect(compareVersions('3.10.0', '3.9.2')).toBe(1);
    expect(compareVersions('3.17.2', '3.17.2')).toBe(0);
    expect(compareVersions('2.10.2', '3.0.0')).toBe(-1);
  });
  it('generates passwords of letters and digits only, all different', () => {
    const pws = Array.from({ length: 200 }, () => generatePassword());
    expect(new Set(pws).size).toBe(200);
    for (const pw of pws) expect(pw).toMatch(/^[A-Za-z2-9]{32}$/);
  });
  it('runs the server and its Jobs as ServiceAccount mlflow, without an API token, with Workload Identity when asked', () => {
    const secrets = {
      adminUsername: 'admin',
      adminPassword: 'a',
      flaskSecretKey: 'b',
      databasePassword: 'c',
      users: {},
    };
    const objects = renderMlflow(
      { ...settings(), gcpServiceAccount: 'mlflow@my-project.iam.gserviceaccount.com' },
      secrets,
    );
    const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.namespace === 'mlflow') as KubeObject & {
      automountServiceAccountToken: boolean;
    };
    expect(sa.metadata.annotations).toEqual({
      'iam.gke.io/gcp-service-account': 'mlflow@my-project.iam.gserviceaccount.com',
    });
    expect(sa.automountServiceAccountToken).toBe(false);
    const dep = objects.find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { serviceAccountName: string } } };
    };
    expect(dep.spec.template.spec.serviceAccountName).toBe(NAMES.server);
    expect(
      renderMlflow(settings(), secrets).find((o) => o.kind === 'ServiceAccount')?.metadata.annotations,
    ).toBeUndefined();
  });

  it('renders no secret value outside Secrets', () => {
    const secrets = {
      adminUsername: 'admin',
      adminPassword: 'ADMINPW0000',
      flaskSecretKey: 'FLASKKEY0000',
      databasePassword: 'DBPW0000',
      s3: { accessKeyId: 'AKIA0000', secretAccessKey: 'S3SECRET0000' },
      users: { 'profile-alice': 'ALICEPW0000' },
    };
    const objects = renderMlflow({ ...settings(), notebookNamespaces: ['alice'], modelNamespaces: ['alice'] }, secrets);
    const text = JSON.stringify(objects.filter((o) => o.kind !== 'Secret'));
    for (const v of ['ADMINPW0000', 'FLASKKEY0000', 'DBPW0000', 'S3SECRET0000', 'ALICEPW0000', b64('ADMINPW0000')])
      expect(text).not.toContain(v);
  });
});
