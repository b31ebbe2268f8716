/**
 * Model resolution and the storage check against real servers on loopback: an MLflow tracking server
 * (registry, runs, MLflow 3 logged models, aliases) and an S3-compatible server that checks signatures;
 * and the action as a process against peers that accept a connection and never answer.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModelSource, type ModelSource } from '../../src/kserve/source.js';
import { checkS3Location, s3Client, StorageCheckError, type S3Settings } from '../../src/kserve/storage.js';
import {
  MlflowClient,
  MlflowError,
  MlflowSettingError,
  resolveModel,
  type RegistryRef,
} from '../../src/mlflow/registry.js';
import { SENTINEL } from '../support/bad-inputs.js';
import { runAction } from '../support/run-action.js';
import { freePort, startMlflow, startEach, startS3, type MlflowServer, type S3Server } from '../support/servers.js';

/** The parts of a storage URI, as the action parses them. */
const at = (uri: string): Extract<ModelSource, { kind: 's3' }> =>
  parseModelSource(uri) as Extract<ModelSource, { kind: 's3' }>;
const ref = (uri: string): RegistryRef => (parseModelSource(uri) as Extract<ModelSource, { kind: 'registry' }>).ref;

/** The rejection of a promise that must fail. */
const failure = <T>(p: Promise<unknown>): Promise<T> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as T,
  );

let s3: S3Server;
let mlflow: MlflowServer;
const ARTIFACTS = 's3://mlflow-store/artifacts';

beforeAll(async () => {
  await startEach<[S3Server, MlflowServer]>([startS3(), startMlflow(ARTIFACTS)], ([a, b]) => {
    if (a) s3 = a;
    if (b) mlflow = b;
  });
}, 200_000);
afterAll(async () => {
  await Promise.all([s3?.stop(), mlflow?.stop()]);
});

const settings = (over: Partial<S3Settings> = {}): S3Settings => ({
  endpoint: `127.0.0.1:${s3.port}`,
  region: 'us-east-1',
  useHttps: false,
  verifySsl: true,
  accessKeyId: s3.accessKeyId,
  secretAccessKey: s3.secretAccessKey,
  ...over,
});

async function checkError(uri: string, over: Partial<S3Settings> = {}, format = 'mlflow'): Promise<StorageCheckError> {
  const error = await checkS3Location(s3Client(settings(over)), at(uri), format, s3.url).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageCheckError);
  return error as StorageCheckError;
}

