import { existsSync } from 'node:fs';
import { kubeconfigInput } from '../kubeconfig.js';
import { ConfigurationError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { splitUrlCredentials } from '../../common/redact.js';
import type { InstallPlatformSettings } from '../../kubeflow/install-platform.js';
import { DEFAULT_KUBEFLOW_VERSION, DEFAULT_MANIFESTS_REPO, type ManifestSource } from '../../kubeflow/manifests.js';
import { PlatformSettingError, type PlatformField } from '../../kubeflow/settings-error.js';
import { parseUsers, USERS_FORM } from '../../kubeflow/users.js';

/** The inputs, by name (action.yml). */
export const INPUT = {
  kubeconfig: 'kubeconfig',
  kubeflowVersion: 'kubeflow-version',
  manifestsRepo: 'manifests-repo',
  manifestsPath: 'manifests-path',
  manifestsFile: 'manifests-file',
  components: 'components',
  defaultStorageClass: 'default-storage-class',
  users: 'users',
  expose: 'expose',
  domain: 'domain',
  m2mAuth: 'm2m-auth',
  planOnly: 'plan-only',
  timeout: 'timeout',
  concurrency: 'concurrency',
  forceConflicts: 'force-conflicts',
} as const;

export interface Settings extends InstallPlatformSettings {
  kubeconfig?: string;
}

/** The input each platform field comes from. */
const INPUT_OF: Record<PlatformField, string> = {
  'source.file': INPUT.manifestsFile,
  'source.path': INPUT.manifestsPath,
  'source.version': INPUT.kubeflowVersion,
  defaultStorageClass: INPUT.defaultStorageClass,
  domain: INPUT.domain,
};

/**
 * A platform setting the install could not use, as the input the user sets; anything else unchanged.
 * Some show only once a file is read or the cluster answers (e.g. a StorageClass the cluster lacks).
 */
export function asInputError(error: unknown): unknown {
  if (error instanceof PlatformSettingError)
    return new ConfigurationError(INPUT_OF[error.field], error.value, error.expected);
  return error;
}

const DOMAIN_FORM = 'a DNS domain, or `sslip` together with expose: loadbalancer (sslip needs the gateway address)';

/** The manifests repository; a password or token in its URL is masked (log lines and messages redact it too). */
function manifestsRepo(inputs: Inputs): string {
  const repo = inputs.optional(INPUT.manifestsRepo) ?? DEFAULT_MANIFESTS_REPO;
  const { password } = splitUrlCredentials(repo);
  if (password) inputs.mask(password);
  return repo;
}

/** Reads and checks every input before anything touches the cluster; passwords come from `env`. */
export function readSettings(inputs: Inputs, env: Record<string, string | undefined> = {}): Settings {
  const file = inputs.optional(INPUT.manifestsFile);
  const path = inputs.optional(INPUT.manifestsPath);
  const version = inputs.optional(INPUT.kubeflowVersion);
  const components = inputs.list(INPUT.components);
  const given = [file && INPUT.manifestsFile, path && INPUT.manifestsPath, version && INPUT.kubeflowVersion].filter(
    Boolean,
  ) as string[];
  if (given.length > 1) {
    throw new ConfigurationError(
      given[1] as string,
      inputs.optional(given[1] as string),
      `only one of ${INPUT.kubeflowVersion}, ${INPUT.manifestsPath} and ${INPUT.manifestsFile} (also given: ${given[0]})`,
    );
  }
  if (file && components.length)
    throw new ConfigurationError(
      INPUT.components,
      components.join(', '),
      `no ${INPUT.components} with ${INPUT.manifestsFile} (the file is already rendered)`,
    );
  if (file && !existsSync(file))
    throw new ConfigurationError(
      INPUT.manifestsFile,
      file,
      'the path of a rendered manifests file that exists (e.g. the output of `kustomize build example`)',
    );
  if (path && !existsSync(path))
    throw new ConfigurationError(INPUT.manifestsPath, path, 'the path of a kustomization directory that exists');
  const ref = inputs.matching(
    INPUT.kubeflowVersion,
    /^[\w./-]+$/,
    'a git tag or branch of kubeflow/manifests, e.g. v1.9.1',
    DEFAULT_KUBEFLOW_VERSION,
  ) as string;
  const source: ManifestSource = file
    ? { type: 'file', file }
    : path
      ? { type: 'path', path, components }
      : {
          type: 'version',
          version: ref,
          repo: manifestsRepo(inputs),
          components,
        };
  const kubeconfig = kubeconfigInput(inputs, INPUT.kubeconfig);
  const defaultStorageClass = inputs.kubeName(INPUT.defaultStorageClass, 'subdomain', 'the name of a StorageClass');
  const expose = inputs.choice(INPUT.expose, ['none', 'loadbalancer'] as const, 'none');
  const domain =
    inputs.matching(
      INPUT.domain,
      /^(sslip|([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,})$/,
      '`sslip` (magic DNS <ip>.sslip.io from the gateway address) or a DNS domain such as models.example.com',
    ) ?? '';
  if (domain === 'sslip' && expose !== 'loadbalancer') throw new ConfigurationError(INPUT.domain, domain, DOMAIN_FORM);
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    source,
    ...(defaultStorageClass ? { defaultStorageClass } : {}),
    planOnly: inputs.boolean(INPUT.planOnly, false),
    timeoutMs: inputs.duration(INPUT.timeout, '45m', { positive: true }),
    concurrency: inputs.integer(INPUT.concurrency, 8, { min: 1, max: 64 }),
    forceConflicts: inputs.boolean(INPUT.forceConflicts, false),
    ...parseUsers(inputs.structured(INPUT.users, USERS_FORM, { hideValue: true }), env, INPUT.users, (v) =>
      inputs.mask(v),
    ),
    expose,
    domain,
    m2mAuth: inputs.boolean(INPUT.m2mAuth, false),
  };
}
