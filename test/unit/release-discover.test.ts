/** Changed-file discovery on a real git repository in a temporary directory. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KfopsError } from '../../src/common/errors.js';
import { changedReleaseFiles, listReleaseFiles, matchesAny, REF_PATTERN } from '../../src/release/discover.js';

let repo: string;
const git = (...args: string[]): string =>
  execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  }).trim();
const write = (path: string, text: string): void => {
  mkdirSync(join(repo, path, '..'), { recursive: true });
  writeFileSync(join(repo, path), text);
};
let mainSha: string;

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'kfops-release-git-'));
  git('init', '-q', '-b', 'main');
  write('models/wine.yaml', 'service: wine\n');
  write('models/iris.yaml', 'service: iris\n');
  write('models/old.yaml', 'service: old\n');
  write('README.md', '# r\n');
  git('add', '.');
  git('commit', '-qm', 'base');
  mainSha = git('rev-parse', 'HEAD');
  git('checkout', '-qb', 'pr');
  write('models/wine.yaml', 'service: wine\ncanary: 10\n');
  write('models/new one.yaml', 'service: new\n');
  write('models/payloads/wine.json', '[]');
  write('README.md', '# r2\n');
  rmSync(join(repo, 'models/old.yaml'));
  git('add', '-A');
  git('commit', '-qm', 'pr');
  // main moves on after the fork: its own changes are not the pull request's (three dots).
  git('checkout', '-q', 'main');
  write('models/iris.yaml', 'service: iris\ncanary: 5\n');
  git('commit', '-qam', 'main moves');
  git('checkout', '-q', 'pr');
});
afterAll(() => rmSync(repo, { recursive: true, force: true }));

describe('changed release files (git diff base...HEAD)', () => {
  it('lists the files the branch changed since it forked, filtered by the globs; deletions apart', async () => {
    const r = await changedReleaseFiles('main', ['models/*.yaml'], repo);
    expect(r).toEqual({ files: ['models/new one.yaml', 'models/wine.yaml'], deleted: ['models/old.yaml'] });
    expect(await changedReleaseFiles(mainSha, ['./models/*.yaml', 'models/**/*.json'], repo)).toEqual({
      files: ['models/new one.yaml', 'models/payloads/wine.json', 'models/wine.yaml'],
      deleted: ['models/old.yaml'],
    });
  });

  it('nothing changed: no files', async () => {
    expect(await changedReleaseFiles('HEAD', ['models/*.yaml'], repo)).toEqual({ files: [], deleted: [] });
  });

  it('an unknown base says to fetch the history', async () => {
    const e = await changedReleaseFiles('0123456789abcdef0123456789abcdef01234567', ['models/*.yaml'], repo).catch(
      (x: unknown) => x as KfopsError,
    );
    expect(e).toBeInstanceOf(KfopsError);
    expect((e as KfopsError).message).toBe(
      'git could not list the files changed since 0123456789abcdef0123456789abcdef01234567',
    );
    expect((e as KfopsError).details.fix).toContain('fetch-depth: 0');
  });

  it('outside a repository the fix says to check it out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfops-no-git-'));
    try {
      const e = (await changedReleaseFiles('main', ['*.yaml'], dir).catch((x: unknown) => x)) as KfopsError;
      expect(e.details.fix).toContain('actions/checkout');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists every file matching the globs, each once, sorted', () => {
    expect(listReleaseFiles(['models/*.yaml', 'models/wine.yaml'], repo)).toEqual([
      'models/iris.yaml',
      'models/new one.yaml',
      'models/wine.yaml',
    ]);
    expect(listReleaseFiles(['nothing/*.yaml'], repo)).toEqual([]);
  });

  it('refs that could be read as options are not refs', () => {
    expect(REF_PATTERN.test('--output=/tmp/x')).toBe(false);
    expect(REF_PATTERN.test('origin/main')).toBe(true);
    expect(REF_PATTERN.test('a b')).toBe(false);
    expect(matchesAny('./models/a.yaml', ['models/*.yaml'])).toBe(true);
    expect(matchesAny('models/a/b.yaml', ['models/*.yaml'])).toBe(false);
  });
});
