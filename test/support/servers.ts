/**
 * Real servers on loopback for the deploy tests: an S3-compatible server (moto's server mode, from
 * test/python/s3.txt) that authenticates requests with IAM access keys, and an MLflow tracking server
 * (test/python/mlflow.txt) with a SQLite store. Each runs in its own process group, stopped by its id.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonEnv } from './python.js';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const pythonDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'python');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Server {
  url: string;
  port: number;
  log: () => string;
  stop: () => Promise<void>;
}

async function startProcess(
  command: string,
  args: string[],
  env: Record<string, string>,
  healthUrl: string,
  timeoutMs: number,
): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(command, args, {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}:\n${log}`);
    try {
      const r = await fetch(healthUrl, { signal: AbortSignal.timeout(1000) });
      if (r.status < 500) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      stopGroup(child);
      throw new Error(`${command} did not answer ${healthUrl} within ${timeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { child, log: () => log };
}

function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // gone
      }
      resolve();
    }, 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

export interface S3Server extends Server {
  accessKeyId: string;
  secretAccessKey: string;
  /** Creates the bucket if it is not there yet and puts the objects (key -> UTF-8 body) with the valid key. */
  put: (bucket: string, objects: Record<string, string>) => Promise<void>;
}

/**
 * moto in server mode with IAM authentication on: the first requests (creating a user, its access
 * key and its policy) run unauthenticated, every later one must be signed with a key it knows.
 */
export async function startS3(): Promise<S3Server> {
  const venv = pythonEnv('s3');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { child, log } = await startProcess(
    join(venv, 'bin', 'moto_server'),
    ['-H', '127.0.0.1', '-p', String(port)],
    { INITIAL_NO_AUTH_ACTION_COUNT: '3' },
    `${url}/moto-api/`,
    60_000,
  );
  const py = join(venv, 'bin', 'python');
  let key: { id: string; secret: string };
  try {
    // Asynchronous: a synchronous child would stall this process's event loop (and the TLS handshakes
    // of servers started beside this one) for as long as Python takes to start.
    const { stdout } = await execFileAsync(py, [join(pythonDir, 's3_user.py'), url], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    key = JSON.parse(stdout.trim()) as { id: string; secret: string };
  } catch (error) {
    await stopGroup(child);
    throw error;
  }
  const put = async (bucket: string, objects: Record<string, string>): Promise<void> => {
    await execFileAsync(
      py,
      [join(pythonDir, 's3_put.py'), url, bucket, ...Object.entries(objects).map(([k, body]) => `${k}=${body}`)],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret },
      },
    );
  };
  return { url, port, log, stop: () => stopGroup(child), accessKeyId: key.id, secretAccessKey: key.secret, put };
}

export interface MlflowServer extends Server {
  /** POST/GET on api/2.0/mlflow/<path>; throws with the body on a non-2xx answer. */
  api: <T = Record<string, unknown>>(method: 'GET' | 'POST', path: string, body?: unknown) => Promise<T>;
}

/** An MLflow tracking server proxying artifacts to `artifactsDestination` (it never touches it here). */
export async function startMlflow(artifactsDestination: string): Promise<MlflowServer> {
  const venv = pythonEnv('mlflow');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kfops-mlflow-'));
  const url = `http://127.0.0.1:${port}`;
  const { child, log } = await startProcess(
    join(venv, 'bin', 'mlflow'),
    [
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--backend-store-uri',
      `sqlite:///${join(dir, 'mlflow.db')}`,
      '--artifacts-destination',
      artifactsDestination,
      '--workers',
      '1',
    ],
    { MLFLOW_TRACKING_DIR: dir },
    `${url}/health`,
    150_000,
  );
  const api = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${url}/api/2.0/mlflow/${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  };
  return { url, port, log, stop: () => stopGroup(child), api };
}

/**
 * Awaits every start; hands each one that came up to `keep` (so the caller can stop it even when another
 * failed), then throws the first failure.
 */
export async function startEach<T extends unknown[]>(
  starts: { [K in keyof T]: Promise<T[K]> },
  keep: (values: { [K in keyof T]: T[K] | undefined }) => void,
): Promise<void> {
  const settled = await Promise.allSettled(starts as unknown as Promise<unknown>[]);
  keep(settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined)) as { [K in keyof T]: T[K] | undefined });
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Registers `count` versions of model `name` in MLflow, version v stored at s3://models/<name>/<v> in the
 * S3 server (an MLmodel file in each), as the release tests use them.
 */
export async function registerModelVersions(
  s3: S3Server,
  mlflow: MlflowServer,
  name: string,
  count: number,
): Promise<void> {
  const versions = Array.from({ length: count }, (_, i) => String(i + 1));
  await s3.put(
    'models',
    Object.fromEntries(versions.map((v) => [`${name}/${v}/MLmodel`, 'flavors: {python_function: {}}'])),
  );
  await mlflow.api('POST', 'registered-models/create', { name });
  for (const v of versions)
    await mlflow.api('POST', 'model-versions/create', { name, source: `s3://models/${name}/${v}` });
}