describe('the S3 check of the model location (moto server with IAM authentication)', () => {
  beforeAll(async () => {
    await s3.put('models', {
      'wine/1/MLmodel': 'flavors: {python_function: {loader_module: mlflow.sklearn}}',
      'wine/1/model.pkl': 'x',
      'wine/1/requirements.txt': 'scikit-learn',
      'runs/abc/artifacts/model/MLmodel': 'x',
      'runs/abc/artifacts/metrics.json': '{}',
    });
  });

  it('passes with the right key, bucket and directory, and reports what it found', async () => {
    const report = await checkS3Location(s3Client(settings()), at('s3://models/wine/1'), 'mlflow', s3.url);
    expect(report).toMatchObject({ bucket: 'models', prefix: 'wine/1', found: 'MLmodel' });
    expect(report.files.sort()).toEqual(['MLmodel', 'model.pkl', 'requirements.txt']);
    // A trailing slash names the same directory; another format looks for its own file.
    expect((await checkS3Location(s3Client(settings()), at('s3://models/wine/1/'), 'sklearn', s3.url)).found).toBe(
      'model.pkl',
    );
  });

  it('a wrong access key id fails with InvalidAccessKeyId and says which input to fix', async () => {
    const e = await checkError('s3://models/wine/1', { accessKeyId: 'AKIAWRONGKEY0000' });
    expect(e.code).toBe('InvalidAccessKeyId');
    expect(e.describe()).toContain('failed: InvalidAccessKeyId (HTTP 403)');
    expect(e.details.fix).toContain('s3-access-key-id');
  });

  it('a wrong secret key fails with SignatureDoesNotMatch', async () => {
    const e = await checkError('s3://models/wine/1', { secretAccessKey: 'not-the-secret' });
    expect(e.code).toBe('SignatureDoesNotMatch');
    expect(e.details.fix).toContain('s3-secret-access-key');
  });

  it('a wrong bucket fails with NoSuchBucket', async () => {
    const e = await checkError('s3://no-such-bucket/wine/1');
    expect(e.code).toBe('NoSuchBucket');
    expect(e.message).toContain('bucket "no-such-bucket"');
    expect(e.details.cause).toMatch(/does not exist/);
  });

  it('an empty path and a directory without MLmodel each have their own message', async () => {
    const empty = await checkError('s3://models/wine/7');
    expect(empty.code).toBe('EmptyLocation');
    expect(empty.message).toBe('Nothing is stored at s3://models/wine/7');
    const noModel = await checkError('s3://models/runs/abc/artifacts');
    expect(noModel.code).toBe('MissingMLmodel');
    expect(noModel.message).toBe('s3://models/runs/abc/artifacts does not hold MLmodel');
    expect(noModel.details.cause).toContain('metrics.json, model/');
    expect(noModel.details.cause).toContain('s3://models/runs/abc/artifacts/model holds it: use that URI');
  });

  it('an endpoint where nothing listens fails in seconds with the network error', async () => {
    const port = await freePort();
    const started = Date.now();
    const e = await failure<StorageCheckError>(
      checkS3Location(
        s3Client(settings({ endpoint: `127.0.0.1:${port}` }), 3000),
        at('s3://models/wine/1'),
        'mlflow',
        `http://127.0.0.1:${port}`,
      ),
    );
    expect(e).toBeInstanceOf(StorageCheckError);
    expect(e.message).toContain('could not be reached');
    expect(e.details.cause).toContain('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('models:/ references resolved through a real MLflow tracking server', () => {
  let runId = '';
  let modelId = '';
  let client: MlflowClient;
  beforeAll(async () => {
    client = new MlflowClient({ trackingUri: mlflow.url });
    await mlflow.api('POST', 'registered-models/create', { name: 'wine' });
    // MLflow 2.x style: a run's artifact directory (proxied: mlflow-artifacts:/...), registered from runs:/.
    const run = await mlflow.api<{ run: { info: { run_id: string } } }>('POST', 'runs/create', { experiment_id: '0' });
    runId = run.run.info.run_id;
    await mlflow.api('POST', 'model-versions/create', { name: 'wine', source: `runs:/${runId}/model`, run_id: runId });
    // MLflow 3.x style: a logged model, registered from models:/m-<id>.
    const logged = await mlflow.api<{ model: { info: { model_id: string } } }>('POST', 'logged-models', {
      experiment_id: '0',
      name: 'wine-model',
    });
    modelId = logged.model.info.model_id;
    await mlflow.api('POST', 'model-versions/create', {
      name: 'wine',
      source: `models:/${modelId}`,
      model_id: modelId,
    });
    // A model stored straight in a bucket (an experiment with an s3:// artifact location).
    const exp = await mlflow.api<{ experiment_id: string }>('POST', 'experiments/create', {
      name: 'direct',
      artifact_location: 's3://models/direct',
    });
    const run2 = await mlflow.api<{ run: { info: { run_id: string } } }>('POST', 'runs/create', {
      experiment_id: exp.experiment_id,
    });
    await mlflow.api('POST', 'registered-models/create', { name: 'direct' });
    await mlflow.api('POST', 'model-versions/create', {
      name: 'direct',
      source: `runs:/${run2.run.info.run_id}/model`,
      run_id: run2.run.info.run_id,
    });
    await mlflow.api('POST', 'registered-models/alias', { name: 'wine', alias: 'champion', version: '2' });
    await mlflow.api('POST', 'registered-models/alias', { name: 'wine', alias: 'challenger', version: '1' });
  });

  it('an alias on an MLflow 3 logged model resolves to its artifacts directory under the artifact root', async () => {
    const r = await resolveModel(client, ref('models:/wine@champion'), { artifactRoot: ARTIFACTS });
    expect(r).toMatchObject({
      version: '2',
      alias: 'champion',
      modelId,
      registryUri: `mlflow-artifacts:/0/models/${modelId}/artifacts`,
      uri: `${ARTIFACTS}/0/models/${modelId}/artifacts`,
    });
  });

  it('a version registered from a run resolves to the run artifact directory (MLflow 2.x layout)', async () => {
    const r = await resolveModel(client, ref('models:/wine/1'), { artifactRoot: `${ARTIFACTS}/` });
    expect(r).toMatchObject({ version: '1', runId, uri: `${ARTIFACTS}/0/${runId}/artifacts/model` });
    const alias = await resolveModel(client, ref('models:/wine@challenger'), { artifactRoot: ARTIFACTS });
    expect(alias.uri).toBe(r.uri);
  });

  it('an s3:// artifact location needs no artifact root', async () => {
    const r = await resolveModel(client, { name: 'direct', version: '1' });
    expect(r.uri).toMatch(/^s3:\/\/models\/direct\/[0-9a-f]{32}\/artifacts\/model$/);
  });

  it('a proxied location without an artifact root is an error about that setting', async () => {
    const e = await failure<MlflowSettingError>(resolveModel(client, { name: 'wine', alias: 'champion' }));
    expect(e).toBeInstanceOf(MlflowSettingError);
    expect(e.field).toBe('artifactRoot');
    expect(e.expected).toMatch(/^the storage URI behind the tracking server's proxied artifacts/);
  });

  it('credentials in the tracking URI are sent as basic auth (fetch refuses them in the URL) and never shown', async () => {
    const url = mlflow.url.replace('http://', `http://ana:${SENTINEL}@`);
    const authed = new MlflowClient({ trackingUri: url });
    expect(authed.url).toBe(mlflow.url);
    const r = await resolveModel(authed, ref('models:/wine/1'), { artifactRoot: ARTIFACTS });
    expect(r.version).toBe('1');
    // Through the action as a process: resolved, then stopped at the cluster (none is given here);
    // the password reaches neither the log (except the runner's mask command), nor outputs, nor summary.
    const run = await runAction(
      'deploy-inferenceservice',
      {
        name: 'wine',
        'model-uri': 'models:/wine/1',
        'mlflow-tracking-uri': url,
        'mlflow-artifact-root': ARTIFACTS,
        timeout: '60s',
      },
      { KUBECONFIG: '/nonexistent/kubeconfig' },
    );
    expect(run.code, run.log).toBe(1);
    expect(run.log).toContain(`models:/wine/1 -> version 1 (run ${runId}): ${ARTIFACTS}/0/${runId}/artifacts/model`);
    expect(run.log.split('\n').filter((l) => l.includes(SENTINEL))).toEqual([`::add-mask::${SENTINEL}`]);
    expect(JSON.stringify(run.outputs)).not.toContain(SENTINEL);
    expect(run.outputs['model-version']).toBe('1');
    expect(run.summary).toContain('Failed while applying and waiting');
    expect(run.summary).not.toContain(SENTINEL);
  });

  it('a missing alias names the aliases the model has', async () => {
    const e = await failure<MlflowError>(
      resolveModel(client, { name: 'wine', alias: 'production' }, { artifactRoot: ARTIFACTS }),
    );
    expect(e).toBeInstanceOf(MlflowError);
    expect(e.message).toBe('Registered model "wine" has no alias "production"');
    expect(e.details.cause).toBe('its aliases are @challenger (version 1), @champion (version 2)');
  });

  it('a missing model and a missing version each say so', async () => {
    await expect(resolveModel(client, { name: 'nope', alias: 'champion' })).rejects.toThrow(
      `The MLflow registry at ${mlflow.url} has no registered model "nope"`,
    );
    await expect(resolveModel(client, { name: 'wine', version: '9' })).rejects.toThrow(
      'Registered model "wine" has no version 9',
    );
  });

  it('an unreachable tracking server fails with the connection error and the input to check', async () => {
    const port = await freePort();
    const e = await failure<MlflowError>(
      resolveModel(new MlflowClient({ trackingUri: `http://127.0.0.1:${port}` }), { name: 'wine', alias: 'champion' }),
    );
    expect(e.message).toBe(`The MLflow tracking server at http://127.0.0.1:${port} is not reachable`);
    expect(e.details.cause).toContain('ECONNREFUSED');
    expect(e.details.fix).toContain('mlflow-tracking-uri');
  });
});

/** A loopback peer that accepts TCP connections and never answers. */
async function silentPeer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    // Destroying the held sockets also ends an action that would otherwise wait on them for ever.
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a peer that accepts the connection and never answers (the action as a process)', () => {
  // The deadline is the action's timeout input, counted from its first line (after Node has started
  // and loaded the action, which takes seconds under tsx on a busy machine); the slack is for exiting.
  const TIMEOUT_S = 3;
  const SLACK_MS = 3_000;

  async function againstSilentPeer(
    inputs: (url: string) => Record<string, string>,
  ): Promise<{ ms: number; error: string; connections: number; url: string }> {
    const peer = await silentPeer();
    let firstLine: number | undefined;
    try {
      const run = await runAction(
        'deploy-inferenceservice',
        { name: 'wine', timeout: `${TIMEOUT_S}s`, ...inputs(peer.url) },
        { KUBECONFIG: '/nonexistent/kubeconfig' },
        () => (firstLine ??= Date.now()),
      );
      const ended = Date.now();
      expect(run.code, run.log).toBe(1);
      return {
        ms: ended - (firstLine ?? ended),
        error: run.log.split('\n').find((l) => l.startsWith('::error::')) ?? '',
        connections: peer.connections(),
        url: peer.url,
      };
    } finally {
      await peer.close();
    }
  }

  it('the MLflow tracking server: ends at the timeout, naming the server', async () => {
    const r = await againstSilentPeer((url) => ({
      'model-uri': 'models:/wine@champion',
      'mlflow-tracking-uri': url,
      'mlflow-artifact-root': ARTIFACTS,
    }));
    expect(r.connections).toBeGreaterThan(0);
    expect(r.error).toContain(`The ${TIMEOUT_S}s deadline passed while waiting for models:/wine@champion to resolve`);
    expect(r.error).toContain(`the MLflow tracking server at ${r.url} did not answer before the deadline`);
    expect(r.ms).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
  }, 120_000);

  it('the S3 server of the storage check: ends at the timeout, naming the server', async () => {
    const r = await againstSilentPeer((url) => ({
      'model-uri': 's3://models/wine/1',
      's3-endpoint': url,
      's3-access-key-id': 'AKIAEXAMPLE',
      's3-secret-access-key': SENTINEL,
    }));
    expect(r.connections).toBeGreaterThan(0);
    expect(r.error).toContain(`The ${TIMEOUT_S}s deadline passed while waiting for the listing of s3://models/wine/1`);
    expect(r.error).toContain(`the S3 server at ${r.url} did not answer before the deadline`);
    expect(r.ms).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
  }, 120_000);

  it('the S3 check on its own deadline (a long timeout): each request ends, then the check fails naming the server', async () => {
    const peer = await silentPeer();
    try {
      const started = Date.now();
      const e = await failure<StorageCheckError>(
        checkS3Location(
          s3Client(settings({ endpoint: peer.url.replace('http://', '') }), 1000),
          at('s3://models/wine/1'),
          'mlflow',
          peer.url,
        ),
      );
      expect(e).toBeInstanceOf(StorageCheckError);
      expect(e.message).toBe(`The S3 server at ${peer.url} did not answer in time`);
      expect(e.details.cause).toContain('ETIMEDOUT');
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await peer.close();
    }
  });
});
