import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import type { Logger } from '../../src/common/logger.js';
import { applyObjects } from '../../src/kube/apply.js';
import { KubeClient } from '../../src/kube/client.js';
import { DEFAULT_CLASS_ANNOTATION } from '../../src/kubeflow/preflight.js';

const clusterDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'cluster');

/** A client for the local control plane's admin (system:masters). */
export function adminClient(): KubeClient {
  return KubeClient.fromSources({ kubeconfig: inject('kubeconfig') });
}

/** A client for a restricted user (client certificate CN=user, O=groups): RBAC applies. */
export function userClient(user: string, groups: string[] = []): KubeClient {
  const path = execFileSync('bash', [join(clusterDir, 'user-kubeconfig.sh'), user, ...groups], {
    encoding: 'utf8',
  }).trim();
  return KubeClient.fromSources({ kubeconfig: path });
}

/** A namespace name unique to this run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4).toString(36)}`.toLowerCase();
}

/** A logger that keeps every line, for assertions on progress output. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug: ${m}`),
    info: (m) => lines.push(`info: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: async (name, fn) => {
      lines.push(`group: ${name}`);
      return fn();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Makes kwok-volume the cluster's default StorageClass (the Kubeflow render's PVCs name no class; the
 * action's preflight does the same on a real cluster with input default-storage-class).
 */
export async function ensureDefaultStorageClass(client: KubeClient): Promise<void> {
  await applyObjects(
    client,
    [
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'kwok-volume', annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
        provisioner: 'kwok.x-k8s.io/volume',
        volumeBindingMode: 'Immediate',
      },
    ],
    { fieldManager: 'test-setup', force: true },
  );
}
