import { ConfigurationError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { CHECKS } from '../../doctor/checks.js';
import { kubeconfigInput } from '../kubeconfig.js';

/** The inputs, by name (action.yml). */
export const INPUT = {
  kubeconfig: 'kubeconfig',
  checks: 'checks',
  failOn: 'fail-on',
  timeout: 'timeout',
} as const;

export interface Settings {
  kubeconfig?: string;
  /** Check ids to run (all when empty). */
  checks: string[];
  failOn: 'error' | 'warning' | 'never';
  timeoutMs: number;
}

export function readSettings(inputs: Inputs): Settings {
  const kubeconfig = kubeconfigInput(inputs, INPUT.kubeconfig);
  const ids = CHECKS.map((c) => c.id);
  const checks = inputs.list(INPUT.checks).filter((c) => c !== 'all');
  for (const c of checks)
    if (!ids.includes(c)) throw new ConfigurationError(INPUT.checks, c, `check names from: all, ${ids.join(', ')}`);
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    checks,
    failOn: inputs.choice(INPUT.failOn, ['error', 'warning', 'never'] as const, 'error'),
    timeoutMs: inputs.duration(INPUT.timeout, '2m', { positive: true }),
  };
}
