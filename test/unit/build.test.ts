import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations
import { buildAll, findEntries } from '../../scripts/build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = mkdtempSync(join(tmpdir(), 'kfops-dist-'));

function runAction(env: Record<string, string>): { status: number | null; stdout: string; output: string } {
  const outputFile = join(mkdtempSync(join(tmpdir(), 'kfops-out-')), 'output');
  writeFileSync(outputFile, '');
  const r = spawnSync(process.execPath, [join(out, 'fixture', 'index.js')], {
    env: { PATH: process.env['PATH'] ?? '', GITHUB_OUTPUT: outputFile, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout + r.stderr, output: readFileSync(outputFile, 'utf8') };
}

describe('the action bundle build', () => {
  beforeAll(async () => {
    await buildAll(join(root, 'test/fixtures/actions'), out, () => undefined);
  }, 120_000);

  it('finds every folder with an index.ts as an action', async () => {
    expect(await findEntries(join(root, 'test/fixtures/actions'))).toEqual(['fixture']);
  });

  it('writes an ESM bundle that runs on its own and sets outputs', () => {
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8'))).toEqual({ type: 'module' });
    const r = runAction({ INPUT_NAME: 'kfops', INPUT_TIMEOUT: '90s', INPUT_TOKEN: 's3cr3t' });
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/^greeting<<ghadelimiter_[\w-]+\nhello kfops within 90000ms\n/);
    // The secret is registered for masking before it is ever printed.
    const mask = r.stdout.indexOf('::add-mask::s3cr3t');
    expect(mask).toBeGreaterThanOrEqual(0);
    expect(mask).toBeLessThan(r.stdout.indexOf('using token'));
  });

  it('fails the step with the action name and the input error, without a stack trace', () => {
    const r = runAction({ INPUT_NAME: 'x', INPUT_TIMEOUT: 'soon' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      '::error::fixture: Input \'timeout\' has the value "soon": expected a duration such as 90s',
    );
    expect(r.stdout).not.toMatch(/at .*main\.ts/);
  });

  it('fails the step when something that is not an Error is thrown', () => {
    const r = runAction({ INPUT_MODE: 'non-error' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('::error::fixture: non-Error value thrown: {"weird":true}');
  });

  it('prints a domain error with its cause and fix', () => {
    const r = runAction({ INPUT_MODE: 'domain' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      '::error::fixture: PVC kubeflow/minio-pvc is Pending%0ACause: no default StorageClass%0AFix: set default-storage-class',
    );
  });

  it('reports a missing required input by name', () => {
    const r = runAction({});
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("::error::fixture: Input 'name' is required: expected a non-empty value.");
  });

  it('with only, replaces just the bundles named and leaves the others', async () => {
    const dist = mkdtempSync(join(tmpdir(), 'kfops-dist-only-'));
    mkdirSync(join(dist, 'other'));
    writeFileSync(join(dist, 'other', 'index.js'), '// another action\n');
    // No action is named "absent": nothing is built, and nothing else is removed.
    expect(await buildAll(join(root, 'test/fixtures/actions'), dist, () => undefined, ['absent'])).toEqual([]);
    expect(readFileSync(join(dist, 'other', 'index.js'), 'utf8')).toBe('// another action\n');
  });
});
