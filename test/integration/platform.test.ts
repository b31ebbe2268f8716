import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { discoverIssuer } from '../../src/kubeflow/platform.js';
import { generateKubeflowBundle, WEBHOOK_BACKENDS } from '../support/kubeflow-bundle.js';
import { startLoadBalancerStandin } from '../support/loadbalancer-standin.js';
import { runAction } from '../support/run-action.js';
import { clusterCaBundle, startWebhookStandins } from '../support/webhook-standin.js';
import { adminClient } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const client = adminClient();
const webhooks = startWebhookStandins(client, dirname(kubeconfig), WEBHOOK_BACKENDS);
const loadBalancers = startLoadBalancerStandin(client);
const bundle = generateKubeflowBundle({ caBundle: clusterCaBundle(dirname(kubeconfig)) });
const file = join(mkdtempSync(join(tmpdir(), 'kfops-platform-')), 'kubeflow.yaml');
writeFileSync(file, bundle.map((o) => dump(o, { lineWidth: -1 })).join('---\n'));
beforeAll(async () => {
  await applyObjects(client, [{ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'kwok-volume' }, provisioner: 'kwok.x-k8s.io/volume', volumeBindingMode: 'Immediate' } as KubeObject], { fieldManager: 'test-setup', force: true });
});
afterAll(async () => {
  loadBalancers.stop();
  await webhooks.stop();
});

const install = () =>
  runAction('install-kubeflow', { 'manifests-file': file, 'default-storage-class': 'kwok-volume', expose: 'loadbalancer', domain: 'sslip', 'm2m-auth': 'true', timeout: '3m' }, { KUBECONFIG: kubeconfig });

describe('exposure and machine-to-machine auth through install-kubeflow', () => {
  it('reads the API server\'s real issuer, which differs from Kubeflow\'s default', async () => {
    const issuer = await discoverIssuer(client);
    expect(issuer).toMatch(/^https:\/\//);
    const declared = bundle.find((o) => o.metadata.name === 'm2m-token-issuer')?.['spec'] as { jwtRules: { issuer: string }[] };
    expect(issuer).not.toBe(declared.jwtRules[0]?.issuer);
  });

  it('exposes the gateway, sets the sslip domain and the m2m issuer, and leaves the JWT requirement as declared', async () => {
    const r = await install();
    expect(r.code, r.log.slice(-3000)).toBe(0);
    const gw = await client.get({ apiVersion: 'v1', kind: 'Service', name: 'istio-ingressgateway', namespace: 'istio-system' });
    expect((gw?.['spec'] as { type: string }).type).toBe('LoadBalancer');
    const ip = (gw?.['spec'] as { clusterIP: string }).clusterIP;
    expect(r.outputs).toMatchObject({ 'gateway-address': ip, 'dashboard-url': `http://${ip}/`, 'knative-domain': `${ip}.sslip.io`, issuer: await discoverIssuer(client) });
    const cm = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'config-domain', namespace: 'knative-serving' });
    expect(cm?.['data']).toMatchObject({ [`${ip}.sslip.io`]: '' });
    const ra = await client.get({ apiVersion: 'security.istio.io/v1beta1', kind: 'RequestAuthentication', name: 'm2m-token-issuer', namespace: 'istio-system' });
    expect((ra?.['spec'] as { jwtRules: { issuer: string; outputClaimToHeaders: unknown[] }[] }).jwtRules[0]).toMatchObject({ issuer: await discoverIssuer(client), outputClaimToHeaders: [{ header: 'kubeflow-userid', claim: 'sub' }] });
    const policy = await client.get({ apiVersion: 'security.istio.io/v1beta1', kind: 'AuthorizationPolicy', name: 'istio-ingressgateway-require-jwt', namespace: 'istio-system' });
    expect(policy?.['spec']).toEqual(bundle.find((o) => o.metadata.name === 'istio-ingressgateway-require-jwt')?.['spec']);
    expect(r.summary).toContain(`Dashboard: http://${ip}/.`);
  });

  it('changes nothing on a second run', async () => {
    const r = await install();
    expect(r.code, r.log.slice(-3000)).toBe(0);
    expect(r.outputs['changed']).toBe('false');
  });
});
