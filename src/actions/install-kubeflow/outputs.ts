import * as core from '@actions/core';
import { describeError } from '../../common/errors.js';
import { formatDuration } from '../../common/duration.js';
import { InstallError, type InstallReport, type PartialInstallReport, type PhaseReport } from '../../kube/install.js';
import { describeGate, type Gate, type Plan } from '../../kube/plan.js';
import type { PreflightReport } from '../../kubeflow/preflight.js';
import type { UserSpec } from '../../kubeflow/users.js';
import { describeRef } from '../../kube/types.js';

export interface PlatformState {
  /** Objects changed after the install (Knative's domain, once the gateway address is known). */
  changedAfterInstall?: number;
  address?: string;
  domain?: string;
  issuer?: string;
}

type Counts = { created: number; configured: number; unchanged: number };

export function setOutputs(
  counts: Counts,
  pre: PreflightReport | undefined,
  report?: InstallReport | PartialInstallReport,
  platform: PlatformState = {},
  result: 'success' | 'failure' = 'success',
): void {
  core.setOutput('result', result);
  core.setOutput('gateway-address', platform.address ?? '');
  core.setOutput('dashboard-url', platform.address ? `http://${platform.address}/` : '');
  core.setOutput('knative-domain', platform.domain ?? '');
  core.setOutput('issuer', platform.issuer ?? '');
  core.setOutput('created', counts.created);
  core.setOutput('configured', counts.configured);
  core.setOutput('unchanged', counts.unchanged);
  core.setOutput('changed', counts.created + counts.configured + (platform.changedAfterInstall ?? 0) > 0);
  core.setOutput('server-version', pre?.serverVersion ?? '');
  core.setOutput('default-storage-class', pre?.defaultStorageClass ?? '');
  if (report) {
    core.setOutput('phases', report.phases.length);
    core.setOutput('ready-workloads', report.ready);
    core.setOutput('duration-seconds', Math.round(report.durationMs / 1000));
    core.setOutput(
      'fields-left-to-owners',
      report.yielded.reduce((n, y) => n + y.fields.length, 0),
    );
    core.setOutput('not-applied', 'notApplied' in report ? report.notApplied.length : 0);
  }
}

function phaseTable(
  plan: Plan,
  phases: PhaseReport[],
  total: number,
  counts: Counts,
  durationMs: number,
): Parameters<typeof core.summary.addTable>[0] {
  return [
    [
      { data: 'phase', header: true },
      { data: 'released by', header: true },
      { data: 'objects', header: true },
      { data: 'created', header: true },
      { data: 'configured', header: true },
      { data: 'unchanged', header: true },
      { data: 'time', header: true },
    ],
    ...phases.map((p) => [
      String(p.index + 1),
      p.after.length ? waitsFor(plan, p.after) || `${p.after.length} namespace(s)` : 'start',
      String(p.objects),
      String(p.counts.created),
      String(p.counts.configured),
      String(p.counts.unchanged),
      formatDuration(p.durationMs),
    ]),
    [
      'total',
      '',
      String(total),
      String(counts.created),
      String(counts.configured),
      String(counts.unchanged),
      formatDuration(durationMs),
    ],
  ];
}

/** Fields left to the components that own them, as one line (or nothing). */
function yieldedLine(report: InstallReport | PartialInstallReport): string {
  const n = report.yielded.reduce((k, y) => k + y.fields.length, 0);
  if (n === 0) return '';
  const managers = [...new Set(report.yielded.flatMap((y) => y.fields.flatMap((f) => f.managers)))];
  return ` ${n} placeholder field(s) of ${report.yielded.length} object(s) were left to the components that own them on the cluster (${managers.join(', ')}).`;
}

export async function writeSummary(
  origin: string,
  total: number,
  pre: PreflightReport,
  report: InstallReport,
  platform: PlatformState,
  users: UserSpec[],
): Promise<void> {
  core.summary
    .addHeading('install-kubeflow', 2)
    .addRaw(
      `Manifests: ${origin} (${total} objects) on Kubernetes ${pre.serverVersion}; default StorageClass ${pre.defaultStorageClass ?? '(none needed)'}${pre.storageClassSet ? ' (set by this run)' : ''}.`,
      true,
    )
    .addTable(phaseTable(report.plan, report.phases, total, report.counts, report.durationMs))
    .addRaw(
      `${report.ready} workload(s) ready.${yieldedLine(report)}${platform.address ? ` Dashboard: http://${platform.address}/.` : ''}${platform.domain ? ` Model URLs under ${platform.domain}.` : ''}${platform.issuer ? ` Machine-to-machine tokens from ${platform.issuer}.` : ''}${pre.warnings.length ? ` Warnings: ${pre.warnings.join(' ')}` : ''}`,
      true,
    );
  if (users.length) {
    core.summary.addTable([
      [
        { data: 'Dex login', header: true },
        { data: 'profile', header: true },
        { data: 'contributors', header: true },
      ],
      ...users.map((u) => [
        u.email,
        u.profile ?? '-',
        u.contributors.map((c) => `${c.email} (${c.role})`).join('<br>') || '-',
      ]),
    ]);
  }
  await core.summary.write();
}

/**
 * The job summary of a failed run. For an install that stopped: what was applied, what is blocked by
 * which gate, and the cause; for anything else, the error.
 */
export async function writeFailureSummary(manifests: string | undefined, error: unknown): Promise<void> {
  core.summary.addHeading('install-kubeflow failed', 2);
  if (!(error instanceof InstallError)) {
    await core.summary
      .addRaw(manifests ? `Manifests: ${manifests}.` : 'It failed before the manifests were applied.', true)
      .addCodeBlock(describeError(error))
      .write();
    return;
  }
  const r = error.report;
  const applied = r.counts.created + r.counts.configured + r.counts.unchanged;
  core.summary.addRaw(
    `Manifests: ${manifests}. ${applied} applied (${r.counts.created} created, ${r.counts.configured} configured, ${r.counts.unchanged} unchanged), ${r.notApplied.length} not applied, ${r.ready} workload(s) ready when it stopped after ${formatDuration(r.durationMs)}.${yieldedLine(r)}`,
    true,
  );
  if (r.phases.length) core.summary.addTable(phaseTable(r.plan, r.phases, applied, r.counts, r.durationMs));
  if (r.blocked.length) {
    core.summary.addTable([
      [
        { data: 'not applied, held by', header: true },
        { data: 'gate', header: true },
        { data: 'objects', header: true },
      ],
      ...r.blocked.map((b) => [
        b.gate,
        b.state,
        `${b.objects.length}: ${b.objects.slice(0, 5).map(describeRef).join(', ')}${b.objects.length > 5 ? ', …' : ''}`,
      ]),
    ]);
  }
  core.summary.addRaw('Error:', true).addCodeBlock(describeError(error));
  await core.summary.write();
}

/** The gates other than namespaces, described, at most three. */
export function waitsFor(plan: Plan, keys: string[]): string {
  const shown = [...new Set(keys)].filter((g) => !g.startsWith('namespace:'));
  const text = shown
    .slice(0, 3)
    .map((g) => describeGate(plan.gates.get(g) as Gate))
    .join('<br>');
  return shown.length > 3 ? `${text}<br>… ${shown.length - 3} more` : text;
}
