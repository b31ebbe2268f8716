import { describe, expect, it } from 'vitest';
import { formatPlan, planInstall, PlanError, pluralOf, selectorMatches } from '../../src/kube/plan.js';
import type { KubeObject } from '../../src/kube/types.js';
import { loadKubeflowRender } from '../support/kubeflow-render.js';

const countOf = (objects: KubeObject[], kind: string): number => objects.filter((o) => o.kind === kind).length;
const templateLabels = (o: KubeObject): Record<string, string> =>
  (o['spec'] as { template?: { metadata?: { labels?: Record<string, string> } } }).template?.metadata?.labels ?? {};
const waveOf = (plan: ReturnType<typeof planInstall>, kind: string, name: string): number | undefined =>
  plan.objects.find((p) => p.ref.kind === kind && p.ref.name === name)?.wave;

describe('the real Kubeflow 1.9.1 render', () => {
  const render = loadKubeflowRender();
  const count = (kind: string): number => render.filter((o) => o.kind === kind).length;
  const webhooks = render.flatMap((o) =>
    o.kind.endsWith('WebhookConfiguration') ? (o['webhooks'] as { failurePolicy?: string }[]) : [],
  );

  it('is what its README says it is', () => {
    expect(render).toHaveLength(569);
    expect(count('CustomResourceDefinition')).toBe(66);
    expect(count('ValidatingWebhookConfiguration') + count('MutatingWebhookConfiguration')).toBe(22);
    expect(webhooks).toHaveLength(31);
    // failurePolicy defaults to Fail in admissionregistration.k8s.io/v1.
    expect(webhooks.filter((w) => (w.failurePolicy ?? 'Fail') === 'Fail')).toHaveLength(29);
    const aggregated = render.filter((o) => o.kind === 'ClusterRole' && o['aggregationRule'] !== undefined);
    expect(aggregated).toHaveLength(14);
    // Their rules are the aggregation controller's to write: empty (12) or absent (Knative's 2).
    expect(aggregated.filter((o) => Array.isArray(o['rules']) && (o['rules'] as unknown[]).length === 0)).toHaveLength(
      12,
    );
    expect(aggregated.filter((o) => o['rules'] === undefined).map((o) => o.metadata.name)).toEqual([
      'knative-serving-admin',
      'knative-serving-aggregated-addressable-resolver',
    ]);
    // Large CRDs, but as compact JSON (what a client-side apply would store in its annotation) each
    // stays under the 262,144-byte annotation limit: pytorchjobs comes closest.
    const crdSizes = render
      .filter((o) => o.kind === 'CustomResourceDefinition')
      .map((o) => ({ name: o.metadata.name, bytes: Buffer.byteLength(JSON.stringify(o)) }));
    const largest = crdSizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    expect(largest.name).toBe('pytorchjobs.kubeflow.org');
    expect(largest.bytes).toBeLessThan(262_144);
    expect(
      crdSizes
        .filter((c) => c.bytes > 240_000)
        .map((c) => c.name)
        .sort(),
    ).toEqual([
      'inferenceservices.serving.kserve.io',
      'mpijobs.kubeflow.org',
      'mxjobs.kubeflow.org',
      'paddlejobs.kubeflow.org',
      'pytorchjobs.kubeflow.org',
      'tfjobs.kubeflow.org',
      'xgboostjobs.kubeflow.org',
    ]);
    expect(new Set(render.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).size).toBe(569);
  });
});

