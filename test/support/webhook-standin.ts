/**
 * Stands in for the pods behind admission webhook Services on the local control plane, where no
 * container runs. Service ClusterIPs there are loopback addresses, so once a backend Deployment is
 * Available (kwok marks its pods Ready), this serves the webhook on the Service's ClusterIP and port
 * with a certificate for <service>.<namespace>.svc signed by the cluster CA, and allows every request.
 * Pods it admits on creation (only mutating webhooks intercept Pods in the bundle, e.g. Istio's sidecar
 * injector) get the annotation MUTATED_BY naming the Service, as a sidecar injector marks the pods it
 * injected, so a test can count pods that were created before their webhook was in place.
 * A backend whose Deployment never becomes Available never answers, as on a real cluster.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../../src/kube/client.js';
import { deploymentRule, type ReadinessRule } from '../../src/kube/readiness.js';
import { waitFor } from '../../src/kube/wait.js';

/** Annotation the stand-ins put on Pods they admit: the namespace/name of the webhook Service. */
export const MUTATED_BY = 'webhook-standin.kfops.test/mutated-by';

interface AdmissionRequest {
  uid?: string;
  operation?: string;
  resource?: { resource?: string };
  object?: { metadata?: { annotations?: Record<string, string> } };
}

/** The AdmissionReview response: allowed, with a JSONPatch marking a created Pod. */
function admit(request: AdmissionRequest | undefined, id: string): Record<string, unknown> {
  const response: Record<string, unknown> = { uid: request?.uid ?? '', allowed: true };
  if (request?.resource?.resource === 'pods' && request.operation === 'CREATE') {
    const annotations = request.object?.metadata?.annotations;
    const patch = annotations
      ? [{ op: 'add', path: `/metadata/annotations/${MUTATED_BY.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: id }]
      : [{ op: 'add', path: '/metadata/annotations', value: { [MUTATED_BY]: id } }];
    response['patchType'] = 'JSONPatch';
    response['patch'] = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  return response;
}

export interface Backend {
  namespace: string;
  service: string;
  deployment: string;
}

export interface Standins {
  /** AdmissionReview requests answered, per Service (namespace/name). */
  calls: Map<string, number>;
  stop(): Promise<void>;
}

/** base64 of the cluster CA certificate, for webhook caBundle fields. */
export function clusterCaBundle(clusterDir: string): string {
  return readFileSync(join(clusterDir, 'pki', 'ca.crt')).toString('base64');
}

function servingCert(clusterDir: string, dnsName: string, ip: string): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'kfops-hook-'));
  const pki = join(clusterDir, 'pki');
  writeFileSync(join(dir, 'ext'), `subjectAltName=DNS:${dnsName},IP:${ip}\nextendedKeyUsage=serverAuth\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key'), '-subj', `/CN=${dnsName}`, '-out', join(dir, 'csr')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'csr'), '-CA', join(pki, 'ca.crt'), '-CAkey', join(pki, 'ca.key'), '-CAcreateserial', '-CAserial', join(dir, 'srl'), '-days', '2', '-extfile', join(dir, 'ext'), '-out', join(dir, 'crt')], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'key')), cert: readFileSync(join(dir, 'crt')) };
}

const hasClusterIP: ReadinessRule = {
  name: 'Service has a ClusterIP',
  check: (o) => ((o['spec'] as { clusterIP?: string } | undefined)?.clusterIP ? { state: 'ready', message: 'has a ClusterIP' } : { state: 'pending', message: 'no ClusterIP yet' }),
};

export function startWebhookStandins(client: KubeClient, clusterDir: string, backends: readonly Backend[]): Standins {
  const calls = new Map<string, number>();
  const servers: Server[] = [];
  let stopped = false;
  const serve = async (b: Backend): Promise<void> => {
    // The serving certificate is made as soon as the Service has its ClusterIP, as a pod would have
    // its certificate before it reports ready; the server listens once the Deployment is Available.
    const svc = await waitFor(client, { apiVersion: 'v1', kind: 'Service', name: b.service, namespace: b.namespace }, hasClusterIP, { timeoutMs: 600_000 });
    const spec = svc['spec'] as { clusterIP?: string; ports?: { port: number }[] } | undefined;
    if (stopped || !spec?.clusterIP) return;
    const { key, cert } = servingCert(clusterDir, `${b.service}.${b.namespace}.svc`, spec.clusterIP);
    await waitFor(client, { apiVersion: 'apps/v1', kind: 'Deployment', name: b.deployment, namespace: b.namespace }, deploymentRule, { timeoutMs: 600_000 });
    if (stopped) return;
    const id = `${b.namespace}/${b.service}`;
    const server = createServer({ key, cert }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls.set(id, (calls.get(id) ?? 0) + 1);
        const review = JSON.parse(body || '{}') as { request?: AdmissionRequest };
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: admit(review.request, id) }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(spec.ports?.[0]?.port ?? 443, spec.clusterIP, () => resolve());
    });
    servers.push(server);
  };
  const running = backends.map((b) => serve(b).catch(() => undefined));
  return {
    calls,
    async stop() {
      stopped = true;
      await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 100))]);
      const closed = servers.map((s) => new Promise((r) => s.close(() => r(undefined))));
      // The API server keeps connections alive; close them or close() waits for their timeout.
      for (const s of servers) s.closeAllConnections();
      await Promise.all(closed);
    },
  };
}
