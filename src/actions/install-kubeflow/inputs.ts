import { existsSync } from 'node:fs';
import { ConfigurationError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { DEFAULT_KUBEFLOW_VERSION, DEFAULT_MANIFESTS_REPO, type ManifestSource } from '../../kubeflow/manifests.js';
import { parseUsers, USERS_FORM, type UserSpec } from '../../kubeflow/users.js';

export interface Settings {
  kubeconfig?: string;
  source: ManifestSource;
  defaultStorageClass?: string;
  planOnly: boolean;
  timeoutMs: number;
  concurrency: number;
  forceConflicts: boolean;
  users: UserSpec[];
  passwords: Map<string, string>;
  expose: 'none' | 'loadbalancer';
  /** '' (leave Knative's domain alone), 'sslip' (magic DNS from the gateway address) or a domain. */
  domain: string;
  m2mAuth: boolean;
}

/** Reads and checks every input before anything touches the cluster; passwords come from `env`. */
export function readSettings(inputs: Inputs, env: Record<string, string | undefined> = {}): Settings {
  const file = inputs.optional('manifests-file');
  const path = inputs.optional('manifests-path');
  const version = inputs.optional('kubeflow-version');
  const components = inputs.list('components');
  const given = [file && 'manifests-file', path && 'manifests-path', version && 'kubeflow-version'].filter(
    Boolean,
  ) as string[];
  if (given.length > 1) {
    throw new ConfigurationError(
      given[1] as string,
      inputs.optional(given[1] as string),
      `only one of kubeflow-version, manifests-path and manifests-file (also given: ${given[0]})`,
    );
  }
  if (file && components.length)
    throw new ConfigurationError(
      'components',
      components.join(', '),
      'no components with manifests-file (the file is already rendered)',
    );
  if (file && !existsSync(file))
    throw new ConfigurationError(
      'manifests-file',
      file,
      'the path of a rendered manifests file that exists (e.g. the output of `kustomize build example`)',
    );
  if (path && !existsSync(path))
    throw new ConfigurationError('manifests-path', path, 'the path of a kustomization directory that exists');
  const ref = inputs.matching(
    'kubeflow-version',
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
          repo: inputs.optional('manifests-repo') ?? DEFAULT_MANIFESTS_REPO,
          components,
        };
  const kubeconfig = inputs.optional('kubeconfig');
  if (kubeconfig !== undefined && !existsSync(kubeconfig))
    throw new ConfigurationError(
      'kubeconfig',
      kubeconfig,
      'the path of a kubeconfig file that exists (e.g. the kubeconfig output of setup-gke), or empty to use KUBECONFIG or the in-cluster service account',
    );
  const defaultStorageClass = inputs.kubeName('default-storage-class', 'subdomain', 'the name of a StorageClass');
  const expose = inputs.choice('expose', ['none', 'loadbalancer'] as const, 'none');
  const domain =
    inputs.matching(
      'domain',
      /^(sslip|([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,})$/,
      '`sslip` (magic DNS <ip>.sslip.io from the gateway address) or a DNS domain such as models.example.com',
    ) ?? '';
  if (domain === 'sslip' && expose !== 'loadbalancer')
    throw new ConfigurationError(
      'domain',
      domain,
      'a DNS domain, or `sslip` together with expose: loadbalancer (sslip needs the gateway address)',
    );
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    source,
    ...(defaultStorageClass ? { defaultStorageClass } : {}),
    planOnly: inputs.boolean('plan-only', false),
    timeoutMs: inputs.duration('timeout', '45m', { positive: true }),
    concurrency: inputs.integer('concurrency', 8, { min: 1, max: 64 }),
    forceConflicts: inputs.boolean('force-conflicts', false),
    ...parseUsers(inputs.structured('users', USERS_FORM, { hideValue: true }), env, 'users', (v) => inputs.mask(v)),
    expose,
    domain,
    m2mAuth: inputs.boolean('m2m-auth', false),
  };
}