describe('planInstall on the real render', () => {
  const render = loadKubeflowRender();
  const plan = planInstall(render);

  it('puts Namespaces and CRDs first, and everything without a dependency with them', () => {
    expect(plan.waves[0]?.filter((p) => p.ref.kind === 'Namespace')).toHaveLength(6);
    expect(plan.waves[0]?.filter((p) => p.ref.kind === 'CustomResourceDefinition')).toHaveLength(66);
    expect(waveOf(plan, 'ClusterRole', 'kubeflow-edit')).toBe(0);
    expect(waveOf(plan, 'ValidatingWebhookConfiguration', 'cert-manager-webhook')).toBe(0);
  });

  it('applies namespaced objects after their namespace, and custom resources after their CRD', () => {
    expect(waveOf(plan, 'Deployment', 'cert-manager-webhook')).toBe(1);
    expect(waveOf(plan, 'Profile', 'kubeflow-user-example-com')).toBe(1);
    expect(plan.gates.get('crd:kubeflow.org/Profile')?.providers.map((r) => r.name)).toEqual(['profiles.kubeflow.org']);
  });

  it('holds objects a fail-closed webhook intercepts until the webhook Service and its Deployment are up', () => {
    expect(waveOf(plan, 'ClusterIssuer', 'kubeflow-self-signing-issuer')).toBe(2);
    // cert-manager's webhook validates every cert-manager.io object: the 5 Issuers, 5 Certificates and the ClusterIssuer.
    const certManager = plan.gates.get('service:cert-manager/cert-manager-webhook');
    const certManagerKinds = render.filter((o) => o.apiVersion.startsWith('cert-manager.io/'));
    expect(certManager?.blocks.map((r) => `${r.kind}/${r.name}`).sort()).toEqual(
      certManagerKinds.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    );
    expect(certManager?.blocks).toHaveLength(11);
    // The KServe webhook's Deployment itself waits for istiod (its namespace is injected): one wave later.
    expect(waveOf(plan, 'ClusterServingRuntime', 'kserve-sklearnserver')).toBe(3);
    const kserve = plan.gates.get('service:kubeflow/kserve-webhook-server-service');
    expect(kserve?.providers.map((r) => `${r.kind}/${r.name}`)).toEqual([
      'Service/kserve-webhook-server-service',
      'Deployment/kserve-controller-manager',
    ]);
    expect(kserve?.webhooks).toEqual(['clusterservingruntime.kserve-webhook-server.validator']);
    expect(kserve?.blocks.filter((r) => r.kind === 'ClusterServingRuntime')).toHaveLength(
      countOf(render, 'ClusterServingRuntime'),
    );
    // Knative's config webhooks carry no rules in the render (its webhook writes them on the cluster),
    // so config-domain is not held.
    expect(plan.objects.find((p) => p.ref.name === 'config-domain')?.gates).toEqual(['namespace:knative-serving']);
    // Pod webhooks hold no object of the render (it applies no Pods), and the poddefaults webhook only
    // intercepts profile namespaces.
    expect(plan.gates.get('service:kubeflow/admission-webhook-service')).toBeUndefined();
    expect(
      [...plan.gates.values()]
        .filter((g) => g.kind === 'service')
        .map((g) => g.key)
        .sort(),
    ).toEqual([
      'service:cert-manager/cert-manager-webhook',
      'service:istio-system/istiod',
      'service:kubeflow/kserve-webhook-server-service',
    ]);
  });

  it('holds a workload until the webhook that intercepts its Pods is served, so its controller never backs off', () => {
    // istio-sidecar-injector (served by istiod) intercepts Pods in namespaces labelled istio-injection=enabled.
    const kserve = plan.objects.find((p) => p.ref.kind === 'Deployment' && p.ref.name === 'kserve-controller-manager');
    expect(kserve?.gates).toContain('service:istio-system/istiod');
    expect(plan.gates.get('service:istio-system/istiod')?.webhooks).toEqual(['namespace.sidecar-injector.istio.io']);
    expect(waveOf(plan, 'Deployment', 'kserve-controller-manager')).toBe(2);
    // Exactly the workloads of injected namespaces whose pods do not opt out with sidecar.istio.io/inject=false.
    const injected = new Set(
      render
        .filter((o) => o.kind === 'Namespace' && o.metadata.labels?.['istio-injection'] === 'enabled')
        .map((o) => o.metadata.name),
    );
    expect([...injected].sort()).toEqual(['knative-serving', 'kubeflow']);
    const podsInjected = render.filter(
      (o) =>
        ['Deployment', 'StatefulSet'].includes(o.kind) &&
        injected.has(o.metadata.namespace ?? '') &&
        templateLabels(o)['sidecar.istio.io/inject'] !== 'false',
    );
    expect(
      plan.gates
        .get('service:istio-system/istiod')
        ?.blocks.map((r) => `${r.kind}/${r.namespace}/${r.name}`)
        .sort(),
    ).toEqual(podsInjected.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort());
    // istio-system is not injected: istiod itself goes as soon as its namespace exists, and so do
    // workloads in namespaces without injection.
    expect(waveOf(plan, 'Deployment', 'istiod')).toBe(1);
    expect(
      plan.objects.find((p) => p.ref.kind === 'Deployment' && p.ref.name === 'cert-manager-webhook')?.gates,
    ).not.toContain('service:istio-system/istiod');
    // The Services and ConfigMaps of an injected namespace are not held.
    expect(
      plan.objects.find((p) => p.ref.kind === 'Service' && p.ref.name === 'kserve-webhook-server-service')?.gates,
    ).not.toContain('service:istio-system/istiod');
  });

  it('prints the plan wave by wave', () => {
    const text = formatPlan(plan);
    expect(text).toMatch(/^wave 0: \d+ object\(s\): /);
    expect(text).toContain('waits for: ');
    expect(text).toContain('Service cert-manager/cert-manager-webhook ready');
  });
});

