import { describe, expect, it } from 'vitest';
import {
  crds,
  defaultStorageClass,
  gatewayExposure,
  insufficientResources,
  kserveDomain,
  mlflowAdminPassword,
  runChecks,
  webhooksWithoutEndpoints,
  CHECKS,
} from '../../src/doctor/checks.js';
import { formatFindings } from '../../src/doctor/doctor.js';
import { KINDS, listed, type Snapshot } from '../../src/doctor/snapshot.js';
import type { KubeObject } from '../../src/kube/types.js';

const o = (
  kind: string,
  name: string,
  namespace: string | undefined,
  rest: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
): KubeObject =>
  ({ apiVersion: 'v1', kind, metadata: { name, ...(namespace ? { namespace } : {}), ...meta }, ...rest }) as KubeObject;

function snapshot(parts: Partial<Record<keyof typeof KINDS, KubeObject[]>>): Snapshot {
  return Object.fromEntries(
    Object.keys(KINDS).map((k) => [k, listed(parts[k as keyof typeof KINDS] ?? [])]),
  ) as Snapshot;
}

const pendingClaim = o('PersistentVolumeClaim', 'data', 'kubeflow', { spec: {}, status: { phase: 'Pending' } });
const sc = (name: string, isDefault: boolean) =>
  o(
    'StorageClass',
    name,
    undefined,
    {},
    isDefault ? { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } : {},
  );

