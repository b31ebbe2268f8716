/**
 * Moving an MLflow alias (POST registered-models/alias) and reading it back (GET), against a real
 * tracking server on loopback: the previous version is recorded, a missing model or version is named,
 * a write a proxy swallows is caught by the read-back, and a silent server ends the call at its deadline.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MlflowClient,
  MlflowError,
  modelVersionUrl,
  moveAlias,
  readAlias,
  type FetchLike,
} from '../../src/mlflow/registry.js';
import { startMlflow, type MlflowServer } from '../support/servers.js';

let mlflow: MlflowServer;

beforeAll(async () => {
  mlflow = await startMlflow('s3://mlflow-store/artifacts');
  await mlflow.api('POST', 'registered-models/create', { name: 'wine' });
  for (const v of ['1', '2'])
    await mlflow.api('POST', 'model-versions/create', { name: 'wine', source: `s3://models/wine/${v}` });
}, 200_000);
afterAll(async () => {
  await mlflow?.stop();
});

/** What the server itself says the alias points at. */
const serverAlias = async (alias: string): Promise<string> =>
  (await mlflow.api<{ model_version: { version: string } }>('GET', `registered-models/alias?name=wine&alias=${alias}`))
    .model_version.version;

describe('MLflow alias move against a real tracking server', () => {
  it('sets a new alias (no previous version), then moves it and records the version before', async () => {
    const client = new MlflowClient({ trackingUri: mlflow.url });
    expect(await readAlias(client, 'wine', 'champion')).toBeUndefined();
    expect(await moveAlias(client, 'wine', 'champion', '1')).toEqual({ name: 'wine', alias: 'champion', version: '1' });
    expect(await serverAlias('champion')).toBe('1');
    expect(await moveAlias(client, 'wine', 'champion', '2')).toEqual({
      name: 'wine',
      alias: 'champion',
      version: '2',
      previousVersion: '1',
    });
    expect(await serverAlias('champion')).toBe('2');
    expect(await readAlias(client, 'wine', 'champion')).toBe('2');
    // Moving it to where it already points changes nothing and says so.
    expect(await moveAlias(client, 'wine', 'champion', '2')).toMatchObject({ version: '2', previousVersion: '2' });
  });

  it('a missing version or model is named, and the alias stays where it was', async () => {
    const client = new MlflowClient({ trackingUri: mlflow.url });
    await moveAlias(client, 'wine', 'stable', '1');
    await expect(moveAlias(client, 'wine', 'stable', '7')).rejects.toThrow('Registered model "wine" has no version 7');
    expect(await serverAlias('stable')).toBe('1');
    await expect(moveAlias(client, 'nope', 'stable', '1')).rejects.toThrow(
      `The MLflow registry at ${mlflow.url} has no registered model "nope"`,
    );
  });

  it('a write that never reaches the server (a proxy answering it) is caught by the read-back', async () => {
    const swallowing: FetchLike = (url, init) =>
      init?.method === 'POST' ? Promise.resolve({ status: 200, text: () => Promise.resolve('{}') }) : fetch(url, init);
    const client = new MlflowClient({ trackingUri: mlflow.url, fetch: swallowing });
    await moveAlias(new MlflowClient({ trackingUri: mlflow.url }), 'wine', 'canary', '1');
    const e = await moveAlias(client, 'wine', 'canary', '2').catch((x: unknown) => x as MlflowError);
    expect(e).toBeInstanceOf(MlflowError);
    expect((e as MlflowError).message).toBe('Alias "canary" of "wine" did not move to version 2');
    expect((e as MlflowError).details.cause).toBe('reading it back after setting it gave version 1');
  });

  it('credentials in the tracking URI travel as basic auth and are not in the error of a refused write', async () => {
    // The server runs without auth: it accepts the header; the client still never puts them in a URL.
    const client = new MlflowClient({ trackingUri: mlflow.url.replace('http://', 'http://ana:s3cret-pw@') });
    expect(client.url).toBe(mlflow.url);
    expect((await moveAlias(client, 'wine', 'basic', '1')).version).toBe('1');
    const refusing: FetchLike = (url, init) =>
      init?.method === 'POST'
        ? Promise.resolve({
            status: 403,
            text: () => Promise.resolve('{"error_code":"PERMISSION_DENIED","message":"Permission denied"}'),
          })
        : fetch(url, init);
    const e = (await moveAlias(
      new MlflowClient({ trackingUri: mlflow.url.replace('http://', 'http://ana:s3cret-pw@'), fetch: refusing }),
      'wine',
      'basic',
      '2',
    ).catch((x: unknown) => x)) as MlflowError;
    expect(e.message).toBe(`The MLflow tracking server at ${mlflow.url} refused to set alias "basic" of "wine" (403)`);
    expect(e.details.fix).toContain('EDIT permission on registered model "wine"');
    expect(JSON.stringify([e.message, e.details])).not.toContain('s3cret-pw');
    expect(await serverAlias('basic')).toBe('1');
  });

  it('a server that accepts the connection and never answers ends the move at the deadline', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    const e = (await moveAlias(
      new MlflowClient({ trackingUri: `http://127.0.0.1:${port}`, timeoutMs: 1000 }),
      'wine',
      'champion',
      '1',
    ).catch((x: unknown) => x)) as MlflowError;
    const ms = Date.now() - started;
    for (const s of sockets) s.destroy();
    silent.close();
    expect(e.message).toBe(`The MLflow tracking server at http://127.0.0.1:${port} did not answer within 1s`);
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(5000);
  });

  it('links the model version page of the UI', () => {
    expect(modelVersionUrl(`${mlflow.url}/`, 'my wine', '3')).toBe(`${mlflow.url}/#/models/my%20wine/versions/3`);
  });
});
