import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { discoverIssuer } from '../../src/kubeflow/platform.js';
import { startCaInjector } from '../support/ca-injector.js';
import { kubeflowRenderPath, loadKubeflowRender } from '../support/kubeflow-render.js';
import { startLoadBalancerStandin } from '../support/loadbalancer-standin.js';
import { runAction, type ActionRun } from '../support/run-action.js';
import { startWebhookStandins } from '../support/webhook-standin.js';
import { adminClient } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const client = adminClient();
const render = loadKubeflowRender();
// The example render has no m2m-token-issuer (it uses oauth2-proxy's m2m-dex-only overlay); a platform
// that accepts ServiceAccount tokens installs one of the other m2m overlays with it, whose
// RequestAuthentication points at Kubernetes' default issuer. That object is added here.
const m2mIssuer: KubeObject = {
  apiVersion: 'security.istio.io/v1beta1',
  kind: 'RequestAuthentication',
  metadata: { name: 'm2m-token-issuer', namespace: 'istio-system' },
  spec: {
    selector: { matchLabels: { app: 'istio-ingressgateway' } },
    jwtRules: [
      {
        issuer: 'https://kubernetes.default.svc.cluster.local',
        forwardOriginalToken: true,
        outputClaimToHeaders: [
          { header: 'kubeflow-userid', claim: 'sub' },
          { header: 'kubeflow-groups', claim: 'groups' },
        ],
      },
    ],
  },
};
const file = join(mkdtempSync(join(tmpdir(), 'kfops-platform-')), 'kubeflow.yaml');
writeFileSync(file, `${readFileSync(kubeflowRenderPath(), 'utf8')}\n---\n${dump(m2mIssuer, { lineWidth: -1 })}`);

const webhooks = startWebhookStandins(client, dirname(kubeconfig), render);
const caInjector = startCaInjector(client, dirname(kubeconfig));
const loadBalancers = startLoadBalancerStandin(client);
const inputs = {
  'default-storage-class': 'kwok-volume',
  expose: 'loadbalancer',
  domain: 'sslip',
  'm2m-auth': 'true',
  timeout: '4m',
};
const install = (manifests = file): Promise<ActionRun> =>
  runAction('install-kubeflow', { ...inputs, 'manifests-file': manifests }, { KUBECONFIG: kubeconfig });
let first: ActionRun;
beforeAll(async () => {
  await applyObjects(
    client,
    [
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'kwok-volume' },
        provisioner: 'kwok.x-k8s.io/volume',
        volumeBindingMode: 'Immediate',
      } as KubeObject,
    ],
    { fieldManager: 'test-setup', force: true },
  );
  // The one full install of this file; the tests below check its result and run it again.
  first = await install();
}, 300_000);
afterAll(async () => {
  loadBalancers.stop();
  await caInjector.stop();
  await webhooks.stop();
});

