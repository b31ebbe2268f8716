import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { DEFAULT_CLASS_ANNOTATION } from '../../src/kubeflow/preflight.js';
import { startCaInjector } from '../support/ca-injector.js';
import { kubeflowRenderPath, loadKubeflowRender } from '../support/kubeflow-render.js';
import { runAction } from '../support/run-action.js';
import { startWebhookStandins } from '../support/webhook-standin.js';
import { adminClient, ensureDefaultStorageClass, uniqueName } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const kubeconfig = inject('kubeconfig');
const client = adminClient();
const render = loadKubeflowRender();
const toYaml = (objects: KubeObject[]): string => objects.map((o) => dump(o)).join('---\n');

function smallSet(ns: string): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: ns },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'db', namespace: ns },
      spec: {
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: {
            containers: [
              { name: 'db', image: 'registry.invalid/db:1', resources: { requests: { cpu: '100m', memory: '128Mi' } } },
            ],
          },
        },
      },
    },
  ];
}

/** No StorageClass is the default; "standard" and "kwok-volume" exist. */
async function withoutDefaultStorageClass(): Promise<void> {
  for (const sc of (await client.list({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass' })).items) {
    await client.remove({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name: sc.metadata.name });
  }
  await applyObjects(
    client,
    ['standard', 'kwok-volume'].map(
      (name) =>
        ({
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: { name },
          provisioner: 'kwok.x-k8s.io/volume',
          volumeBindingMode: 'Immediate',
        }) as KubeObject,
    ),
    { fieldManager: 'test-setup' },
  );
}

describe('the install-kubeflow action (a real process, a real API server)', () => {
  let kustomizeBin = '';
  beforeAll(() => {
    kustomizeBin = execFileSync('bash', [join(root, 'test/cluster/build.sh'), 'kustomize'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop() as string;
  });

  it('stops in preflight without a default StorageClass, naming the classes and the fix; default-storage-class fixes it', async () => {
    await withoutDefaultStorageClass();
    const ns = uniqueName('pre');
    const file = join(mkdtempSync(join(tmpdir(), 'kfops-m-')), 'manifests.yaml');
    writeFileSync(file, toYaml(smallSet(ns)));
    const failed = await runAction(
      'install-kubeflow',
      { 'manifests-file': file, timeout: '1m' },
      { KUBECONFIG: kubeconfig },
    );
    expect(failed.code).toBe(1);
    expect(failed.log).toContain(
      `::error::install-kubeflow: No default StorageClass: 1 claim(s) would stay Pending (PersistentVolumeClaim ${ns}/data)`,
    );
    expect(failed.log).toContain(
      'Cause: the cluster has StorageClasses kwok-volume, standard, none annotated storageclass.kubernetes.io/is-default-class: \\"true\\"'.replace(
        /\\"/g,
        '"',
      ),
    );
    expect(failed.log).toContain('Fix: set input default-storage-class to one of kwok-volume, standard');
    expect(await client.get({ apiVersion: 'v1', kind: 'Namespace', name: ns })).toBeUndefined();

    const typo = await runAction(
      'install-kubeflow',
      { 'manifests-file': file, 'default-storage-class': 'fast' },
      { KUBECONFIG: kubeconfig },
    );
    expect(typo.code).toBe(1);
    expect(typo.log).toContain(
      `::error::install-kubeflow: Input 'default-storage-class' has the value "fast": expected one of the cluster's StorageClasses: kwok-volume, standard.`,
    );

    const ok = await runAction(
      'install-kubeflow',
      { 'manifests-file': file, 'default-storage-class': 'kwok-volume', timeout: '1m' },
      { KUBECONFIG: kubeconfig },
    );
    expect(ok.code, ok.log).toBe(0);
    expect(ok.outputs).toMatchObject({ created: '3', 'default-storage-class': 'kwok-volume', 'ready-workloads': '1' });
    expect(ok.summary).toContain('default StorageClass kwok-volume (set by this run)');
    const sc = await client.get({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name: 'kwok-volume' });
    expect(sc?.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION]).toBe('true');
    expect((sc as KubeObject)['provisioner']).toBe('kwok.x-k8s.io/volume');

    const again = await runAction(
      'install-kubeflow',
      { 'manifests-file': file, timeout: '1m' },
      { KUBECONFIG: kubeconfig },
    );
    expect(again.code, again.log).toBe(0);
    expect(again.outputs).toMatchObject({ created: '0', configured: '0', unchanged: '3', changed: 'false' });
    expect(again.log).toContain('nothing changed: all 3 object(s) were already as declared');
  });

  it('plan-only prints the plan and dry-runs without changing the cluster', async () => {
    const ns = uniqueName('plan');
    const file = join(mkdtempSync(join(tmpdir(), 'kfops-m-')), 'manifests.yaml');
    writeFileSync(file, toYaml(smallSet(ns)));
    const r = await runAction(
      'install-kubeflow',
      { 'manifests-file': file, 'plan-only': 'true', 'default-storage-class': 'kwok-volume' },
      { KUBECONFIG: kubeconfig },
    );
    expect(r.code, r.log).toBe(0);
    expect(r.log).toMatch(/wave 0: 1 object\(s\): 1 Namespace/);
    expect(r.log).toMatch(/wave 1: 2 object\(s\)/);
    expect(r.log).toContain(
      'dry run: 1 to create, 0 to change, 0 unchanged; 2 object(s) wait for 1 gate(s) that are not open yet',
    );
    expect(r.summary).toContain('Nothing was changed.');
    expect(await client.get({ apiVersion: 'v1', kind: 'Namespace', name: ns })).toBeUndefined();
  });

  it('renders a local kustomization and a kubeflow/manifests-style git ref', async () => {
    const ns = uniqueName('kust');
    const repo = mkdtempSync(join(tmpdir(), 'kfops-repo-'));
    mkdirSync(join(repo, 'example'));
    writeFileSync(join(repo, 'example', 'kustomization.yaml'), 'resources:\n- objects.yaml\n');
    writeFileSync(
      join(repo, 'example', 'objects.yaml'),
      toYaml([
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { a: '1' } },
      ]),
    );
    const env = { KUBECONFIG: kubeconfig, PATH: `${kustomizeBin}:${process.env['PATH']}` };

    const fromPath = await runAction(
      'install-kubeflow',
      { 'manifests-path': join(repo, 'example'), timeout: '1m' },
      env,
    );
    expect(fromPath.code, fromPath.log).toBe(0);
    expect(fromPath.outputs['created']).toBe('2');

    const git = (...args: string[]): string =>
      execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
        encoding: 'utf8',
      });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'manifests');
    git('tag', 'v9.9.9');
    const fromRef = await runAction(
      'install-kubeflow',
      { 'kubeflow-version': 'v9.9.9', 'manifests-repo': `file://${repo}`, timeout: '1m' },
      env,
    );
    expect(fromRef.code, fromRef.log).toBe(0);
    expect(fromRef.outputs).toMatchObject({ created: '0', unchanged: '2' });

    const missing = await runAction(
      'install-kubeflow',
      { 'kubeflow-version': 'v0.0.0-nope', 'manifests-repo': `file://${repo}` },
      env,
    );
    expect(missing.code).toBe(1);
    expect(missing.log).toContain(
      `::error::install-kubeflow: Input 'kubeflow-version' has the value "v0.0.0-nope": expected a tag or branch of file://${repo}`,
    );
  });

  it('renders only the given components of a git ref, each object once', async () => {
    const ns = uniqueName('comp');
    const repo = mkdtempSync(join(tmpdir(), 'kfops-repo-'));
    const component = (path: string, objects: KubeObject[]): void => {
      mkdirSync(join(repo, path), { recursive: true });
      writeFileSync(join(repo, path, 'kustomization.yaml'), 'resources:\n- objects.yaml\n');
      writeFileSync(join(repo, path, 'objects.yaml'), toYaml(objects));
    };
    const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } };
    // Both components carry the namespace, as kubeflow/manifests components do; a third is not asked for.
    component('common/base', [
      namespace,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'common', namespace: ns }, data: { a: '1' } },
    ]);
    component('apps/one', [
      namespace,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one', namespace: ns }, data: { b: '2' } },
    ]);
    component('apps/other', [
      namespace,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other', namespace: ns }, data: { c: '3' } },
    ]);
    const git = (...args: string[]): string =>
      execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
        encoding: 'utf8',
      });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'manifests');
    git('tag', 'v9.9.8');
    const env = { KUBECONFIG: kubeconfig, PATH: `${kustomizeBin}:${process.env['PATH']}` };
    const r = await runAction(
      'install-kubeflow',
      {
        'kubeflow-version': 'v9.9.8',
        'manifests-repo': `file://${repo}`,
        components: 'common/base\napps/one',
        timeout: '1m',
      },
      env,
    );
    expect(r.code, r.log).toBe(0);
    expect(r.log).toContain('3 object(s) from');
    expect(r.outputs['created']).toBe('3');
    expect(await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'one', namespace: ns })).toBeDefined();
    expect(await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'other', namespace: ns })).toBeUndefined();
  });

  it('on the real render, a webhook that refuses while its Service has endpoints fails the step within a minute, the process exits at once, and outputs and summary say how far it got', async () => {
    await ensureDefaultStorageClass(client);
    const standins = startWebhookStandins(client, dirname(kubeconfig), render, {
      refuse: ['kubeflow/kserve-webhook-server-service'],
    });
    const injector = startCaInjector(client, dirname(kubeconfig));
    const started = Date.now();
    let errorAt = 0;
    const r = await runAction(
      'install-kubeflow',
      { 'manifests-file': kubeflowRenderPath(), timeout: '10m' },
      { KUBECONFIG: kubeconfig },
      (line) => {
        if (line.startsWith('::error::')) errorAt = Date.now();
      },
    ).finally(async () => {
      await standins.stop();
      await injector.stop();
    });
    const exitedAt = Date.now();
    console.log(
      `refused webhook through the action: error after ${errorAt - started} ms, exit ${exitedAt - errorAt} ms later`,
    );
    expect(r.code).toBe(1);
    expect(errorAt - started).toBeLessThan(60_000);
    expect(exitedAt - errorAt).toBeLessThan(3_000);
    expect(r.log).toMatch(
      /::error::install-kubeflow: phase \d+: apply \d+ object\(s\) released by \d+ gate\(s\) failed: /,
    );
    expect(r.log).toContain('although Service kubeflow/kserve-webhook-server-service has ready endpoints');
    expect(r.outputs['result']).toBe('failure');
    expect(Number(r.outputs['not-applied'])).toBeGreaterThanOrEqual(10);
    expect(
      Number(r.outputs['created']) +
        Number(r.outputs['configured']) +
        Number(r.outputs['unchanged']) +
        Number(r.outputs['not-applied']),
    ).toBe(569);
    expect(r.summary).toContain('install-kubeflow failed');
    expect(r.summary).toMatch(/\d+ applied \(\d+ created, \d+ configured, \d+ unchanged\), \d+ not applied/);
    expect(r.summary).toContain('ClusterServingRuntime kserve-huggingfaceserver');
  }, 120_000);

  it('ends at its timeout, naming the API server, when the API server accepts connections and never answers', async () => {
    // A TLS peer that completes the handshake and never answers a request (a hung API server or proxy):
    // fetch's own limits (5 minutes for the headers) do not end such a call.
    const dir = mkdtempSync(join(tmpdir(), 'kfops-silent-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key'),
        '-out',
        join(dir, 'crt'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    let accepted = 0;
    const openSockets = new Set<TLSSocket>();
    const tls = createTlsServer(
      { key: readFileSync(join(dir, 'key')), cert: readFileSync(join(dir, 'crt')) },
      (socket) => {
        accepted++;
        openSockets.add(socket);
        socket.on('error', () => undefined);
      },
    );
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    const peer = {
      connections: () => accepted,
      close: () => new Promise<void>((resolve) => tls.close(() => resolve())),
    };
    const server = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
    const silentConfig = join(dir, 'kubeconfig');
    writeFileSync(
      silentConfig,
      dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 's', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 's', context: { cluster: 's', user: 'u' } }],
        'current-context': 's',
      }),
    );
    const file = join(dir, 'manifests.yaml');
    writeFileSync(file, toYaml(smallSet(uniqueName('silent'))));
    const started = Date.now();
    let firstLine = 0;
    const r = await runAction(
      'install-kubeflow',
      { 'manifests-file': file, kubeconfig: silentConfig, timeout: '5s' },
      {},
      () => (firstLine ||= Date.now()),
    ).finally(async () => {
      for (const c of openSockets) c.destroy();
      await peer.close();
    });
    const took = Date.now() - (firstLine || started);
    console.log(`silent API server: the step ended ${took} ms after its first line`);
    expect(r.code).toBe(1);
    expect(peer.connections()).toBeGreaterThan(0);
    // timeout 5 s, the run's own deadline 5 s later, and slack for a loaded machine.
    expect(took).toBeLessThan(20_000);
    expect(r.log).toMatch(
      new RegExp(`::error::install-kubeflow: install-kubeflow did not finish within 5s: it was at ".+"`),
    );
    expect(r.log).toContain(`the API server at ${server}`);
    expect(r.outputs['result']).toBe('failure');
  }, 60_000);

  it('refuses two manifest sources, naming both', async () => {
    const r = await runAction(
      'install-kubeflow',
      { 'manifests-file': '/tmp/a.yaml', 'manifests-path': '/tmp/b' },
      { KUBECONFIG: kubeconfig },
    );
    expect(r.code).toBe(1);
    expect(r.log).toContain(
      `::error::install-kubeflow: Input 'manifests-path' has the value "/tmp/b": expected only one of kubeflow-version, manifests-path and manifests-file (also given: manifests-file).`,
    );
  });
});
