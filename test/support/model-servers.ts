/**
 * Real model servers on 127.0.0.1 for the smoke-test tests and benchmark: KServe's Python model server
 * (the `kserve` package) serving test/python/kserve_model.py, and MLServer with its MLflow runtime
 * serving an MLflow model written at start-up by test/python/make_mlflow_model.py. Each runs from its
 * cached virtualenv (test/python/<name>.txt) and is stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { request } from 'undici';
import { pythonEnv } from './python.js';
import { freePort } from './servers.js';

const pythonDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'python');

export interface ModelServer {
  url: string;
  port: number;
  model: string;
  /** Everything the process wrote, for failing tests. */
  log(): string;
  stop(): Promise<void>;
}

function track(child: ChildProcess): () => string {
  let out = '';
  const take = (b: Buffer): void => {
    out = (out + b.toString()).slice(-20_000);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return () => out;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Waits until GET url answers (any HTTP status), or the process exits, or the time runs out. */
async function waitAnswering(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null)
      throw new Error(`the server exited with ${child.exitCode} before answering:\n${log()}`);
    try {
      const res = await request(url);
      await res.body.dump();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`the server did not answer ${url} within ${timeoutMs}ms:\n${log()}`);
}

export interface KserveOptions {
  model: string;
  /** Seconds before the model reports ready (the server answers 503 until then). */
  loadDelay?: number;
  /** Ready, but every prediction fails. */
  broken?: boolean;
  /** No access log (benchmarks). */
  quiet?: boolean;
}

/** KServe's model server (v1 and v2 REST) with the tiny model score(row) = 2*row[0] + row[1] - 1. */
export async function startKserveModel(options: KserveOptions): Promise<ModelServer> {
  const venv = pythonEnv('kserve');
  const port = await freePort();
  const args = [join(pythonDir, 'kserve_model.py'), '--model_name', options.model, '--http_port', String(port)];
  if (options.loadDelay) args.push('--load_delay', String(options.loadDelay));
  if (options.broken) args.push('--broken');
  if (options.quiet) args.push('--quiet');
  const child = spawn(join(venv, 'bin', 'python'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitAnswering(`${url}/v2/health/live`, child, log, 60_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { url, port, model: options.model, log, stop: () => stopChild(child) };
}

/** MLServer + MLflow runtime (v2 only) serving a scikit-learn model of two columns x, y: predicts 1 when x + y > 1. */
export async function startMlflowModel(model: string): Promise<ModelServer> {
  const venv = pythonEnv('mlserver');
  const dir = mkdtempSync(join(tmpdir(), 'kfops-mlserver-'));
  const [port, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  execFileSync(
    join(venv, 'bin', 'python'),
    [join(pythonDir, 'make_mlflow_model.py'), dir, model, String(port), String(grpc), String(metrics)],
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
  );
  const child = spawn(join(venv, 'bin', 'mlserver'), ['start', dir], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitAnswering(`${url}/v2/health/live`, child, log, 120_000);
    // Live comes before the model is loaded; wait for the model too.
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      const res = await request(`${url}/v2/models/${model}/ready`);
      await res.body.dump();
      if (res.statusCode === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    url,
    port,
    model,
    log,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An MLflow iris model's signature: four named columns (trained on a DataFrame) or one (-1, 4) float64 tensor. */
export type IrisSignature = 'columns' | 'tensor';

/**
 * MLServer started as KServe's kserve-mlserver runtime starts it for modelFormat mlflow: `mlserver start
 * /mnt/models` with no settings files, the model named and located by environment variables, and MLServer's
 * defaults otherwise (debug on: a 500 carries the traceback). Serves an MLflow iris model written by
 * test/python/make_iris_model.py. Inference runs in the main process (parallel workers off), which
 * changes no answer.
 */
export async function startMlserverAsKserve(
  model: string,
  signature: IrisSignature,
  /** The virtualenv whose MLflow writes the model: `mlflow2` (test/python/mlflow2.txt) for MLflow 2.x. */
  writer: 'mlserver' | 'mlflow2' = 'mlserver',
): Promise<ModelServer> {
  const venv = pythonEnv('mlserver');
  const dir = mkdtempSync(join(tmpdir(), 'kfops-mnt-models-'));
  execFileSync(join(pythonEnv(writer), 'bin', 'python'), [join(pythonDir, 'make_iris_model.py'), dir, signature], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  const [port, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(join(venv, 'bin', 'mlserver'), ['start', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: dir,
    env: {
      PATH: `${join(venv, 'bin')}:${process.env['PATH'] ?? ''}`,
      HOME: process.env['HOME'] ?? '',
      MLSERVER_HOST: '127.0.0.1',
      MLSERVER_HTTP_PORT: String(port),
      MLSERVER_GRPC_PORT: String(grpc),
      MLSERVER_METRICS_PORT: String(metrics),
      MLSERVER_PARALLEL_WORKERS: '0',
      MODELS_DIR: dir,
      MLSERVER_MODEL_IMPLEMENTATION: 'mlserver_mlflow.MLflowRuntime',
      MLSERVER_MODEL_NAME: model,
      MLSERVER_MODEL_URI: dir,
    },
  });
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitAnswering(`${url}/v2/health/live`, child, log, 120_000);
    const end = Date.now() + 60_000;
    for (;;) {
      const res = await request(`${url}/v2/models/${model}/ready`);
      await res.body.dump();
      if (res.statusCode === 200) break;
      if (Date.now() > end) throw new Error(`MLServer did not load ${model} within 60 s:\n${log()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (error) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    port,
    model,
    log,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** MLflow's own scoring server (`mlflow models serve`: /ping, /version, /invocations) serving an iris model. */
export async function startMlflowScoringServer(): Promise<ModelServer> {
  const venv = pythonEnv('mlserver');
  const dir = mkdtempSync(join(tmpdir(), 'kfops-mlflow-model-'));
  const modelDir = join(dir, 'model');
  execFileSync(join(venv, 'bin', 'python'), [join(pythonDir, 'make_iris_model.py'), modelDir, 'columns'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  const port = await freePort();
  const child = spawn(
    join(venv, 'bin', 'mlflow'),
    ['models', 'serve', '-m', modelDir, '-h', '127.0.0.1', '-p', String(port), '--env-manager', 'local'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
      // mlflow runs `uvicorn` from PATH.
      env: { PATH: `${join(venv, 'bin')}:${process.env['PATH'] ?? ''}`, HOME: process.env['HOME'] ?? '' },
      detached: true,
    },
  );
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  const stopGroup = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(-(child.pid as number), 'SIGTERM');
    const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitAnswering(`${url}/ping`, child, log, 120_000);
  } catch (error) {
    await stopGroup();
    throw error;
  }
  return {
    url,
    port,
    model: 'iris',
    log,
    stop: async () => {
      await stopGroup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A plain web server (Python's http.server) serving a directory with an index.html. */
export async function startPlainWebServer(): Promise<ModelServer> {
  const venv = pythonEnv('mlserver');
  const dir = mkdtempSync(join(tmpdir(), 'kfops-www-'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!DOCTYPE html><html><head><title>Team site</title></head><body>hi</body></html>',
  );
  const port = await freePort();
  const child = spawn(
    join(venv, 'bin', 'python'),
    ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitAnswering(`${url}/`, child, log, 30_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    url,
    port,
    model: 'iris',
    log,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
