/** A setting the endpoint refused (e.g. a payload that does not fit the protocol); the actions layer names the input. */
export class SettingError extends Error {
  override readonly name = 'SettingError';
  constructor(
    /** The setting's field, e.g. `payload`. */
    readonly field: string,
    readonly value: string,
    readonly expected: string,
  ) {
    super(`${field}: expected ${expected}`);
  }
}
