/**
 * Which releases a run makes: one given inline, or the release files (all that match the globs, or only
 * those changed since a ref). Every file is read and checked before anything is deployed, and two files
 * may not release the same service.
 */
import type { Logger } from '../common/logger.js';
import { changedReleaseFiles, listReleaseFiles } from './discover.js';
import { readReleaseFile, ReleaseFileError, type ReleaseSpec } from './file.js';

export type Which = { kind: 'inline'; spec: ReleaseSpec } | { kind: 'files'; globs: string[]; changedSince?: string };

export interface Selection {
  specs: ReleaseSpec[];
  /** Why nothing is released, when specs is empty. */
  note?: string;
}

export async function selectReleases(which: Which, cwd: string, logger: Logger): Promise<Selection> {
  if (which.kind === 'inline') return { specs: [which.spec] };
  let files: string[];
  let note: string;
  if (which.changedSince) {
    const changed = await changedReleaseFiles(which.changedSince, which.globs, cwd);
    files = changed.files;
    if (changed.deleted.length)
      logger.info(
        `release files deleted since ${which.changedSince} (nothing to release): ${changed.deleted.join(', ')}`,
      );
    note = `No release file matching ${which.globs.join(', ')} changed since ${which.changedSince}.`;
  } else {
    files = listReleaseFiles(which.globs, cwd);
    note = `No file matches ${which.globs.join(', ')}.`;
  }
  logger.info(files.length ? `release files: ${files.join(', ')}` : note);
  const specs = files.map((f) => readReleaseFile(f, cwd));
  const seen = new Map<string, string>();
  for (const s of specs) {
    const key = `${s.namespace}/${s.service}`;
    const other = seen.get(key);
    if (other)
      throw new ReleaseFileError(
        s.file as string,
        'service',
        s.service,
        `a service no other release file names in namespace ${s.namespace} (${other} releases ${key} too)`,
      );
    seen.set(key, s.file as string);
  }
  return specs.length ? { specs } : { specs, note };
}
