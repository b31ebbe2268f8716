import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KfopsError } from '../../src/common/errors.js';
import { loadKubeConfig } from '../../src/kube/client.js';

const kubeconfig = (server: string, context = 'c') => `apiVersion: v1
kind: Config
clusters: [{name: k, cluster: {server: "${server}"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
current-context: ${context}
`;

describe('loadKubeConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kfops-kc-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, kubeconfig('https://10.1.2.3:443'));
  const noContext = join(dir, 'nocontext.yaml');
  writeFileSync(noContext, kubeconfig('https://x', '""'));
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'clusters: [');

  it('prefers the explicit path', () => {
    const { kc, source } = loadKubeConfig({ kubeconfig: good, env: { KUBECONFIG: noContext } });
    expect(source).toBe(`kubeconfig ${good}`);
    expect(kc.getCurrentCluster()?.server).toBe('https://10.1.2.3:443');
  });

  it('does not fall back when the explicit path is unusable', () => {
    const missing = join(dir, 'missing');
    expect(() => loadKubeConfig({ kubeconfig: missing, env: { KUBECONFIG: good } })).toThrow(
      expect.objectContaining({
        details: expect.objectContaining({ cause: `tried kubeconfig ${missing}: file not found` }),
      }),
    );
  });

  it('uses the first usable KUBECONFIG entry', () => {
    expect(loadKubeConfig({ env: { KUBECONFIG: `${noContext}:${good}` } }).source).toBe(`KUBECONFIG ${good}`);
  });

  it('uses the in-cluster service account when KUBERNETES_SERVICE_HOST is set', () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'tok');
    writeFileSync(join(sa, 'ca.crt'), 'ca');
    const { kc, source } = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountDir: sa,
    });
    expect(source).toBe('in-cluster service account');
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:443');
  });

  it('lists everything it tried, and why each failed', () => {
    let error: unknown;
    try {
      loadKubeConfig({ env: { KUBECONFIG: `${broken}:${noContext}`, HOME: join(dir, 'home') } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KfopsError);
    const text = (error as KfopsError).describe();
    expect(text).toContain('No usable Kubernetes configuration');
    expect(text).toContain(`KUBECONFIG ${broken}: cannot be parsed`);
    expect(text).toContain(`KUBECONFIG ${noContext}: no current-context is set`);
    expect(text).toContain('in-cluster: KUBERNETES_SERVICE_HOST not set');
    expect(text).toContain(`default kubeconfig ${join(dir, 'home', '.kube', 'config')}: file not found`);
  });
});
