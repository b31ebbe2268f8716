/**
 * What the KServe controller (with Knative) would write, for a control plane where neither runs. Two parts:
 * - KServeStandin: a small controller for one namespace. For each new InferenceService generation it
 *   creates a predictor Pod for a new revision when the revision template changed (the scheduler places
 *   it, kwok runs it), and writes the status subresource: Unknown until that pod is Ready, then Ready with
 *   URL, address, revisions and the traffic split (canary percent to the latest revision, the rest to the
 *   previous rolled-out one). It writes through its own client, never the one under test.
 * - Writers for failure tests: a node no kwok manages (so pod statuses stay as written), pods on it, pod
 *   statuses and kubelet-like Events, InferenceService statuses.
 */
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../../src/kube/client.js';
import type { KubeObject } from '../../src/kube/types.js';
import { stableJson } from '../../src/common/json.js';
import { withoutCanary } from '../../src/kserve/inferenceservice.js';

const ISVC_PATH = (ns: string): string => `/apis/serving.kserve.io/v1beta1/namespaces/${ns}/inferenceservices`;

interface Memory {
  template: string;
  count: number;
  latest?: string;
  rolledOut?: string;
  previousRolledOut?: string;
}

export class KServeStandin {
  private abort?: AbortController;
  private readonly memory = new Map<string, Memory>();
  private chain = Promise.resolve();
  readonly errors: unknown[] = [];
  /** Revisions whose pods are made to fail readiness (the pod is created, never Ready). */
  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly options: { podReadyTimeoutMs?: number } = {},
  ) {}

  async start(): Promise<void> {
    // Right after its CRD is created, the API server may answer 429 while the kind's storage starts.
    let list: { items: KubeObject[]; metadata: { resourceVersion: string } } | undefined;
    for (let attempt = 0; !list; attempt++) {
      list = await this.client
        .request<{ items: KubeObject[]; metadata: { resourceVersion: string } }>('GET', ISVC_PATH(this.namespace))
        .catch(async (e: unknown) => {
          if ((e as { code?: number }).code !== 429 || attempt > 50) throw e;
          await new Promise((r) => setTimeout(r, 200));
          return undefined;
        });
    }
    for (const i of list.items) this.enqueue(i);
    this.abort = await this.client.watcher.watch(
      ISVC_PATH(this.namespace),
      { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true },
      (type: string, obj: KubeObject) => {
        if (type === 'ADDED' || type === 'MODIFIED') this.enqueue(obj);
      },
      () => undefined,
    );
  }

  stop(): void {
    this.abort?.abort();
  }

  private enqueue(obj: KubeObject): void {
    this.chain = this.chain
      .then(() => this.reconcile(obj))
      .catch((e: unknown) => {
        this.errors.push(e);
      });
  }

  private async reconcile(seen: KubeObject): Promise<void> {
    const obj = await this.client
      .request<KubeObject>('GET', `${ISVC_PATH(this.namespace)}/${seen.metadata.name}`)
      .catch(() => undefined);
    if (!obj) return;
    const generation = obj.metadata.generation ?? 1;
    const status = (obj['status'] ?? {}) as { observedGeneration?: number };
    if (status.observedGeneration === generation) return;
    const name = obj.metadata.name;
    const predictor = ((obj['spec'] as { predictor?: Record<string, unknown> }).predictor ?? {}) as Record<
      string,
      unknown
    >;
    const template = stableJson(withoutCanary(predictor));
    const m: Memory = this.memory.get(name) ?? { template: '', count: 0 };
    let pod: KubeObject | undefined;
    if (m.template !== template) {
      m.template = template;
      m.count++;
      m.latest = `${name}-predictor-${String(m.count).padStart(5, '0')}`;
      this.memory.set(name, m);
      await this.writeStatus(name, {
        observedGeneration: generation,
        conditions: [
          { type: 'PredictorReady', status: 'Unknown', reason: 'RevisionPending' },
          { type: 'Ready', status: 'Unknown', reason: 'RevisionPending' },
        ],
        components: {
          predictor: {
            latestCreatedRevision: m.latest,
            ...(m.rolledOut ? { latestReadyRevision: m.rolledOut, latestRolledoutRevision: m.rolledOut } : {}),
          },
        },
      });
      pod = await this.createPod(name, m.latest, predictor);
      if (!(await this.podReady(pod.metadata.name))) return; // Knative would keep waiting (and report at its deadline).
    }
    const latest = m.latest as string;
    const canary = predictor['canaryTrafficPercent'];
    const split = typeof canary === 'number' && m.rolledOut && m.rolledOut !== latest;
    const traffic = split
      ? [
          { revisionName: latest, percent: canary, latestRevision: true, tag: 'latest' },
          { revisionName: m.rolledOut, percent: 100 - canary, latestRevision: false, tag: 'prev' },
        ].filter((t) => (t.percent as number) > 0 || t.latestRevision)
      : [{ revisionName: latest, percent: 100, latestRevision: true }];
    if (!split && m.rolledOut !== latest) {
      m.previousRolledOut = m.rolledOut;
      m.rolledOut = latest;
    }
    const ns = this.namespace;
    await this.writeStatus(name, {
      observedGeneration: generation,
      url: `http://${name}.${ns}.example.com`,
      address: { url: `http://${name}-predictor.${ns}.svc.cluster.local` },
      conditions: [
        'IngressReady',
        'LatestDeploymentReady',
        'PredictorConfigurationReady',
        'PredictorReady',
        'PredictorRouteReady',
        'Ready',
      ].map((type) => ({ type, status: 'True', lastTransitionTime: new Date().toISOString() })),
      components: {
        predictor: {
          latestCreatedRevision: latest,
          latestReadyRevision: latest,
          ...(split
            ? { latestRolledoutRevision: m.rolledOut, previousRolledoutRevision: m.rolledOut }
            : {
                latestRolledoutRevision: latest,
                ...(m.previousRolledOut ? { previousRolledoutRevision: m.previousRolledOut } : {}),
              }),
          traffic,
          url: `http://${name}-predictor.${ns}.example.com`,
        },
      },
      modelStatus: { transitionStatus: 'UpToDate', states: { activeModelState: 'Loaded', targetModelState: 'Loaded' } },
    });
    // Revisions that no longer take traffic scale to zero.
    const serving = new Set(traffic.map((t) => t.revisionName));
    const pods = await this.client.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${ns}/pods`, {
      query: { labelSelector: `serving.kserve.io/inferenceservice=${name}` },
    });
    for (const p of pods.items) {
      if (!serving.has(p.metadata.labels?.['serving.knative.dev/revision'] ?? '')) {
        await this.client.request('DELETE', `/api/v1/namespaces/${ns}/pods/${p.metadata.name}`).catch(() => undefined);
      }
    }
  }

  private async createPod(isvc: string, revision: string, predictor: Record<string, unknown>): Promise<KubeObject> {
    const model = (predictor['model'] ?? {}) as { storageUri?: string; resources?: unknown };
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${revision}-deployment-${randomBytes(3).toString('hex')}`,
        namespace: this.namespace,
        labels: {
          'serving.kserve.io/inferenceservice': isvc,
          'serving.knative.dev/revision': revision,
          'serving.knative.dev/service': `${isvc}-predictor`,
          component: 'predictor',
        },
      },
      spec: {
        ...(predictor['serviceAccountName'] ? { serviceAccountName: predictor['serviceAccountName'] } : {}),
        automountServiceAccountToken: false,
        initContainers: [
          {
            name: 'storage-initializer',
            image: 'kserve/storage-initializer:v0.13.1',
            args: [model.storageUri ?? '', '/mnt/models'],
            terminationMessagePolicy: 'FallbackToLogsOnError',
          },
        ],
        containers: [
          {
            name: 'kserve-container',
            image: 'docker.io/seldonio/mlserver:1.3.2',
            ...(model.resources ? { resources: model.resources } : {}),
          },
        ],
      },
    };
    return this.client.request<KubeObject>('POST', `/api/v1/namespaces/${this.namespace}/pods`, { body });
  }

  private async podReady(name: string): Promise<boolean> {
    const deadline = Date.now() + (this.options.podReadyTimeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      const pod = await this.client
        .request<KubeObject>('GET', `/api/v1/namespaces/${this.namespace}/pods/${name}`)
        .catch(() => undefined);
      const ready = (
        (pod?.['status'] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []
      ).find((c) => c.type === 'Ready');
      if (ready?.status === 'True') return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  private async writeStatus(name: string, status: Record<string, unknown>): Promise<void> {
    await writeIsvcStatus(this.client, this.namespace, name, status);
  }
}

/** Replaces an InferenceService's status (the status subresource, as the controller does). */
export async function writeIsvcStatus(
  client: KubeClient,
  namespace: string,
  name: string,
  status: Record<string, unknown>,
): Promise<void> {
  const path = `${ISVC_PATH(namespace)}/${name}/status`;
  await client.request('PATCH', path, { body: { status: null }, contentType: 'application/merge-patch+json' });
  await client.request('PATCH', path, { body: { status }, contentType: 'application/merge-patch+json' });
}

export const STATIC_NODE = 'kfops-static-node';

/** A Node that kwok does not manage: statuses written on its pods stay as written. */
export async function ensureStaticNode(client: KubeClient): Promise<void> {
  const existing = await client.get({ apiVersion: 'v1', kind: 'Node', name: STATIC_NODE });
  if (existing) return;
  await client.request('POST', '/api/v1/nodes', {
    body: {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: STATIC_NODE, labels: { 'kubernetes.io/hostname': STATIC_NODE } },
      spec: { unschedulable: true },
    },
  });
}

/**
 * A predictor pod on the static node, with the status a kubelet would report; `before` runs between the
 * pod's creation and its status (e.g. to record the Events a kubelet emits before the status changes).
 */
export async function predictorPodWithStatus(
  client: KubeClient,
  namespace: string,
  isvc: string,
  revision: string,
  status: Record<string, unknown>,
  before?: (pod: string) => Promise<void>,
): Promise<string> {
  const name = `${revision}-deployment-${randomBytes(3).toString('hex')}`;
  await client.request('POST', `/api/v1/namespaces/${namespace}/pods`, {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: {
          'serving.kserve.io/inferenceservice': isvc,
          'serving.knative.dev/revision': revision,
          'serving.knative.dev/service': `${isvc}-predictor`,
          component: 'predictor',
        },
      },
      spec: {
        nodeName: STATIC_NODE,
        automountServiceAccountToken: false,
        initContainers: [
          {
            name: 'storage-initializer',
            image: 'kserve/storage-initializer:v0.13.1',
            args: ['s3://models/x', '/mnt/models'],
          },
        ],
        containers: [{ name: 'kserve-container', image: 'docker.io/seldonio/mlserver:1.3.2' }],
      },
    },
  });
  await before?.(name);
  await client.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
    body: { status },
    contentType: 'application/merge-patch+json',
  });
  return name;
}

