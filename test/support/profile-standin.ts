/**
 * Stands in for Kubeflow's profile controller on the local control plane: for each kubeflow.org
 * Profile it creates the namespace of the same name, labelled and annotated as the controller does.
 */
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { KubeObject } from '../../src/kube/types.js';

export function startProfileStandin(client: KubeClient, everyMs = 300): { stop(): void } {
  let stopped = false;
  const tick = async (): Promise<void> => {
    while (!stopped) {
      const profiles = await client
        .list({ apiVersion: 'kubeflow.org/v1', kind: 'Profile' })
        .catch(() => ({ items: [] as KubeObject[] }));
      const namespaces = profiles.items.map(
        (p) =>
          ({
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: {
              name: p.metadata.name,
              labels: { 'app.kubernetes.io/part-of': 'kubeflow-profile', 'istio-injection': 'enabled' },
              annotations: { owner: (p['spec'] as { owner?: { name?: string } })?.owner?.name ?? '' },
            },
          }) as KubeObject,
      );
      if (namespaces.length)
        await applyObjects(client, namespaces, { fieldManager: 'profile-controller-standin', force: true }).catch(
          () => undefined,
        );
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  void tick();
  return { stop: () => void (stopped = true) };
}
