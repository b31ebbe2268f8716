import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { dump, load } from 'js-yaml';
import { ConfigurationError, KfopsError } from '../common/errors.js';
import { isKubeName, kubeNameForm } from '../common/names.js';
import type { KubeObject } from '../kube/types.js';

export type ContributorRole = 'edit' | 'view';

export interface UserSpec {
  email: string;
  /** Name of the environment variable that holds the password (e.g. a GitHub secret passed through env). */
  passwordEnv: string;
  /** Profile (and namespace) to create for the user; none when empty. */
  profile?: string;
  contributors: { email: string; role: ContributorRole }[];
  /** spec.resourceQuotaSpec.hard of the Profile, e.g. {cpu: "8", memory: 16Gi}. */
  resourceQuota?: Record<string, string>;
  /** GCP service account bound to the profile's default-editor (Workload Identity). */
  gcpServiceAccount?: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER_FIELDS = ['email', 'password-env', 'profile', 'contributors', 'resource-quota', 'gcp-service-account'];
const SECRET_LIKE = /pass|secret|token|hash|credential|key/i;
export const USERS_FORM =
  'a YAML list of users, e.g. `- email: alice@example.com` with `password-env: ALICE_PASSWORD`, optional `profile`, `contributors` ([{email, role: edit|view}]), `resource-quota` and `gcp-service-account`';

/** KFAM's form of an email in object names: lowercase, every other character a '-'. */
export const safeEmail = (email: string): string => email.toLowerCase().replace(/[^a-z0-9]/g, '-');
/** The Dex environment variable (a key of Secret dex-passwords) that holds a user's bcrypt hash. */
export const dexHashEnv = (email: string): string => `KFOPS_DEX_HASH_${email.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
/** Kubeflow's default profile name for an email: kubeflow-user-example-com. */
export const defaultProfile = (email: string): string => `kubeflow-${safeEmail(email)}`.slice(0, 63).replace(/-+$/, '');

/**
 * Checks the `users` input and reads each password from the environment. Errors name the entry and
 * field; a password is never quoted.
 */
export function parseUsers(
  doc: unknown,
  env: Record<string, string | undefined>,
  input = 'users',
  mask: (value: string) => void = () => undefined,
): { users: UserSpec[]; passwords: Map<string, string> } {
  if (doc === undefined || doc === null) return { users: [], passwords: new Map() };
  if (!Array.isArray(doc)) throw new ConfigurationError(input, JSON.stringify(doc), USERS_FORM, { hideValue: true });
  const users: UserSpec[] = [];
  const passwords = new Map<string, string>();
  doc.forEach((raw: unknown, i) => {
    const at = `${input}[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new ConfigurationError(at, JSON.stringify(raw), 'a mapping with email and password-env', {
        hideValue: true,
      });
    const u = raw as Record<string, unknown>;
    for (const [field, value] of Object.entries(u)) {
      if (USER_FIELDS.includes(field)) continue;
      if (typeof value === 'string' && value) mask(value);
      if (SECRET_LIKE.test(field)) {
        throw new ConfigurationError(
          `${at}.${field}`,
          String(value),
          'no password in the users input (its value is masked and not shown; change it if it was real): keep it in a secret and name the environment variable that holds it in `password-env`',
          { hideValue: true },
        );
      }
      throw new ConfigurationError(at, field, `only the fields ${USER_FIELDS.join(', ')} (unknown field "${field}")`, {
        hideValue: true,
      });
    }
    const email = String(u['email'] ?? '');
    if (!EMAIL.test(email))
      throw new ConfigurationError(`${at}.email`, email, 'an email address (the Dex login and the Profile owner)');
    if (passwords.has(email)) throw new ConfigurationError(`${at}.email`, email, 'each user once');
    const passwordEnv = String(u['password-env'] ?? '');
    if (!ENV_NAME.test(passwordEnv)) {
      // Often the password itself, pasted where its variable's name belongs: masked, never quoted.
      if (passwordEnv) mask(passwordEnv);
      throw new ConfigurationError(
        `${at}.password-env`,
        passwordEnv,
        'the NAME of an environment variable holding the password, such as ALICE_PASSWORD (letters, digits and _), set from a secret through `env:`; if the value given was the password itself, it is masked: change it',
        { hideValue: true },
      );
    }
    const password = env[passwordEnv];
    if (!password)
      throw new ConfigurationError(
        `${at}.password-env`,
        passwordEnv,
        `an environment variable that is set and not empty (${passwordEnv} is not set for this step)`,
      );
    if (password.length < 8)
      throw new KfopsError(`The password in ${passwordEnv} (for ${email}) is shorter than 8 characters`, {
        fix: 'use a longer password',
      });
    const profileRaw = u['profile'];
    const profile =
      profileRaw === false || profileRaw === ''
        ? undefined
        : profileRaw === undefined || profileRaw === true
          ? defaultProfile(email)
          : String(profileRaw);
    if (profile !== undefined && !isKubeName(profile))
      throw new ConfigurationError(
        `${at}.profile`,
        profile,
        `${kubeNameForm('label', 'a Profile (namespace) name')}, or false for no profile`,
      );
    const contributors = (
      Array.isArray(u['contributors']) ? (u['contributors'] as unknown[]) : u['contributors'] === undefined ? [] : null
    )?.map((c, j) => {
      const cc = (c ?? {}) as Record<string, unknown>;
      const cEmail = String(cc['email'] ?? '');
      const role = String(cc['role'] ?? 'edit');
      if (!EMAIL.test(cEmail))
        throw new ConfigurationError(`${at}.contributors[${j}].email`, cEmail, 'an email address');
      if (role !== 'edit' && role !== 'view')
        throw new ConfigurationError(`${at}.contributors[${j}].role`, role, '`edit` or `view`');
      return { email: cEmail, role: role as ContributorRole };
    });
    if (!contributors)
      throw new ConfigurationError(
        `${at}.contributors`,
        JSON.stringify(u['contributors']),
        'a list of {email, role: edit|view}',
      );
    if (contributors.length && !profile)
      throw new ConfigurationError(
        `${at}.contributors`,
        contributors.map((c) => c.email).join(', '),
        'contributors only together with a profile',
      );
    const quota = u['resource-quota'];
    if (quota !== undefined && (typeof quota !== 'object' || quota === null || Array.isArray(quota)))
      throw new ConfigurationError(
        `${at}.resource-quota`,
        JSON.stringify(quota),
        'a mapping of resource to quantity, e.g. {cpu: "8", memory: 16Gi}',
      );
    const gsa = u['gcp-service-account'] === undefined ? undefined : String(u['gcp-service-account']);
    if (gsa !== undefined && !/^[a-z0-9-]+@[a-z0-9-]+\.iam\.gserviceaccount\.com$/.test(gsa))
      throw new ConfigurationError(
        `${at}.gcp-service-account`,
        gsa,
        'a GCP service account email (name@project.iam.gserviceaccount.com)',
      );
    passwords.set(email, password);
    users.push({
      email,
      passwordEnv,
      ...(profile ? { profile } : {}),
      contributors,
      ...(quota ? { resourceQuota: Object.fromEntries(Object.entries(quota).map(([k, v]) => [k, String(v)])) } : {}),
      ...(gsa ? { gcpServiceAccount: gsa } : {}),
    });
  });
  return { users, passwords };
}

