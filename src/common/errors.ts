/**
 * The error model. Every error kfops raises on purpose is one of these; anything else is a bug.
 * - ConfigurationError: an input is wrong. Names the input, quotes the value, states the expected form.
 * - KfopsError: something found on the cluster or an API; carries the cause and the fix.
 */

/** Quotes a value for an error message, shortened so a huge input does not flood the log. */
export function quote(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const short = text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
  return JSON.stringify(short);
}

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
  /**
   * @param input the input's name as the user writes it (e.g. `timeout`)
   * @param value the bad value; pass `undefined` for a missing input; never pass a secret
   * @param expected the expected form (e.g. `a duration such as 90s, 10m or 1h30m`)
   */
  constructor(
    readonly input: string,
    readonly value: string | undefined,
    readonly expected: string,
    options: { hideValue?: boolean } = {},
  ) {
    super(
      value === undefined || value === ''
        ? `Input '${input}' is required: expected ${expected}.`
        : options.hideValue
          ? `Input '${input}' has a value that is not shown (it may hold a secret): expected ${expected}.`
          : `Input '${input}' has the value ${quote(value)}: expected ${expected}.`,
    );
  }
}

export interface ErrorDetails {
  /** What was found to be the cause. */
  cause?: string;
  /** What to do about it. */
  fix?: string;
}

/** A failure found on the cluster or an external API, with its cause and fix. */
export class KfopsError extends Error {
  override readonly name: string = 'KfopsError';
  readonly details: ErrorDetails;
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
  }

  /** The message with its cause and fix, one per line. */
  describe(): string {
    const lines = [this.message];
    if (this.details.cause) lines.push(`Cause: ${this.details.cause}`);
    if (this.details.fix) lines.push(`Fix: ${this.details.fix}`);
    return lines.join('\n');
  }
}

/** Text for anything thrown: Error or not. Never throws. */
export function describeError(error: unknown): string {
  if (error instanceof KfopsError) return error.describe();
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return `non-Error value thrown: ${JSON.stringify(error)}`;
  } catch {
    return `non-Error value thrown: ${String(error)}`;
  }
}

/** A short description of a request failure without an HTTP answer (ECONNREFUSED, timeout, ...). */
export function networkFailure(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    const text = [typeof code === 'string' ? code : '', typeof message === 'string' ? message : '']
      .filter(Boolean)
      .join(': ');
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts.join(' <- ') || String(error);
}
