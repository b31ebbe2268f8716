/**
 * Compares a model's answer with what was expected, and explains every difference with its JSON path.
 * Modes:
 * - exact: the same JSON (numbers equal within the tolerance, 0 by default);
 * - subset: every key and list item of the expectation is in the answer with the same value, extra keys allowed;
 * - tolerance: like subset, numbers within the tolerance (absolute, or relative as `1%`);
 * - shape: only the structure: V2 outputs' name, shape and datatype; V1 predictions' nesting and value types.
 * A list of objects that all have a `name` (V2 inputs/outputs) is matched by name, not position.
 * A plain list as the expectation means the V1 predictions, or the data of the first V2 output.
 */
import { flatten, shapeOf, type Protocol } from './protocol.js';

export const COMPARE_MODES = ['exact', 'subset', 'tolerance', 'shape'] as const;
export type CompareMode = (typeof COMPARE_MODES)[number];

export interface Tolerance {
  absolute: number;
  relative: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { absolute: 1e-6, relative: 0 };
export const TOLERANCE_FORM = 'an absolute tolerance such as 0.001, or a relative one such as 1%';

/** `0.01` -> absolute; `2%` -> relative. Undefined when malformed. */
export function parseTolerance(text: string): Tolerance | undefined {
  const t = text.trim();
  const m = /^(\d+(?:\.\d+)?(?:e-?\d+)?)(%)?$/i.exec(t);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] ? { absolute: 0, relative: n / 100 } : { absolute: n, relative: 0 };
}

export interface Difference {
  path: string;
  message: string;
}

const MAX_DIFFERENCES = 20;

