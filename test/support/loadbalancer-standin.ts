/**
 * Stands in for a cloud load-balancer controller on the local control plane: every Service of type
 * LoadBalancer gets its own ClusterIP (a loopback address there) as its load balancer address.
 */
import type { KubeClient } from '../../src/kube/client.js';

export function startLoadBalancerStandin(client: KubeClient, everyMs = 300): { stop(): void } {
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const services = await client.list({ apiVersion: 'v1', kind: 'Service' }).catch(() => ({ items: [] }));
      for (const s of services.items) {
        const spec = s['spec'] as { type?: string; clusterIP?: string };
        const status = s['status'] as { loadBalancer?: { ingress?: unknown[] } } | undefined;
        if (spec.type !== 'LoadBalancer' || status?.loadBalancer?.ingress?.length || !spec.clusterIP) continue;
        await client
          .request('PATCH', `/api/v1/namespaces/${s.metadata.namespace}/services/${s.metadata.name}/status`, {
            body: { status: { loadBalancer: { ingress: [{ ip: spec.clusterIP }] } } },
            contentType: 'application/merge-patch+json',
          })
          .catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return { stop: () => void (stopped = true) };
}
