import { existsSync } from 'node:fs';
import { ConfigurationError } from '../common/errors.js';
import type { Inputs } from '../common/inputs.js';

/**
 * The kubeconfig input of the actions that talk to a cluster: a path that exists, or undefined to use
 * KUBECONFIG or the in-cluster service account.
 */
export function kubeconfigInput(
  inputs: Inputs,
  name: string,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  const kubeconfig = inputs.optional(name);
  if (kubeconfig !== undefined && !exists(kubeconfig))
    throw new ConfigurationError(
      name,
      kubeconfig,
      'the path of a kubeconfig file that exists (e.g. the kubeconfig output of setup-gke), or empty to use KUBECONFIG or the in-cluster service account',
    );
  return kubeconfig;
}
