import { dirname } from 'node:path';
import bcrypt from 'bcryptjs';
import { dump, load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeObject } from '../../src/kube/types.js';
import { dexHashEnv } from '../../src/kubeflow/users.js';
import { startCaInjector } from '../support/ca-injector.js';
import { kubeflowRenderPath, loadKubeflowRender } from '../support/kubeflow-render.js';
import { startProfileStandin } from '../support/profile-standin.js';
import { runAction, type ActionRun } from '../support/run-action.js';
import { startWebhookStandins } from '../support/webhook-standin.js';
import { adminClient } from './helpers.js';

const kubeconfig = inject('kubeconfig');
const client = adminClient();
// The real Kubeflow 1.9.1 render, with its webhooks served and their CA bundles injected as on a cluster.
const webhooks = startWebhookStandins(client, dirname(kubeconfig), loadKubeflowRender());
const caInjector = startCaInjector(client, dirname(kubeconfig));
const profiles = startProfileStandin(client);
const file = kubeflowRenderPath();
let first: ActionRun;
beforeAll(async () => {
  // The cluster's storage (kwok provisions this class); the install makes it the default.
  await applyObjects(
    client,
    [
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'kwok-volume' },
        provisioner: 'kwok.x-k8s.io/volume',
        volumeBindingMode: 'Immediate',
      } as KubeObject,
    ],
    { fieldManager: 'test-setup', force: true },
  );
  // The one full install of this file; the tests below check its result and run it again.
  first = await install('first password 123');
}, 300_000);
afterAll(async () => {
  profiles.stop();
  await caInjector.stop();
  await webhooks.stop();
});

const users = dump([
  {
    email: 'alice@example.com',
    'password-env': 'ALICE_PASSWORD',
    contributors: [{ email: 'bob@example.com', role: 'view' }],
    'resource-quota': { cpu: '4' },
  },
]);
const install = (password: string) =>
  runAction(
    'install-kubeflow',
    { 'manifests-file': file, 'default-storage-class': 'kwok-volume', users, timeout: '4m' },
    { KUBECONFIG: kubeconfig, ALICE_PASSWORD: password },
  );

describe('Dex users and Kubeflow profiles through install-kubeflow', () => {
  const dexRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'dex', namespace: 'auth' };
  let dexGeneration = 0;

  it('creates the login with a bcrypt hash that verifies, the profile, and the contributor access', async () => {
    const r = first;
    expect(r.code, r.log.slice(-3000)).toBe(0);
    expect(r.log).toContain(
      'user alice@example.com: Dex login, profile kubeflow-alice-example-com, contributors bob@example.com (view) (password hashed)',
    );
    expect(r.summary).toContain(
      '<td>alice@example.com</td><td>kubeflow-alice-example-com</td><td>bob@example.com (view)</td>',
    );
    // Only the mask command carries the password (the runner then hides it everywhere).
    expect(r.log.replace(/^::add-mask::.*$/gm, '')).not.toContain('first password 123');

    const secret = await client.get({ apiVersion: 'v1', kind: 'Secret', name: 'dex-passwords', namespace: 'auth' });
    const hash = Buffer.from(
      (secret?.['data'] as Record<string, string>)[dexHashEnv('alice@example.com')] as string,
      'base64',
    ).toString();
    expect(hash).toMatch(/^\$2[aby]\$12\$/);
    expect(await bcrypt.compare('first password 123', hash)).toBe(true);
    expect(await bcrypt.compare('wrong password', hash)).toBe(false);

    const config = await client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'dex', namespace: 'auth' });
    const dex = load((config?.['data'] as Record<string, string>)['config.yaml'] as string) as {
      staticPasswords: { email: string; hashFromEnv?: string; hash?: string }[];
    };
    expect(dex.staticPasswords.find((e) => e.email === 'alice@example.com')).toMatchObject({
      hashFromEnv: 'KFOPS_DEX_HASH_ALICE_EXAMPLE_COM',
    });
    // The render's own login keeps its hash in the same Secret.
    expect(dex.staticPasswords.find((e) => e.email === 'user@example.com')).toMatchObject({
      hashFromEnv: 'DEX_USER_PASSWORD',
    });
    expect((secret?.['data'] as Record<string, string>)['DEX_USER_PASSWORD']).toBeDefined();
    expect(JSON.stringify(config)).not.toContain('$2');

    const profile = await client.get({
      apiVersion: 'kubeflow.org/v1',
      kind: 'Profile',
      name: 'kubeflow-alice-example-com',
    });
    expect(profile?.['spec']).toEqual({
      owner: { kind: 'User', name: 'alice@example.com' },
      resourceQuotaSpec: { hard: { cpu: '4' } },
    });
    const rb = await client.get({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      name: 'user-bob-example-com-clusterrole-view',
      namespace: 'kubeflow-alice-example-com',
    });
    expect(rb?.['roleRef']).toMatchObject({ kind: 'ClusterRole', name: 'kubeflow-view' });
    const ap = await client.get({
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'AuthorizationPolicy',
      name: 'user-bob-example-com-clusterrole-view',
      namespace: 'kubeflow-alice-example-com',
    });
    expect(ap?.metadata.annotations).toMatchObject({ user: 'bob@example.com', role: 'view' });
    dexGeneration = (await client.get(dexRef))?.metadata.generation ?? 0;
  });

  it('changes nothing and does not restart Dex when run again with the same users', { timeout: 240_000 }, async () => {
    const r = await install('first password 123');
    expect(r.code, r.log.slice(-3000)).toBe(0);
    expect(r.outputs['changed']).toBe('false');
    expect((await client.get(dexRef))?.metadata.generation).toBe(dexGeneration);
  });

  it('re-hashes a changed password and restarts Dex', { timeout: 240_000 }, async () => {
    const r = await install('second password 456');
    expect(r.code, r.log.slice(-3000)).toBe(0);
    // The Secret (new hash) and Dex's pod template (new digest); the ConfigMap names the variable only.
    expect(r.outputs['configured']).toBe('2');
    expect((await client.get(dexRef))?.metadata.generation).toBe(dexGeneration + 1);
    const secret = await client.get({ apiVersion: 'v1', kind: 'Secret', name: 'dex-passwords', namespace: 'auth' });
    const hash = Buffer.from(
      (secret?.['data'] as Record<string, string>)[dexHashEnv('alice@example.com')] as string,
      'base64',
    ).toString();
    expect(await bcrypt.compare('second password 456', hash)).toBe(true);
  });
});
