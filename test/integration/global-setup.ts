import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const clusterDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'cluster');

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

/**
 * Starts the local control plane once for the run (building it on first use) or reuses one that is
 * already up. If it cannot start, the run fails here: integration tests are never skipped silently.
 * A control plane this setup started is stopped at the end unless KFOPS_KEEP_CLUSTER=1.
 */
export default function setup(project: TestProject): () => void {
  const status = spawnSync('bash', [join(clusterDir, 'status.sh')], { encoding: 'utf8' });
  let started = false;
  let kubeconfig = status.stdout.trim();
  if (status.status !== 0) {
    console.log('integration: starting the local control plane (npm run cluster:up)');
    const up = spawnSync('bash', [join(clusterDir, 'up.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (up.status !== 0) {
      throw new Error(
        `integration: the local Kubernetes control plane did not start (test/cluster/up.sh exited ${up.status}); see the log above`,
      );
    }
    started = true;
    kubeconfig = execFileSync('bash', [join(clusterDir, 'status.sh')], { encoding: 'utf8' }).trim();
  } else {
    console.log(`integration: reusing the local control plane (${kubeconfig})`);
  }
  project.provide('kubeconfig', kubeconfig);
  return () => {
    if (started && process.env['KFOPS_KEEP_CLUSTER'] !== '1') {
      spawnSync('bash', [join(clusterDir, 'down.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    }
  };
}