describe('planInstall on hand-made objects', () => {
  it('drops pod gates that would make a cycle, and keeps the real gates', () => {
    const podHook: KubeObject = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'pods' },
      webhooks: [
        {
          name: 'pods',
          clientConfig: { service: { name: 'one', namespace: 'a' } },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        },
      ],
    };
    const crHook: KubeObject = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'widgets' },
      webhooks: [
        {
          name: 'widgets',
          clientConfig: { service: { name: 'two', namespace: 'a' } },
          rules: [{ apiGroups: ['example.com'], apiVersions: ['*'], operations: ['CREATE'], resources: ['widgets'] }],
        },
      ],
    };
    const deployment = (name: string): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'a' },
      spec: { template: { metadata: { labels: { app: name } } } },
    });
    const service = (name: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'a' },
      spec: { selector: { app: name } },
    });
    const widget: KubeObject = {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w', namespace: 'a' },
    };
    // Without a cycle: deployment two waits for the pod webhook served by deployment one.
    const acyclic = planInstall([
      podHook,
      crHook,
      deployment('one'),
      service('one'),
      deployment('two'),
      service('two'),
      widget,
    ]);
    expect(acyclic.objects.find((p) => p.ref.name === 'two' && p.ref.kind === 'Deployment')?.gates).toContain(
      'service:a/one',
    );
    expect(acyclic.objects.find((p) => p.ref.name === 'w')?.gates).toContain('service:a/two');
    // A second pod webhook served by two intercepts one's pods: the pod gates would form a cycle.
    const podHook2: KubeObject = {
      ...podHook,
      metadata: { name: 'pods2' },
      webhooks: [
        {
          ...(podHook['webhooks'] as object[])[0],
          name: 'pods2',
          clientConfig: { service: { name: 'two', namespace: 'a' } },
        },
      ],
    };
    const cyclic = planInstall([
      podHook,
      podHook2,
      crHook,
      deployment('one'),
      service('one'),
      deployment('two'),
      service('two'),
      widget,
    ]);
    expect(cyclic.objects.find((p) => p.ref.kind === 'Deployment')?.gates).toEqual(['namespace:a']);
    expect(cyclic.objects.find((p) => p.ref.name === 'w')?.gates).toContain('service:a/two');
  });

  it('names a dependency cycle', () => {
    const hook = (name: string, svc: string, group: string): KubeObject => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name },
      webhooks: [
        {
          name,
          clientConfig: { service: { name: svc, namespace: 'a' } },
          rules: [{ apiGroups: [group], apiVersions: ['*'], operations: ['CREATE'], resources: ['*'] }],
        },
      ],
    });
    const deployment = (name: string): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: 'a' },
      spec: { template: { metadata: { labels: { app: name } } } },
    });
    const service = (name: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'a' },
      spec: { selector: { app: name } },
    });
    // Webhook x (served by deployment y) intercepts Deployments; webhook z (served by x) intercepts Services...
    const objects = [
      hook('h1', 'one', 'apps'),
      hook('h2', 'two', ''),
      deployment('one'),
      service('one'),
      deployment('two'),
      service('two'),
    ];
    expect(() => planInstall(objects)).toThrow(PlanError);
    expect(() => planInstall(objects)).toThrow('dependency cycle: Service a/one -> Deployment a/two -> Service a/one');
  });
});

describe('helpers', () => {
  it('pluralizes built-in kinds', () => {
    expect(['Deployment', 'NetworkPolicy', 'Ingress', 'Endpoints', 'StorageClass', 'ConfigMap'].map(pluralOf)).toEqual([
      'deployments',
      'networkpolicies',
      'ingresses',
      'endpoints',
      'storageclasses',
      'configmaps',
    ]);
  });
  it('matches label selectors', () => {
    expect(
      selectorMatches(
        { matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'NotIn', values: ['x'] }] },
        { a: '1', b: 'y' },
      ),
    ).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'b', operator: 'Exists' }] }, { a: '1' })).toBe(false);
    expect(selectorMatches(undefined, {})).toBe(true);
  });
});
