import * as core from '@actions/core';
import { ConfigurationError, describeError } from '../common/errors.js';
import { Inputs } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';

/** Inputs read through @actions/core; the named secret inputs are masked before anything else runs. */
export function actionInputs(secretInputs: readonly string[] = []): Inputs {
  for (const name of secretInputs) {
    const value = core.getInput(name);
    if (value) core.setSecret(value);
  }
  return new Inputs(
    (name) => core.getInput(name),
    (value) => core.setSecret(value),
  );
}

export const coreLogger: Logger = {
  debug: (m) => core.debug(m),
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
  error: (m) => core.error(m),
  group: (name, fn) => core.group(name, fn),
};

/**
 * The one top-level catch of an action: anything thrown (an Error or not) fails the step with the
 * action's name. Configuration errors show no stack; other errors keep theirs in the debug log.
 */
export async function runAction(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (!(error instanceof ConfigurationError) && error instanceof Error && error.stack) core.debug(error.stack);
    core.setFailed(`${name}: ${describeError(error)}`);
  }
}
