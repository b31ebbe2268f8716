/**
 * Which release files a run releases: every file matching the globs, or only those a change touched
 * (`git diff --name-only <base>...HEAD`: the files changed on HEAD's side since it forked from base,
 * which is what a pull request or a push changes).
 */
import { globSync } from 'node:fs';
import { posix } from 'node:path';
import { KfopsError } from '../common/errors.js';
import { nodeExec, type ExecRunner } from '../common/exec.js';

/** A git revision a user may give: no spaces, no leading '-' (never read as an option). */
export const REF_PATTERN = /^(?!-)[\w./@^~{}-]+$/;
export const REF_FORM =
  'a git commit SHA or ref (e.g. origin/main or ${{ github.event.pull_request.base.sha }}), without spaces or a leading -';

/** Normalizes a glob (or path) as written by a user: forward slashes, no leading ./ */
const normal = (p: string): string => p.replace(/\\/g, '/').replace(/^(\.\/)+/, '');

export function matchesAny(path: string, globs: readonly string[]): boolean {
  const p = normal(path);
  return globs.some((g) => posix.matchesGlob(p, normal(g)));
}

/** Files under `cwd` matching the globs (paths relative to cwd, sorted, each once). */
export function listReleaseFiles(globs: readonly string[], cwd: string): string[] {
  const found = new Set<string>();
  for (const g of globs) for (const f of globSync(normal(g), { cwd })) found.add(normal(f));
  return [...found].sort();
}

/**
 * Release files changed between `base` and HEAD (three dots: since the merge base), that still exist
 * on HEAD (a deleted release file releases nothing), filtered by the globs.
 */
export async function changedReleaseFiles(
  base: string,
  globs: readonly string[],
  cwd: string,
  exec: ExecRunner = nodeExec,
): Promise<{ files: string[]; deleted: string[] }> {
  if (!REF_PATTERN.test(base))
    throw new Error(`changedReleaseFiles: ${JSON.stringify(base)} is not a ref; this is a bug`);
  const r = await exec('git', ['diff', '--name-status', '--no-renames', '-z', `${base}...HEAD`, '--'], { cwd });
  if (r.code !== 0) {
    const stderr = r.stderr.trim().split('\n').slice(0, 3).join(' ');
    const unknown =
      /unknown revision|bad revision|no merge base|ambiguous argument|invalid symmetric difference|bad object/i.test(
        stderr,
      );
    throw new KfopsError(`git could not list the files changed since ${base}`, {
      cause: stderr || `git diff exited ${r.code}`,
      fix: unknown
        ? `fetch the history that holds ${base} (actions/checkout with fetch-depth: 0), or pass changed-since a commit that exists in this checkout`
        : 'run the action in a checkout of the repository (actions/checkout) with git on PATH',
    });
  }
  // -z: "<status>\0<path>\0" pairs.
  const parts = r.stdout.split('\0').filter((s) => s !== '');
  const files: string[] = [];
  const deleted: string[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const status = parts[i] as string;
    const path = normal(parts[i + 1] as string);
    if (!matchesAny(path, globs)) continue;
    (status.startsWith('D') ? deleted : files).push(path);
  }
  return { files: [...new Set(files)].sort(), deleted: [...new Set(deleted)].sort() };
}
