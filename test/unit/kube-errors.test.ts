import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { explainKubeError, healableClass } from '../../src/kube/errors.js';

// Status bodies as kube-apiserver returns them.
const status = (code: number, reason: string, message: string, details?: unknown) =>
  new ApiException(
    code,
    'Unsuccessful HTTP Request',
    { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message, ...(details ? { details } : {}) },
    {},
  );

describe('explainKubeError', () => {
  it('names user, verb, resource and namespace of a Forbidden', () => {
    const e = explainKubeError(
      status(
        403,
        'Forbidden',
        'deployments.apps "web" is forbidden: User "alice" cannot patch resource "deployments" in API group "apps" in the namespace "team-a"',
      ),
      { action: 'apply' },
    );
    expect(e.reason).toBe('forbidden');
    expect(e.message).toBe(
      'apply failed: forbidden: user "alice" may not patch deployments.apps in namespace "team-a"',
    );
    expect(e.details.fix).toContain('Role and RoleBinding');
    const cluster = explainKubeError(
      status(
        403,
        'Forbidden',
        'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope',
      ),
      { action: 'preflight' },
    );
    expect(cluster.message).toBe('preflight failed: forbidden: user "bob" may not list nodes at the cluster scope');
    expect(cluster.details.fix).toContain('ClusterRole and ClusterRoleBinding');
  });

  it('names the webhook and its Service when a webhook cannot be called, and treats it as healable', () => {
    const err = status(
      500,
      'InternalError',
      'Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s": dial tcp 10.96.0.12:443: connect: connection refused',
    );
    const e = explainKubeError(err, { action: 'apply' });
    expect(e.reason).toBe('webhook-unreachable');
    expect(e.message).toContain('"webhook.cert-manager.io"');
    expect(e.details.cause).toContain('Service cert-manager/cert-manager-webhook');
    expect(e.details.fix).toContain('Service cert-manager/cert-manager-webhook');
    expect(healableClass(err)).toBe('webhook-unreachable');
  });

  it('a webhook that denied the request is not healable', () => {
    const err = status(
      400,
      'BadRequest',
      'admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: invalid storageUri',
    );
    expect(explainKubeError(err, { action: 'apply' }).reason).toBe('webhook-denied');
    expect(healableClass(err)).toBeUndefined();
  });

  it('names the missing CRD for a kind the server does not serve', () => {
    const e = explainKubeError(
      new Error('Unrecognized API version and kind: serving.kserve.io/v1beta1 InferenceService'),
      { action: 'apply' },
    );
    expect(e.reason).toBe('kind-not-served');
    expect(e.message).toContain('InferenceService in serving.kserve.io/v1beta1');
    expect(e.details.fix).toContain('CustomResourceDefinition that defines InferenceService');
    const kubectlStyle = explainKubeError(new Error('no matches for kind "Profile" in version "kubeflow.org/v1"'), {
      action: 'apply',
    });
    expect(kubectlStyle.message).toContain('Profile in kubeflow.org/v1');
  });

  it('lists the conflicting fields of a server-side apply conflict', () => {
    const e = explainKubeError(
      status(
        409,
        'Conflict',
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas',
        {
          causes: [
            {
              reason: 'FieldManagerConflict',
              message: 'conflict with "kubectl-edit" using apps/v1',
              field: '.spec.replicas',
            },
          ],
        },
      ),
      { action: 'apply' },
    );
    expect(e.reason).toBe('conflict');
    expect(e.details.cause).toContain('kubectl-edit');
    expect(e.details.fix).toContain('force-conflicts');
  });

  it('lists invalid fields', () => {
    const e = explainKubeError(
      status(422, 'Invalid', 'Deployment.apps "x" is invalid', {
        causes: [{ field: 'spec.replicas', message: 'must be >= 0' }],
      }),
      { action: 'apply' },
    );
    expect(e.reason).toBe('invalid');
    expect(e.details.cause).toBe('spec.replicas: must be >= 0');
  });

  it('classifies throttling, server errors and connection failures as healable, and says where the server is', () => {
    expect(healableClass(status(429, 'TooManyRequests', 'slow down'))).toBe('throttled');
    expect(healableClass(status(503, 'ServiceUnavailable', 'etcd leader changed'))).toBe('server');
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
    });
    const e = explainKubeError(refused, { action: 'reach', server: 'https://127.0.0.1:6443' });
    expect(e.reason).toBe('unreachable');
    expect(e.message).toContain('https://127.0.0.1:6443');
    expect(healableClass(refused)).toBe('unreachable');
    expect(healableClass(status(403, 'Forbidden', 'no'))).toBeUndefined();
  });

  it('reports a field missing from a schema as invalid, not as a retryable 500', () => {
    const err = status(
      500,
      'InternalError',
      'failed to create typed patch object (default/g; x.io/v1, Kind=Gadget): .status: field not declared in schema',
    );
    expect(explainKubeError(err, { action: 'apply' }).reason).toBe('invalid');
    expect(healableClass(err)).toBeUndefined();
  });
});
