/**
 * Bad inputs, tried as a user would meet them: the action's bundle run as a process (as the runner runs
 * it, with action.yml defaults), one bad value at a time. Each must fail the step at once with one
 * `::error::` that names the input and the expected form, show no stack frames outside `::debug::`,
 * and never let a secret (a sentinel value given in a secret input or environment variable) reach the
 * log, the outputs or the job summary; and it must not wait on anything before it fails.
 *
 * The bundle comes from dist/ (built and checked against the source before the tests run, see
 * package.json `test`), or from KFOPS_DIST_DIR.
 */
import { runAction, type ActionRun } from './run-action.js';

export interface BadInput {
  /** What the case tries, for the test name. */
  what: string;
  inputs: Record<string, string>;
  env?: Record<string, string>;
  /** The input the error must name. */
  input: string;
  /** Text the error must contain (e.g. part of the expected form). */
  expect?: string | RegExp;
}

/** A value that must never appear anywhere a user can read it. */
export const SENTINEL = 'kfops-sentinel-Zq7uXw3p9';

export interface BadInputResult extends ActionRun {
  ms: number;
}

export async function tryBadInput(action: string, c: BadInput): Promise<BadInputResult> {
  const started = Date.now();
  const run = await runAction(action, c.inputs, {
    ...(process.env['KFOPS_DIST_DIR'] ? {} : { KFOPS_ACTION_FROM_DIST: '1' }),
    ...c.env,
  });
  return { ...run, ms: Date.now() - started };
}

/** Everything wrong with how the action handled a bad input (empty when it did it right). */
/**
 * The ceiling is not a speed goal (tests never assert speed; `npm run bench:start` measures start-up and
 * bad-input time against plain Node): it only catches an action that, given a bad value, waits on a
 * network call or a deadline before it fails.
 */
export function badInputProblems(c: BadInput, r: BadInputResult, limitMs = 15_000): string[] {
  const problems: string[] = [];
  const lines = r.log.split('\n');
  const errors = lines.filter((l) => l.startsWith('::error::'));
  if (r.code !== 1) problems.push(`exit code ${r.code}, expected 1`);
  if (errors.length !== 1) problems.push(`${errors.length} ::error:: lines, expected 1: ${errors.join(' | ')}`);
  const error = errors[0] ?? '';
  if (!error.includes(`Input '${c.input}'`)) problems.push(`the error does not name input '${c.input}': ${error}`);
  if (c.expect !== undefined && !(typeof c.expect === 'string' ? error.includes(c.expect) : c.expect.test(error)))
    problems.push(`the error does not say ${String(c.expect)}: ${error}`);
  const frames = lines.filter((l) => !l.startsWith('::debug::') && /^\s+at .+[(:]\d+/.test(l));
  if (frames.length) problems.push(`stack frames outside ::debug::: ${frames.slice(0, 2).join(' | ')}`);
  // `::add-mask::VALUE` is how a step asks the runner to mask a value; the runner never shows that line.
  const shown = lines.filter((l) => !l.startsWith('::add-mask::')).join('\n');
  for (const [where, text] of [
    ['log', shown],
    ['outputs', JSON.stringify(r.outputs)],
    ['summary', r.summary],
  ] as const) {
    if (text.includes(SENTINEL)) problems.push(`the secret sentinel appears in the ${where}`);
  }
  if (r.ms > limitMs) problems.push(`took ${r.ms} ms, more than ${limitMs} ms`);
  return problems;
}
