import { load as loadYaml } from 'js-yaml';
import { DURATION_FORM, durationInput } from './duration.js';
import { ConfigurationError } from './errors.js';
import { isKubeName, kubeNameForm, type NameKind } from './names.js';

/** Reads a raw input by name; returns '' when the input is not set. */
export type InputReader = (name: string) => string;

const TRUE = ['true', 'True', 'TRUE'];
const FALSE = ['false', 'False', 'FALSE'];

/**
 * Typed access to an action's inputs. Every parse error is a ConfigurationError naming the input,
 * quoting the value (never for secrets) and stating the expected form.
 */
export class Inputs {
  constructor(
    private readonly read: InputReader,
    readonly mask: (secret: string) => void = () => undefined,
  ) {}

  private raw(name: string): string {
    return (this.read(name) ?? '').trim();
  }

  /** The value, or undefined when empty. */
  optional(name: string): string | undefined {
    const v = this.raw(name);
    return v === '' ? undefined : v;
  }

  required(name: string, expected = 'a non-empty value'): string {
    const v = this.optional(name);
    if (v === undefined) throw new ConfigurationError(name, undefined, expected);
    return v;
  }

  /** A value that must match a pattern (e.g. a Kubernetes name). */
  matching(name: string, pattern: RegExp, expected: string, fallback?: string): string | undefined {
    const v = this.optional(name) ?? fallback;
    if (v !== undefined && !pattern.test(v)) throw new ConfigurationError(name, v, expected);
    return v;
  }

  boolean(name: string, fallback: boolean): boolean {
    const v = this.optional(name);
    if (v === undefined) return fallback;
    if (TRUE.includes(v)) return true;
    if (FALSE.includes(v)) return false;
    throw new ConfigurationError(name, v, '`true` or `false`');
  }

  /** Milliseconds. With `positive`, zero is refused (a deadline of 0 would mean none). */
  duration(name: string, fallback: string, options: { positive?: boolean } = {}): number {
    const text = this.optional(name) ?? fallback;
    const ms = durationInput(name, text);
    if (options.positive && ms <= 0) throw new ConfigurationError(name, text, `${DURATION_FORM}, greater than zero`);
    return ms;
  }

  /** A Kubernetes object name (see common/names.ts). */
  kubeName(name: string, kind: NameKind = 'label', what?: string, fallback?: string): string | undefined {
    const v = this.optional(name) ?? fallback;
    if (v === undefined) return undefined;
    if (!isKubeName(v, kind)) throw new ConfigurationError(name, v, kubeNameForm(kind, what));
    return v;
  }

  integer(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const v = this.optional(name);
    if (v === undefined) return fallback;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
    const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigurationError(name, v, `a whole number from ${min} to ${max}`);
    }
    return n;
  }

  choice<T extends string>(name: string, options: readonly T[], fallback: T): T {
    const v = this.optional(name);
    if (v === undefined) return fallback;
    if (!(options as readonly string[]).includes(v)) {
      throw new ConfigurationError(name, v, `one of ${options.map((o) => `\`${o}\``).join(', ')}`);
    }
    return v as T;
  }

  /** Items separated by newlines or commas; blanks and lines starting with # are skipped. */
  list(name: string): string[] {
    return this.raw(name)
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter((s) => s !== '' && !s.startsWith('#'));
  }

  /** A YAML or JSON document (JSON is YAML). Undefined when empty. */
  structured(name: string, expected = 'a YAML or JSON document', options: { hideValue?: boolean } = {}): unknown {
    const v = this.optional(name);
    if (v === undefined) return undefined;
    try {
      return loadYaml(v);
    } catch (error) {
      // The parser's message quotes the text around the error: not shown for inputs that may hold secrets.
      const reason = options.hideValue
        ? (/at line (\d+), column (\d+)/.exec(error instanceof Error ? error.message : '')?.[0] ?? 'not YAML')
        : error instanceof Error
          ? error.message.split('\n')[0]
          : String(error);
      throw new ConfigurationError(name, v, `${expected} (the parser said: ${reason})`, options);
    }
  }

  /** A secret: masked in the log before anything else happens; never quoted in errors. */
  secret(name: string, required = false): string | undefined {
    const v = this.optional(name);
    if (v !== undefined) this.mask(v);
    if (required && v === undefined) throw new ConfigurationError(name, undefined, 'a non-empty secret');
    return v;
  }
}
