import { dirname } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { InstallError, install } from '../../src/kube/install.js';
import { generateKubeflowBundle, WEBHOOK_BACKENDS } from '../support/kubeflow-bundle.js';
import { clusterCaBundle, MUTATED_BY, startWebhookStandins, type Standins } from '../support/webhook-standin.js';
import { adminClient, recordingLogger, userClient } from './helpers.js';

const clusterDir = dirname(inject('kubeconfig'));
const client = adminClient();
let standins: Standins | undefined;
afterEach(async () => {
  await standins?.stop();
  standins = undefined;
});

describe('a phased install of the Kubeflow-shaped bundle on a real API server', () => {
  it('names the webhook whose Deployment never becomes ready, and the objects it blocks', async () => {
    const bundle = generateKubeflowBundle({ caBundle: clusterCaBundle(clusterDir), unschedulable: ['kubeflow/kserve-controller-manager'] });
    standins = startWebhookStandins(client, clusterDir, WEBHOOK_BACKENDS);
    const err = await install(client, bundle, { timeoutMs: 25_000, logger: recordingLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallError);
    const e = err as InstallError;
    const text = e.describe();
    expect(text).toContain('Service kubeflow/kserve-webhook-server-service ready (webhook ');
    expect(text).toContain('clusterservingruntime.serving.kserve.io');
    expect(text).toMatch(/it blocks 10 object\(s\): ClusterServingRuntime kserve-huggingfaceserver/);
    expect(text).toMatch(/Insufficient cpu/);
    expect(e.details.fix).toContain('Service kubeflow/kserve-webhook-server-service');
    // Everything not behind that webhook went in.
    expect(e.report.phases.length).toBeGreaterThanOrEqual(2);
    expect(await client.get({ apiVersion: 'cert-manager.io/v1beta1', kind: 'ClusterIssuer', name: 'kubeflow-self-signing-issuer' })).toBeDefined();
    // ... and only the 10 objects behind the broken webhook were held back.
    expect(e.report.counts.created + e.report.counts.configured + e.report.counts.unchanged).toBe(569 - 10);
  });

  it('installs everything in dependency order until all workloads are ready, and a second run changes nothing', async () => {
    const bundle = generateKubeflowBundle({ caBundle: clusterCaBundle(clusterDir) });
    standins = startWebhookStandins(client, clusterDir, WEBHOOK_BACKENDS);
    const logger = recordingLogger();
    const first = await install(client, bundle, { timeoutMs: 120_000, logger });
    console.log(`first install: ${first.durationMs} ms in ${first.phases.length} phases`);
    expect(first.ready).toBe(45);
    expect(first.counts.created + first.counts.configured + first.counts.unchanged).toBe(569);
    expect(first.phases.length).toBeGreaterThanOrEqual(3);
    // The webhooks were really called by the API server for the objects they intercept.
    expect(standins.calls.get('kubeflow/kserve-webhook-server-service')).toBeGreaterThanOrEqual(10);
    expect(standins.calls.get('cert-manager/cert-manager-webhook')).toBeGreaterThanOrEqual(5);
    // The oversized CRD went in (server-side apply keeps no last-applied annotation).
    const isvc = await client.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'inferenceservices.serving.kserve.io' });
    expect(isvc?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeUndefined();
    expect(logger.lines.some((l) => /^group: phase 2: apply \d+ object\(s\) released by/.test(l))).toBe(true);
    // Every pod of a sidecar-injected namespace went through the injector: webhook configurations go
    // in before the workloads they intercept (kustomize's order puts them last, so a single
    // `kubectl apply` creates such pods before the injector exists: on a real cluster, without sidecar).
    const kubeflowPods = await client.list({ apiVersion: 'v1', kind: 'Pod', namespace: 'kubeflow' });
    expect(kubeflowPods.items.length).toBeGreaterThan(20);
    expect(kubeflowPods.items.filter((p) => p.metadata.annotations?.[MUTATED_BY] !== 'istio-system/istiod').map((p) => p.metadata.name)).toEqual([]);

    const second = await install(client, bundle, { timeoutMs: 60_000 });
    console.log(`second install: ${second.durationMs} ms`);
    expect(second.counts).toEqual({ created: 0, configured: 0, unchanged: 569 });
    expect(second.ready).toBe(45);
  });

  it('gives a restricted user a readable RBAC error', async () => {
    const carol = userClient('carol@example.com');
    const err = await install(carol, generateKubeflowBundle().slice(0, 10), { timeoutMs: 10_000, waitForReady: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallError);
    expect((err as InstallError).message).toContain('apply Namespace kubeflow failed: forbidden: user "carol@example.com" may not get namespaces in namespace "kubeflow"');
    expect((err as InstallError).message).toContain('may not get customresourcedefinitions.apiextensions.k8s.io at the cluster scope');
    expect((err as InstallError).details.fix).toContain('grant "get" on "namespaces"');
  });
});
