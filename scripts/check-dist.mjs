// Rebuilds dist/ and fails, showing the difference, when the committed bundles do not match the source.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(process.execPath, [resolve(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
const status = spawnSync('git', ['status', '--porcelain', '--', 'dist'], { cwd: root, encoding: 'utf8' });
if (status.status !== 0) {
  console.error(`check-dist: git status failed: ${status.stderr}`);
  process.exit(2);
}
if (status.stdout.trim() !== '') {
  console.error('check-dist: dist/ does not match the source. Run `npm run build` and commit dist/.');
  console.error(status.stdout);
  spawnSync('git', ['--no-pager', 'diff', '--stat', '--', 'dist'], { cwd: root, stdio: 'inherit' });
  spawnSync('git', ['--no-pager', 'diff', '--text', '--', 'dist'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  process.exit(1);
}
console.log('check-dist: dist/ matches the source');
