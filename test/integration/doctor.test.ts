/**
 * The doctor on the local control plane: each incident reproduced with the objects, statuses and
 * conditions the real components write (the real scheduler marks the pod Unschedulable, the real API
 * server refuses a CRD's names), then named with its evidence and fix; a restricted user gets
 * "unknown", not "ok"; and the action, run as a workflow step runs it, fails on errors with the report.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { runChecks, type Finding } from '../../src/doctor/checks.js';
import { readSnapshot } from '../../src/doctor/snapshot.js';
import { runAction } from '../support/run-action.js';
import { adminClient, ensureDefaultStorageClass, sleep, uniqueName, userClient } from './helpers.js';

const client = adminClient();
const ns = uniqueName('doctor');
const group = `${ns}.example.com`;
const DEFAULT = 'storageclass.kubernetes.io/is-default-class';
let defaults: string[] = [];

const findings = async (c = client): Promise<Map<string, Finding>> =>
  new Map(runChecks(await readSnapshot(c)).map((f) => [f.check, f]));

beforeAll(async () => {
  await applyObjects(client, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }], {
    fieldManager: 'test-setup',
  });
}, 60_000);

afterAll(async () => {
  for (const name of defaults)
    await client
      .request('PATCH', `/apis/storage.k8s.io/v1/storageclasses/${name}`, {
        body: { metadata: { annotations: { [DEFAULT]: 'true' } } },
        contentType: 'application/merge-patch+json',
      })
      .catch(() => undefined);
  await client.remove({ apiVersion: 'v1', kind: 'Namespace', name: ns }).catch(() => undefined);
  await client
    .remove({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', name: ns })
    .catch(() => undefined);
  for (const crd of [`widgets.${group}`, `things.${group}`])
    await client
      .remove({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crd })
      .catch(() => undefined);
});

describe('doctor on the local control plane', () => {
  it('no default StorageClass: the Pending claim is named, with the patch', async () => {
    // A class to offer, then the default annotation off every class (put back after the file), then a
    // claim with no class.
    await ensureDefaultStorageClass(client);
    const classes = (await client.list({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass' })).items;
    defaults = classes.filter((c) => c.metadata.annotations?.[DEFAULT] === 'true').map((c) => c.metadata.name);
    for (const name of defaults)
      await client.request('PATCH', `/apis/storage.k8s.io/v1/storageclasses/${name}`, {
        body: { metadata: { annotations: { [DEFAULT]: null } } },
        contentType: 'application/merge-patch+json',
      });
    await applyObjects(
      client,
      [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', namespace: ns },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        } as KubeObject,
      ],
      { fieldManager: 'test-setup' },
    );
    await sleep(1000);
    const f = (await findings()).get('default-storage-class') as Finding;
    expect(f.status).toBe('problem');
    expect(f.severity).toBe('error');
    expect(f.evidence).toContain(`PersistentVolumeClaim ${ns}/data Pending, no storageClassName`);
    expect(f.fix).toMatch(/^make one the default: kubectl patch storageclass \S+ -p/);
  }, 60_000);

  it('a failed install-kubeflow names the known problem it hit (the same check, after its own error)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfops-doctor-'));
    const file = join(dir, 'manifests.yaml');
    writeFileSync(
      file,
      `{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: cache, namespace: ${ns}}, spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}\n`,
    );
    const run = await runAction(
      'install-kubeflow',
      { 'manifests-file': file, timeout: '1m' },
      { KUBECONFIG: inject('kubeconfig') },
    );
    expect(run.code).toBe(1);
    expect(run.log).toMatch(
      /^::warning::known problem default-storage-class: no default StorageClass: \d+ claim\(s\) without a class stay Pending \(PersistentVolumeClaim .*\); fix: make one the default/m,
    );
    expect(run.summary).toContain('Known problems found on the cluster');
  }, 120_000);

  it('a pod short of CPU: the real scheduler leaves it Unschedulable; its request and the largest node are named', async () => {
    await applyObjects(
      client,
      [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'hungry', namespace: ns },
          spec: {
            containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '500', memory: '1Gi' } } }],
            tolerations: [{ operator: 'Exists' }],
          },
        } as KubeObject,
      ],
      { fieldManager: 'test-setup' },
    );
    let f: Finding | undefined;
    for (let i = 0; i < 60; i++) {
      f = (await findings()).get('insufficient-resources');
      if (f?.evidence.some((e) => e.includes(`${ns}/hungry`))) break;
      await sleep(500);
    }
    expect(f?.status).toBe('problem');
    const line = f?.evidence.find((e) => e.startsWith(`Pod ${ns}/hungry`));
    expect(line).toMatch(
      /requests 500 CPU, 1(\.0)? ?Gi(B)? memory \((Insufficient \w+, )*Insufficient \w+\); the largest node allocates \d+(\.\d+)? CPU/,
    );
    expect(line).toContain('Insufficient cpu');
  }, 60_000);

  it("a CRD whose kind another CRD of its group took: not Established, the API server's reason named", async () => {
    const crd = (name: string, plural: string): KubeObject =>
      ({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural, singular: plural.slice(0, -1), kind: name },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }],
        },
      }) as KubeObject;
    await applyObjects(client, [crd('Widget', 'widgets')], { fieldManager: 'test-setup' });
    await sleep(1500);
    await applyObjects(client, [crd('Widget', 'things')], { fieldManager: 'test-setup' });
    let f: Finding | undefined;
    for (let i = 0; i < 40; i++) {
      f = (await findings()).get('crds');
      if (f?.evidence.some((e) => e.includes(`things.${group}`))) break;
      await sleep(500);
    }
    expect(f?.status).toBe('problem');
    const line = f?.evidence.find((e) => e.includes(`things.${group}`));
    expect(line).toMatch(/Established False; NamesAccepted False: .*"Widget(List)?" is already in use/);
  }, 60_000);

  it('a fail-closed webhook whose Service has no endpoint: named with what it intercepts', async () => {
    await applyObjects(
      client,
      [
        {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'ValidatingWebhookConfiguration',
          metadata: { name: ns },
          webhooks: [
            {
              name: `check.${group}`,
              failurePolicy: 'Fail',
              sideEffects: 'None',
              admissionReviewVersions: ['v1'],
              clientConfig: { service: { namespace: ns, name: 'validator', port: 443 } },
              rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
              // Intercepts nothing real: no namespace has this label.
              namespaceSelector: { matchLabels: { [`${ns}-never`]: 'true' } },
            },
          ],
        } as KubeObject,
      ],
      { fieldManager: 'test-setup' },
    );
    const f = (await findings()).get('webhooks-without-endpoints') as Finding;
    expect(f.status).toBe('problem');
    expect(f.evidence).toContain(
      `ValidatingWebhookConfiguration ${ns}, webhook check.${group}: Service ${ns}/validator does not exist; intercepts configmaps`,
    );
  }, 60_000);

  it('a user who may not list nodes: the checks that need them say unknown, never ok', async () => {
    const f = await findings(userClient(`${ns}-viewer`));
    expect(f.get('insufficient-resources')).toMatchObject({
      status: 'unknown',
      evidence: expect.arrayContaining(['forbidden: the credentials may not list Nodes']),
    });
    expect([...f.values()].every((x) => x.status === 'unknown')).toBe(true);
  }, 60_000);

  it('the action: a table in the log, the report as an output, the step failed on errors', async () => {
    const run = await runAction('doctor', { timeout: '1m' }, { KUBECONFIG: inject('kubeconfig') });
    expect(run.code).toBe(1);
    expect(run.log).toMatch(/^PROBLEM \(error\)\s+default-storage-class: no default StorageClass/m);
    expect(run.log).toMatch(/^\s+fix: make one the default/m);
    expect(run.log).toMatch(/::error::doctor: \d+ problem\(s\) found: .*default-storage-class/);
    const report = JSON.parse(run.outputs['report'] as string) as { findings: Finding[] };
    expect(report.findings.map((f) => f.check)).toContain('webhooks-without-endpoints');
    expect(Number(run.outputs['errors'])).toBeGreaterThanOrEqual(4);
    expect(run.summary).toContain('<h2>doctor</h2>');
  }, 120_000);
});
