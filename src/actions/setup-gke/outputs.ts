import * as core from '@actions/core';
import { formatDuration } from '../../common/duration.js';
import type { EnsureResult } from '../../gke/cluster.js';
import type { SetupReport } from '../../gke/setup.js';
import { describePools } from '../../gke/spec.js';
import { writeFailedRunSummary } from '../summary.js';
import type { Settings } from './inputs.js';

const resultText = (e: EnsureResult): string => `${e.action}${e.concurrent ? ' (created by a concurrent run)' : ''}`;

/** The outputs of a finished setup, and KUBECONFIG for the next steps. */
export function setOutputs(settings: Settings, report: SetupReport): void {
  const { spec } = settings;
  const { ensured, kubeconfig } = report;
  core.exportVariable('KUBECONFIG', kubeconfig.path);
  core.info(`KUBECONFIG is set to ${kubeconfig.path} for the next steps`);
  core.setOutput('cluster-name', spec.name);
  core.setOutput('location', spec.location);
  core.setOutput('endpoint', kubeconfig.server);
  core.setOutput('ca-certificate', ensured.cluster.masterAuth?.clusterCaCertificate ?? '');
  core.setOutput('kubeconfig-path', kubeconfig.path);
  core.setOutput('issuer', report.issuer);
  core.setOutput('result', ensured.action);
  core.setOutput('drift', JSON.stringify(driftList(ensured)));
}

function driftList(e: EnsureResult): Array<{ field: string; want: string; live: string; applied: boolean }> {
  return e.drift.map((d) => ({ field: d.field, want: d.want, live: d.live, applied: e.applied.includes(d) }));
}

function clusterRows(settings: Settings, ensured: EnsureResult): string[][] {
  const { spec } = settings;
  return [
    ['result', resultText(ensured)],
    ['project / location', `${spec.project} / ${spec.location}`],
    ['status', `${ensured.cluster.status ?? '?'} ${ensured.cluster.currentMasterVersion ?? ''}`.trim()],
    ['node pools', describePools(ensured.cluster).join('<br>') || '-'],
    [
      'machine types',
      [...new Set((ensured.cluster.nodePools ?? []).map((p) => p.config?.machineType ?? '?'))].join(', ') || '-',
    ],
  ];
}

function addDrift(ensured: EnsureResult): void {
  if (!ensured.drift.length) return;
  core.summary.addHeading('Differences from the inputs', 3).addTable([
    [
      { data: 'setting', header: true },
      { data: 'inputs', header: true },
      { data: 'cluster', header: true },
      { data: 'what happened', header: true },
    ],
    ...ensured.drift.map((d) => [
      d.field,
      d.want,
      d.live,
      ensured.applied.includes(d)
        ? 'changed in place'
        : d.change
          ? 'not changed (update: true changes it)'
          : 'not changed (only recreate changes it)',
    ]),
  ]);
}

export async function writeSummary(settings: Settings, report: SetupReport): Promise<void> {
  const { ensured, kubeconfig } = report;
  core.summary.addHeading(`setup-gke: ${settings.spec.name} ${ensured.action}`, 2).addTable([
    [
      { data: 'cluster', header: true },
      { data: 'value', header: true },
    ],
    ...clusterRows(settings, ensured),
    ['endpoint', `${kubeconfig.server} (${settings.endpoint})`],
    ['kubeconfig', `${kubeconfig.path}: ${kubeconfig.note}${kubeconfig.user ? `, works as ${kubeconfig.user}` : ''}`],
    ['issuer', report.issuer],
    ['time taken', formatDuration(report.durationMs)],
  ]);
  addDrift(ensured);
  await core.summary.write();
}

/** The outputs and job summary of a failed run: what was asked, what got done, and the error. */
export async function writeFailureSummary(
  settings: Settings,
  ensured: EnsureResult | undefined,
  error: unknown,
  durationMs: number,
): Promise<void> {
  const { spec } = settings;
  core.setOutput('cluster-name', spec.name);
  core.setOutput('location', spec.location);
  core.setOutput('result', 'failure');
  if (ensured) core.setOutput('drift', JSON.stringify(driftList(ensured)));
  await writeFailedRunSummary(`setup-gke: ${spec.name} failed`, error, (summary) => {
    if (ensured) {
      summary.addTable([
        [
          { data: 'cluster', header: true },
          { data: 'value', header: true },
        ],
        ...clusterRows(settings, ensured),
        ['kubeconfig', 'not ready: the step failed while writing or checking it'],
      ]);
      addDrift(ensured);
    } else {
      summary.addRaw(
        `Cluster ${spec.name} in ${spec.project} / ${spec.location} (Container API ${settings.apiEndpoint}): the step failed before the cluster was ready, after ${formatDuration(durationMs)}.`,
        true,
      );
    }
  });
}
