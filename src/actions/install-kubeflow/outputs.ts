import * as core from '@actions/core';
import { redactUrlCredentials } from '../../common/redact.js';
import { formatDuration } from '../../common/duration.js';
import { InstallError, type InstallReport, type PartialInstallReport, type PhaseReport } from '../../kube/install.js';
import { describeGate, type Gate, type Plan } from '../../kube/plan.js';
import { PLATFORM_STEPS, type InstallPlatformReport } from '../../kubeflow/install-platform.js';
import { describeRef } from '../../kube/types.js';
import { writeFailedRunSummary } from '../summary.js';

type Counts = { created: number; configured: number; unchanged: number };

/** Every output; on a failure, those known by then (the others empty). */
export function setOutputs(r: InstallPlatformReport, result: 'success' | 'failure' = 'success'): void {
  const platform = r.platform;
  const pre = r.preflight;
  core.setOutput('result', result);
  core.setOutput('gateway-address', platform.address ?? '');
  core.setOutput('dashboard-url', platform.address ? `http://${platform.address}/` : '');
  core.setOutput('knative-domain', platform.domain ?? '');
  core.setOutput('issuer', platform.issuer ?? '');
  core.setOutput('server-version', pre?.serverVersion ?? '');
  core.setOutput('default-storage-class', pre?.defaultStorageClass ?? '');
  const counts = r.install?.counts ?? r.dryRun?.counts;
  if (counts) {
    core.setOutput('created', counts.created);
    core.setOutput('configured', counts.configured);
    core.setOutput('unchanged', counts.unchanged);
    core.setOutput('changed', counts.created + counts.configured + (platform.changedAfterInstall ?? 0) > 0);
  }
  const report = r.install;
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

/** The job summary of a finished install. */
export async function writeSummary(r: InstallPlatformReport): Promise<void> {
  const { manifests, preflight: pre, install: report, platform } = r;
  if (!manifests || !pre || !report) return;
  core.summary
    .addHeading('install-kubeflow', 2)
    .addRaw(
      `Manifests: ${manifests.origin} (${manifests.objects} objects) on Kubernetes ${pre.serverVersion}; default StorageClass ${pre.defaultStorageClass ?? '(none needed)'}${pre.storageClassSet ? ' (set by this run)' : ''}.`,
      true,
    )
    .addTable(phaseTable(report.plan, report.phases, manifests.objects, report.counts, report.durationMs))
    .addRaw(
      `${report.ready} workload(s) ready.${yieldedLine(report)}${platform.address ? ` Dashboard: http://${platform.address}/.` : ''}${platform.domain ? ` Model URLs under ${platform.domain}.` : ''}${platform.issuer ? ` Machine-to-machine tokens from ${platform.issuer}.` : ''}${pre.warnings.length ? ` Warnings: ${pre.warnings.join(' ')}` : ''}`,
      true,
    );
  if (r.users.length) {
    core.summary.addTable([
      [
        { data: 'Dex login', header: true },
        { data: 'profile', header: true },
        { data: 'contributors', header: true },
      ],
      ...r.users.map((u) => [
        u.email,
        u.profile ?? '-',
        u.contributors.map((c) => `${c.email} (${c.role})`).join('<br>') || '-',
      ]),
    ]);
  }
  await core.summary.write();
}

/** The job summary of a plan-only run: the waves, and what the dry run found. */
export async function writePlanSummary(r: InstallPlatformReport): Promise<void> {
  const { manifests, plan, dryRun: dry } = r;
  if (!manifests || !plan || !dry) return;
  await core.summary
    .addHeading('install-kubeflow: plan only', 2)
    .addRaw(`Manifests: ${manifests.origin} (${manifests.objects} objects). Nothing was changed.`, true)
    .addTable([
      [
        { data: 'wave', header: true },
        { data: 'objects', header: true },
        { data: 'waits for', header: true },
      ],
      ...plan.waves.map((w, i) => [
        String(i),
        String(w.length),
        waitsFor(
          plan,
          w.flatMap((p) => p.gates),
        ) || '-',
      ]),
    ])
    .addRaw(
      `Dry run: ${dry.counts.created} to create, ${dry.counts.configured} to change, ${dry.counts.unchanged} unchanged; ${dry.later} not checked yet (they wait for ${dry.waiting
        .slice(0, 5)
        .map((g) => describeGate(plan.gates.get(g) as Gate))
        .join('; ')}${dry.waiting.length > 5 ? '; …' : ''}).`,
      true,
    )
    .write();
}

/**
 * The job summary of a failed run. For an install that stopped: what was applied, what is blocked by
 * which gate, and the cause; for anything else, the step it stopped at and the error.
 */
export async function writeFailureSummary(r: InstallPlatformReport | undefined, error: unknown): Promise<void> {
  const manifests = r?.manifests ? `${r.manifests.origin} (${r.manifests.objects} objects)` : undefined;
  const partial = error instanceof InstallError ? error.report : undefined;
  await writeFailedRunSummary('install-kubeflow failed', error, (summary) => {
    if (!partial) {
      const where = r
        ? `It failed at "${PLATFORM_STEPS[r.step]}" after ${formatDuration(r.totalMs ?? 0)}`
        : 'It failed';
      const applied = r?.install
        ? `${r.install.counts.created} created, ${r.install.counts.configured} configured, ${r.install.counts.unchanged} unchanged; ${r.install.ready} workload(s) ready`
        : r?.step === 'install'
          ? 'while the manifests were being applied'
          : 'before the manifests were applied';
      summary.addRaw(
        redactUrlCredentials(`${manifests ? `Manifests: ${manifests}. ` : ''}${where}, ${applied}.`),
        true,
      );
      return;
    }
    const applied = partial.counts.created + partial.counts.configured + partial.counts.unchanged;
    summary.addRaw(
      redactUrlCredentials(
        `Manifests: ${manifests}. ${applied} applied (${partial.counts.created} created, ${partial.counts.configured} configured, ${partial.counts.unchanged} unchanged), ${partial.notApplied.length} not applied, ${partial.ready} workload(s) ready when it stopped after ${formatDuration(partial.durationMs)}.${yieldedLine(partial)}`,
      ),
      true,
    );
    if (partial.phases.length)
      summary.addTable(phaseTable(partial.plan, partial.phases, applied, partial.counts, partial.durationMs));
    if (partial.blocked.length) {
      summary.addTable([
        [
          { data: 'not applied, held by', header: true },
          { data: 'gate', header: true },
          { data: 'objects', header: true },
        ],
        ...partial.blocked.map((b) => [
          b.gate,
          b.state,
          `${b.objects.length}: ${b.objects.slice(0, 5).map(describeRef).join(', ')}${b.objects.length > 5 ? ', …' : ''}`,
        ]),
      ]);
    }
  });
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
