/**
 * CustomResourceDefinitions for the kinds deploy-inferenceservice writes, written for the tests: the
 * fields the action sets are typed (so server-side apply tracks them field by field and rejects typos),
 * the rest is kept as unknown fields. They are not KServe's or Istio's published schemas.
 */
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeClient } from '../../src/kube/client.js';
import { crdRule } from '../../src/kube/readiness.js';
import type { KubeObject } from '../../src/kube/types.js';
import { waitFor } from '../../src/kube/wait.js';
import { loadKubeflowRender } from './kubeflow-render.js';

const str = { type: 'string' };
const int = { type: 'integer' };
const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const quantityMap = {
  type: 'object',
  additionalProperties: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
};

export const inferenceServiceCrd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'inferenceservices.serving.kserve.io' },
  spec: {
    group: 'serving.kserve.io',
    scope: 'Namespaced',
    names: {
      kind: 'InferenceService',
      listKind: 'InferenceServiceList',
      plural: 'inferenceservices',
      singular: 'inferenceservice',
      shortNames: ['isvc'],
    },
    versions: [
      {
        name: 'v1beta1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'URL', type: 'string', jsonPath: '.status.url' },
          { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              apiVersion: str,
              kind: str,
              metadata: { type: 'object' },
              spec: {
                type: 'object',
                required: ['predictor'],
                properties: {
                  predictor: {
                    type: 'object',
                    'x-kubernetes-preserve-unknown-fields': true,
                    properties: {
                      serviceAccountName: str,
                      minReplicas: { ...int, minimum: 0 },
                      maxReplicas: { ...int, minimum: 0 },
                      canaryTrafficPercent: { ...int, minimum: 0, maximum: 100 },
                      timeout: int,
                      model: {
                        type: 'object',
                        'x-kubernetes-preserve-unknown-fields': true,
                        properties: {
                          modelFormat: { type: 'object', required: ['name'], properties: { name: str, version: str } },
                          runtime: str,
                          protocolVersion: { type: 'string', enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] },
                          storageUri: str,
                          resources: { type: 'object', properties: { requests: quantityMap, limits: quantityMap } },
                        },
                      },
                    },
                  },
                  transformer: open,
                  explainer: open,
                },
              },
              status: open,
            },
          },
        },
      },
    ],
  },
};

export const authorizationPolicyCrd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'authorizationpolicies.security.istio.io' },
  spec: {
    group: 'security.istio.io',
    scope: 'Namespaced',
    names: {
      kind: 'AuthorizationPolicy',
      listKind: 'AuthorizationPolicyList',
      plural: 'authorizationpolicies',
      singular: 'authorizationpolicy',
    },
    versions: ['v1beta1', 'v1'].map((name) => ({
      name,
      served: true,
      storage: name === 'v1beta1',
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              properties: {
                action: { type: 'string', enum: ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] },
                selector: { type: 'object', properties: { matchLabels: stringMap } },
                provider: open,
                rules: { type: 'array', items: open },
              },
            },
            status: open,
          },
        },
      },
    })),
  },
};

/** The webhooks of test/support/kubeflow-bundle.ts carry this suffix; their stand-in backends are gone once those tests end. */
const BUNDLE_WEBHOOK_SUFFIX = '.webhook.kubeflow-shaped.test';
/** The webhook configurations of the real Kubeflow render, which other files install with stand-ins that stop when they end. */
const RENDER_WEBHOOK_CONFIGURATIONS = new Set(
  loadKubeflowRender()
    .filter((o) => o.kind.endsWith('WebhookConfiguration'))
    .map((o) => `${o.kind}/${o.metadata.name}`),
);

async function gone(
  client: KubeClient,
  ref: { apiVersion: string; kind: string; name: string },
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await client.get(ref)) {
    if (Date.now() > deadline) throw new Error(`${ref.kind} ${ref.name} was not deleted within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Installs the test CRDs on a control plane that other test files share: leftovers of the Kubeflow render
 * and the synthetic bundle (fail-closed webhooks whose stand-in backends stopped, and their versions of these CRDs,
 * owned by another field manager) are removed first, so each file starts from a known state.
 */
export async function installTestCrds(client: KubeClient, crds: KubeObject[]): Promise<void> {
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
    const list = await client.list({ apiVersion: 'admissionregistration.k8s.io/v1', kind });
    for (const w of list.items) {
      if (
        RENDER_WEBHOOK_CONFIGURATIONS.has(`${kind}/${w.metadata.name}`) ||
        ((w['webhooks'] as { name: string }[] | undefined) ?? []).some((h) => h.name.endsWith(BUNDLE_WEBHOOK_SUFFIX))
      ) {
        await client.remove({ apiVersion: 'admissionregistration.k8s.io/v1', kind, name: w.metadata.name });
      }
    }
  }
  for (const crd of crds) {
    const ref = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crd.metadata.name };
    const live = await client.get(ref);
    if (live && !live.metadata.managedFields?.some((f) => f.manager === 'test-setup')) {
      await removeTestCrds(client, [crd]);
    }
  }
  await applyObjects(client, crds, { fieldManager: 'test-setup', force: true });
  for (const crd of crds) {
    await waitFor(
      client,
      { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crd.metadata.name },
      crdRule,
      { timeoutMs: 30_000 },
    );
  }
}

/** Deletes the CRDs (and so their objects, finalizers dropped first) and waits until they are gone. */
export async function removeTestCrds(client: KubeClient, crds: KubeObject[]): Promise<void> {
  for (const crd of crds) {
    const spec = crd['spec'] as {
      group: string;
      names: { kind: string };
      versions: { name: string; storage?: boolean }[];
    };
    const version = spec.versions.find((v) => v.storage)?.name ?? spec.versions[0]?.name ?? 'v1';
    const apiVersion = `${spec.group}/${version}`;
    const objects = await client
      .list({ apiVersion, kind: spec.names.kind })
      .catch(() => ({ items: [] as KubeObject[] }));
    for (const o of objects.items) {
      if (o.metadata.finalizers?.length) {
        const path = await client.objectPath({
          apiVersion,
          kind: spec.names.kind,
          name: o.metadata.name,
          ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
        });
        await client
          .request('PATCH', path, {
            body: { metadata: { finalizers: null } },
            contentType: 'application/merge-patch+json',
          })
          .catch(() => undefined);
      }
    }
    const ref = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crd.metadata.name };
    await client.remove(ref);
    await gone(client, ref);
    client.objects.forget(apiVersion);
  }
}
