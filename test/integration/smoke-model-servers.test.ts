/**
 * smoke-test-endpoint on the path users take: an MLflow model served by MLServer's MLflow runtime, started
 * as KServe starts it (a column signature and a tensor signature), plus the servers a user may point it at
 * by mistake: KServe's model server with another model, MLflow's own scoring server, a plain web server.
 * Every answer that already says what is wrong must fail in seconds, not wait out the timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server as NetServer } from 'node:net';
import { Caller, EndpointError, type Auth, type Endpoint } from '../../src/inference/endpoint.js';
import { createHttpClient } from '../../src/inference/http.js';
import { checkEndpoint, type SmokeSettings } from '../../src/inference/smoke.js';
import { SettingError } from '../../src/inference/setting-error.js';
import {
  startKserveModel,
  startMlflowScoringServer,
  startMlserverAsKserve,
  startPlainWebServer,
  type ModelServer,
} from '../support/model-servers.js';
import { freePort, startEach } from '../support/servers.js';
import { recordingLogger, sleep } from './helpers.js';

let columns: ModelServer;
let tensor: ModelServer;
let kserve: ModelServer;
let scoring: ModelServer;
let web: ModelServer;
let mlflow2: ModelServer;
const servers: ModelServer[] = [];

const none: Auth = { kind: 'none' };
const rows = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];
// Long enough that a test failing by the timeout is told apart from one failing on the answer.
const TIMEOUT_MS = 60_000;
const base: SmokeSettings = {
  protocol: 'auto',
  payload: rows,
  compare: 'subset',
  assertTokenRequired: false,
  timeoutMs: TIMEOUT_MS,
  load: { requests: 0, concurrency: 1 },
};
const at = (s: ModelServer, model = s.model): Endpoint => ({ baseUrl: s.url, model, via: `test server ${s.url}` });

async function smoke(endpoint: Endpoint, settings: Partial<SmokeSettings> = {}) {
  const http = createHttpClient({ connections: 2, timeoutMs: 15_000 });
  const logger = recordingLogger();
  try {
    const report = await checkEndpoint(
      new Caller(endpoint, none, { http, logger }),
      { ...base, ...settings },
      { http, logger },
    );
    return { report, logger };
  } finally {
    await http.close();
  }
}

/** The error a smoke test ends with, and how long it took. */
async function failure(endpoint: Endpoint, settings: Partial<SmokeSettings> = {}) {
  const t0 = Date.now();
  try {
    await smoke(endpoint, settings);
  } catch (error) {
    return { error: error as Error, ms: Date.now() - t0 };
  }
  throw new Error('the smoke test passed but was expected to fail');
}

const described = (e: Error): string =>
  e instanceof EndpointError ? `${e.message}\ncause: ${e.details.cause}\nfix: ${e.details.fix}` : e.message;

beforeAll(async () => {
  await startEach<[ModelServer, ModelServer, ModelServer, ModelServer, ModelServer, ModelServer]>(
    [
      startMlserverAsKserve('iris', 'columns'),
      startMlserverAsKserve('iris', 'tensor'),
      startKserveModel({ model: 'iris' }),
      startMlflowScoringServer(),
      startPlainWebServer(),
      startMlserverAsKserve('iris', 'columns', 'mlflow2'),
    ],
    (started) => {
      servers.push(...started.filter((x): x is ModelServer => x !== undefined));
      [columns, tensor, kserve, scoring, web, mlflow2] = started as [
        ModelServer,
        ModelServer,
        ModelServer,
        ModelServer,
        ModelServer,
        ModelServer,
      ];
    },
  );
}, 300_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('a wrong model name fails in seconds, listing the models the server holds', () => {
  it('MLServer (POST /v2/repository/index)', async () => {
    const { error, ms } = await failure(at(columns, 'irsi'));
    expect(error).toBeInstanceOf(EndpointError);
    expect(ms).toBeLessThan(5000);
    expect(described(error)).toContain('Model irsi not found');
    expect(described(error)).toContain('the server holds "iris" (POST /v2/repository/index), not "irsi"');
    expect(described(error)).toContain('model-name');
  });

  it("KServe's model server (GET /v2/models), under protocol v1 too", async () => {
    for (const protocol of ['auto', 'v1'] as const) {
      const { error, ms } = await failure(at(kserve, 'irsi'), { protocol });
      expect(ms).toBeLessThan(5000);
      expect(described(error)).toContain('the server holds "iris"');
      expect(described(error)).toMatch(/GET \/v[12]\/models\)/);
    }
  });
});

