import { describe, expect, it } from 'vitest';
import { readSettings } from '../../src/actions/install-kubeflow/main.js';
import type { KubeObject } from '../../src/kube/types.js';
import {
  exposeGateway,
  gatewayAddress,
  knativeDomain,
  loadBalancerRule,
  setKnativeDomain,
  setM2mIssuer,
} from '../../src/kubeflow/platform.js';
import { loadKubeflowRender } from '../support/kubeflow-render.js';
import { fakeInputs as inputs } from '../support/inputs-fake.js';

describe('platform edits', () => {
  it('turns the gateway into a LoadBalancer and reads its address', () => {
    const objects = loadKubeflowRender();
    exposeGateway(objects, undefined);
    const gw = objects.find((o) => o.metadata.name === 'istio-ingressgateway' && o.kind === 'Service') as KubeObject;
    expect((gw['spec'] as { type: string }).type).toBe('LoadBalancer');
    expect(loadBalancerRule.check(gw).state).toBe('pending');
    const withAddress = { ...gw, status: { loadBalancer: { ingress: [{ ip: '34.1.2.3' }] } } };
    expect(gatewayAddress(withAddress)).toBe('34.1.2.3');
    expect(loadBalancerRule.check(withAddress)).toEqual({ state: 'ready', message: '34.1.2.3' });
  });

  it('takes the object from the cluster when the manifests lack it, and fails naming it when neither has it', () => {
    const objects: KubeObject[] = [];
    expect(() => exposeGateway(objects, undefined)).toThrow(
      /Service istio-system\/istio-ingressgateway is neither in the manifests nor on the cluster/,
    );
    exposeGateway(objects, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'istio-ingressgateway', namespace: 'istio-system', resourceVersion: '7', uid: 'u' },
      spec: { type: 'ClusterIP' },
      status: {},
    });
    expect(objects[0]?.metadata).toEqual({ name: 'istio-ingressgateway', namespace: 'istio-system' });
    expect(objects[0]?.['status']).toBeUndefined();
  });

  it('derives sslip domains only from IPv4 addresses', () => {
    expect(knativeDomain('sslip', '34.1.2.3')).toBe('34.1.2.3.sslip.io');
    expect(knativeDomain('sslip', 'lb.example.com')).toBeUndefined();
    expect(knativeDomain('sslip', undefined)).toBeUndefined();
    expect(knativeDomain('models.example.com', undefined)).toBe('models.example.com');
  });

  it('replaces the domain in config-domain, keeping the example key', () => {
    const objects = loadKubeflowRender();
    setKnativeDomain(objects, 'old.example.com', undefined);
    setKnativeDomain(objects, '34.1.2.3.sslip.io', undefined);
    expect(Object.keys(objects.find((o) => o.metadata.name === 'config-domain')?.['data'] as object)).toEqual([
      '_example',
      '34.1.2.3.sslip.io',
    ]);
  });

  it('adds the m2m RequestAuthentication as the istio-m2m component declares it when the render and the cluster lack it, and lets oauth2-proxy accept the issuer', () => {
    const objects = loadKubeflowRender();
    const rendered = loadKubeflowRender();
    // kubeflow/manifests v1.9.1 example uses oauth2-proxy's m2m-dex-only overlay: no m2m-token-issuer.
    expect(
      objects
        .filter((o) => o.kind === 'RequestAuthentication')
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    ).toEqual(['istio-system/dex-jwt']);
    const issuer = 'https://container.googleapis.com/v1/projects/p/locations/l/clusters/c';
    const changes = setM2mIssuer(objects, issuer, undefined);
    expect(changes).toEqual({ created: true, oauth2ProxyParameters: 'oauth2-proxy-parameters-74659b6648' });
    expect(objects).toHaveLength(rendered.length + 1);
    const ra = objects.find(
      (o) => o.kind === 'RequestAuthentication' && o.metadata.name === 'm2m-token-issuer',
    ) as KubeObject;
    expect(ra).toEqual({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'RequestAuthentication',
      metadata: { name: 'm2m-token-issuer', namespace: 'istio-system' },
      spec: {
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
      },
    });
    // The RequestAuthentication CRD of the render serves the version it is written in.
    const crd = objects.find(
      (o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === 'requestauthentications.security.istio.io',
    ) as KubeObject;
    expect(
      (crd['spec'] as { versions: { name: string; served: boolean }[] }).versions.find((v) => v.name === 'v1beta1')
        ?.served,
    ).toBe(true);
    // oauth2-proxy's parameters: only EXTRA_JWT_ISSUERS changes, to issuer=audience of the gateway's tokens.
    const params = (list: KubeObject[]): Record<string, string> =>
      list.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'oauth2-proxy-parameters-74659b6648')?.[
        'data'
      ] as Record<string, string>;
    expect(params(rendered)['EXTRA_JWT_ISSUERS']).toBe('');
    expect(params(objects)).toEqual({
      ...params(rendered),
      EXTRA_JWT_ISSUERS: `${issuer}=istio-ingressgateway.istio-system.svc.cluster.local`,
    });
    // The Deployment that reads them into OAUTH2_PROXY_EXTRA_JWT_ISSUERS gets a digest on its pod template, nothing else.
    const deployment = (list: KubeObject[]): KubeObject =>
      list.find((o) => o.kind === 'Deployment' && o.metadata.name === 'oauth2-proxy') as KubeObject;
    const template = (d: KubeObject): { metadata: { annotations?: Record<string, string> } } =>
      (d['spec'] as { template: { metadata: { annotations?: Record<string, string> } } }).template;
    const digest = template(deployment(objects)).metadata.annotations?.['kfops.dev/oauth2-proxy-parameters-digest'];
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    // The rendered template has no annotations: with the digest taken away, the Deployment is as rendered.
    expect(template(deployment(rendered)).metadata.annotations).toBeUndefined();
    const withoutDigest = structuredClone(deployment(objects));
    expect(Object.keys(template(withoutDigest).metadata.annotations ?? {})).toEqual([
      'kfops.dev/oauth2-proxy-parameters-digest',
    ]);
    delete template(withoutDigest).metadata.annotations;
    expect(withoutDigest).toEqual(deployment(rendered));
    // Everything else is as rendered.
    const rest = (list: KubeObject[]): KubeObject[] =>
      list.filter((o) => o !== ra && !['oauth2-proxy-parameters-74659b6648', 'oauth2-proxy'].includes(o.metadata.name));
    expect(rest(objects)).toEqual(rest(rendered));

    // Again with the same issuer (a re-run): the same objects, the same digest. Another issuer replaces
    // this one's entry and keeps issuers listed by others.
    setM2mIssuer(objects, issuer, undefined);
    expect(objects.filter((o) => o.metadata.name === 'm2m-token-issuer')).toHaveLength(1);
    expect(params(objects)['EXTRA_JWT_ISSUERS']).toBe(`${issuer}=istio-ingressgateway.istio-system.svc.cluster.local`);
    expect(template(deployment(objects)).metadata.annotations?.['kfops.dev/oauth2-proxy-parameters-digest']).toBe(
      digest,
    );
    params(objects)['EXTRA_JWT_ISSUERS'] = `https://dex.example=kubeflow,${issuer}=old-audience`;
    setM2mIssuer(objects, issuer, undefined, { audience: 'aud', jwksUri: 'http://jwks.example/keys' });
    expect(params(objects)['EXTRA_JWT_ISSUERS']).toBe(`https://dex.example=kubeflow,${issuer}=aud`);
    expect(template(deployment(objects)).metadata.annotations?.['kfops.dev/oauth2-proxy-parameters-digest']).not.toBe(
      digest,
    );
    expect((ra['spec'] as { jwtRules: Record<string, unknown>[] }).jwtRules[0]).toMatchObject({
      issuer,
      jwksUri: 'http://jwks.example/keys',
    });
  });

  it('adds the RequestAuthentication alone when the manifests do not install oauth2-proxy', () => {
    const objects: KubeObject[] = [];
    expect(setM2mIssuer(objects, 'https://issuer.example', undefined)).toEqual({ created: true });
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'RequestAuthentication istio-system/m2m-token-issuer',
    ]);
  });

  it('sets only the issuer of the m2m RequestAuthentication, taken from the cluster when the render lacks it', () => {
    const objects = loadKubeflowRender();
    const count = objects.length;
    // As the m2m overlays of common/oauth2-proxy install it (Kubernetes' own issuer, claims to headers).
    const live: KubeObject = {
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'RequestAuthentication',
      metadata: { name: 'm2m-token-issuer', namespace: 'istio-system', resourceVersion: '42', uid: 'u-1' },
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
    expect(
      setM2mIssuer(objects, 'https://container.googleapis.com/v1/projects/p/locations/l/clusters/c', live),
    ).toMatchObject({ created: false });
    expect(objects).toHaveLength(count + 1);
    const after = objects.find((o) => o.metadata.name === 'm2m-token-issuer') as KubeObject;
    expect(after.metadata).toEqual({ name: 'm2m-token-issuer', namespace: 'istio-system' });
    const rules = (after['spec'] as { jwtRules: Record<string, unknown>[] }).jwtRules;
    expect(rules[0]?.['issuer']).toBe('https://container.googleapis.com/v1/projects/p/locations/l/clusters/c');
    expect({ ...rules[0], issuer: undefined }).toEqual({
      ...(live['spec'] as { jwtRules: Record<string, unknown>[] }).jwtRules[0],
      issuer: undefined,
    });
    // Dex's RequestAuthentication is left as rendered.
    expect(objects.find((o) => o.metadata.name === 'dex-jwt')).toEqual(
      loadKubeflowRender().find((o) => o.metadata.name === 'dex-jwt'),
    );
  });

  it('checks the exposure inputs', () => {
    expect(readSettings(inputs({ expose: 'loadbalancer', domain: 'sslip', 'm2m-auth': 'true' }))).toMatchObject({
      expose: 'loadbalancer',
      domain: 'sslip',
      m2mAuth: true,
    });
    expect(() => readSettings(inputs({ expose: 'nodeport' }))).toThrow(
      'Input \'expose\' has the value "nodeport": expected one of `none`, `loadbalancer`.',
    );
    expect(() => readSettings(inputs({ domain: 'https://x.io' }))).toThrow(/Input 'domain'/);
  });
});
