/**
 * Runs rendered containers for real, on this machine: a container's command, args and environment as the
 * kubelet would build them (env from Secrets, $(VAR) references expanded), with the container's image
 * replaced by a virtualenv holding the same programs. Also a real PostgreSQL (Debian's) started the way
 * the rendered StatefulSet's image would start it (its POSTGRES_* environment and init scripts).
 *
 * What stands in for the pod: the network (the server binds the address the test gives, the database
 * name resolves through libpq's PGHOSTADDR), and volumes (a mountPath maps to a temporary directory).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeClient } from '../../src/kube/client.js';
import type { KubeObject } from '../../src/kube/types.js';

const execFileAsync = promisify(execFile);

export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

/** The containers of a Deployment's, StatefulSet's or Job's pod template, by name (init containers too). */
export function containersOf(obj: KubeObject): Map<string, Container> {
  const spec = (obj as { spec?: { template?: { spec?: { containers?: Container[]; initContainers?: Container[] } } } })
    .spec?.template?.spec;
  return new Map([...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].map((c) => [c.name, c]));
}

export function findObject(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among the rendered objects`);
  return o;
}

/** Expands $(VAR) as the kubelet does: defined earlier in the list -> its value; $$(VAR) -> $(VAR); unknown kept. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) =>
    m === '$$' ? '$' : name !== undefined && name in env ? (env[name] as string) : m,
  );
}

/** The container's environment: values, Secret keys (from `secrets`: the rendered or live Secrets), $(VAR) expanded. */
export function containerEnv(container: Container, secrets: readonly KubeObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(e.value, env);
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const secret = secrets.find((s) => s.kind === 'Secret' && s.metadata.name === ref.name) as
        { data?: Record<string, string> } | undefined;
      const raw = secret?.data?.[ref.key];
      if (raw === undefined) {
        if (ref.optional) continue;
        throw new Error(`${container.name}: env ${e.name} needs Secret ${ref.name} key ${ref.key}, which is missing`);
      }
      env[e.name] = Buffer.from(raw, 'base64').toString('utf8');
    } else throw new Error(`${container.name}: env ${e.name} has a source the runner does not know`);
  }
  return env;
}

export interface RunOptions {
  /** The virtualenv standing in for the image: its bin/ comes first on PATH. */
  venv: string;
  secrets: readonly KubeObject[];
  /** Environment set after the container's own (the pod's network stand-ins). */
  overrides?: Record<string, string>;
  /** mountPath -> local directory: environment values under a mountPath are moved there. */
  volumes?: Record<string, string>;
}

function processEnv(container: Container, options: RunOptions): Record<string, string> {
  const env = containerEnv(container, options.secrets);
  for (const [mount, dir] of Object.entries(options.volumes ?? {})) {
    for (const [k, v] of Object.entries(env)) if (v.startsWith(`${mount}/`)) env[k] = dir + v.slice(mount.length);
  }
  return {
    PATH: `${join(options.venv, 'bin')}:${process.env['PATH'] ?? ''}`,
    HOME: mkdtempSync(join(tmpdir(), 'kfops-home-')),
    ...env,
    ...options.overrides,
  };
}

function argv(container: Container): string[] {
  const all = [...(container.command ?? []), ...(container.args ?? [])];
  if (all.length === 0) throw new Error(`${container.name}: no command (the image's entrypoint cannot run here)`);
  return all;
}

/** Runs a container to its end (an init container, a Job's container): exit code and output. */
export async function runContainer(
  container: Container,
  options: RunOptions & { timeoutMs: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...args] = argv(container);
  try {
    const r = await execFileAsync(cmd as string, args, {
      env: processEnv(container, options),
      timeout: options.timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string; killed?: boolean };
    if (e.killed)
      throw new Error(`${container.name} did not end within ${options.timeoutMs} ms:\n${e.stderr ?? ''}`, {
        cause: error,
      });
    if (typeof e.code !== 'number')
      throw new Error(`${container.name} could not run: ${String(error)}`, { cause: error });
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface RunningContainer {
  log: () => string;
  stop: () => Promise<void>;
}

/** Starts a long-running container (a server) and waits until `healthUrl` answers 200. */
export async function startContainer(
  container: Container,
  options: RunOptions & { healthUrl: string; timeoutMs: number },
): Promise<RunningContainer> {
  const [cmd, ...args] = argv(container);
  const child = spawn(cmd as string, args, {
    env: processEnv(container, options),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-40_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const running = { log: () => log, stop: () => stopGroup(child) };
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${container.name} exited ${child.exitCode}:\n${log}`);
    try {
      const r = await fetch(options.healthUrl, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return running;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error(`${container.name} did not answer ${options.healthUrl} within ${options.timeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // gone
      }
    };
    const timer = setTimeout(() => {
      kill('SIGKILL');
      resolve();
    }, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    kill('SIGTERM');
  });
}

/** Debian's PostgreSQL server binaries (the newest installed major version). */
export function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'postgres'))) return join(base, v, 'bin');
  throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (Debian package postgresql)');
}

