import { describe, expect, it } from 'vitest';
import { formatPlan, planInstall, PlanError, pluralOf, selectorMatches } from '../../src/kube/plan.js';
import type { KubeObject } from '../../src/kube/types.js';
import { generateKubeflowBundle } from '../support/kubeflow-bundle.js';

const waveOf = (plan: ReturnType<typeof planInstall>, kind: string, name: string): number | undefined =>
  plan.objects.find((p) => p.ref.kind === kind && p.ref.name === name)?.wave;

describe('the generated Kubeflow-shaped bundle', () => {
  const bundle = generateKubeflowBundle();
  const count = (kind: string): number => bundle.filter((o) => o.kind === kind).length;

  it('has the shape of kubeflow/manifests v1.9.1 example', () => {
    expect(bundle).toHaveLength(569);
    expect(count('CustomResourceDefinition')).toBe(66);
    expect(count('Deployment')).toBe(44);
    expect(count('StatefulSet')).toBe(1);
    expect(count('Namespace')).toBe(6);
    expect(count('ValidatingWebhookConfiguration')).toBe(13);
    expect(count('MutatingWebhookConfiguration')).toBe(9);
    expect(count('ClusterRole')).toBe(93);
    expect(count('AuthorizationPolicy')).toBe(24);
    expect(count('ClusterServingRuntime')).toBe(10);
    expect(count('PersistentVolumeClaim')).toBe(3);
    expect(count('Profile')).toBe(1);
    const isvc = bundle.find((o) => o.metadata.name === 'inferenceservices.serving.kserve.io');
    expect(JSON.stringify(isvc).length).toBeGreaterThan(262_144);
    expect(new Set(bundle.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).size).toBe(569);
  });
});

