import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The cached virtualenv for test/python/<name>.txt (created on first use); its bin/ holds the servers. */
export function pythonEnv(name: string): string {
  return execFileSync('bash', [join(root, 'scripts', 'python-env.sh'), name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  }).trim();
}
