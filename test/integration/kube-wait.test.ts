import { describe, expect, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import { diagnose, formatDiagnosis } from '../../src/kube/diagnose.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { deploymentRule, jobRule, readyConditionRule, ruleFor } from '../../src/kube/readiness.js';
import type { KubeObject } from '../../src/kube/types.js';
import { waitFor, WaitTimeoutError } from '../../src/kube/wait.js';
import { adminClient, recordingLogger, sleep, uniqueName, userClient } from './helpers.js';

const client = adminClient();

async function freshNamespace(prefix: string): Promise<string> {
  const ns = uniqueName(prefix);
  await applyObjects(client, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  return ns;
}

function podSpec(cpu: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return {
    metadata: { labels: { app: 'w', ...labels } },
    spec: {
      restartPolicy: 'Always',
      containers: [
        { name: 'main', image: 'registry.invalid/model:1', resources: { requests: { cpu, memory: '64Mi' } } },
      ],
    },
  };
}

describe('watch-based waiting and diagnosis on a real API server', () => {
  it('rejects at its deadline with the last observed status, and the diagnosis names the missing resource', async () => {
    const ns = await freshNamespace('never');
    const big: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'greedy', namespace: ns },
      spec: { replicas: 1, selector: { matchLabels: { app: 'w' } }, template: podSpec('1000') },
    };
    await applyObjects(client, [big]);
    const started = Date.now();
    const err = await waitFor(
      client,
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'greedy', namespace: ns },
      deploymentRule,
      { timeoutMs: 3000 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    const timeout = err as WaitTimeoutError;
    expect(timeout.message).toContain(`Deployment ${ns}/greedy`);
    expect(timeout.details.cause).toMatch(/0\/1 available/);
    expect(timeout.lastObject?.metadata.name).toBe('greedy');

    const d = await diagnose(client, timeout.lastObject as KubeObject);
    expect(d.pods).toBe(1);
    expect(d.problems[0]?.kind).toBe('unschedulable');
    expect(d.problems[0]?.message).toMatch(/Insufficient cpu/);
    expect(d.problems[0]?.fix).toMatch(/enough free cpu/);
    expect(d.events.some((e) => e.reason === 'FailedScheduling')).toBe(true);
    expect(formatDiagnosis(d)).toMatch(/fix: no node has enough free cpu/);
  });

  it('resumes from the last resourceVersion when the server ends the watch, and sees a later change', async () => {
    const group = `${uniqueName('r')}.kfops.test`;
    await applyObjects(client, [
      {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `gadgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: { status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
                },
              },
            },
          ],
        },
      },
    ]);
    const ns = await freshNamespace('resume');
    const gadget = (status?: unknown): KubeObject => ({
      apiVersion: `${group}/v1`,
      kind: 'Gadget',
      metadata: { name: 'g', namespace: ns },
      ...(status ? { status } : {}),
    });
    await applyObjects(client, [gadget({ conditions: [{ type: 'Ready', status: 'False', reason: 'Starting' }] })]);
    const logger = recordingLogger();
    const waiting = waitFor(
      client,
      { apiVersion: `${group}/v1`, kind: 'Gadget', name: 'g', namespace: ns },
      readyConditionRule,
      { timeoutMs: 30_000, watchTimeoutSeconds: 1, logger },
    );
    await sleep(2500);
    // A separate writer (as a controller would) sets Ready.
    await applyObjects(client, [gadget({ conditions: [{ type: 'Ready', status: 'True', reason: 'Done' }] })], {
      fieldManager: 'test-controller',
      force: true,
    });
    const obj = await waiting.catch((e: unknown) => {
      throw new Error(`${String(e)}\n${logger.lines.join('\n')}`);
    });
    expect(readyConditionRule.check(obj).state).toBe('ready');
    expect(logger.lines.some((l) => /resuming from resourceVersion \d+/.test(l))).toBe(true);
    expect(logger.lines.filter((l) => l.includes('listed at resourceVersion'))).toHaveLength(1);
  });

  it('waits for a Job to complete (pods run to completion on kwok nodes)', async () => {
    const ns = await freshNamespace('job');
    const job: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once', namespace: ns },
      spec: {
        backoffLimit: 0,
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'registry.invalid/job:1' }] } },
      },
    };
    await applyObjects(client, [job]);
    const done = await waitFor(
      client,
      { apiVersion: 'batch/v1', kind: 'Job', name: 'once', namespace: ns },
      ruleFor(job),
      { timeoutMs: 60_000 },
    );
    expect(jobRule.check(done).state).toBe('ready');
  });

  it('diagnoses a crashing container: reason, exit code, and why no log tail is available', async () => {
    const ns = await freshNamespace('crash');
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'crasher',
        namespace: ns,
        labels: { 'pod-container-running-failed.stage.kwok.x-k8s.io': 'true' },
        annotations: {
          'pod-container-running-failed.stage.kwok.x-k8s.io/exit-code': '3',
          'pod-container-running-failed.stage.kwok.x-k8s.io/reason': 'Error',
        },
      },
      spec: { restartPolicy: 'Never', containers: [{ name: 'model', image: 'registry.invalid/model:1' }] },
    };
    await applyObjects(client, [pod]);
    const failedPhase = {
      name: 'Pod Failed',
      check: (o: KubeObject) => ({
        state: (o['status'] as { phase?: string })?.phase === 'Failed' ? ('ready' as const) : ('pending' as const),
        message: String((o['status'] as { phase?: string })?.phase),
      }),
    };
    const observed = await waitFor(
      client,
      { apiVersion: 'v1', kind: 'Pod', name: 'crasher', namespace: ns },
      failedPhase,
      { timeoutMs: 30_000 },
    );
    const d = await diagnose(client, observed);
    expect(d.problems).toHaveLength(1);
    expect(d.problems[0]).toMatchObject({ kind: 'crash', pod: 'crasher', container: 'model', exitCode: 3 });
    expect(d.logTail && 'unavailable' in d.logTail).toBe(true);
    expect(formatDiagnosis(d)).toMatch(/crasher\/model: Error \(exit code 3\)/);
  });

  it('rejects a wait the user may not watch with a readable Forbidden, instead of waiting out the deadline', async () => {
    const ns = await freshNamespace('nowatch');
    const bob = userClient('bob@example.com');
    const started = Date.now();
    const err = await waitFor(
      bob,
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', namespace: ns },
      readyConditionRule,
      { timeoutMs: 20_000 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).reason).toBe('forbidden');
    expect((err as KubeApiError).message).toContain('user "bob@example.com" may not list configmaps');
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