export interface DexStaticPassword {
  email: string;
  hash?: string;
  hashFromEnv?: string;
  username?: string;
  userID?: string;
}

const find = (objects: KubeObject[], kind: string, ns: string, name: string): KubeObject | undefined =>
  objects.find((o) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? '') === ns);

function secretData(secret: KubeObject | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((secret?.['data'] as Record<string, string> | undefined) ?? {}))
    out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries((secret?.['stringData'] as Record<string, string> | undefined) ?? {})) out[k] = v;
  return out;
}

export interface UserObjectsResult {
  /** The manifests with Dex's config, its password Secret and its Deployment updated, plus Profiles and contributor access. */
  objects: KubeObject[];
  /** Users whose stored hash was replaced (new user or new password). */
  rehashed: string[];
}

/**
 * Adds the users to the manifests before they are applied, so that one server-side apply owns
 * everything and a re-run with the same users changes nothing:
 * - Dex (ConfigMap auth/dex, key config.yaml): a staticPasswords entry per user with `hashFromEnv`;
 * - Secret auth/dex-passwords: that variable's bcrypt hash (cost 12). A stored hash that still matches
 *   the password is kept, so hashes (salted) do not change on every run;
 * - Deployment auth/dex: an annotation on its pod template with a digest of both, so Dex restarts
 *   (and reads its config again) exactly when either changed, and envFrom the Secret;
 * - a kubeflow.org/v1 Profile per user with a profile, and for each contributor the RoleBinding and
 *   AuthorizationPolicy that Kubeflow's access management creates (user-<email>-clusterrole-<role>).
 * Plain passwords go nowhere but bcrypt.
 */