export interface Postgres {
  host: string;
  port: number;
  /** Runs SQL as the superuser `postgres` over the local socket; prints the rows, tab-separated. */
  sql: (database: string, statement: string) => Promise<string>;
  stop: () => Promise<void>;
  log: () => string;
}

const asPostgres = (cmd: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];

/**
 * A PostgreSQL server of its own (a new data directory), listening on host:port with password (scram)
 * authentication over TCP, trust over its own Unix socket for the test's setup.
 */
export async function startPostgres(host: string, port: number): Promise<Postgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'kfops-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await execFileAsync('id', ['-u', 'postgres']);
    const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
  ]);
  await execFileAsync(initCmd, initArgs, { timeout: 120_000 });
  const [cmd, args] = asPostgres(join(bin, 'postgres'), [
    '-D',
    data,
    '-k',
    dir,
    '-p',
    String(port),
    '-c',
    `listen_addresses=${host}`,
    '-c',
    'fsync=off',
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const sql = async (database: string, statement: string): Promise<string> => {
    const [c, a] = asPostgres(join(bin, 'psql'), [
      '-h',
      dir,
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      database,
      '-v',
      'ON_ERROR_STOP=1',
      '-tA',
      '-F',
      '\t',
      '-c',
      statement,
    ]);
    const r = await execFileAsync(c, a, { timeout: 30_000 });
    return r.stdout.trim();
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}:\n${log}`);
    try {
      await sql('postgres', 'SELECT 1');
      break;
    } catch {
      if (Date.now() > deadline) {
        await stopGroup(child);
        throw new Error(`postgres did not start within 30 s:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return { host, port, sql, stop: () => stopGroup(child), log: () => log };
}

/**
 * What the postgres image's entrypoint does on an empty data directory, from the rendered StatefulSet:
 * the POSTGRES_USER superuser with POSTGRES_PASSWORD, the POSTGRES_DB database, then every *.sql file of
 * the ConfigMap mounted at /docker-entrypoint-initdb.d, in name order, run in POSTGRES_DB.
 */
export async function initLikeImage(pg: Postgres, objects: readonly KubeObject[], statefulSet: string): Promise<void> {
  const sts = findObject(objects, 'StatefulSet', statefulSet);
  const container = [...containersOf(sts).values()][0] as Container;
  const env = containerEnv(container, objects);
  const user = env['POSTGRES_USER'] as string;
  const db = env['POSTGRES_DB'] ?? user;
  const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  await pg.sql(
    'postgres',
    `CREATE ROLE "${user}" SUPERUSER LOGIN PASSWORD ${quote(env['POSTGRES_PASSWORD'] as string)}`,
  );
  await pg.sql('postgres', `CREATE DATABASE "${db}" OWNER "${user}"`);
  const spec = (
    sts as unknown as { spec: { template: { spec: { volumes?: { name: string; configMap?: { name: string } }[] } } } }
  ).spec.template.spec;
  const mount = container.volumeMounts?.find((m) => m.mountPath === '/docker-entrypoint-initdb.d');
  const cmName = spec.volumes?.find((v) => v.name === mount?.name)?.configMap?.name;
  if (!cmName) return;
  const data = (findObject(objects, 'ConfigMap', cmName) as { data?: Record<string, string> }).data ?? {};
  for (const file of Object.keys(data).sort()) if (file.endsWith('.sql')) await pg.sql(db, data[file] as string);
}

/** What the pod stand-in ran: each container's name, pod and exit code (servers: 0 once healthy). */
export interface PodRun {
  pod: string;
  container: string;
  code: number;
  output: string;
}

/**
 * Stands in for the kubelet of the local control plane (whose fake nodes run nothing) for the pods of
 * one namespace: a pod of the MLflow Deployment gets its init containers run, then its server started
 * on the pod's own IP (added to the loopback interface), so the API server's service proxy reaches a
 * real server; a Job's pod gets its container run. Containers come from the live pods and their
 * environment from the live Secrets; `overrides` stand in for the pod network (DNS).
 */
export function startPodStandin(
  client: KubeClient,
  namespace: string,
  options: {
    venv: string;
    /** The pod network's stand-ins, given the pod's IP and the MLflow server pod's IP. */
    overrides: (podIP: string, serverIP: string | undefined) => Record<string, string>;
    serverLabel: string;
  },
): {
  runs: PodRun[];
  server: () => RunningContainer | undefined;
  /** The MLflow server pod's IP once its server answers. */
  serverAddress: () => string | undefined;
  stop: () => Promise<void>;
} {
  const runs: PodRun[] = [];
  const seen = new Set<string>();
  const addresses = new Set<string>();
  let server: RunningContainer | undefined;
  let serverIP: string | undefined;
  let stopped = false;
  const secrets = async (): Promise<KubeObject[]> =>
    // Items of a list carry no kind.
    (await client.list({ apiVersion: 'v1', kind: 'Secret', namespace })).items.map((s) => ({
      ...s,
      apiVersion: 'v1',
      kind: 'Secret',
    }));
  const handle = async (pod: KubeObject): Promise<void> => {
    const status = (pod as { status?: { podIP?: string } }).status;
    const ip = status?.podIP;
    const spec = (pod as unknown as { spec: { initContainers?: Container[]; containers: Container[] } }).spec;
    const labels = pod.metadata.labels ?? {};
    if (labels['job-name']) {
      for (const c of spec.containers) {
        const r = await runContainer(c, {
          venv: options.venv,
          secrets: await secrets(),
          overrides: options.overrides(ip ?? '127.0.0.1', serverIP),
          timeoutMs: 300_000,
        });
        runs.push({ pod: pod.metadata.name, container: c.name, code: r.code, output: r.stdout + r.stderr });
      }
      return;
    }
    if (labels['app.kubernetes.io/component'] !== options.serverLabel || !ip) return;
    if (!addresses.has(ip)) {
      await execFileAsync('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']).catch(() => undefined);
      addresses.add(ip);
    }
    for (const c of spec.initContainers ?? []) {
      const r = await runContainer(c, {
        venv: options.venv,
        secrets: await secrets(),
        overrides: options.overrides(ip, serverIP),
        timeoutMs: 300_000,
      });
      runs.push({ pod: pod.metadata.name, container: c.name, code: r.code, output: r.stdout + r.stderr });
      if (r.code !== 0) return;
    }
    await server?.stop();
    const main = spec.containers[0] as Container;
    const port = containerEnv(main, await secrets())['MLFLOW_PORT'] ?? '5000';
    server = await startContainer(main, {
      venv: options.venv,
      secrets: await secrets(),
      overrides: { ...options.overrides(ip, ip), MLFLOW_HOST: ip },
      volumes: Object.fromEntries(
        (main.volumeMounts ?? []).map((m) => [m.mountPath, mkdtempSync(join(tmpdir(), 'kfops-volume-'))]),
      ),
      healthUrl: `http://${ip}:${port}/health`,
      timeoutMs: 180_000,
    });
    serverIP = ip;
    runs.push({ pod: pod.metadata.name, container: main.name, code: 0, output: 'healthy' });
  };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        const pods = (await client.list({ apiVersion: 'v1', kind: 'Pod', namespace })).items;
        for (const pod of pods) {
          const ip = (pod as { status?: { podIP?: string } }).status?.podIP;
          const key = `${pod.metadata.uid ?? pod.metadata.name}`;
          // A Job's pod may have no IP: the fake node completes it without running it.
          const isJob = Boolean(pod.metadata.labels?.['job-name']);
          if (seen.has(key) || (!ip && !isJob) || pod.metadata.deletionTimestamp) continue;
          seen.add(key);
          await handle(pod).catch((error: unknown) => {
            // As the kubelet does (CreateContainerConfigError), a Secret not made yet is waited for.
            if (/which is missing/.test(String(error))) seen.delete(key);
            else runs.push({ pod: pod.metadata.name, container: '?', code: -1, output: String(error) });
          });
        }
      } catch {
        // the API server may be busy; next round
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  void loop();
  return {
    runs,
    server: () => server,
    serverAddress: () => serverIP,
    stop: async () => {
      stopped = true;
      await server?.stop();
      for (const ip of addresses)
        await execFileAsync('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']).catch(() => undefined);
    },
  };
}

