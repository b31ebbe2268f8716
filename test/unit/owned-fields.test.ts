import { describe, expect, it } from 'vitest';
import { isPlaceholder, yieldOwnedPlaceholders, type ManagedFieldsEntry } from '../../src/kube/owned-fields.js';
import type { KubeObject } from '../../src/kube/types.js';

// Shapes as in the Kubeflow 1.9.1 render and managedFields as the API server writes them.
const webhookConfig = (): KubeObject => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingWebhookConfiguration',
  metadata: {
    name: 'servingruntime.serving.kserve.io',
    annotations: { 'cert-manager.io/inject-ca-from': 'kubeflow/serving-cert' },
  },
  webhooks: [
    {
      name: 'servingruntime.kserve-webhook-server.validator',
      admissionReviewVersions: ['v1beta1'],
      clientConfig: {
        caBundle: 'Cg==',
        service: { name: 'kserve-webhook-server-service', namespace: 'kubeflow', path: '/validate' },
      },
      failurePolicy: 'Fail',
      sideEffects: 'None',
    },
  ],
});
const hookKey = 'k:{"name":"servingruntime.kserve-webhook-server.validator"}';
const kfopsOwnsAll: ManagedFieldsEntry = {
  manager: 'kfops',
  operation: 'Apply',
  fieldsType: 'FieldsV1',
  fieldsV1: {
    'f:metadata': { 'f:annotations': { 'f:cert-manager.io/inject-ca-from': {} } },
    'f:webhooks': {
      [hookKey]: {
        '.': {},
        'f:admissionReviewVersions': {},
        'f:clientConfig': { 'f:service': { 'f:name': {} } },
        'f:failurePolicy': {},
        'f:name': {},
      },
    },
  },
};
const cainjector: ManagedFieldsEntry = {
  manager: 'cainjector',
  operation: 'Update',
  fieldsType: 'FieldsV1',
  fieldsV1: { 'f:webhooks': { [hookKey]: { 'f:clientConfig': { 'f:caBundle': {} } } } },
};

describe('fields a cluster component owns are left to it', () => {
  it('recognises empty values and base64 placeholders, and nothing else', () => {
    for (const v of ['', 'Cg==', 'IA==', 'CQo=', [], {}, null]) expect(isPlaceholder(v), JSON.stringify(v)).toBe(true);
    for (const v of ['LS0tLS1CRUdJTi', 'abcd', 'a', [1], { a: 1 }, 0, false, 'ICAgYQ=='])
      expect(isPlaceholder(v), JSON.stringify(v)).toBe(false);
  });

  it('drops a caBundle placeholder that cainjector injected, and keeps everything else', () => {
    const body = webhookConfig();
    const yielded = yieldOwnedPlaceholders(body, { metadata: { managedFields: [kfopsOwnsAll, cainjector] } }, 'kfops');
    expect(yielded).toEqual([
      {
        path: 'webhooks[name=servingruntime.kserve-webhook-server.validator].clientConfig.caBundle',
        managers: ['cainjector'],
      },
    ]);
    const hook = (body['webhooks'] as { clientConfig: Record<string, unknown> }[])[0];
    expect(hook?.clientConfig).toEqual({
      service: { name: 'kserve-webhook-server-service', namespace: 'kubeflow', path: '/validate' },
    });
    expect(body.metadata.annotations).toEqual({ 'cert-manager.io/inject-ca-from': 'kubeflow/serving-cert' });
  });

  it('keeps a placeholder that no other manager owns (first install) or that we still own', () => {
    const first = webhookConfig();
    expect(yieldOwnedPlaceholders(first, undefined, 'kfops')).toEqual([]);
    expect(yieldOwnedPlaceholders(first, { metadata: { managedFields: [kfopsOwnsAll] } }, 'kfops')).toEqual([]);
    // Shared ownership (both set the same value): applying it again cannot conflict.
    const shared = {
      ...kfopsOwnsAll,
      fieldsV1: { 'f:webhooks': { [hookKey]: { 'f:clientConfig': { 'f:caBundle': {} } } } },
    };
    const body = webhookConfig();
    expect(yieldOwnedPlaceholders(body, { metadata: { managedFields: [shared, cainjector] } }, 'kfops')).toEqual([]);
    expect((body['webhooks'] as { clientConfig: { caBundle?: string } }[])[0]?.clientConfig.caBundle).toBe('Cg==');
  });

  it('never drops a real value another manager owns (that is a conflict to report)', () => {
    const body = webhookConfig();
    (body['webhooks'] as { clientConfig: { caBundle: string } }[])[0]!.clientConfig.caBundle =
      'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t';
    expect(yieldOwnedPlaceholders(body, { metadata: { managedFields: [kfopsOwnsAll, cainjector] } }, 'kfops')).toEqual(
      [],
    );
  });

  it('leaves the rules of an aggregated ClusterRole to the aggregation controller', () => {
    const role: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'kubeflow-edit' },
      aggregationRule: {
        clusterRoleSelectors: [
          { matchLabels: { 'rbac.authorization.kubeflow.org/aggregate-to-kubeflow-edit': 'true' } },
        ],
      },
      rules: [],
    };
    const managedFields: ManagedFieldsEntry[] = [
      {
        manager: 'kfops',
        operation: 'Apply',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:aggregationRule': { 'f:clusterRoleSelectors': {} } },
      },
      {
        manager: 'clusterrole-aggregation-controller',
        operation: 'Apply',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:rules': {} },
      },
    ];
    expect(yieldOwnedPlaceholders(role, { metadata: { managedFields } }, 'kfops')).toEqual([
      { path: 'rules', managers: ['clusterrole-aggregation-controller'] },
    ]);
    expect('rules' in role).toBe(false);
    expect(role['aggregationRule']).toBeDefined();
  });

  it('ignores status subresource entries and never touches name or namespace', () => {
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n' }, data: {} };
    const managedFields: ManagedFieldsEntry[] = [
      {
        manager: 'other',
        operation: 'Update',
        subresource: 'status',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': {} },
      },
      { manager: 'other', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:name': {} } } },
    ];
    expect(yieldOwnedPlaceholders(cm, { metadata: { managedFields } }, 'kfops')).toEqual([]);
    expect(cm['data']).toEqual({});
  });
});