export async function addUsers(
  manifests: readonly KubeObject[],
  users: readonly UserSpec[],
  passwords: ReadonlyMap<string, string>,
  live: { dexPasswords?: KubeObject; dexConfig?: KubeObject },
  cost = 12,
): Promise<UserObjectsResult> {
  const objects = manifests.map((o) => structuredClone(o));
  if (users.length === 0) return { objects, rehashed: [] };
  let config = find(objects, 'ConfigMap', 'auth', 'dex');
  if (!config) {
    if (!live.dexConfig)
      throw new KfopsError('users need Dex, but neither the manifests nor the cluster have ConfigMap auth/dex', {
        fix: 'install the Dex component (common/dex) with the same run, or leave users empty',
      });
    config = structuredClone(live.dexConfig);
    for (const k of ['resourceVersion', 'uid', 'managedFields', 'creationTimestamp'] as const)
      delete (config.metadata as unknown as Record<string, unknown>)[k];
    objects.push(config);
  }
  const data = (config['data'] ??= {}) as Record<string, string>;
  let dex: Record<string, unknown>;
  try {
    dex = (load(data['config.yaml'] ?? '') ?? {}) as Record<string, unknown>;
  } catch (error) {
    throw new KfopsError('ConfigMap auth/dex has a config.yaml that is not valid YAML', { cause: String(error) });
  }
  const managed = new Set(users.map((u) => u.email));
  const entries = ((dex['staticPasswords'] as DexStaticPassword[] | undefined) ?? []).filter(
    (e) => !managed.has(e.email),
  );
  for (const u of users) {
    entries.push({
      email: u.email,
      hashFromEnv: dexHashEnv(u.email),
      username: u.email.split('@')[0] as string,
      userID: createHash('sha256').update(u.email).digest('hex').slice(0, 32),
    });
  }
  dex['staticPasswords'] = entries;
  dex['enablePasswordDB'] = true;
  data['config.yaml'] = dump(dex, { lineWidth: -1, noRefs: true, sortKeys: false });

  let secret = find(objects, 'Secret', 'auth', 'dex-passwords');
  if (!secret) {
    secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'dex-passwords', namespace: 'auth' },
      type: 'Opaque',
    };
    objects.push(secret);
  }
  const declared = secretData(secret);
  const stored = secretData(live.dexPasswords);
  const rehashed: string[] = [];
  for (const u of users) {
    const key = dexHashEnv(u.email);
    const password = passwords.get(u.email) as string;
    const previous = stored[key];
    if (previous && (await bcrypt.compare(password, previous))) declared[key] = previous;
    else {
      declared[key] = await bcrypt.hash(password, cost);
      rehashed.push(u.email);
    }
  }
  delete secret['data'];
  secret['stringData'] = Object.fromEntries(Object.entries(declared).sort(([a], [b]) => a.localeCompare(b)));

  const deployment = find(objects, 'Deployment', 'auth', 'dex');
  if (deployment) {
    const digest = createHash('sha256')
      .update(data['config.yaml'])
      .update(JSON.stringify(secret['stringData']))
      .digest('hex')
      .slice(0, 16);
    const template = (((deployment['spec'] ??= {}) as Record<string, unknown>)['template'] ??= {}) as {
      metadata?: { annotations?: Record<string, string> };
      spec?: { containers?: { envFrom?: { secretRef?: { name: string } }[] }[] };
    };
    template.metadata = {
      ...template.metadata,
      annotations: { ...template.metadata?.annotations, 'kfops.dev/dex-config-digest': digest },
    };
    for (const c of template.spec?.containers ?? []) {
      if (!(c.envFrom ?? []).some((e) => e.secretRef?.name === 'dex-passwords'))
        c.envFrom = [...(c.envFrom ?? []), { secretRef: { name: 'dex-passwords' } }];
    }
  }

  const apVersion = `security.istio.io/${storageVersion(objects, 'authorizationpolicies.security.istio.io') ?? 'v1beta1'}`;
  for (const u of users) {
    if (!u.profile) continue;
    const plugins = u.gcpServiceAccount
      ? [{ kind: 'WorkloadIdentity', spec: { gcpServiceAccount: u.gcpServiceAccount } }]
      : [];
    objects.push({
      apiVersion: 'kubeflow.org/v1',
      kind: 'Profile',
      metadata: { name: u.profile },
      spec: {
        owner: { kind: 'User', name: u.email },
        ...(u.resourceQuota ? { resourceQuotaSpec: { hard: u.resourceQuota } } : {}),
        ...(plugins.length ? { plugins } : {}),
      },
    });
    for (const c of u.contributors) {
      const name = `user-${safeEmail(c.email)}-clusterrole-${c.role}`;
      const annotations = { user: c.email, role: c.role };
      objects.push({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name, namespace: u.profile, annotations },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `kubeflow-${c.role}` },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: c.email }],
      });
      objects.push({
        apiVersion: apVersion,
        kind: 'AuthorizationPolicy',
        metadata: { name, namespace: u.profile, annotations },
        spec: {
          rules: [
            {
              from: [
                {
                  source: {
                    principals: [
                      'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
                      'cluster.local/ns/kubeflow/sa/ml-pipeline-ui',
                    ],
                  },
                },
              ],
              when: [{ key: 'request.headers[kubeflow-userid]', values: [c.email] }],
            },
          ],
        },
      });
    }
  }
  return { objects, rehashed };
}

/** The storage version of a CRD in the manifests, if the CRD is there. */
function storageVersion(objects: readonly KubeObject[], crdName: string): string | undefined {
  const crd = objects.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === crdName);
  return ((crd?.['spec'] as { versions?: { name: string; storage?: boolean }[] } | undefined)?.versions ?? []).find(
    (v) => v.storage,
  )?.name;
}
