/** The repository root action.yml: the one-line form of release-models, running the same bundle. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { INPUT } from '../../src/actions/release-models/inputs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
type Meta = {
  runs: { using: string; main: string };
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, unknown>;
};
const meta = (path: string): Meta => load(readFileSync(join(root, path), 'utf8')) as Meta;

describe('root action.yml', () => {
  const top = meta('action.yml');
  const action = meta('actions/release-models/action.yml');

  it('runs the release-models bundle on node24', () => {
    expect(top.runs).toEqual({ using: 'node24', main: 'dist/release-models/index.js' });
  });

  it('has the inline inputs of release-models (not its file selection), with the same defaults, and its outputs', () => {
    const expected = Object.keys(action.inputs).filter((i) => i !== INPUT.files && i !== INPUT.changedSince);
    expect(Object.keys(top.inputs)).toEqual(expected);
    for (const name of expected) expect(top.inputs[name]?.default, name).toBe(action.inputs[name]?.default);
    expect(top.inputs['service']?.required).toBe(true);
    expect(Object.keys(top.outputs)).toEqual(Object.keys(action.outputs));
  });
});
