import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeFailedRunSummary } from '../../src/actions/summary.js';
import { KfopsError } from '../../src/common/errors.js';

describe('the job summary of a failed run', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
    core.summary.emptyBuffer();
  });

  it('has the heading, the body, then the error with its cause and fix, URL credentials redacted', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kfops-summary-')), 'summary.md');
    writeFileSync(file, '');
    vi.stubEnv('GITHUB_STEP_SUMMARY', file);
    const error = new KfopsError('git clone of https://bot:tok-5ecret@git.example.com/m.git failed (exit 128)', {
      cause: 'fatal: unable to access https://bot:tok-5ecret@git.example.com/m.git/',
      fix: 'check that the runner can reach the repository',
    });
    await writeFailedRunSummary('install-kubeflow failed', error, (s) => s.addRaw('It failed at "render".', true));
    const text = readFileSync(file, 'utf8');
    expect(text.indexOf('<h2>install-kubeflow failed</h2>')).toBe(0);
    expect(text).toContain('It failed at "render".');
    expect(text.indexOf('It failed at')).toBeLessThan(text.indexOf('Error:'));
    expect(text).toContain('git clone of https://***@git.example.com/m.git failed (exit 128)');
    expect(text).toContain('Cause: fatal: unable to access https://***@git.example.com/m.git/');
    expect(text).toContain('Fix: check that the runner can reach the repository');
    expect(text).not.toContain('tok-5ecret');
  });

  it('that cannot be written is a warning, not an error that hides the run failure', async () => {
    vi.spyOn(core.summary, 'write').mockRejectedValue(new Error('Unable to access summary file'));
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    await expect(writeFailedRunSummary('setup-gke failed', new Error('boom'))).resolves.toBeUndefined();
    expect(out.join('')).toContain('::warning::job summary not written: Unable to access summary file');
  });
});
