import { ConfigurationError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
export const DURATION_FORM = 'a duration such as 90s, 10m, 1h30m or 500ms (a bare number means seconds)';

/** Parses `1h30m`, `90s`, `500ms`, `2.5m`, or a bare number of seconds, into milliseconds. Undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  if (t === '' || t.replace(PART, '') !== '') return undefined;
  let total = 0;
  for (const [, amount, unit] of t.matchAll(PART)) total += Number(amount) * (UNITS[unit as string] ?? 0);
  return Math.round(total);
}

/** Like parseDuration, for a named input: throws ConfigurationError when malformed. */
export function durationInput(input: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new ConfigurationError(input, text, DURATION_FORM);
  return ms;
}

/** 61500 -> "1m1.5s"; 800 -> "800ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round((ms % 60_000) / 100) / 10;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}
