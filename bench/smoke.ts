/**
 * npm run bench:smoke: the smoke test's load phase (src/inference/load.ts over the pooled undici client)
 * against autocannon, an established HTTP load generator, on the same local model server at the same
 * concurrency, with the same request (a real inference call). Prints both throughputs and latency
 * percentiles and the ratio; the target is that the smoke test's client sustains at least 80 % of the
 * reference's throughput, so that its latency figures measure the model, not the client.
 *
 * Both clients run in this process, one after the other, in alternating order over several rounds
 * (the median is reported), after a warm-up, so that neither gets a warmer server or a quieter machine.
 *
 * Options: --server kserve|mlserver (default kserve: KServe's model server with the test model;
 * mlserver: MLServer with the MLflow model), --protocol v1|v2 (kserve only; default v1),
 * --concurrency N (default 8), --requests N per run (default 3000), --rounds N (default 3).
 */
import autocannon from 'autocannon';
import { createHttpClient } from '../src/inference/http.js';
import { runLoad, type LoadResult } from '../src/inference/load.js';
import { pathsFor, requestBody, type Protocol } from '../src/inference/protocol.js';
import { startKserveModel, startMlflowModel, type ModelServer } from '../test/support/model-servers.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const serverKind = arg('server', 'kserve');
const protocol = (serverKind === 'mlserver' ? 'v2' : arg('protocol', 'v1')) as Protocol;
const concurrency = Number(arg('concurrency', '8'));
const requests = Number(arg('requests', '3000'));
const rounds = Number(arg('rounds', '3'));

interface Figures {
  throughput: number;
  p50: number;
  /** The action reports p95; autocannon reports p90 and p97.5, not p95. */
  p95: number;
  p90: number;
  p99: number;
  errors: number;
  requests: number;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main(): Promise<void> {
  console.log(
    `bench:smoke: starting ${serverKind === 'mlserver' ? 'MLServer with the MLflow model' : "KServe's model server with the test model"} on 127.0.0.1`,
  );
  const server: ModelServer =
    serverKind === 'mlserver' ? await startMlflowModel('wine') : await startKserveModel({ model: 'iris', quiet: true });
  try {
    const rows =
      serverKind === 'mlserver'
        ? [
            { x: 0.9, y: 0.8 },
            { x: 0.1, y: 0.2 },
          ]
        : [
            [1, 2],
            [3, 4],
          ];
    const body = JSON.stringify(requestBody(protocol, rows, { datatype: 'FP64' }));
    const url = server.url + pathsFor(protocol, server.model).infer;
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    console.log(
      `request: POST ${url} (${body.length} bytes); ${requests} calls per run, concurrency ${concurrency}, ${rounds} round(s)`,
    );

    const kfops = async (n: number): Promise<Figures> => {
      const http = createHttpClient({ connections: concurrency });
      try {
        const r: LoadResult = await runLoad(http, { method: 'POST', url, headers, body }, { requests: n, concurrency });
        return {
          throughput: r.throughput,
          p50: r.latency?.p50 ?? NaN,
          p95: r.latency?.p95 ?? NaN,
          p90: NaN,
          p99: r.latency?.p99 ?? NaN,
          errors: r.failed,
          requests: r.requests,
        };
      } finally {
        await http.close();
      }
    };
    const reference = async (n: number): Promise<Figures> => {
      // autocannon ends its run on its next 1 s sampling tick, so its own duration (and the wall time
      // of the call) can be up to a second long; the last answer's time is when the work was done.
      const t0 = performance.now();
      let last = t0;
      const r = await new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon(
          { url, method: 'POST', headers, body, connections: concurrency, amount: n, pipelining: 1 },
          (error, result) => (error ? reject(error) : resolve(result)),
        );
        instance.on('response', () => {
          last = performance.now();
        });
      });
      const wall = last - t0;
      const completed = r['2xx'] + r.non2xx;
      return {
        throughput: (completed * 1000) / wall,
        p50: r.latency.p50,
        p95: NaN,
        p90: r.latency.p90,
        p99: r.latency.p99,
        errors: r.errors + r.non2xx,
        requests: completed + r.errors,
      };
    };

    await kfops(Math.min(500, requests));
    await reference(Math.min(500, requests));
    const a: Figures[] = [];
    const b: Figures[] = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        a.push(await kfops(requests));
        b.push(await reference(requests));
      } else {
        b.push(await reference(requests));
        a.push(await kfops(requests));
      }
      console.log(
        `round ${i + 1}: smoke-test-endpoint ${(a[i] as Figures).throughput.toFixed(0)} req/s, autocannon ${(b[i] as Figures).throughput.toFixed(0)} req/s`,
      );
    }
    const sum = (xs: Figures[], k: keyof Figures): number => median(xs.map((x) => x[k]));
    const line = (name: string, xs: Figures[], p95label: string): string =>
      `${name.padEnd(22)} ${sum(xs, 'throughput').toFixed(0).padStart(8)} req/s   p50 ${sum(xs, 'p50').toFixed(2).padStart(7)} ms   ${p95label}   p99 ${sum(xs, 'p99').toFixed(2).padStart(7)} ms   errors ${xs.reduce((t, x) => t + x.errors, 0)}/${xs.reduce((t, x) => t + x.requests, 0)}`;
    const ours = sum(a, 'throughput');
    const theirs = sum(b, 'throughput');
    console.log('');
    console.log(
      `median of ${rounds} round(s), ${requests} calls each, concurrency ${concurrency}, ${serverKind} ${protocol}:`,
    );
    console.log(line('smoke-test-endpoint', a, `p95 ${sum(a, 'p95').toFixed(2).padStart(7)} ms`));
    console.log(line('autocannon', b, `p90 ${sum(b, 'p90').toFixed(2).padStart(7)} ms`));
    const perRound = median(a.map((x, i) => x.throughput / (b[i] as Figures).throughput));
    console.log(
      `ratio (smoke-test-endpoint / autocannon throughput): ${((ours / theirs) * 100).toFixed(1)} % of the medians, ${(perRound * 100).toFixed(1)} % median per round (target >= 80 %)`,
    );
  } finally {
    await server.stop();
  }
}

await main();
