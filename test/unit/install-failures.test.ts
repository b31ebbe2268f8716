import type { CoreV1Event } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { abortableSleep, withRetry } from '../../src/common/retry.js';
import { ApplyError } from '../../src/kube/apply.js';
import { creationProblems } from '../../src/kube/diagnose.js';
import { explainKubeError, explainWebhookRefusal, type KubeApiError } from '../../src/kube/errors.js';
import type { ObjectRef } from '../../src/kube/types.js';

const status = (
  code: number,
  reason: string,
  message: string,
  causes: { message: string; field?: string }[] = [],
): unknown => ({ code, body: { kind: 'Status', code, reason, message, details: { causes } } });
const role = (name: string): ObjectRef => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name });
const webhookRefusal = (detail: string): KubeApiError =>
  explainKubeError(
    status(
      500,
      'InternalError',
      `Internal error occurred: failed calling webhook "clusterservingruntime.kserve-webhook-server.validator": failed to call webhook: Post "https://kserve-webhook-server-service.kubeflow.svc:443/validate-serving-kserve-io-v1alpha1-clusterservingruntime?timeout=10s": ${detail}`,
    ),
    {
      action: 'apply',
      ref: { apiVersion: 'serving.kserve.io/v1alpha1', kind: 'ClusterServingRuntime', name: 'kserve-sklearnserver' },
    },
  );

describe('an apply that fails on several objects', () => {
  it('lists every distinct cause with its objects, not only the first', () => {
    const conflict = (field: string): KubeApiError =>
      explainKubeError(
        status(409, 'Conflict', 'Apply failed with 1 conflict', [
          { message: `conflict with "${field}": .rules`, field: '.rules' },
        ]),
        { action: 'apply' },
      );
    const failures = [
      { ref: role('kubeflow-edit'), error: conflict('clusterrole-aggregation-controller') },
      { ref: role('kubeflow-view'), error: conflict('clusterrole-aggregation-controller') },
      { ref: role('other'), error: conflict('someone-else') },
    ];
    const e = new ApplyError(failures, { applied: [], counts: { created: 0, configured: 0, unchanged: 0 } });
    expect(e.details.cause).toContain(
      'ClusterRole kubeflow-edit, ClusterRole kubeflow-view: conflict with "clusterrole-aggregation-controller": .rules',
    );
    expect(e.details.cause).toContain('ClusterRole other: conflict with "someone-else": .rules');
    expect(e.details.fix).toContain('force-conflicts');
  });
});

describe('a webhook that cannot be called', () => {
  it('keeps the webhook, its Service and the detail', () => {
    const e = webhookRefusal('dial tcp 127.0.96.40:443: connect: connection refused');
    expect(e.reason).toBe('webhook-unreachable');
    expect(e.webhook).toEqual({
      name: 'clusterservingruntime.kserve-webhook-server.validator',
      service: { namespace: 'kubeflow', name: 'kserve-webhook-server-service' },
      detail: expect.stringContaining('connection refused'),
    });
  });

  it('while its Service has ready endpoints: the fix is the network path or the CA bundle, never "wait for endpoints"', () => {
    const refused = explainWebhookRefusal(webhookRefusal('dial tcp 127.0.96.40:443: connect: connection refused'), {
      namespace: 'kubeflow',
      name: 'kserve-webhook-server-service',
      endpoints: 1,
      targetPort: 'webhook-server',
    });
    expect(refused.details.cause).toContain(
      'Service kubeflow/kserve-webhook-server-service has 1 ready endpoint(s), yet the API server could not call webhook "clusterservingruntime.kserve-webhook-server.validator"',
    );
    expect(refused.details.fix).toContain('firewall rule');
    expect(refused.details.fix).toContain('webhook-server');
    expect(refused.details.fix).not.toMatch(/wait|ready endpoints/);
    const x509 = explainWebhookRefusal(
      webhookRefusal('tls: failed to verify certificate: x509: certificate signed by unknown authority'),
      {
        namespace: 'kubeflow',
        name: 'kserve-webhook-server-service',
        endpoints: 1,
        injectedBy: "cert-manager's cainjector (annotation cert-manager.io/inject-ca-from: kubeflow/serving-cert)",
      },
    );
    expect(x509.details.fix).toContain(
      "caBundle does not hold the CA that signed the serving certificate of Service kubeflow/kserve-webhook-server-service: make sure cert-manager's cainjector (annotation cert-manager.io/inject-ca-from: kubeflow/serving-cert) is running",
    );
    expect(x509.message).toContain('although Service kubeflow/kserve-webhook-server-service has ready endpoints');
  });
});

describe('pods that were never created', () => {
  it('are named from the FailedCreate events of their controller, with the cause', () => {
    const event = (kind: string, name: string, message: string): CoreV1Event => ({
      type: 'Warning',
      reason: 'FailedCreate',
      involvedObject: { kind, name },
      message,
      metadata: {},
    });
    const problems = creationProblems([
      event(
        'ReplicaSet',
        'centraldashboard-5d8f',
        'Error creating: Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout=10s": dial tcp 127.0.96.12:443: connect: connection refused',
      ),
      event('ReplicaSet', 'centraldashboard-5d8f', 'Error creating: the same again'),
      event(
        'StatefulSet',
        'metacontroller',
        'create Pod metacontroller-0 in StatefulSet metacontroller failed error: pods "metacontroller-0" is forbidden: exceeded quota: compute',
      ),
      { ...event('ReplicaSet', 'x', 'Scaled up'), type: 'Normal', reason: 'SuccessfulCreate' },
    ]);
    expect(problems.map((p) => [p.pod, p.reason])).toEqual([
      ['ReplicaSet/centraldashboard-5d8f', 'FailedCreate: admission webhook not reachable'],
      ['StatefulSet/metacontroller', 'FailedCreate: quota exceeded'],
    ]);
    expect(problems[0]?.fix).toContain('namespace.sidecar-injector.istio.io');
  });
});

describe('retries that are cancelled', () => {
  it('stop waiting at once and throw the last error', async () => {
    const controller = new AbortController();
    let attempts = 0;
    const started = Date.now();
    setTimeout(() => controller.abort(), 50);
    const error = await withRetry(
      'apply x',
      async () => {
        attempts++;
        throw new Error('throttled');
      },
      { classify: () => 'throttled', budgets: { throttled: 60_000 }, initialDelayMs: 10_000 },
      { signal: controller.signal },
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe('throttled');
    expect(attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('log each retry at info level with the class, the delay and the budget left', async () => {
    const lines: string[] = [];
    const logger = {
      debug: () => undefined,
      info: (m: string) => lines.push(m),
      warning: () => undefined,
      error: () => undefined,
      group: <T>(_: string, fn: () => Promise<T>) => fn(),
    };
    let n = 0;
    await withRetry(
      'apply y',
      async () => (n++ < 1 ? Promise.reject(new Error('429')) : 'ok'),
      { classify: () => 'throttled', budgets: { throttled: 60_000 }, initialDelayMs: 2 },
      { logger, random: () => 0 },
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^apply y: throttled \(429\); retry 1 in 1 ms, 60 s left of its 60 s budget$/);
  });

  it('abortableSleep ends early when aborted', async () => {
    const c = new AbortController();
    const t0 = Date.now();
    setTimeout(() => c.abort(), 20);
    await abortableSleep(5_000, c.signal);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