describe('a server that is not a KServe model server is named at once', () => {
  it("MLflow's scoring server (mlflow models serve)", async () => {
    const { error, ms } = await failure(at(scoring));
    expect(ms).toBeLessThan(5000);
    expect(described(error)).toMatch(/is MLflow's scoring server \(MLflow \d+\.\d+/);
    expect(described(error)).toContain('/invocations');
    expect(described(error)).toContain('deploy-inferenceservice');
  });

  it('a plain web server', async () => {
    const { error, ms } = await failure(at(web));
    expect(ms).toBeLessThan(5000);
    expect(described(error)).toContain('with an HTML page');
    expect(described(error)).toContain('not a KServe model server');
  });
});

describe('MLflow model on MLServer: list rows are built as the model declares its inputs', () => {
  it('a column signature gets one named input per column', async () => {
    const { report, logger } = await smoke(at(columns), { expected: [0, 2] });
    expect(report.failures).toEqual([]);
    expect(report.protocol).toBe('v2');
    expect(report.requestForm).toContain('inputs sepal_length FP64 [2], sepal_width FP64 [2]');
    expect(report.requestForm).toContain('one input per column');
    expect(logger.lines.join('\n')).toContain('request built from the rows');
  });

  it('a tensor signature gets the declared tensor', async () => {
    const { report } = await smoke(at(tensor), { expected: [0, 2] });
    expect(report.failures).toEqual([]);
    expect(report.requestForm).toContain('tensor input-0 FP64 [2, 4] (the tensor the model declares)');
  });

  it('a model written by MLflow 2.x (as users train it) served by the same runtime', async () => {
    const { report } = await smoke(at(mlflow2), { expected: [0, 2] });
    expect(report.failures).toEqual([]);
    expect(report.requestForm).toContain('one input per column');
    const { error, ms } = await failure(at(mlflow2, 'wine'));
    expect(ms).toBeLessThan(5000);
    expect(described(error)).toContain('the server holds "iris" (POST /v2/repository/index), not "wine"');
  });

  it('a row of the wrong width fails before the inference call, naming the declared inputs', async () => {
    for (const s of [columns, tensor]) {
      const t0 = Date.now();
      const error = await smoke(at(s), { payload: [[5.1, 3.5, 1.4]] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SettingError);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect((error as SettingError).expected).toContain('each row has 3 value(s)');
      expect((error as SettingError).expected).toContain(
        s === columns ? 'petal_width (FP64' : 'input-0 (FP64 [-1, 4])',
      );
    }
  });

  it("a 500 shows the exception's last line, not the start of the traceback", async () => {
    const payload = {
      parameters: { content_type: 'pd' },
      inputs: ['sepal_length', 'sepal_width', 'petal_length'].map((name) => ({
        name,
        shape: [1],
        datatype: 'FP64',
        data: [1],
      })),
    };
    const { error, ms } = await failure(at(columns), { payload });
    expect(ms).toBeLessThan(5000);
    expect((error as EndpointError).status).toBe(500);
    expect(error.message).toContain("MlflowException: Model is missing inputs ['petal_width'].");
    expect(error.message).not.toContain('Traceback');
    expect(error.message.length).toBeLessThan(500);
  });
});

describe('kept-alive connections', () => {
  it('a connection the server closed while idle is reconnected without noise', async () => {
    const http = createHttpClient({ connections: 1, timeoutMs: 15_000 });
    const logger = recordingLogger();
    try {
      const caller = new Caller(at(columns), none, { http, logger });
      const ready = () => ({ method: 'GET' as const, path: '/v2/models/iris/ready' });
      await caller.until('readiness', 'v2', ready, Date.now() + 10_000);
      await sleep(5_500); // uvicorn closes idle connections after 5 s
      const r = await caller.until('readiness', 'v2', ready, Date.now() + 10_000);
      expect(r.attempts).toBe(1);
      expect(logger.lines.join('\n')).not.toMatch(/got no answer|other side closed|waiting/);
    } finally {
      await http.close();
    }
  });

  it('a reset on the second, fresh connection is reported', async () => {
    // A server that takes each connection and closes it without answering.
    const port = await freePort();
    let accepted = 0;
    const srv: NetServer = createServer((socket) => {
      accepted++;
      socket.once('data', () => socket.destroy());
    });
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    const http = createHttpClient({ connections: 1, timeoutMs: 5_000 });
    try {
      const caller = new Caller({ baseUrl: `http://127.0.0.1:${port}`, model: 'iris', via: 'test' }, none, {
        http,
        sleep: async () => undefined,
      });
      const error = await caller
        .until('readiness', 'v2', () => ({ method: 'GET', path: '/v2/models/iris/ready' }), Date.now() + 300)
        .catch((e: unknown) => e);
      expect(described(error as Error)).toMatch(/got no answer \(.*(other side closed|ECONNRESET)/);
      expect(accepted).toBeGreaterThanOrEqual(2);
    } finally {
      await http.close();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