/** The expectation in the protocol's form (a plain list becomes predictions or the first output's data). */
export function normalizeExpected(protocol: Protocol, expected: unknown): unknown {
  if (!Array.isArray(expected)) return expected;
  return protocol === 'v1' ? { predictions: expected } : { outputs: [{ data: flatten(expected) }] };
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 80)}…` : s;
};
const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v);

export function compare(
  protocol: Protocol,
  actual: unknown,
  expectedInput: unknown,
  mode: CompareMode,
  tolerance: Tolerance = mode === 'exact' ? { absolute: 0, relative: 0 } : DEFAULT_TOLERANCE,
): Difference[] {
  const expected = normalizeExpected(protocol, expectedInput);
  const diffs: Difference[] = [];
  const add = (path: string, message: string): void => {
    if (diffs.length < MAX_DIFFERENCES + 1) diffs.push({ path, message });
  };
  if (mode === 'shape') compareShape(protocol, actual, expected, add);
  else walk(actual, expected, '$', mode === 'exact', tolerance, add);
  return diffs;
}

type Add = (path: string, message: string) => void;

function numbersClose(a: number, e: number, t: Tolerance): boolean {
  if (a === e) return true;
  const diff = Math.abs(a - e);
  return diff <= t.absolute || diff <= t.relative * Math.abs(e);
}

function walk(actual: unknown, expected: unknown, path: string, exact: boolean, t: Tolerance, add: Add): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (!numbersClose(actual, expected, t)) {
      const tol = t.relative ? `${t.relative * 100}%` : String(t.absolute);
      add(
        path,
        `expected ${expected}, got ${actual} (off by ${Number(Math.abs(actual - expected).toPrecision(3))}${t.absolute || t.relative ? `, tolerance ${tol}` : ''})`,
      );
    }
    return;
  }
  if (kindOf(actual) !== kindOf(expected)) {
    add(path, `expected ${kindOf(expected)} ${show(expected)}, got ${kindOf(actual)} ${show(actual)}`);
    return;
  }
  if (Array.isArray(expected)) {
    const a = actual as unknown[];
    // V2 `data` may be flat or nested; compare the values row-major either way.
    const [ea, aa] = path.endsWith('.data') ? [flatten(expected), flatten(a)] : [expected, a];
    if (byName(ea) && byName(aa)) {
      for (const item of ea as { name: string }[]) {
        const match = (aa as { name: string }[]).find((x) => x.name === item.name);
        if (!match)
          add(
            `${path}[name=${item.name}]`,
            `missing; the answer has ${show((aa as { name: string }[]).map((x) => x.name))}`,
          );
        else walk(match, item, `${path}[name=${item.name}]`, exact, t, add);
      }
      if (exact && aa.length !== ea.length) add(path, `expected ${ea.length} item(s), got ${aa.length}`);
      return;
    }
    if (aa.length !== ea.length) {
      add(path, `expected ${ea.length} item(s), got ${aa.length}: ${show(aa)}`);
      return;
    }
    ea.forEach((e, i) => walk(aa[i], e, `${path}[${i}]`, exact, t, add));
    return;
  }
  if (expected && typeof expected === 'object') {
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    for (const [k, v] of Object.entries(e)) {
      if (!(k in a)) add(`${path}.${k}`, `missing (expected ${show(v)})`);
      else walk(a[k], v, `${path}.${k}`, exact, t, add);
    }
    if (exact) for (const k of Object.keys(a)) if (!(k in e)) add(`${path}.${k}`, `not expected (got ${show(a[k])})`);
    return;
  }
  if (actual !== expected) add(path, `expected ${show(expected)}, got ${show(actual)}`);
}

const byName = (list: unknown[]): boolean =>
  list.length > 0 &&
  list.every((x) => x !== null && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string');

function compareShape(protocol: Protocol, actual: unknown, expected: unknown, add: Add): void {
  const a = (actual ?? {}) as Record<string, unknown>;
  const e = (expected ?? {}) as Record<string, unknown>;
  if (protocol === 'v1') {
    const ap = a['predictions'];
    const ep = e['predictions'];
    if (ep === undefined) return;
    const as = shapeOf(ap);
    const es = shapeOf(ep);
    if (JSON.stringify(as) !== JSON.stringify(es))
      add('$.predictions', `expected shape [${es?.join(', ') ?? 'ragged'}], got [${as?.join(', ') ?? 'ragged'}]`);
    const at = [...new Set(flatten(ap).map(kindOf))].join('|');
    const et = [...new Set(flatten(ep).map(kindOf))].join('|');
    if (at !== et) add('$.predictions', `expected values of type ${et}, got ${at}`);
    return;
  }
  const aouts = (Array.isArray(a['outputs']) ? a['outputs'] : []) as Record<string, unknown>[];
  const eouts = (Array.isArray(e['outputs']) ? e['outputs'] : []) as Record<string, unknown>[];
  eouts.forEach((eo, i) => {
    const named = typeof eo['name'] === 'string';
    const ao = named ? aouts.find((o) => o['name'] === eo['name']) : aouts[i];
    const where = named ? `$.outputs[name=${String(eo['name'])}]` : `$.outputs[${i}]`;
    if (!ao) {
      add(
        where,
        `missing; the answer has ${aouts.length} output(s)${aouts.length ? ` named ${show(aouts.map((o) => o['name']))}` : ''}`,
      );
      return;
    }
    const eshape = eo['shape'] ?? (eo['data'] !== undefined ? shapeOf(eo['data']) : undefined);
    if (eshape !== undefined && JSON.stringify(ao['shape']) !== JSON.stringify(eshape))
      add(`${where}.shape`, `expected ${show(eshape)}, got ${show(ao['shape'])}`);
    if (eo['datatype'] !== undefined && ao['datatype'] !== eo['datatype'])
      add(`${where}.datatype`, `expected ${show(eo['datatype'])}, got ${show(ao['datatype'])}`);
  });
}

/** The differences as indented lines, at most 20, for an error message. */
export function formatDifferences(diffs: readonly Difference[]): string {
  const lines = diffs.slice(0, MAX_DIFFERENCES).map((d) => `  ${d.path}: ${d.message}`);
  if (diffs.length > MAX_DIFFERENCES) lines.push('  … more differences not shown');
  return lines.join('\n');
}
