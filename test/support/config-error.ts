import { ConfigurationError } from '../../src/common/errors.js';

/** The ConfigurationError that fn throws; fails when it throws something else or nothing. */
export function configError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigurationError) return e;
    throw e;
  }
  throw new Error('expected a ConfigurationError');
}
