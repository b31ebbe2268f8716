import * as core from '@actions/core';
import { describeError, KfopsError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { redactUrlCredentials } from '../../common/redact.js';
import { readySecondsValue, reportMarkdown, type SmokeReport } from '../../inference/smoke.js';

/** Every text a user can read passes through here: credentials in URLs become `***`. */
const clean = (text: string): string => redactUrlCredentials(text);

/** A logger that never writes credentials found in URLs (e.g. a status.url read from the cluster). */
export function redactingLogger(logger: Logger): Logger {
  return {
    debug: (m) => logger.debug(clean(m)),
    info: (m) => logger.info(clean(m)),
    warning: (m) => logger.warning(clean(m)),
    error: (m) => logger.error(clean(m)),
    group: (name, fn) => logger.group(clean(name), fn),
  };
}

/** The error with credentials in URLs taken out of its message, cause and fix (the same error when there are none). */
export function redactError(error: unknown): unknown {
  if (!(error instanceof Error) || describeError(error) === clean(describeError(error))) return error;
  const details = error instanceof KfopsError ? error.details : {};
  const redacted = new KfopsError(clean(error.message), {
    ...(details.cause ? { cause: clean(details.cause) } : {}),
    ...(details.fix ? { fix: clean(details.fix) } : {}),
  });
  return redacted;
}

function setOutput(name: string, value: string | number | boolean): void {
  core.setOutput(name, typeof value === 'string' ? clean(value) : value);
}

export function setOutputs(r: SmokeReport): void {
  const l = r.load?.latency;
  const fixed = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(2));
  setOutput('passed', r.failures.length === 0);
  setOutput('url', r.url);
  setOutput('host', r.hostHeader ?? '');
  setOutput('model', r.model);
  setOutput('protocol', r.protocol);
  setOutput('ready-seconds', readySecondsValue(r.readyMs));
  setOutput('status', r.responseStatus);
  setOutput('response', JSON.stringify(r.response));
  setOutput('tokenless-status', r.tokenlessStatus ?? '');
  setOutput('requests', r.load?.requests ?? 0);
  setOutput('errors', r.load?.failed ?? 0);
  setOutput('error-rate', r.load ? r.load.errorRate.toFixed(4) : '');
  setOutput('throughput', r.load ? r.load.throughput.toFixed(1) : '');
  setOutput('p50-ms', fixed(l?.p50));
  setOutput('p95-ms', fixed(l?.p95));
  setOutput('p99-ms', fixed(l?.p99));
  setOutput('mean-ms', fixed(l?.mean));
  setOutput('max-ms', fixed(l?.max));
  setOutput('report-markdown', reportMarkdown(r));
}

export async function writeSummary(r: SmokeReport): Promise<void> {
  await core.summary
    .addHeading('smoke-test-endpoint', 2)
    .addRaw(clean(reportMarkdown(r)), true)
    .write();
}

/** The markdown of a run that stopped with an error (for report-markdown and the job summary). */
export function failureMarkdown(model: string, error: unknown): string {
  const message = error instanceof Error ? error.message : describeError(error);
  const details = error instanceof KfopsError ? error.details : {};
  return clean(
    `#### Smoke test of \`${model}\`: failed\n\n${message}\n\n${details.cause ? `- Cause: ${details.cause}\n` : ''}${details.fix ? `- Fix: ${details.fix}\n` : ''}`,
  );
}

/** Outputs and job summary of a failed run: passed false, and the error as the report. */
export async function writeFailure(model: string, error: unknown): Promise<void> {
  const markdown = failureMarkdown(model, error);
  setOutput('passed', false);
  setOutput('model', model);
  setOutput('report-markdown', markdown);
  await core.summary.addHeading('smoke-test-endpoint', 2).addRaw(markdown, true).write();
}
