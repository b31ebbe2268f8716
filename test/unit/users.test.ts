import bcrypt from 'bcryptjs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/common/errors.js';
import type { KubeObject } from '../../src/kube/types.js';
import { addUsers, dexHashEnv, parseUsers, safeEmail, type DexStaticPassword } from '../../src/kubeflow/users.js';
import { loadKubeflowRender } from '../support/kubeflow-render.js';

const env = { ALICE_PW: 'correct horse battery', BOB_PW: 'another long one' };
const find = (objects: KubeObject[], kind: string, name: string): KubeObject | undefined =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const secretAsData = (s: KubeObject): KubeObject => ({
  ...s,
  data: Object.fromEntries(
    Object.entries(s['stringData'] as Record<string, string>).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
});

describe('parseUsers', () => {
  it('reads users with defaults and takes passwords from the environment', () => {
    const { users, passwords } = parseUsers(
      [
        {
          email: 'alice@example.com',
          'password-env': 'ALICE_PW',
          contributors: [{ email: 'bob@example.com', role: 'view' }],
          'resource-quota': { cpu: 8, memory: '16Gi' },
        },
        { email: 'bob@example.com', 'password-env': 'BOB_PW', profile: false },
      ],
      env,
    );
    expect(users[0]).toEqual({
      email: 'alice@example.com',
      passwordEnv: 'ALICE_PW',
      profile: 'kubeflow-alice-example-com',
      contributors: [{ email: 'bob@example.com', role: 'view' }],
      resourceQuota: { cpu: '8', memory: '16Gi' },
    });
    expect(users[1]?.profile).toBeUndefined();
    expect(passwords.get('alice@example.com')).toBe('correct horse battery');
  });

  it('names the entry and field that is wrong, and never quotes a password', () => {
    const err = (doc: unknown): string => {
      try {
        parseUsers(doc, env);
      } catch (e) {
        if (e instanceof ConfigurationError) return e.message;
        throw e;
      }
      return 'no error';
    };
    expect(err({ email: 'x' })).toMatch(
      /^Input 'users' has a value that is not shown \(it may hold a secret\): expected a YAML list of users/,
    );
    expect(err([{ email: 'not-an-email', 'password-env': 'ALICE_PW' }])).toBe(
      'Input \'users[0].email\' has the value "not-an-email": expected an email address (the Dex login and the Profile owner).',
    );
    expect(err([{ email: 'c@example.com', 'password-env': 'MISSING_PW' }])).toBe(
      'Input \'users[0].password-env\' has the value "MISSING_PW": expected an environment variable that is set and not empty (MISSING_PW is not set for this step).',
    );
    expect(
      err([
        {
          email: 'a@example.com',
          'password-env': 'ALICE_PW',
          contributors: [{ email: 'b@example.com', role: 'admin' }],
        },
      ]),
    ).toBe('Input \'users[0].contributors[0].role\' has the value "admin": expected `edit` or `view`.');
    expect(err([{ email: 'a@example.com', 'password-env': 'ALICE_PW', profile: 'Team_A' }])).toMatch(
      /users\[0\]\.profile/,
    );
    expect(
      err([
        { email: 'a@example.com', 'password-env': 'ALICE_PW' },
        { email: 'a@example.com', 'password-env': 'BOB_PW' },
      ]),
    ).toMatch(/each user once/);
    for (const m of [err([{ email: 'a@example.com', 'password-env': 'ALICE_PW', profile: 'UPPER' }])])
      expect(m).not.toContain('correct horse');
  });

  it('names a password pasted where a variable name belongs, an inline password, and unknown fields, without their values, and masks them', () => {
    const masked: string[] = [];
    const err = (doc: unknown): string => {
      try {
        parseUsers(doc, env, 'users', (v) => masked.push(v));
      } catch (e) {
        if (e instanceof ConfigurationError) return e.message;
        throw e;
      }
      return 'no error';
    };
    const pasted = err([{ email: 'a@example.com', 'password-env': 'hunter2 is my pass!' }]);
    expect(pasted).toMatch(
      /^Input 'users\[0\]\.password-env' has a value that is not shown \(it may hold a secret\): expected the NAME of an environment variable/,
    );
    expect(pasted).not.toContain('hunter2');
    const inline = err([{ email: 'a@example.com', 'password-env': 'ALICE_PW', password: 'Tr0ub4dor&3' }]);
    expect(inline).toMatch(
      /^Input 'users\[0\]\.password' has a value that is not shown .*: expected no password in the users input/,
    );
    expect(inline).not.toContain('Tr0ub4dor');
    const unknown = err([{ email: 'a@example.com', 'password-env': 'ALICE_PW', profle: 'team-a' }]);
    expect(unknown).toBe(
      'Input \'users[0]\' has a value that is not shown (it may hold a secret): expected only the fields email, password-env, profile, contributors, resource-quota, gcp-service-account (unknown field "profle").',
    );
    expect(masked).toEqual(['hunter2 is my pass!', 'Tr0ub4dor&3', 'team-a']);
  });
});

describe('addUsers', () => {
  const render = loadKubeflowRender();
  const { users, passwords } = parseUsers(
    [
      {
        email: 'alice@example.com',
        'password-env': 'ALICE_PW',
        contributors: [{ email: 'bob@example.com', role: 'edit' }],
      },
    ],
    env,
  );

  it('adds Dex logins by hashFromEnv, bcrypt hashes in dex-passwords, a Profile and contributor access', async () => {
    const { objects, rehashed } = await addUsers(render, users, passwords, {}, 4);
    expect(rehashed).toEqual(['alice@example.com']);
    const config = load(
      (find(objects, 'ConfigMap', 'dex')?.['data'] as Record<string, string>)['config.yaml'] as string,
    ) as { staticPasswords: DexStaticPassword[] };
    // The render's default login (user@example.com, hashFromEnv DEX_USER_PASSWORD) stays first.
    expect(config.staticPasswords.map((e) => e.email)).toEqual(['user@example.com', 'alice@example.com']);
    expect(config.staticPasswords[0]).toMatchObject({ hashFromEnv: 'DEX_USER_PASSWORD' });
    const alice = config.staticPasswords[1] as DexStaticPassword;
    expect(alice).toMatchObject({ hashFromEnv: 'KFOPS_DEX_HASH_ALICE_EXAMPLE_COM', username: 'alice' });
    expect(alice.hash).toBeUndefined();
    expect(JSON.stringify(objects)).not.toContain('correct horse battery');
    const hash = (find(objects, 'Secret', 'dex-passwords')?.['stringData'] as Record<string, string>)[
      dexHashEnv('alice@example.com')
    ] as string;
    expect(hash).toMatch(/^\$2[aby]\$04\$/);
    expect(await bcrypt.compare('correct horse battery', hash)).toBe(true);
    const dex = find(objects, 'Deployment', 'dex') as KubeObject;
    const template = (
      dex['spec'] as {
        template: { metadata: { annotations: Record<string, string> }; spec: { containers: { envFrom: unknown[] }[] } };
      }
    ).template;
    expect(template.metadata.annotations['kfops.dev/dex-config-digest']).toMatch(/^[0-9a-f]{16}$/);
    // The render's Dex already reads dex-passwords (and its OIDC client Secret): named once, order kept.
    const rendered = (
      find(render, 'Deployment', 'dex')?.['spec'] as {
        template: { spec: { containers: { envFrom: { secretRef: { name: string } }[] }[] } };
      }
    ).template.spec.containers[0]?.envFrom;
    expect(rendered?.map((e) => e.secretRef.name)).toEqual(['dex-oidc-client', 'dex-passwords']);
    expect(template.spec.containers[0]?.envFrom).toEqual(rendered);
    // The render's default login keeps its hash next to the new one.
    const renderedHashes = find(render, 'Secret', 'dex-passwords')?.['stringData'] as Record<string, string>;
    expect(Object.keys(renderedHashes)).toEqual(['DEX_USER_PASSWORD']);
    expect(find(objects, 'Secret', 'dex-passwords')?.['stringData']).toMatchObject(renderedHashes);
    expect(find(objects, 'Profile', 'kubeflow-alice-example-com')?.['spec']).toEqual({
      owner: { kind: 'User', name: 'alice@example.com' },
    });
    const name = `user-${safeEmail('bob@example.com')}-clusterrole-edit`;
    expect(name).toBe('user-bob-example-com-clusterrole-edit');
    const rb = objects.find((o) => o.kind === 'RoleBinding' && o.metadata.name === name);
    expect(rb).toMatchObject({
      metadata: { namespace: 'kubeflow-alice-example-com', annotations: { user: 'bob@example.com', role: 'edit' } },
      roleRef: { name: 'kubeflow-edit' },
    });
    const ap = objects.find((o) => o.kind === 'AuthorizationPolicy' && o.metadata.name === name);
    expect(JSON.stringify(ap?.['spec'])).toContain('"values":["bob@example.com"]');
    // The input manifests are left as they were.
    expect(JSON.stringify(render)).not.toContain('KFOPS_DEX_HASH');
  });

  it('keeps a stored hash that still matches, so a re-run changes nothing; a new password changes the digest', async () => {
    const first = await addUsers(render, users, passwords, {}, 4);
    const stored = secretAsData(find(first.objects, 'Secret', 'dex-passwords') as KubeObject);
    const again = await addUsers(render, users, passwords, { dexPasswords: stored }, 4);
    expect(again.rehashed).toEqual([]);
    expect(JSON.stringify(again.objects)).toBe(JSON.stringify(first.objects));
    const changed = await addUsers(
      render,
      users,
      new Map([['alice@example.com', 'a brand new password']]),
      { dexPasswords: stored },
      4,
    );
    expect(changed.rehashed).toEqual(['alice@example.com']);
    const digest = (o: { objects: KubeObject[] }): string =>
      (
        find(o.objects, 'Deployment', 'dex')?.['spec'] as {
          template: { metadata: { annotations: Record<string, string> } };
        }
      ).template.metadata.annotations['kfops.dev/dex-config-digest'] as string;
    expect(digest(changed)).not.toBe(digest(first));
  });
});
