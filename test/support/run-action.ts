/**
 * Runs an action the way the runner does: a separate Node process with INPUT_* variables, GITHUB_OUTPUT
 * and GITHUB_STEP_SUMMARY files. By default it runs the TypeScript entry point through tsx (so tests
 * exercise the current source); with KFOPS_ACTION_FROM_DIST=1 it runs the committed dist bundle, and
 * with KFOPS_DIST_DIR=<dir> the bundle built there (`node scripts/build.mjs --only <name> --out <dir>`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ActionRun {
  code: number;
  /** stdout and stderr, interleaved as they came. */
  log: string;
  outputs: Record<string, string>;
  summary: string;
}

function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([^<\n]+)<<(ghadelimiter_[\w-]+)\n([\s\S]*?)\n\2$/gm;
  for (const m of text.matchAll(re)) out[m[1] as string] = m[3] as string;
  return out;
}

export async function runAction(
  name: string,
  inputs: Record<string, string>,
  env: Record<string, string> = {},
  onLine?: (line: string) => void,
): Promise<ActionRun> {
  const dir = mkdtempSync(join(tmpdir(), `kfops-${name}-`));
  const outputFile = join(dir, 'output');
  const summaryFile = join(dir, 'summary');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  // As the runner does: every input with a default in action.yml is set when the step does not give it.
  const meta = load(readFileSync(join(root, 'actions', name, 'action.yml'), 'utf8')) as {
    inputs?: Record<string, { default?: unknown }>;
  };
  const defaults = Object.entries(meta.inputs ?? {}).flatMap(([k, i]) =>
    i.default === undefined ? [] : [[k, String(i.default)] as const],
  );
  const inputEnv = Object.fromEntries(
    [...defaults, ...Object.entries(inputs)].map(([k, v]) => [`INPUT_${k.replace(/ /g, '_').toUpperCase()}`, v]),
  );
  const setting = (name: string): string | undefined => env[name] ?? process.env[name];
  const distDir = setting('KFOPS_DIST_DIR') ?? join(root, 'dist');
  const fromDist = setting('KFOPS_ACTION_FROM_DIST') === '1' || setting('KFOPS_DIST_DIR') !== undefined;
  const args = fromDist
    ? [join(distDir, name, 'index.js')]
    : [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'src', 'actions', name, 'index.ts')];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      RUNNER_TEMP: dir,
      ...inputEnv,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const take = (chunk: Buffer): void => {
    const text = chunk.toString();
    log += text;
    if (onLine) for (const l of text.split('\n')) if (l) onLine(l);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  return {
    code,
    log,
    outputs: parseOutputs(readFileSync(outputFile, 'utf8')),
    summary: readFileSync(summaryFile, 'utf8'),
  };
}