/** A core/v1 Event like the kubelet or a controller records. */
export async function recordEvent(
  client: KubeClient,
  namespace: string,
  involved: { kind: string; name: string; apiVersion?: string },
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  source = 'kubelet',
): Promise<void> {
  const now = new Date().toISOString();
  await client.request('POST', `/api/v1/namespaces/${namespace}/events`, {
    body: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${involved.name}.${randomBytes(6).toString('hex')}`, namespace },
      involvedObject: { kind: involved.kind, name: involved.name, namespace, apiVersion: involved.apiVersion ?? 'v1' },
      type,
      reason,
      message,
      source: { component: source },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}

/** RBAC for the stand-in's own identity: read InferenceServices, write their status, manage pods and events. */
export function standinRbac(user: string): KubeObject[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'kfops-test-kserve-controller' },
      rules: [
        { apiGroups: ['serving.kserve.io'], resources: ['inferenceservices'], verbs: ['get', 'list', 'watch'] },
        {
          apiGroups: ['serving.kserve.io'],
          resources: ['inferenceservices/status'],
          verbs: ['get', 'patch', 'update'],
        },
        {
          apiGroups: [''],
          resources: ['pods', 'events', 'nodes'],
          verbs: ['get', 'list', 'watch', 'create', 'delete'],
        },
        { apiGroups: [''], resources: ['pods/status'], verbs: ['patch', 'update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'kfops-test-kserve-controller' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kfops-test-kserve-controller' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  ];
}
