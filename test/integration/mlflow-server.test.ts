/**
 * The MLflow install as rendered, run for real: the containers' commands and environment taken from the
 * rendered Deployment (init container check-stores, then the server) and run with MLflow from PyPI
 * against a real PostgreSQL, initialised the way the rendered StatefulSet's image does it, and the
 * S3-compatible server the deploy tests use. A model logged through the server's proxied artifacts is
 * then resolved the way deploy-inferenceservice resolves it, and found in the bucket.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkS3Location, s3Client } from '../../src/kserve/storage.js';
import type { KubeObject } from '../../src/kube/types.js';
import { generatePassword } from '../../src/mlflow/install/install-mlflow.js';
import {
  AUTH_CONFIG_PATH,
  DEFAULT_POSTGRES_IMAGE,
  mlflowImage,
  NAMES,
  notebookUser,
  renderMlflow,
  upgradeJob,
  usersJob,
  type MlflowRenderSettings,
  type MlflowSecrets,
} from '../../src/mlflow/install/render.js';
import { MlflowClient, parseRegistryRef, resolveModel } from '../../src/mlflow/registry.js';
import {
  containerEnv,
  containersOf,
  findObject,
  initLikeImage,
  runContainer,
  startContainer,
  startPostgres,
  type Container,
  type Postgres,
  type RunningContainer,
} from '../support/mlflow-pod.js';
import { pythonEnv } from '../support/python.js';
import { freePort, startS3, type S3Server } from '../support/servers.js';

const execFileAsync = promisify(execFile);
const pythonDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'python');

/** A loopback address of the test's own, so that PostgreSQL can listen on the rendered port 5432. */
const loopback = (): string =>
  `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;

let s3: S3Server;
let pg: Postgres;
let venv: string;

function settingsFor(version: string, overrides: Partial<MlflowRenderSettings> = {}): MlflowRenderSettings {
  return {
    namespace: 'mlflow',
    version,
    image: mlflowImage(version),
    database: { type: 'postgres', image: DEFAULT_POSTGRES_IMAGE, storage: '10Gi' },
    artifacts: {
      destination: 's3://mlflow-store/artifacts',
      s3: { endpoint: `127.0.0.1:${s3.port}`, region: 'us-east-1', useHttps: false, verifySsl: true },
      createBucket: true,
    },
    externalHosts: ['kubeflow.example.com'],
    notebookNamespaces: ['alice'],
    modelNamespaces: ['alice'],
    defaultPermission: 'READ',
    workers: 1,
    ...overrides,
  };
}

function secretsFor(): MlflowSecrets {
  return {
    adminUsername: 'admin',
    adminPassword: generatePassword(),
    flaskSecretKey: generatePassword(48),
    databasePassword: generatePassword(),
    s3: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    users: { [notebookUser('alice')]: generatePassword(), 'ci-bot': generatePassword() },
  };
}

/** The pod's network, as the test provides it: the database name resolves to the local PostgreSQL. */
const network = (): Record<string, string> => ({ PGHOSTADDR: pg.host });

function container(objects: KubeObject[], kind: string, name: string, c: string): Container {
  const found = containersOf(findObject(objects, kind, name)).get(c);
  if (!found) throw new Error(`no container ${c} in ${kind} ${name}`);
  return found;
}

async function startServer(objects: KubeObject[], env: string): Promise<{ url: string; server: RunningContainer }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startContainer(container(objects, 'Deployment', NAMES.server, 'mlflow'), {
    venv: env,
    secrets: objects,
    overrides: { ...network(), MLFLOW_HOST: '127.0.0.1', MLFLOW_PORT: String(port) },
    volumes: { [dirname(AUTH_CONFIG_PATH)]: mkdtempSync(join(tmpdir(), 'kfops-mlflow-auth-')) },
    healthUrl: `${url}/health`,
    timeoutMs: 120_000,
  });
  return { url, server };
}

beforeAll(async () => {
  venv = pythonEnv('mlflow-server');
  s3 = await startS3();
  pg = await startPostgres(loopback(), 5432);
}, 600_000);

afterAll(async () => {
  await pg?.stop();
  await s3?.stop();
});

describe('MLflow as rendered, run against real PostgreSQL and S3', () => {
  let objects: KubeObject[];
  let secrets: MlflowSecrets;
  let url: string;
  let server: RunningContainer | undefined;

  beforeAll(async () => {
    secrets = secretsFor();
    objects = renderMlflow(settingsFor('3.17.2'), secrets);
    await initLikeImage(pg, objects, NAMES.postgres);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('the init container finds the database and creates the missing bucket', async () => {
    const r = await runContainer(container(objects, 'Deployment', NAMES.server, 'check-stores'), {
      venv,
      secrets: objects,
      overrides: network(),
      timeoutMs: 120_000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /backend store: postgresql\+psycopg2:\/\/mlflow:\*\*\*@mlflow-postgres\.mlflow\.svc\.cluster\.local:5432\/mlflow answers/,
    );
    expect(r.stdout).toContain(`artifact store: bucket mlflow-store created at http://127.0.0.1:${s3.port}`);
    expect(r.stdout).not.toContain(secrets.databasePassword as string);
    // The bucket is really there now: a second run finds it.
    const again = await runContainer(container(objects, 'Deployment', NAMES.server, 'check-stores'), {
      venv,
      secrets: objects,
      overrides: network(),
      timeoutMs: 120_000,
    });
    expect(again.stdout).toContain('artifact store: bucket mlflow-store');
    expect(again.stdout).toContain('is there');
  }, 240_000);

  it('the server starts with basic auth: /health is open, the API needs the admin password', async () => {
    ({ url, server } = await startServer(objects, venv));
    expect(await (await fetch(`${url}/health`)).text()).toBe('OK');
    const anonymous = await fetch(`${url}/api/2.0/mlflow/experiments/search?max_results=1`);
    expect(anonymous.status).toBe(401);
    const wrong = await fetch(`${url}/api/2.0/mlflow/experiments/search?max_results=1`, {
      headers: { Authorization: `Basic ${Buffer.from('admin:not-the-password').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
    const admin = await fetch(`${url}/api/2.0/mlflow/experiments/search?max_results=1`, {
      headers: {
        Authorization: `Basic ${Buffer.from(`admin:${secrets.adminPassword}`).toString('base64')}`,
      },
    });
    expect(admin.status).toBe(200);
    // Its tables are in PostgreSQL, the auth app's in its own database.
    expect(
      await pg.sql('mlflow', "SELECT count(*) FROM information_schema.tables WHERE table_name = 'experiments'"),
    ).toBe('1');
    expect(await pg.sql('mlflow_auth', 'SELECT username FROM users')).toBe('admin');
    // The admin password is nowhere in the server's log.
    expect(server.log()).not.toContain(secrets.adminPassword);
  }, 240_000);

  it('a model logged through the proxied artifacts resolves, as deploy-inferenceservice resolves it, to an s3:// directory holding it', async () => {
    const { stdout } = await execFileAsync(
      join(venv, 'bin', 'python'),
      [join(pythonDir, 'mlflow_log_model.py'), 'iris', 'champion'],
      {
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: mkdtempSync(join(tmpdir(), 'kfops-client-')),
          MLFLOW_TRACKING_URI: url,
          MLFLOW_TRACKING_USERNAME: 'admin',
          MLFLOW_TRACKING_PASSWORD: secrets.adminPassword,
        },
        timeout: 180_000,
      },
    );
    const logged = JSON.parse(stdout.trim().split('\n').pop() as string) as { version: string; artifact_uri: string };
    expect(logged.version).toBe('1');
    expect(logged.artifact_uri).toMatch(/^mlflow-artifacts:\//);

    const client = new MlflowClient({ trackingUri: url, username: 'admin', password: secrets.adminPassword });
    const ref = parseRegistryRef('models:/iris@champion');
    if ('problem' in ref) throw new Error(ref.problem);
    const resolved = await resolveModel(client, ref, { artifactRoot: 's3://mlflow-store/artifacts' });
    expect(resolved.uri).toMatch(/^s3:\/\/mlflow-store\/artifacts\/.+/);
    expect(resolved.version).toBe('1');
    const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(resolved.uri) as RegExpExecArray;
    const found = await checkS3Location(
      s3Client({
        endpoint: `127.0.0.1:${s3.port}`,
        region: 'us-east-1',
        useHttps: false,
        verifySsl: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      }),
      { uri: resolved.uri, bucket: m[1] as string, prefix: m[2] as string },
      'mlflow',
      's3',
    );
    expect(found.found).toBe('MLmodel');
    expect(found.files).toEqual(expect.arrayContaining(['MLmodel', 'requirements.txt', 'python_env.yaml']));
    expect(found.files.some((f) => /^model\.(pkl|skops)$/.test(f))).toBe(true);
  }, 300_000);

  it("the users Job creates the notebooks' and extra users; a notebook with the PodDefault logs and registers as its namespace's user", async () => {
    const job = containersOf(usersJob(settingsFor('3.17.2'), secrets)).get('users') as Container;
    // The in-cluster Service name resolves to the server here.
    const run = () =>
      runContainer(job, { venv, secrets: objects, overrides: { MLFLOW_TRACKING_URI: url }, timeoutMs: 120_000 });
    const first = await run();
    expect(first.stderr).toBe('');
    expect(first.stdout.trim().split('\n')).toEqual([
      'user ci-bot: created',
      'user profile-alice: created',
      'registry round trip: created, read and deleted a registered model',
    ]);
    for (const pw of Object.values(secrets.users)) expect(first.stdout).not.toContain(pw);
    // Idempotent: a second run sets the same passwords.
    expect((await run()).stdout.trim().split('\n')).toEqual([
      'user ci-bot: password set',
      'user profile-alice: password set',
      'registry round trip: created, read and deleted a registered model',
    ]);

    // A notebook in alice's namespace: the PodDefault's environment, its Secret from alice's namespace.
    const pd = objects.find((o) => o.kind === 'PodDefault' && o.metadata.namespace === 'alice') as unknown as {
      spec: { env: Container['env'] };
    };
    const aliceSecrets = objects.filter((o) => o.metadata.namespace === 'alice');
    const env = containerEnv({ name: 'notebook', env: pd.spec.env }, aliceSecrets);
    expect(env['MLFLOW_TRACKING_URI']).toBe('http://mlflow.mlflow.svc.cluster.local:5000');
    expect(env['MLFLOW_TRACKING_USERNAME']).toBe('profile-alice');
    expect(env['MLFLOW_EXPERIMENT_NAME']).toBe('alice');
    const { stdout } = await execFileAsync(
      join(venv, 'bin', 'python'),
      [join(pythonDir, 'mlflow_log_model.py'), 'alice-model'],
      {
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: mkdtempSync(join(tmpdir(), 'kfops-notebook-')),
          ...env,
          MLFLOW_TRACKING_URI: url,
        },
        timeout: 180_000,
      },
    );
    expect(JSON.parse(stdout.trim().split('\n').pop() as string)).toMatchObject({ version: '1' });
    // alice's user made the model, so it may change it; another user (READ by default) may not.
    const as = (user: string) => ({
      Authorization: `Basic ${Buffer.from(`${user}:${secrets.users[user]}`).toString('base64')}`,
      'Content-Type': 'application/json',
    });
    const describe = (user: string) =>
      fetch(`${url}/api/2.0/mlflow/registered-models/update`, {
        method: 'PATCH',
        headers: as(user),
        body: JSON.stringify({ name: 'alice-model', description: `by ${user}` }),
      });
    expect((await describe('profile-alice')).status).toBe(200);
    expect((await describe('ci-bot')).status).toBe(403);
  }, 300_000);
});

describe('the init container names what is wrong with the stores', () => {
  const check = async (objects: KubeObject[], overrides: Record<string, string> = {}) =>
    runContainer(container(objects, 'Deployment', NAMES.server, 'check-stores'), {
      venv,
      secrets: objects,
      overrides: { ...network(), MLFLOW_CHECK_DB_WAIT_SECONDS: '3', ...overrides },
      timeoutMs: 60_000,
    });

  it('an unreachable database: host and database named, password hidden, exit 1', async () => {
    const secrets = secretsFor();
    const objects = renderMlflow(settingsFor('3.17.2'), secrets);
    // Nothing listens at this address.
    const r = await check(objects, { PGHOSTADDR: loopback(), MLFLOW_CHECK_DB_WAIT_SECONDS: '2' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^backend store: cannot connect to postgresql\+psycopg2:\/\/mlflow:\*\*\*@mlflow-postgres\.mlflow\.svc\.cluster\.local:5432\/mlflow within 2 s \(.+\); fix: check the database host/m,
    );
    expect(r.stderr).not.toContain(secrets.databasePassword as string);
  }, 60_000);

  it('a wrong password for the database', async () => {
    const good = renderMlflow(settingsFor('3.17.2'), secretsFor());
    const objects = good.map((o) =>
      o.kind === 'Secret' && o.metadata.name === NAMES.postgres
        ? {
            ...o,
            data: {
              ...(o as unknown as { data: Record<string, string> }).data,
              password: Buffer.from('wrong').toString('base64'),
            },
          }
        : o,
    );
    const r = await check(objects);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /backend store: cannot connect to .* \(.*password authentication failed for user "mlflow".*\)/,
    );
  }, 60_000);

  it('wrong S3 keys are refused by the server and named', async () => {
    const secrets = { ...secretsFor(), s3: { accessKeyId: s3.accessKeyId, secretAccessKey: 'not-the-secret' } };
    const objects = renderMlflow(settingsFor('3.17.2'), secrets);
    await initLikeImageOnce(objects);
    const r = await check(objects);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /artifact store: http:\/\/127\.0\.0\.1:\d+ refused the S3 credentials for bucket mlflow-store \(HTTP 403 .*\); fix: check the access key/,
    );
    expect(r.stderr).not.toContain('not-the-secret');
  }, 60_000);

  it('a missing bucket that may not be created is named, and nothing is created', async () => {
    const settings = settingsFor('3.17.2');
    const objects = renderMlflow(
      { ...settings, artifacts: { ...settings.artifacts, destination: 's3://no-such-bucket/x', createBucket: false } },
      secretsFor(),
    );
    await initLikeImageOnce(objects);
    const r = await check(objects);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /artifact store: bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+; fix: create it, or let kfops create it/,
    );
    const again = await check(objects);
    expect(again.stderr).toContain('bucket no-such-bucket does not exist');
  }, 60_000);
});

/** The first describe made the role; later renders have new passwords, so the role's password is reset to the rendered one. */
async function initLikeImageOnce(objects: KubeObject[]): Promise<void> {
  const secret = findObject(objects, 'Secret', NAMES.postgres) as unknown as { data: Record<string, string> };
  const pw = Buffer.from(secret.data['password'] as string, 'base64').toString('utf8');
  await pg.sql('postgres', `ALTER ROLE mlflow PASSWORD '${pw}'`);
}

describe('upgrade: a database served by MLflow 2.10 is migrated by the upgrade Job, and 3.17 still has its runs and models', () => {
  let oldServer: RunningContainer | undefined;
  let newServer: RunningContainer | undefined;
  afterAll(async () => {
    await oldServer?.stop();
    await newServer?.stop();
  });

  it('2.10 -> 3.17', async () => {
    const venv210 = pythonEnv('mlflow210');
    // A database of its own, served first by 2.10.
    const db = `up${Date.now()}`;
    await pg.sql(
      'postgres',
      "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mlflow') THEN CREATE ROLE mlflow LOGIN; END IF; END$$",
    );
    await pg.sql('postgres', `CREATE DATABASE ${db} OWNER mlflow`);
    await pg.sql('postgres', `CREATE DATABASE ${db}_auth OWNER mlflow`);
    const secrets = secretsFor();
    const external = (version: string): KubeObject[] => {
      const objects = renderMlflow(
        settingsFor(version, { database: { type: 'external', secret: 'mlflow-db' } }),
        secrets,
      );
      const uri = (d: string): string =>
        `postgresql+psycopg2://mlflow:${secrets.databasePassword}@db.example.internal:5432/${d}`;
      objects.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'mlflow-db', namespace: 'mlflow' },
        data: {
          uri: Buffer.from(uri(db)).toString('base64'),
          'auth-uri': Buffer.from(uri(`${db}_auth`)).toString('base64'),
        },
      });
      return objects;
    };
    await initLikeImageOnce(renderMlflow(settingsFor('3.17.2'), secrets));
    const old = external('2.10.2');
    const started = await startServer(old, venv210);
    oldServer = started.server;
    const auth = {
      Authorization: `Basic ${Buffer.from(`admin:${secrets.adminPassword}`).toString('base64')}`,
      'Content-Type': 'application/json',
    };
    const api = async (
      base: string,
      method: string,
      path: string,
      body?: unknown,
    ): Promise<Record<string, unknown>> => {
      const r = await fetch(`${base}/api/2.0/mlflow/${path}`, {
        method,
        headers: auth,
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const exp = (await api(started.url, 'POST', 'experiments/create', { name: 'before-upgrade' })) as {
      experiment_id: string;
    };
    const run = (await api(started.url, 'POST', 'runs/create', { experiment_id: exp.experiment_id })) as {
      run: { info: { run_id: string } };
    };
    await api(started.url, 'POST', 'runs/log-metric', {
      run_id: run.run.info.run_id,
      key: 'accuracy',
      value: 0.93,
      timestamp: Date.now(),
      step: 0,
    });
    await api(started.url, 'POST', 'registered-models/create', { name: 'wine' });
    await api(started.url, 'POST', 'model-versions/create', {
      name: 'wine',
      source: 's3://mlflow-store/artifacts/wine',
      run_id: run.run.info.run_id,
    });
    await oldServer.stop();
    oldServer = undefined;

    // The schema as 2.10 left it, and the one 3.17 expects.
    const revision = (): Promise<string> => pg.sql(db, 'SELECT version_num FROM alembic_version');
    const before = await revision();
    const { stdout: head } = await execFileAsync(join(venv, 'bin', 'python'), [
      '-c',
      'from mlflow.store.db.utils import _get_latest_schema_revision as h; print(h())',
    ]);
    expect(before).not.toBe(head.trim());
    const fresh = external('3.17.2');
    // ... the upgrade Job's container migrates it ...
    const job = upgradeJob(settingsFor('3.17.2', { database: { type: 'external', secret: 'mlflow-db' } }), '2.10.2');
    const jobContainer = containersOf(job).get('upgrade') as Container;
    const migrated = await runContainer(jobContainer, {
      venv,
      secrets: fresh,
      overrides: network(),
      timeoutMs: 300_000,
    });
    expect(migrated.stderr + migrated.stdout).toContain('migrating the backend store to MLflow 3.17.2');
    expect(migrated.code).toBe(0);
    expect(await revision()).toBe(head.trim());
    // ... and then it serves what 2.10 stored.
    const after = await startServer(fresh, venv);
    newServer = after.server;
    const runs = (await api(after.url, 'POST', 'runs/search', { experiment_ids: [exp.experiment_id] })) as {
      runs: { info: { run_id: string }; data: { metrics: { key: string; value: number }[] } }[];
    };
    expect(runs.runs.map((r) => r.info.run_id)).toEqual([run.run.info.run_id]);
    expect(runs.runs[0]?.data.metrics).toEqual([expect.objectContaining({ key: 'accuracy', value: 0.93 })]);
    const model = (await api(after.url, 'GET', 'registered-models/get?name=wine')) as {
      registered_model: { latest_versions: { version: string; source: string }[] };
    };
    expect(model.registered_model.latest_versions.map((v) => [v.version, v.source])).toEqual([
      ['1', 's3://mlflow-store/artifacts/wine'],
    ]);
  }, 900_000);
});
