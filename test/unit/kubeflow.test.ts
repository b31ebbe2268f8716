import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSettings } from '../../src/actions/install-kubeflow/main.js';
import { ConfigurationError, KfopsError } from '../../src/common/errors.js';
import { parseQuantity } from '../../src/kube/quantity.js';
import { parseManifests } from '../../src/kubeflow/manifests.js';
import { claimsNeedingDefaultClass, manifestRequests, podRequests } from '../../src/kubeflow/preflight.js';
import type { KubeObject } from '../../src/kube/types.js';
import { fakeInputs as inputs } from '../support/inputs-fake.js';

describe('quantities', () => {
  it.each([
    ['250m', 0.25],
    ['1.5', 1.5],
    ['64Mi', 64 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1G', 1e9],
    ['1e3', 1000],
    ['500k', 500_000],
  ])('parses %s', (q, v) => expect(parseQuantity(q)).toBeCloseTo(v));
  it('rejects garbage', () => expect(parseQuantity('lots')).toBeUndefined());
});

describe('preflight arithmetic', () => {
  it('sums containers and takes the largest init container', () => {
    expect(
      podRequests({
        spec: {
          containers: [
            { resources: { requests: { cpu: '100m', memory: '64Mi' } } },
            { resources: { requests: { cpu: '400m' } } },
          ],
          initContainers: [{ resources: { requests: { cpu: '2' } } }],
        },
      }),
    ).toEqual({ cpu: 2, memory: 64 * 2 ** 20 });
  });
  it('multiplies by replicas, and DaemonSets by nodes', () => {
    const objects = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'a', namespace: 'x' },
        spec: { replicas: 3, template: { spec: { containers: [{ resources: { requests: { cpu: '500m' } } }] } } },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'b', namespace: 'x' },
        spec: { template: { spec: { containers: [{ resources: { requests: { cpu: '100m' } } }] } } },
      },
    ] as KubeObject[];
    const r = manifestRequests(objects, 4);
    expect(r.cpu).toBeCloseTo(1.9);
    expect(r.largest?.ref).toBe('Deployment x/a');
  });
  it('finds claims that need a default StorageClass', () => {
    const objects = [
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p', namespace: 'x' }, spec: {} },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'q', namespace: 'x' },
        spec: { storageClassName: 'fast' },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 's', namespace: 'x' },
        spec: { volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: {} }] },
      },
    ] as KubeObject[];
    expect(claimsNeedingDefaultClass(objects)).toEqual([
      'PersistentVolumeClaim x/p',
      'StatefulSet x/s claim template data',
    ]);
  });
});

describe('parseManifests', () => {
  it('reads multi-document YAML, flattens Lists and skips empty documents', () => {
    const text =
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: a}}\n';
    expect(parseManifests(text, 'x.yaml').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/a',
      'ConfigMap/c',
    ]);
  });
  it('names the document that is not an object', () => {
    expect(() =>
      parseManifests('apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: ConfigMap\n', 'x.yaml'),
    ).toThrow(
      new KfopsError('x.yaml: document 2 has no apiVersion', {
        fix: 'every object needs apiVersion, kind and metadata.name',
      }),
    );
    expect(() => parseManifests('a: [', 'y.yaml')).toThrow(/y.yaml is not valid YAML/);
  });
});

describe('install-kubeflow inputs', () => {
  it('defaults to kubeflow/manifests v1.9.1', () => {
    const s = readSettings(inputs({}));
    expect(s.source).toEqual({
      type: 'version',
      version: 'v1.9.1',
      repo: 'https://github.com/kubeflow/manifests.git',
      components: [],
    });
    expect(s).toMatchObject({ planOnly: false, timeoutMs: 45 * 60_000, concurrency: 8, forceConflicts: false });
  });
  it('takes a rendered file or a kustomization with components, and refuses paths that do not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfops-settings-'));
    const file = join(dir, 'k.yaml');
    writeFileSync(file, '');
    expect(readSettings(inputs({ 'manifests-file': file })).source).toEqual({ type: 'file', file });
    expect(
      readSettings(
        inputs({
          'manifests-path': dir,
          components: 'common/cert-manager/base\napps/profiles/upstream/overlays/kubeflow',
        }),
      ).source,
    ).toEqual({
      type: 'path',
      path: dir,
      components: ['common/cert-manager/base', 'apps/profiles/upstream/overlays/kubeflow'],
    });
    expect(() => readSettings(inputs({ 'manifests-file': join(dir, 'nope.yaml') }))).toThrow(
      /Input 'manifests-file' has the value ".*nope.yaml": expected the path of a rendered manifests file that exists/,
    );
    expect(() => readSettings(inputs({ 'manifests-path': join(dir, 'nope') }))).toThrow(
      /Input 'manifests-path' .* expected the path of a kustomization directory that exists/,
    );
  });
  it('refuses conflicting or malformed inputs', () => {
    expect(() => readSettings(inputs({ 'manifests-file': 'a', 'kubeflow-version': 'v1.9.1' }))).toThrow(
      ConfigurationError,
    );
    expect(() => readSettings(inputs({ 'manifests-file': 'a', components: 'x' }))).toThrow(
      /no components with manifests-file/,
    );
    expect(() => readSettings(inputs({ 'kubeflow-version': 'v1.9.1; rm -rf /' }))).toThrow(/a git tag or branch/);
    expect(() => readSettings(inputs({ timeout: 'forever' }))).toThrow(/Input 'timeout'/);
    expect(() => readSettings(inputs({ 'default-storage-class': 'Fast_SSD' }))).toThrow(/the name of a StorageClass/);
  });
});
