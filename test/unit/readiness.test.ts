import { describe, expect, it } from 'vitest';
import {
  crdRule,
  daemonSetRule,
  deploymentRule,
  existsRule,
  jobRule,
  namespaceRule,
  pvcRule,
  readyConditionRule,
  ruleFor,
  statefulSetRule,
} from '../../src/kube/readiness.js';
import type { KubeObject } from '../../src/kube/types.js';

const obj = (kind: string, extra: Record<string, unknown>, generation?: number): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: { name: 'x', ...(generation !== undefined ? { generation } : {}) },
  ...extra,
});

describe('readiness rules', () => {
  it('Deployment: needs the current generation observed, all replicas updated and available, and Available=True', () => {
    const available = { type: 'Available', status: 'True' };
    expect(
      deploymentRule.check(obj('Deployment', { spec: { replicas: 2 }, status: { observedGeneration: 1 } }, 2)),
    ).toMatchObject({ state: 'pending', message: expect.stringContaining('generation 2') });
    expect(
      deploymentRule.check(
        obj(
          'Deployment',
          {
            spec: { replicas: 2 },
            status: {
              observedGeneration: 2,
              replicas: 2,
              updatedReplicas: 1,
              availableReplicas: 2,
              conditions: [available],
            },
          },
          2,
        ),
      ).state,
    ).toBe('pending');
    expect(
      deploymentRule.check(
        obj(
          'Deployment',
          {
            spec: { replicas: 2 },
            status: {
              observedGeneration: 2,
              replicas: 3,
              updatedReplicas: 2,
              availableReplicas: 2,
              conditions: [available],
            },
          },
          2,
        ),
      ).message,
    ).toMatch(/old replica/);
    expect(
      deploymentRule.check(
        obj(
          'Deployment',
          {
            spec: { replicas: 2 },
            status: {
              observedGeneration: 2,
              replicas: 2,
              updatedReplicas: 2,
              availableReplicas: 1,
              conditions: [available],
            },
          },
          2,
        ),
      ).state,
    ).toBe('pending');
    expect(
      deploymentRule.check(
        obj(
          'Deployment',
          {
            spec: { replicas: 2 },
            status: {
              observedGeneration: 2,
              replicas: 2,
              updatedReplicas: 2,
              availableReplicas: 2,
              conditions: [available],
            },
          },
          2,
        ),
      ),
    ).toEqual({ state: 'ready', message: '2/2 available, 2 updated' });
    expect(
      deploymentRule.check(
        obj(
          'Deployment',
          {
            spec: { replicas: 1 },
            status: {
              observedGeneration: 2,
              conditions: [
                {
                  type: 'Progressing',
                  status: 'False',
                  reason: 'ProgressDeadlineExceeded',
                  message: 'ReplicaSet "x" has timed out progressing.',
                },
              ],
            },
          },
          2,
        ),
      ).state,
    ).toBe('failed');
  });

  it('StatefulSet: ready replicas and current revision', () => {
    const base = { spec: { replicas: 1 } };
    expect(
      statefulSetRule.check(
        obj(
          'StatefulSet',
          {
            ...base,
            status: {
              observedGeneration: 1,
              readyReplicas: 1,
              updatedReplicas: 1,
              currentRevision: 'a',
              updateRevision: 'b',
            },
          },
          1,
        ),
      ).state,
    ).toBe('pending');
    expect(
      statefulSetRule.check(
        obj(
          'StatefulSet',
          {
            ...base,
            status: {
              observedGeneration: 1,
              readyReplicas: 1,
              updatedReplicas: 1,
              currentRevision: 'b',
              updateRevision: 'b',
            },
          },
          1,
        ),
      ).state,
    ).toBe('ready');
  });

  it('DaemonSet: every scheduled pod updated and available', () => {
    expect(
      daemonSetRule.check(
        obj(
          'DaemonSet',
          {
            status: { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 },
          },
          1,
        ),
      ).state,
    ).toBe('pending');
    expect(
      daemonSetRule.check(
        obj(
          'DaemonSet',
          {
            status: { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 },
          },
          1,
        ),
      ).state,
    ).toBe('ready');
  });

  it('Job: Complete is ready, Failed fails at once', () => {
    expect(
      jobRule.check(obj('Job', { status: { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] } })).state,
    ).toBe('ready');
    expect(
      jobRule.check(
        obj('Job', {
          status: { failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] },
        }),
      ),
    ).toMatchObject({ state: 'failed', message: expect.stringContaining('BackoffLimitExceeded') });
    expect(jobRule.check(obj('Job', { status: { active: 1 } })).state).toBe('pending');
  });

  it('PVC: Bound, and a Pending claim without a StorageClass says so', () => {
    expect(pvcRule.check(obj('PersistentVolumeClaim', { spec: {}, status: { phase: 'Bound' } })).state).toBe('ready');
    expect(pvcRule.check(obj('PersistentVolumeClaim', { spec: {}, status: { phase: 'Pending' } })).message).toMatch(
      /no default StorageClass/,
    );
    expect(
      pvcRule.check(
        obj('PersistentVolumeClaim', { spec: { storageClassName: 'standard' }, status: { phase: 'Pending' } }),
      ).message,
    ).toMatch(/"standard"/);
    expect(pvcRule.check(obj('PersistentVolumeClaim', { status: { phase: 'Lost' } })).state).toBe('failed');
  });

  it('CRD: Established, and rejected names fail', () => {
    expect(
      crdRule.check(
        obj('CustomResourceDefinition', {
          status: {
            conditions: [
              { type: 'NamesAccepted', status: 'True' },
              { type: 'Established', status: 'True' },
            ],
          },
        }),
      ).state,
    ).toBe('ready');
    expect(
      crdRule.check(
        obj('CustomResourceDefinition', {
          status: { conditions: [{ type: 'NamesAccepted', status: 'False', message: 'plural "x" conflicts' }] },
        }),
      ).state,
    ).toBe('failed');
    expect(crdRule.check(obj('CustomResourceDefinition', {})).state).toBe('pending');
  });

  it('Namespace: Active; Terminating fails', () => {
    expect(namespaceRule.check(obj('Namespace', { status: { phase: 'Active' } })).state).toBe('ready');
    expect(namespaceRule.check(obj('Namespace', { status: { phase: 'Terminating' } })).state).toBe('failed');
  });

  it('Ready condition: True is ready; the reason and message of False are reported; stale generations wait', () => {
    expect(
      readyConditionRule.check(obj('InferenceService', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }))
        .state,
    ).toBe('ready');
    expect(
      readyConditionRule.check(
        obj('InferenceService', {
          status: {
            conditions: [
              {
                type: 'Ready',
                status: 'False',
                reason: 'RevisionMissing',
                message: 'Configuration "x" does not have any ready Revision.',
              },
            ],
          },
        }),
      ).message,
    ).toBe('Ready is False (RevisionMissing: Configuration "x" does not have any ready Revision.)');
    expect(
      readyConditionRule.check(
        obj(
          'InferenceService',
          { status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }] } },
          2,
        ),
      ).state,
    ).toBe('pending');
  });

  it('chooses a rule by kind, by Ready condition, or existence', () => {
    expect(ruleFor({ kind: 'Deployment' })).toBe(deploymentRule);
    expect(ruleFor({ kind: 'Pod' })).toBe(readyConditionRule);
    expect(ruleFor(obj('Certificate', { status: { conditions: [{ type: 'Ready', status: 'False' }] } }))).toBe(
      readyConditionRule,
    );
    expect(ruleFor({ kind: 'ConfigMap' })).toBe(existsRule);
  });
});