describe('exposure and machine-to-machine auth through install-kubeflow', () => {
  it("reads the API server's real issuer, which differs from Kubeflow's default", async () => {
    const issuer = await discoverIssuer(client);
    expect(issuer).toMatch(/^https:\/\//);
    expect(issuer).not.toBe((m2mIssuer['spec'] as { jwtRules: { issuer: string }[] }).jwtRules[0]?.issuer);
  });

  it('exposes the gateway, sets the sslip domain and the m2m issuer, and leaves the JWT requirement as declared', async () => {
    const r = first;
    expect(r.code, r.log.slice(-3000)).toBe(0);
    const gw = await client.get({
      apiVersion: 'v1',
      kind: 'Service',
      name: 'istio-ingressgateway',
      namespace: 'istio-system',
    });
    expect((gw?.['spec'] as { type: string }).type).toBe('LoadBalancer');
    const ip = (gw?.['spec'] as { clusterIP: string }).clusterIP;
    expect(r.outputs).toMatchObject({
      'gateway-address': ip,
      'dashboard-url': `http://${ip}/`,
      'knative-domain': `${ip}.sslip.io`,
      issuer: await discoverIssuer(client),
    });
    const cm = await client.get({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'config-domain',
      namespace: 'knative-serving',
    });
    expect(cm?.['data']).toMatchObject({ [`${ip}.sslip.io`]: '' });
    const ra = await client.get({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'RequestAuthentication',
      name: 'm2m-token-issuer',
      namespace: 'istio-system',
    });
    expect(
      (ra?.['spec'] as { jwtRules: { issuer: string; outputClaimToHeaders: unknown[] }[] }).jwtRules[0],
    ).toMatchObject({
      issuer: await discoverIssuer(client),
      outputClaimToHeaders: [
        { header: 'kubeflow-userid', claim: 'sub' },
        { header: 'kubeflow-groups', claim: 'groups' },
      ],
    });
    // Dex's own RequestAuthentication and the gateway's JWT requirement stay as rendered.
    const dexJwt = await client.get({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'RequestAuthentication',
      name: 'dex-jwt',
      namespace: 'istio-system',
    });
    expect(dexJwt?.['spec']).toEqual(
      render.find((o) => o.kind === 'RequestAuthentication' && o.metadata.name === 'dex-jwt')?.['spec'],
    );
    const policy = await client.get({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'AuthorizationPolicy',
      name: 'istio-ingressgateway-require-jwt',
      namespace: 'istio-system',
    });
    expect(policy?.['spec']).toEqual(
      render.find((o) => o.metadata.name === 'istio-ingressgateway-require-jwt')?.['spec'],
    );
    expect(r.summary).toContain(`Dashboard: http://${ip}/.`);
  });

  it('changes nothing on a second run', { timeout: 240_000 }, async () => {
    const r = await install();
    expect(r.code, r.log.slice(-3000)).toBe(0);
    expect(r.outputs['changed']).toBe('false');
  });

  it(
    'adds the m2m RequestAuthentication when the manifests and the cluster lack it, and has oauth2-proxy accept the issuer',
    { timeout: 240_000 },
    async () => {
      const ref = {
        apiVersion: 'security.istio.io/v1beta1',
        kind: 'RequestAuthentication',
        name: 'm2m-token-issuer',
        namespace: 'istio-system',
      };
      await client.remove(ref);
      expect(await client.get(ref)).toBeUndefined();
      // The render as it is: kubeflow/manifests' example has no m2m-token-issuer.
      const r = await install(kubeflowRenderPath());
      expect(r.code, r.log.slice(-3000)).toBe(0);
      expect(r.outputs['changed']).toBe('true');
      const issuer = await discoverIssuer(client);
      const ra = await client.get(ref);
      // The shape of common/oauth2-proxy/components/istio-m2m, with the cluster's issuer.
      expect(ra?.['spec']).toEqual({
        selector: { matchLabels: { app: 'istio-ingressgateway' } },
        jwtRules: [
          {
            issuer,
            forwardOriginalToken: true,
            outputClaimToHeaders: [
              { header: 'kubeflow-userid', claim: 'sub' },
              { header: 'kubeflow-groups', claim: 'groups' },
            ],
            fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
          },
        ],
      });
      const params = await client.get({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'oauth2-proxy-parameters-74659b6648',
        namespace: 'oauth2-proxy',
      });
      expect(params?.['data']).toMatchObject({
        EXTRA_JWT_ISSUERS: `${issuer}=istio-ingressgateway.istio-system.svc.cluster.local`,
        ENABLE_M2M_TOKENS: 'true',
      });
      const proxy = await client.get({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'oauth2-proxy',
        namespace: 'oauth2-proxy',
      });
      const template = (proxy?.['spec'] as { template: { metadata: { annotations?: Record<string, string> } } })
        .template;
      expect(template.metadata.annotations?.['kfops.dev/oauth2-proxy-parameters-digest']).toMatch(/^[0-9a-f]{16}$/);
      // The gateway's JWT requirement stays as rendered.
      const policy = await client.get({
        apiVersion: 'security.istio.io/v1beta1',
        kind: 'AuthorizationPolicy',
        name: 'istio-ingressgateway-require-jwt',
        namespace: 'istio-system',
      });
      expect(policy?.['spec']).toEqual(
        render.find((o) => o.metadata.name === 'istio-ingressgateway-require-jwt')?.['spec'],
      );
    },
  );
});
