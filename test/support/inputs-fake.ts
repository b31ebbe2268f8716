import { Inputs } from '../../src/common/inputs.js';

/**
 * An action's inputs as the runner would give them: `values` by input name ('' for an input not set), every
 * value the action masks appended to `masked`, so a test can check what was masked.
 */
export function fakeInputs(values: Record<string, string>, masked: string[] = []): Inputs {
  return new Inputs(
    (name) => values[name] ?? '',
    (secret) => {
      masked.push(secret);
    },
  );
}