/**
 * What the PostgreSQL image does on its first start, for the in-cluster database the install made:
 * waits for its Secret, then the superuser, the database and the init scripts of its ConfigMap.
 */
export async function initPostgresFromCluster(
  client: KubeClient,
  pg: Postgres,
  namespace: string,
  names: { secret: string; initConfigMap: string },
  timeoutMs = 300_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await client
      .find({ apiVersion: 'v1', kind: 'Secret', namespace, name: names.secret })
      .catch(() => undefined);
    if (s) {
      const data = (s as unknown as { data: Record<string, string> }).data;
      const v = (k: string): string => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
      const quote = (x: string): string => `'${x.replace(/'/g, "''")}'`;
      await pg.sql('postgres', `CREATE ROLE "${v('username')}" SUPERUSER LOGIN PASSWORD ${quote(v('password'))}`);
      await pg.sql('postgres', `CREATE DATABASE "${v('database')}" OWNER "${v('username')}"`);
      const cm = (await client.get({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace,
        name: names.initConfigMap,
      })) as unknown as {
        data: Record<string, string>;
      };
      for (const f of Object.keys(cm.data).sort()) await pg.sql(v('database'), cm.data[f] as string);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Secret ${namespace}/${names.secret} was not made within ${timeoutMs} ms`);
}
