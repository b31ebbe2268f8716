import * as core from '@actions/core';
import { formatDuration } from '../../common/duration.js';
import { redactUrlCredentials } from '../../common/redact.js';
import type { ModelInfo } from '../../kserve/inferenceservice.js';
import type { ReleaseModelReport } from '../../kserve/release.js';
import { writeFailedRunSummary } from '../summary.js';

const STEP = {
  resolve: 'resolving the model',
  check: 'checking the model location',
  release: 'applying and waiting',
  done: 'done',
} as const;

function modelOf(r: ReleaseModelReport): ModelInfo | undefined {
  return r.model ?? r.release?.plan.applied.model;
}

/** Every output; on a failure, those known by then (the others empty). */
export function setOutputs(r: ReleaseModelReport): void {
  const m = modelOf(r);
  const rel = r.release;
  const ready = rel?.ready;
  core.setOutput('model-uri', redactUrlCredentials(m?.uri ?? ''));
  core.setOutput('model-version', m?.version ?? '');
  core.setOutput('changed', rel ? rel.outcome !== 'unchanged' : false);
  core.setOutput('url', ready?.url ?? '');
  core.setOutput('address', ready?.address ?? '');
  core.setOutput('host', ready?.host ?? '');
  core.setOutput('latest-revision', ready?.latestRevision ?? '');
  core.setOutput('previous-revision', ready?.previousRevision ?? rel?.plan.previous?.revision ?? '');
  core.setOutput(
    'traffic',
    JSON.stringify((ready?.traffic ?? []).map((t) => ({ revision: t.revision, percent: t.percent, latest: t.latest }))),
  );
  core.setOutput('ready-seconds', ready ? Math.round(ready.readyMs / 100) / 10 : '');
  core.setOutput('auth-policy', rel?.policy.applied ? rel.policy.name : '');
}

function checkLine(r: ReleaseModelReport): string {
  const c = r.check;
  if (!c) return '';
  return c.state === 'passed'
    ? ` Model location checked at ${c.where}: holds ${c.location.found} (${formatDuration(c.ms)}).`
    : ` Model location not checked: ${c.reason}.`;
}

function heading(r: ReleaseModelReport, service: { namespace: string; name: string }): string {
  return `deploy-inferenceservice: ${r.action} ${service.namespace}/${service.name}`;
}

export async function writeSummary(r: ReleaseModelReport, service: { namespace: string; name: string }): Promise<void> {
  const rel = r.release;
  if (!rel) return;
  const m = modelOf(r);
  const traffic =
    (rel.ready?.traffic ?? []).map((t) => `${t.revision} ${t.percent}%${t.latest ? ' (latest)' : ''}`).join('<br>') ||
    '-';
  await core.summary
    .addHeading(heading(r, service), 2)
    .addTable([
      [
        { data: 'model', header: true },
        { data: 'version', header: true },
        { data: 'URI', header: true },
        { data: 'revision', header: true },
        { data: 'traffic', header: true },
        { data: 'ready in', header: true },
      ],
      [
        m?.registry ?? m?.name ?? '-',
        m?.version ?? '-',
        m?.uri ?? '-',
        rel.ready?.latestRevision ?? '-',
        traffic,
        rel.ready ? formatDuration(rel.ready.readyMs) : 'not waited',
      ].map(redactUrlCredentials),
    ])
    .addRaw(
      redactUrlCredentials(
        [
          `InferenceService ${rel.outcome}${rel.plan.previous?.revision ? `; previous release: ${rel.plan.previous.revision}${rel.plan.previous.model?.uri ? ` (${rel.plan.previous.model.uri})` : ''}` : ''}.`,
          rel.rolledBackFrom ? ` Rolled back from ${rel.rolledBackFrom}.` : '',
          rel.ready?.url
            ? ` URL: ${rel.ready.url} (Host header ${rel.ready.host ?? '-'}); cluster-local: ${rel.ready.address ?? '-'}.`
            : '',
          rel.policy.applied
            ? ` AuthorizationPolicy ${rel.policy.name} ${rel.policy.outcome}.`
            : ` No AuthorizationPolicy (${rel.policy.reason}).`,
          checkLine(r),
          ` Total ${formatDuration(r.totalMs ?? 0)}.`,
        ].join(''),
      ),
      true,
    )
    .write();
}

/** The summary of a failed run: the step it stopped at, what was done before, and the error. */
export async function writeFailureSummary(
  r: ReleaseModelReport | undefined,
  service: { namespace: string; name: string } | undefined,
  error: unknown,
): Promise<void> {
  const title = r && service ? `${heading(r, service)} failed` : 'deploy-inferenceservice failed';
  await writeFailedRunSummary(title, error, (summary) => {
    if (!r) return;
    const m = modelOf(r);
    const done = [
      m ? `Model: ${m.registry ? `${m.registry} -> version ${m.version ?? '?'}: ` : ''}${m.uri}.` : '',
      checkLine(r),
      r.cluster ? ` Cluster: ${r.cluster.server}.` : '',
      r.release ? ` InferenceService ${r.release.outcome}.` : '',
    ].join('');
    summary.addRaw(
      redactUrlCredentials(
        `Failed while ${STEP[r.step]} after ${formatDuration(r.totalMs ?? 0)}.${done ? ` ${done.trim()}` : ''}`,
      ),
      true,
    );
  });
}
