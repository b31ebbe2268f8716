import { describe, expect, it } from 'vitest';
import { applyObjects, ApplyError } from '../../src/kube/apply.js';
import type { KubeApiError } from '../../src/kube/errors.js';
import { crdRule, deploymentRule, namespaceRule, pvcRule } from '../../src/kube/readiness.js';
import type { KubeObject } from '../../src/kube/types.js';
import { waitFor } from '../../src/kube/wait.js';
import { adminClient, recordingLogger, uniqueName, userClient } from './helpers.js';

const namespace = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

function deployment(ns: string, name: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'main',
              image: 'registry.invalid/web:1.0',
              resources: { requests: { cpu: '100m', memory: '64Mi' } },
              ...extra,
            },
          ],
        },
      },
    },
  };
}

describe('server-side apply on a real API server', () => {
  const client = adminClient();

  it('reports the server version', async () => {
    expect(await client.serverVersion()).toMatch(/^v1\.\d+\.\d+/);
  });

  it('creates a Deployment that becomes Available, then re-applies it as unchanged without a new resourceVersion', async () => {
    const ns = uniqueName('apply');
    const objects = [namespace(ns), deployment(ns, 'web')];
    const first = await applyObjects(client, objects);
    expect(first.counts).toEqual({ created: 2, configured: 0, unchanged: 0 });
    await waitFor(client, { apiVersion: 'v1', kind: 'Namespace', name: ns }, namespaceRule, { timeoutMs: 20_000 });
    const ready = await waitFor(
      client,
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: ns },
      deploymentRule,
      { timeoutMs: 60_000 },
    );
    expect((ready['status'] as { availableReplicas?: number }).availableReplicas).toBe(2);

    const before = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: ns });
    const again = await applyObjects(client, objects);
    expect(again.counts).toEqual({ created: 0, configured: 0, unchanged: 2 });
    expect(again.applied.map((a) => a.outcome)).toEqual(['unchanged', 'unchanged']);
    const after = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: ns });
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(after?.metadata.managedFields?.map((m) => m.manager)).toContain('kfops');

    const changed = await applyObjects(client, [deployment(ns, 'web', { env: [{ name: 'MODE', value: 'b' }] })]);
    expect(changed.counts.configured).toBe(1);
  });

  it('applies a custom resource in the same call as its CRD, once the CRD is Established', async () => {
    const group = `${uniqueName('g')}.kfops.test`;
    const crd: KubeObject = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
              },
            },
          },
        ],
      },
    };
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name: 'w1', namespace: 'default' },
      spec: { size: 3 },
    };
    const logger = recordingLogger();
    // The CR comes first on purpose: it must wait (retry) until the CRD is served, not fail.
    const report = await applyObjects(client, [widget, crd], { concurrency: 2, logger });
    expect(report.counts.created).toBe(2);
    expect(logger.lines.some((l) => l.includes('kind-not-served'))).toBe(true);
    await waitFor(
      client,
      { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: `widgets.${group}` },
      crdRule,
      { timeoutMs: 20_000 },
    );
    const stored = await client.get({ apiVersion: `${group}/v1`, kind: 'Widget', name: 'w1', namespace: 'default' });
    expect(stored?.['spec']).toEqual({ size: 3 });

    // A field the schema does not declare is refused at once (not retried as a 500) and named.
    const started = Date.now();
    const bad = { ...widget, spec: { size: 3, colour: 'red' } };
    const err = await applyObjects(client, [bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).failures[0]?.error.reason).toBe('invalid');
    expect((err as ApplyError).message).toMatch(/\.spec\.colour: field not declared in schema/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('fails a custom resource whose CRD never arrives with a message naming the missing CRD', async () => {
    const obj: KubeObject = {
      apiVersion: 'nothing.kfops.test/v1',
      kind: 'Ghost',
      metadata: { name: 'g', namespace: 'default' },
    };
    const err = await applyObjects(client, [obj], { retryBudgets: { 'kind-not-served': 1500 } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplyError);
    const failure = (err as ApplyError).failures[0]?.error;
    expect(failure?.reason).toBe('kind-not-served');
    expect((err as ApplyError).describe()).toMatch(/Ghost/);
    expect((err as ApplyError).describe()).toMatch(/CustomResourceDefinition/);
  });

  it('gives a restricted user a Forbidden message naming user, verb, resource and namespace', async () => {
    const ns = uniqueName('rbac');
    await applyObjects(client, [namespace(ns)]);
    const alice = userClient('alice@example.com');
    const err = await applyObjects(alice, [deployment(ns, 'web')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    const e = (err as ApplyError).failures[0]?.error as KubeApiError;
    expect(e.reason).toBe('forbidden');
    expect(e.message).toContain('user "alice@example.com" may not get deployments.apps in namespace');
    expect(e.message).toContain(ns);
    expect(e.details.fix).toMatch(/Role and RoleBinding/);

    // Granting edit in that namespace lets the same user apply.
    await applyObjects(client, [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'alice-edit', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice@example.com' }],
      },
    ]);
    const ok = await applyObjects(alice, [deployment(ns, 'web')]);
    expect(ok.counts.created).toBe(1);
  });

  it('reports conflicts with another field manager and takes the fields over when forced', async () => {
    const ns = uniqueName('conflict');
    await applyObjects(client, [namespace(ns)]);
    const cm = (value: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: ns },
      data: { mode: value },
    });
    await applyObjects(client, [cm('a')], { fieldManager: 'someone-else' });
    const err = await applyObjects(client, [cm('b')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).failures[0]?.error.reason).toBe('conflict');
    expect((err as ApplyError).describe()).toMatch(/someone-else/);
    expect((err as ApplyError).describe()).toMatch(/force/);
    const forced = await applyObjects(client, [cm('b')], { force: true });
    expect(forced.counts.configured).toBe(1);
  });

  it('dry-runs without storing anything and still says what would change', async () => {
    const ns = uniqueName('dry');
    await applyObjects(client, [namespace(ns)]);
    const cm = (value: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: ns },
      data: { k: value },
    });
    expect((await applyObjects(client, [cm('1')], { dryRun: true })).counts.created).toBe(1);
    expect(await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', namespace: ns })).toBeUndefined();
    await applyObjects(client, [cm('1')]);
    expect((await applyObjects(client, [cm('1')], { dryRun: true })).counts.unchanged).toBe(1);
    expect((await applyObjects(client, [cm('2')], { dryRun: true })).counts.configured).toBe(1);
    const stored = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', namespace: ns });
    expect(stored?.['data']).toEqual({ k: '1' });
  });

  it('names an unreachable admission webhook and its Service instead of a raw 500', async () => {
    const ns = uniqueName('hook');
    const hookName = `${ns}.kfops.test`;
    await applyObjects(client, [
      namespace(ns),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'guard', namespace: ns },
        spec: { selector: { app: 'guard' }, ports: [{ port: 443, targetPort: 8443 }] },
      },
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name: hookName },
        webhooks: [
          {
            name: hookName,
            clientConfig: { service: { name: 'guard', namespace: ns, path: '/validate' } },
            rules: [
              { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] },
            ],
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 2,
          },
        ],
      },
    ]);
    const blocked: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'x', namespace: ns },
      data: { a: 'b' },
    };
    const err = await applyObjects(client, [blocked], { retryBudgets: { 'webhook-unreachable': 1000 } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplyError);
    const e = (err as ApplyError).failures[0]?.error as KubeApiError;
    expect(e.reason).toBe('webhook-unreachable');
    expect(e.message).toContain(hookName);
    expect(e.details.cause).toContain(`Service ${ns}/guard`);
    expect(e.details.fix).toContain(`Service ${ns}/guard`);
    await client.remove({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      name: hookName,
    });
  });

  it('binds a PVC through the default StorageClass', async () => {
    const ns = uniqueName('pvc');
    // The default StorageClass must exist before the claim: admission assigns it at creation. Other
    // tests change StorageClasses too, so this one takes the fields it needs over (force).
    await applyObjects(client, [namespace(ns)]);
    await applyObjects(
      client,
      [
        {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: { name: 'kwok-volume', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
          provisioner: 'kwok.x-k8s.io/volume',
          volumeBindingMode: 'Immediate',
        },
      ],
      { fieldManager: 'test-setup', force: true },
    );
    await applyObjects(client, [
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data', namespace: ns },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    ]);
    const pvc = await waitFor(
      client,
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: 'data', namespace: ns },
      pvcRule,
      { timeoutMs: 30_000 },
    );
    expect((pvc['spec'] as { storageClassName?: string }).storageClassName).toBe('kwok-volume');
  });
});
