/**
 * npm run bench:start: how long an action's bundle takes to start and to fail on a bad input, against
 * plain Node starting an empty script (the lower bound of any Node action), and its peak memory.
 * Each action's dist bundle runs as the runner runs it, with one bad input that fails in its first
 * lines (so the time is the bundle's load plus the input check). Median of --runs N (default 7).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --dist DIR measures the bundles built there (`node scripts/build.mjs --only <name> --out DIR`), e.g. before/after.
const distAt = process.argv.indexOf('--dist');
const dist = distAt > 0 ? (process.argv[distAt + 1] as string) : join(root, 'dist');
const runsAt = process.argv.indexOf('--runs');
const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 7;
if (!Number.isInteger(runs) || runs < 1)
  throw new Error(`--runs takes a positive integer, got ${process.argv[runsAt + 1]}`);

/** A bad input per action: a timeout of zero, refused before anything else happens. */
const BAD: Record<string, Record<string, string>> = {
  'install-kubeflow': { INPUT_TIMEOUT: '0s' },
  'setup-gke': { INPUT_TIMEOUT: '0s' },
  'deploy-inferenceservice': { INPUT_TIMEOUT: '0s' },
  'smoke-test-endpoint': { INPUT_TIMEOUT: '0s' },
};

const dir = mkdtempSync(join(tmpdir(), 'kfops-bench-start-'));
const empty = join(dir, 'empty.mjs');
writeFileSync(empty, '');
const out = join(dir, 'out');
writeFileSync(out, '');

/** Wall time (ms) and peak resident memory (MiB) of one run, from GNU time when present. */
function once(args: string[], env: Record<string, string>): { ms: number; mib: number | undefined } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], {
    env: { PATH: process.env['PATH'] ?? '', GITHUB_OUTPUT: out, GITHUB_STEP_SUMMARY: out, ...env },
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const kib = Number(/(\d+)\s*$/.exec(r.stderr ?? '')?.[1]);
  return { ms, mib: Number.isFinite(kib) ? kib / 1024 : undefined };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function measure(args: string[], env: Record<string, string> = {}): { ms: number; mib: number | undefined } {
  const all = Array.from({ length: runs }, () => once(args, env));
  const mibs = all.flatMap((r) => (r.mib === undefined ? [] : [r.mib]));
  return { ms: median(all.map((r) => r.ms)), mib: mibs.length ? median(mibs) : undefined };
}

const base = measure([empty]);
console.log(
  `plain Node, empty script: ${base.ms.toFixed(0)} ms, ${base.mib?.toFixed(0) ?? '?'} MiB (median of ${runs})`,
);
console.log('| action | bundle | bad input to exit | x plain Node | peak memory | x plain Node |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const name of readdirSync(dist).filter((n) => BAD[n])) {
  const r = measure([join(dist, name, 'index.js')], BAD[name] as Record<string, string>);
  const size = spawnSync('du', ['-k', join(dist, name, 'index.js')], { encoding: 'utf8' }).stdout.split('\t')[0];
  console.log(
    `| ${name} | ${(Number(size) / 1024).toFixed(1)} MiB | ${r.ms.toFixed(0)} ms | ${(r.ms / base.ms).toFixed(1)}x | ${r.mib?.toFixed(0) ?? '?'} MiB | ${r.mib && base.mib ? (r.mib / base.mib).toFixed(1) : '?'}x |`,
  );
}
