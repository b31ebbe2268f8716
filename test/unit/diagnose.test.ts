import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { formatDiagnosis, podProblems, selectorString } from '../../src/kube/diagnose.js';

const pod = (status: V1Pod['status']): V1Pod => ({ metadata: { name: 'p', namespace: 'ns' }, status });

describe('pod diagnosis', () => {
  it('builds label selectors', () => {
    expect(
      selectorString({
        matchLabels: { app: 'x' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'old', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=x,tier in (a,b),!old');
    expect(selectorString({})).toBeUndefined();
  });

  it('names the missing resource of an unschedulable pod (the seeds hit this at 0.5 CPU)', () => {
    const [p] = podProblems(
      pod({
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available: 3 Insufficient cpu, 2 Insufficient memory.',
          },
        ],
      }),
    );
    expect(p).toMatchObject({ kind: 'unschedulable', reason: 'Unschedulable' });
    expect(p?.fix).toContain('enough free cpu and memory');
  });

  it('points an unbound claim at the default StorageClass', () => {
    const [p] = podProblems(
      pod({
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.',
          },
        ],
      }),
    );
    expect(p?.kind).toBe('volume');
    expect(p?.fix).toContain('default StorageClass');
  });

  it('reports image pulls, crash loops (OOM included) and missing secrets', () => {
    const problems = podProblems(
      pod({
        phase: 'Running',
        containerStatuses: [
          {
            name: 'a',
            image: 'ghcr.io/x/y:bad',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } },
          },
          {
            name: 'b',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 4,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
          },
          {
            name: 'c',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "s3-credentials" not found' } },
          },
          { name: 'd', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
        ],
      }),
    );
    expect(problems.map((p) => p.kind)).toEqual(['image-pull', 'crash', 'container-config']);
    expect(problems[0]?.fix).toContain('ghcr.io/x/y:bad');
    expect(problems[1]).toMatchObject({ exitCode: 137, restarts: 4 });
    expect(problems[1]?.fix).toContain('resources.limits.memory');
    expect(problems[2]?.fix).toBe('create secret "s3-credentials" in namespace ns (the pod refers to it)');
  });

  it('formats a short report', () => {
    const text = formatDiagnosis({
      ref: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'mysql', namespace: 'kubeflow' },
      pods: 1,
      problems: [
        {
          kind: 'crash',
          pod: 'mysql-0',
          container: 'mysql',
          reason: 'Error (exit code 1)',
          message: '',
          fix: 'read the log',
        },
      ],
      events: [
        {
          type: 'Warning',
          reason: 'BackOff',
          object: 'Pod/mysql-0',
          message: 'Back-off restarting failed container',
          count: 5,
        },
      ],
      logTail: {
        pod: 'mysql-0',
        container: 'mysql',
        lines: ['[ERROR] --initialize specified but the data directory has files in it.'],
      },
    });
    expect(text).toBe(
      [
        'Deployment kubeflow/mysql: 1 pod(s), 1 problem(s)',
        '  ✗ mysql-0/mysql: Error (exit code 1)',
        '    fix: read the log',
        '  recent events:',
        '    Warning BackOff Pod/mysql-0 (x5): Back-off restarting failed container',
        '  log tail of mysql-0/mysql:',
        '    | [ERROR] --initialize specified but the data directory has files in it.',
      ].join('\n'),
    );
  });
});
