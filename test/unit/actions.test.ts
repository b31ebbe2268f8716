import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations
import { actionNames, docsFor } from '../../scripts/docs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const names: string[] = await actionNames();

describe.each(names)('action %s', (name) => {
  const meta = load(readFileSync(join(root, 'actions', name, 'action.yml'), 'utf8')) as {
    runs: { using: string; main: string };
    inputs: Record<string, unknown>;
  };

  it('runs its own bundle on node24 and has an entry point', () => {
    expect(meta.runs.using).toBe('node24');
    expect(meta.runs.main).toBe(`../../dist/${name}/index.js`);
    expect(existsSync(join(root, 'src', 'actions', name, 'index.ts'))).toBe(true);
    expect(existsSync(join(root, 'dist', name, 'index.js'))).toBe(true);
  });

  it('declares every input its code reads', async () => {
    // inputs.ts reads every input: by name constants (INPUT) or by literal names.
    const file = join(root, 'src', 'actions', name, 'inputs.ts');
    const code = readFileSync(file, 'utf8');
    const constants = ((await import(file)) as { INPUT?: Record<string, string> }).INPUT;
    const read = constants
      ? Object.values(constants)
      : [...code.matchAll(/inputs\.\w+\('([a-z0-9-]+)'/g)].map((m) => m[1]);
    expect(read.length).toBeGreaterThan(0);
    for (const input of read) expect(Object.keys(meta.inputs), `input ${input}`).toContain(input);
  });

  it('has a README whose input and output tables match action.yml (npm run docs)', async () => {
    const { readme, rendered } = await docsFor(name);
    expect(readme).toBe(rendered);
  });
});