describe('doctor checks (pure rules over a snapshot)', () => {
  it('default-storage-class: Pending claims without a default name the claims, the classes and the patch', () => {
    const f = defaultStorageClass.run(
      snapshot({ storageClasses: [sc('standard-rwo', false), sc('premium-rwo', false)], pvcs: [pendingClaim] }),
    );
    expect(f).toMatchObject({ status: 'problem', severity: 'error' });
    expect(f.evidence).toEqual([
      'PersistentVolumeClaim kubeflow/data Pending, no storageClassName',
      'StorageClasses: standard-rwo, premium-rwo',
    ]);
    expect(f.fix).toContain('kubectl patch storageclass standard-rwo');
    expect(
      defaultStorageClass.run(snapshot({ storageClasses: [sc('standard-rwo', true)], pvcs: [pendingClaim] })).status,
    ).toBe('ok');
    expect(defaultStorageClass.run(snapshot({ storageClasses: [sc('a', false)] })).status).toBe('ok');
    expect(defaultStorageClass.run(snapshot({ storageClasses: [sc('a', true), sc('b', true)] }))).toMatchObject({
      status: 'problem',
      severity: 'warning',
    });
  });

  it('insufficient-resources: the pod, its request, and the largest node', () => {
    const pod = o('Pod', 'ml-pipeline-0', 'kubeflow', {
      spec: {
        containers: [
          { resources: { requests: { cpu: '2', memory: '4Gi' } } },
          { resources: { requests: { cpu: '500m' } } },
        ],
      },
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/1 nodes are available: 1 Insufficient cpu.',
          },
        ],
      },
    });
    const node = o('Node', 'n1', undefined, { status: { allocatable: { cpu: '1930m', memory: '5Gi' } } });
    const f = insufficientResources.run(snapshot({ pods: [pod], nodes: [node] }));
    expect(f.status).toBe('problem');
    expect(f.evidence[0]).toMatch(
      /^Pod kubeflow\/ml-pipeline-0: requests 2\.5 CPU, 4(\.0)? ?Gi(B)? memory \(Insufficient cpu\); the largest node allocates 1\.93 CPU/,
    );
    expect(insufficientResources.run(snapshot({ nodes: [node] })).status).toBe('ok');
  });

  it('gateway-exposure: ClusterIP is a warning, a LoadBalancer without address an error, with one OK', () => {
    const gw = (spec: unknown, status: unknown = {}) =>
      o('Service', 'istio-ingressgateway', 'istio-system', { spec, status });
    expect(gatewayExposure.run(snapshot({}))).toMatchObject({ status: 'not-applicable' });
    expect(gatewayExposure.run(snapshot({ services: [gw({ type: 'ClusterIP' })] }))).toMatchObject({
      status: 'problem',
      severity: 'warning',
    });
    expect(gatewayExposure.run(snapshot({ services: [gw({ type: 'LoadBalancer' })] }))).toMatchObject({
      status: 'problem',
      severity: 'error',
    });
    expect(
      gatewayExposure.run(
        snapshot({ services: [gw({ type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip: '34.1.2.3' }] } })] }),
      ),
    ).toMatchObject({
      status: 'ok',
      summary: 'LoadBalancer at 34.1.2.3',
    });
  });

  it('mlflow-admin-password: where it is (the command), from metadata alone', () => {
    const f = mlflowAdminPassword.run(snapshot({ secrets: [o('Secret', 'mlflow-admin', 'mlflow')] }));
    expect(f.status).toBe('ok');
    expect(f.evidence).toEqual([
      "kubectl get secret -n mlflow mlflow-admin -o jsonpath='{.data.password}' | base64 -d",
    ]);
    expect(mlflowAdminPassword.run(snapshot({})).status).toBe('not-applicable');
  });

  it('kserve-domain: only _example means cluster-local URLs', () => {
    const cm = (data: Record<string, string>) => o('ConfigMap', 'config-domain', 'knative-serving', { data });
    expect(kserveDomain.run(snapshot({ configMaps: [cm({ _example: '...' })] }))).toMatchObject({
      status: 'problem',
      severity: 'warning',
    });
    expect(kserveDomain.run(snapshot({ configMaps: [cm({ '34.1.2.3.sslip.io': '' })] }))).toMatchObject({
      status: 'ok',
    });
  });

  it("crds: a CRD not Established, and KServe's controller without its CRD", () => {
    const crd = o('CustomResourceDefinition', 'things.x.io', undefined, {
      status: {
        conditions: [
          { type: 'NamesAccepted', status: 'False', message: '"Widget" is already in use' },
          { type: 'Established', status: 'False' },
        ],
      },
    });
    const controller = o('Deployment', 'kserve-controller-manager', 'kubeflow');
    const f = crds.run(snapshot({ crds: [crd], deployments: [controller] }));
    expect(f.status).toBe('problem');
    expect(f.evidence).toEqual([
      'CustomResourceDefinition things.x.io: Established False; NamesAccepted False: "Widget" is already in use',
      'Deployment kubeflow/kserve-controller-manager runs; CustomResourceDefinition inferenceservices.serving.kserve.io is missing',
    ]);
  });

  it('webhooks-without-endpoints: fail-closed only, ready endpoints counted over slices', () => {
    const config = o('ValidatingWebhookConfiguration', 'kserve', undefined, {
      webhooks: [
        {
          name: 'a',
          clientConfig: { service: { namespace: 'kubeflow', name: 'kserve-webhook' } },
          rules: [{ resources: ['inferenceservices'] }],
        },
        { name: 'b', failurePolicy: 'Ignore', clientConfig: { service: { namespace: 'kubeflow', name: 'gone' } } },
      ],
    });
    const svc = o('Service', 'kserve-webhook', 'kubeflow');
    const slice = (ready: boolean) =>
      o(
        'EndpointSlice',
        's1',
        'kubeflow',
        { endpoints: [{ conditions: { ready } }] },
        { labels: { 'kubernetes.io/service-name': 'kserve-webhook' } },
      );
    const bad = webhooksWithoutEndpoints.run(
      snapshot({ validatingWebhooks: [config], services: [svc], endpointSlices: [slice(false)] }),
    );
    expect(bad.status).toBe('problem');
    expect(bad.evidence).toEqual([
      'ValidatingWebhookConfiguration kserve, webhook a: Service kubeflow/kserve-webhook has no ready endpoint; intercepts inferenceservices',
    ]);
    expect(
      webhooksWithoutEndpoints.run(
        snapshot({ validatingWebhooks: [config], services: [svc], endpointSlices: [slice(true)] }),
      ).status,
    ).toBe('ok');
  });

  it('a list the credentials may not read makes its checks unknown, with the reason; a throwing check is unknown too', () => {
    const s = snapshot({});
    s.nodes = { readable: false, served: true, items: [], reason: 'forbidden: the credentials may not list Nodes' };
    const found = runChecks(s);
    expect(found.find((f) => f.check === 'insufficient-resources')).toMatchObject({
      status: 'unknown',
      evidence: ['forbidden: the credentials may not list Nodes'],
    });
    expect(found.find((f) => f.check === 'default-storage-class')?.status).toBe('ok');
    const broken = runChecks(s, [
      {
        ...crds,
        run: () => {
          throw new Error('boom');
        },
      },
    ]);
    expect(broken[0]).toMatchObject({ status: 'unknown', summary: 'the check failed: boom' });
  });

  it('every check has an id, a title, where users met it, and the lists it needs', () => {
    expect(new Set(CHECKS.map((c) => c.id)).size).toBe(CHECKS.length);
    for (const c of CHECKS) {
      expect(c.title.length).toBeGreaterThan(5);
      expect(c.seen.length).toBeGreaterThan(10);
      expect(c.needs.length).toBeGreaterThan(0);
    }
  });

  it('the log lines: status, check, summary, then evidence and fix', () => {
    const lines = formatFindings(
      runChecks(snapshot({ storageClasses: [sc('std', false)], pvcs: [pendingClaim] }), [defaultStorageClass]),
    );
    expect(lines[0]).toBe(
      'PROBLEM (error)   default-storage-class: no default StorageClass: 1 claim(s) without a class stay Pending',
    );
    expect(lines[1]).toBe('                    - PersistentVolumeClaim kubeflow/data Pending, no storageClassName');
    expect(lines.at(-1)).toMatch(/^ {20}fix: make one the default/);
  });
});
