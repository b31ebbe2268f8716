import * as core from '@actions/core';
import { describeError } from '../common/errors.js';
import { redactUrlCredentials } from '../common/redact.js';

/**
 * Writes the job summary of a failed run: the heading, what `addBody` adds (what the run got to; it
 * redacts its own text), then "Error:" and the error with its cause and fix in a code block, with
 * credentials in URLs redacted. Best effort: a summary that cannot be written is a warning, and never
 * hides the error itself.
 */
export async function writeFailedRunSummary(
  heading: string,
  error: unknown,
  addBody: (summary: typeof core.summary) => void = () => undefined,
): Promise<void> {
  try {
    core.summary.addHeading(heading, 2);
    addBody(core.summary);
    await core.summary
      .addRaw('Error:', true)
      .addCodeBlock(redactUrlCredentials(describeError(error)))
      .write();
  } catch (e) {
    core.warning(`job summary not written: ${describeError(e)}`);
  }
}
