import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { badInputProblems, tryBadInput, type BadInput } from '../support/bad-inputs.js';

const dir = mkdtempSync(join(tmpdir(), 'kfops-bad-'));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');

const CASES: BadInput[] = [
  { what: 'a missing kubeconfig file', inputs: { kubeconfig: join(dir, 'nope') }, input: 'kubeconfig' },
  {
    what: 'an unknown check',
    inputs: { kubeconfig, checks: 'storage' },
    input: 'checks',
    expect: 'default-storage-class',
  },
  { what: 'fail-on always', inputs: { kubeconfig, 'fail-on': 'always' }, input: 'fail-on', expect: '`never`' },
  { what: 'a zero timeout', inputs: { kubeconfig, timeout: '0s' }, input: 'timeout', expect: 'greater than zero' },
  { what: 'a timeout in words', inputs: { kubeconfig, timeout: 'soon' }, input: 'timeout' },
];

describe('doctor with bad inputs (the bundle as a process, as the runner runs it)', () => {
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await tryBadInput('doctor', c);
    expect(badInputProblems(c, r), r.log).toEqual([]);
  });
});
