import { describe, expect, it } from 'vitest';
import {
  crds,
  defaultStorageClass,
  dexUsers,
  inferenceServices,
  jwtIssuer,
  modelAuthorization,
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

type Key = keyof typeof KINDS | 'issuer';
function snapshot(parts: Partial<Record<Key, KubeObject[]>>): Snapshot {
  return Object.fromEntries(
    ([...Object.keys(KINDS), 'issuer'] as Key[]).map((k) => [k, listed(parts[k] ?? [])]),
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

  it('dex-users: a login without a Profile, a Profile without a login, a missing password Secret', () => {
    const dex = o('ConfigMap', 'dex', 'auth', {
      data: {
        'config.yaml': 'staticPasswords:\n- email: alice@example.com\n  hashFromEnv: H1\n- email: bob@example.com\n',
      },
    });
    const profile = o('Profile', 'team-carol', undefined, {
      spec: { owner: { kind: 'User', name: 'carol@example.com' } },
    });
    const alice = o('Profile', 'kubeflow-alice', undefined, {
      spec: { owner: { kind: 'User', name: 'alice@example.com' } },
    });
    const deployment = o('Deployment', 'dex', 'auth', {
      spec: { template: { spec: { containers: [{ envFrom: [{ secretRef: { name: 'dex-passwords' } }] }] } } },
    });
    const f = dexUsers.run(snapshot({ configMaps: [dex], profiles: [profile, alice], deployments: [deployment] }));
    expect(f).toMatchObject({ status: 'problem', severity: 'error' });
    expect(f.evidence).toEqual([
      'Dex login bob@example.com owns no Profile: the dashboard shows no namespace to work in',
      'Profile team-carol is owned by carol@example.com, who has no Dex login',
      'Deployment auth/dex reads Secret auth/dex-passwords, which does not exist: Dex cannot start, nobody can log in',
    ]);
    const fine = dexUsers.run(
      snapshot({
        configMaps: [
          o('ConfigMap', 'dex', 'auth', { data: { 'config.yaml': 'staticPasswords:\n- email: alice@example.com\n' } }),
        ],
        profiles: [alice],
        deployments: [deployment],
        secrets: [o('Secret', 'dex-passwords', 'auth')],
      }),
    );
    expect(fine.status).toBe('ok');
  });

  it("inferenceservices: not Ready, with the storage initializer's message and the matching fix", () => {
    const isvc = o('InferenceService', 'wine', 'alice', {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'RevisionFailed',
            message: 'Revision "wine-predictor-00001" failed with message: Initial scale was never achieved.',
          },
        ],
      },
    });
    const pod = o(
      'Pod',
      'wine-predictor-00001-deployment-abc',
      'alice',
      {
        status: {
          initContainerStatuses: [
            {
              name: 'storage-initializer',
              lastState: {
                terminated: {
                  exitCode: 1,
                  message: 'botocore.exceptions.NoCredentialsError: Unable to locate credentials',
                },
              },
            },
          ],
        },
      },
      { labels: { 'serving.kserve.io/inferenceservice': 'wine' } },
    );
    const f = inferenceServices.run(snapshot({ inferenceServices: [isvc], pods: [pod] }));
    expect(f.status).toBe('problem');
    expect(f.evidence[1]).toBe(
      'Pod alice/wine-predictor-00001-deployment-abc: storage-initializer exited 1: botocore.exceptions.NoCredentialsError: Unable to locate credentials',
    );
    expect(f.fix).toMatch(/^the storage credentials are missing or wrong/);
    const notServed = snapshot({});
    notServed.inferenceServices = { readable: true, served: false, items: [] };
    expect(inferenceServices.run(notServed).status).toBe('not-applicable');
  });

  it('model-authorization: a model in a profile namespace without an ALLOW policy for its predictor', () => {
    const ns = o('Namespace', 'alice', undefined, {}, { labels: { 'app.kubernetes.io/part-of': 'kubeflow-profile' } });
    const isvc = o('InferenceService', 'wine', 'alice');
    const ownerPolicy = o('AuthorizationPolicy', 'ns-owner-access-istio', 'alice', { spec: { rules: [{}] } });
    const f = modelAuthorization.run(
      snapshot({ namespaces: [ns], inferenceServices: [isvc], authorizationPolicies: [ownerPolicy] }),
    );
    expect(f).toMatchObject({
      status: 'problem',
      evidence: ['InferenceService alice/wine: no ALLOW AuthorizationPolicy selects its predictor pods'],
    });
    const allow = o('AuthorizationPolicy', 'wine-predictor-allow', 'alice', {
      spec: {
        action: 'ALLOW',
        selector: { matchLabels: { 'serving.knative.dev/service': 'wine-predictor' } },
        rules: [{}],
      },
    });
    expect(
      modelAuthorization.run(
        snapshot({ namespaces: [ns], inferenceServices: [isvc], authorizationPolicies: [ownerPolicy, allow] }),
      ).status,
    ).toBe('ok');
  });

  it('jwt-issuer: the cluster issuer missing is a warning; model paths exempted from the JWT check are an error', () => {
    const ra = o('RequestAuthentication', 'dex-jwt', 'istio-system', {
      spec: { jwtRules: [{ issuer: 'http://dex.auth.svc.cluster.local:5556/dex' }] },
    });
    const requireJwt = (notPaths: string[]) =>
      o('AuthorizationPolicy', 'istio-ingressgateway-require-jwt', 'istio-system', {
        spec: {
          action: 'DENY',
          rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }], to: [{ operation: { notPaths } }] }],
        },
      });
    const issuer = [o('Issuer', 'https://container.googleapis.com/v1/projects/p/locations/l/clusters/c', undefined)];
    const missing = jwtIssuer.run(
      snapshot({ requestAuthentications: [ra], authorizationPolicies: [requireJwt(['/dex/*'])], issuer }),
    );
    expect(missing).toMatchObject({ status: 'problem', severity: 'warning' });
    expect(missing.evidence[0]).toMatch(
      /^the cluster's service-account issuer https:\/\/container\.googleapis\.com\/.* is in no RequestAuthentication/,
    );
    const off = jwtIssuer.run(
      snapshot({
        requestAuthentications: [ra],
        authorizationPolicies: [requireJwt(['/dex/*', '/v1/*', '/v2/*'])],
        issuer,
      }),
    );
    expect(off).toMatchObject({ status: 'problem', severity: 'error' });
    expect(off.evidence).toContain(
      'AuthorizationPolicy istio-system/istio-ingressgateway-require-jwt exempts /v1/*, /v2/*: requests to models pass without a token',
    );
    const m2m = o('RequestAuthentication', 'm2m-token-issuer', 'istio-system', {
      spec: { jwtRules: [{ issuer: issuer[0]?.metadata.name }] },
    });
    expect(
      jwtIssuer.run(
        snapshot({ requestAuthentications: [ra, m2m], authorizationPolicies: [requireJwt(['/dex/*'])], issuer }),
      ).status,
    ).toBe('ok');
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