describe('planInstall', () => {
  const plan = planInstall(generateKubeflowBundle());

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
    // The KServe webhook's Deployment itself waits for istiod (its namespace is injected): one wave later.
    expect(waveOf(plan, 'ClusterServingRuntime', 'kserve-sklearnserver')).toBe(3);
    const kserve = plan.gates.get('service:kubeflow/kserve-webhook-server-service');
    expect(kserve?.providers.map((r) => `${r.kind}/${r.name}`)).toEqual(['Service/kserve-webhook-server-service', 'Deployment/kserve-controller-manager']);
    expect(kserve?.webhooks).toContain('clusterservingruntime.serving.kserve.io.webhook.kubeflow-shaped.test');
    expect(kserve?.blocks.filter((r) => r.kind === 'ClusterServingRuntime')).toHaveLength(10);
    // The knative config webhook selects by object label: only config-domain is held.
    expect(plan.objects.find((p) => p.ref.name === 'config-domain')?.gates).toContain('service:knative-serving/webhook');
    expect(plan.objects.find((p) => p.ref.name === 'inferenceservice-config')?.gates).not.toContain('service:knative-serving/webhook');
    // Pod webhooks hold no object of the bundle (no Pods are applied).
    expect(plan.gates.get('service:kubeflow/admission-webhook-service')).toBeUndefined();
  });

  it('holds a workload until the webhook that intercepts its Pods is served, so its controller never backs off', () => {
    // istio-sidecar-injector (served by istiod) intercepts Pods in namespaces labelled istio-injection=enabled.
    const kserve = plan.objects.find((p) => p.ref.kind === 'Deployment' && p.ref.name === 'kserve-controller-manager');
    expect(kserve?.gates).toContain('service:istio-system/istiod');
    expect(plan.gates.get('service:istio-system/istiod')?.webhooks).toContain('istio-sidecar-injector.webhook.kubeflow-shaped.test');
    expect(waveOf(plan, 'Deployment', 'kserve-controller-manager')).toBe(2);
    // istio-system is not injected: istiod itself goes as soon as its namespace exists, and so do
    // workloads in namespaces without injection.
    expect(waveOf(plan, 'Deployment', 'istiod')).toBe(1);
    expect(plan.objects.find((p) => p.ref.kind === 'Deployment' && p.ref.name === 'cert-manager-webhook')?.gates).not.toContain('service:istio-system/istiod');
    // The Services and ConfigMaps of an injected namespace are not held.
    expect(plan.objects.find((p) => p.ref.kind === 'Service' && p.ref.name === 'kserve-webhook-server-service')?.gates).not.toContain('service:istio-system/istiod');
  });

  it('drops pod gates that would make a cycle, and keeps the real gates', () => {
    const podHook: KubeObject = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'pods' },
      webhooks: [{ name: 'pods', clientConfig: { service: { name: 'one', namespace: 'a' } }, rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] }],
    };
    const crHook: KubeObject = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'widgets' },
      webhooks: [{ name: 'widgets', clientConfig: { service: { name: 'two', namespace: 'a' } }, rules: [{ apiGroups: ['example.com'], apiVersions: ['*'], operations: ['CREATE'], resources: ['widgets'] }] }],
    };
    const deployment = (name: string): KubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'a' }, spec: { template: { metadata: { labels: { app: name } } } } });
    const service = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'a' }, spec: { selector: { app: name } } });
    const widget: KubeObject = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'a' } };
    // Without a cycle: deployment two waits for the pod webhook served by deployment one.
    const acyclic = planInstall([podHook, crHook, deployment('one'), service('one'), deployment('two'), service('two'), widget]);
    expect(acyclic.objects.find((p) => p.ref.name === 'two' && p.ref.kind === 'Deployment')?.gates).toContain('service:a/one');
    expect(acyclic.objects.find((p) => p.ref.name === 'w')?.gates).toContain('service:a/two');
    // A second pod webhook served by two intercepts one's pods: the pod gates would form a cycle.
    const podHook2: KubeObject = { ...podHook, metadata: { name: 'pods2' }, webhooks: [{ ...(podHook['webhooks'] as object[])[0], name: 'pods2', clientConfig: { service: { name: 'two', namespace: 'a' } } }] };
    const cyclic = planInstall([podHook, podHook2, crHook, deployment('one'), service('one'), deployment('two'), service('two'), widget]);
    expect(cyclic.objects.find((p) => p.ref.kind === 'Deployment')?.gates).toEqual(['namespace:a']);
    expect(cyclic.objects.find((p) => p.ref.name === 'w')?.gates).toContain('service:a/two');
  });

  it('prints the plan wave by wave', () => {
    const text = formatPlan(plan);
    expect(text).toMatch(/^wave 0: \d+ object\(s\): /);
    expect(text).toContain('waits for: ');
    expect(text).toContain('Service cert-manager/cert-manager-webhook ready');
  });

  it('names a dependency cycle', () => {
    const hook = (name: string, svc: string, group: string): KubeObject => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name },
      webhooks: [{ name, clientConfig: { service: { name: svc, namespace: 'a' } }, rules: [{ apiGroups: [group], apiVersions: ['*'], operations: ['CREATE'], resources: ['*'] }] }],
    });
    const deployment = (name: string): KubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'a' }, spec: { template: { metadata: { labels: { app: name } } } } });
    const service = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'a' }, spec: { selector: { app: name } } });
    // Webhook x (served by deployment y) intercepts Deployments; webhook z (served by x) intercepts Services...
    const objects = [hook('h1', 'one', 'apps'), hook('h2', 'two', ''), deployment('one'), service('one'), deployment('two'), service('two')];
    expect(() => planInstall(objects)).toThrow(PlanError);
    expect(() => planInstall(objects)).toThrow('dependency cycle: Service a/one -> Deployment a/two -> Service a/one');
  });
});

describe('helpers', () => {
  it('pluralizes built-in kinds', () => {
    expect(['Deployment', 'NetworkPolicy', 'Ingress', 'Endpoints', 'StorageClass', 'ConfigMap'].map(pluralOf)).toEqual(['deployments', 'networkpolicies', 'ingresses', 'endpoints', 'storageclasses', 'configmaps']);
  });
  it('matches label selectors', () => {
    expect(selectorMatches({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'NotIn', values: ['x'] }] }, { a: '1', b: 'y' })).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'b', operator: 'Exists' }] }, { a: '1' })).toBe(false);
    expect(selectorMatches(undefined, {})).toBe(true);
  });
});
