import { formatDuration } from '../common/duration.js';
import { describeError, KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { mapSettled } from '../common/concurrency.js';
import { ApplyError, applyObjects, type ApplyOutcome } from './apply.js';
import type { KubeClient } from './client.js';
import { diagnose, formatDiagnosis, type Diagnosis } from './diagnose.js';
import { describeGate, planInstall, type Gate, type Plan, type PlannedObject } from './plan.js';
import { crdRule, namespaceRule, ruleFor } from './readiness.js';
import { describeRef, groupOf, type KubeObject, type ObjectRef } from './types.js';
import { readyEndpoints, waitFor, waitForServiceEndpoints, WaitTimeoutError, NotReadyError } from './wait.js';

export interface InstallOptions {
  /** Deadline for the whole install, in ms. */
  timeoutMs: number;
  /** Objects applied at once within a phase (default 8). */
  concurrency?: number;
  force?: boolean;
  /** Wait until every workload is ready at the end (default true). */
  waitForReady?: boolean;
  retryBudgets?: Record<string, number>;
  logger?: Logger;
  /** Server-side watch timeout for the waits (tests shorten it). */
  watchTimeoutSeconds?: number;
}

export interface PhaseReport {
  index: number;
  /** The gates that opened and released this phase (empty for the first). */
  after: string[];
  objects: number;
  counts: Record<ApplyOutcome, number>;
  durationMs: number;
}

export interface InstallReport {
  plan: Plan;
  phases: PhaseReport[];
  counts: Record<ApplyOutcome, number>;
  /** Workloads that were waited for at the end. */
  ready: number;
  durationMs: number;
}

/** The install could not finish: what blocked it, with a diagnosis per object that is not ready. */
export class InstallError extends KfopsError {
  override readonly name = 'InstallError';
  constructor(
    message: string,
    readonly report: Omit<InstallReport, 'durationMs'>,
    readonly diagnoses: Diagnosis[],
    details: { cause?: string; fix?: string },
  ) {
    super(message, details);
  }
}

const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet'];

/**
 * Installs a set of manifests in dependency order: each object is server-side applied as soon as the
 * gates it needs are open (its Namespace Active, its CRD Established, the Service of a fail-closed
 * webhook that intercepts it ready), all within one deadline. Ends by waiting for every workload to be
 * ready. On failure the error names what blocked what and diagnoses every object that is not ready.
 */
export async function install(client: KubeClient, objects: readonly KubeObject[], options: InstallOptions): Promise<InstallReport> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const remaining = (): number => Math.max(1, deadline - Date.now());
  const logger = options.logger ?? silentLogger;
  const plan = planInstall(objects);
  const counts: Record<ApplyOutcome, number> = { created: 0, configured: 0, unchanged: 0 };
  const phases: PhaseReport[] = [];
  const applied = new Set<PlannedObject>();
  const gateResult = new Map<string, Promise<void>>();
  const gateError = new Map<string, unknown>();
  const opened = new Set<string>();
  const waitOpts = { logger, ...(options.watchTimeoutSeconds ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}) };
  const partial = (): Omit<InstallReport, 'durationMs'> => ({ plan, phases, counts, ready: 0 });

  const waitGate = async (gate: Gate): Promise<void> => {
    if (gate.kind === 'namespace') {
      await waitFor(client, { apiVersion: 'v1', kind: 'Namespace', name: gate.name }, namespaceRule, { ...waitOpts, timeoutMs: remaining() });
    } else if (gate.kind === 'crd') {
      await waitFor(client, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: gate.name }, crdRule, { ...waitOpts, timeoutMs: remaining() });
    } else {
      for (const w of gate.providers.filter((r) => WORKLOADS.includes(r.kind))) {
        await waitFor(client, w, ruleFor({ kind: w.kind }), { ...waitOpts, timeoutMs: remaining() });
      }
      await waitForServiceEndpoints(client, gate.namespace as string, gate.name, { ...waitOpts, timeoutMs: remaining() });
    }
  };
  const startGate = (key: string): void => {
    if (gateResult.has(key)) return;
    const gate = plan.gates.get(key) as Gate;
    logger.debug(`waiting for ${describeGate(gate)}`);
    gateResult.set(
      key,
      waitGate(gate).then(
        () => void opened.add(key),
        (error: unknown) => void gateError.set(key, error),
      ),
    );
  };
  const byRef = new Map(plan.objects.map((p) => [describeRef(p.ref), p] as const));
  const providersApplied = (gate: Gate): boolean =>
    gate.providers.every((r) => {
      const p = byRef.get(describeRef(r));
      return !p || applied.has(p);
    });

  // Gates start waiting as soon as their last provider is applied, while the rest of its phase is
  // still being applied (a Namespace or CRD is usually ready by the time the phase ends).
  const plannedOf = new Map(plan.objects.map((p) => [p.object, p] as const));
  const gatesOf = new Map<string, Gate[]>();
  for (const g of plan.gates.values()) for (const r of g.providers) gatesOf.set(describeRef(r), [...(gatesOf.get(describeRef(r)) ?? []), g]);
  // What this run created cannot have held anything before: objects in those Namespaces, and custom
  // resources of those CRDs, are applied without reading the cluster first.
  const createdNamespaces = new Set<string>();
  const createdKinds = new Set<string>();
  const knownAbsent = (ref: ObjectRef): boolean => (ref.namespace !== undefined && createdNamespaces.has(ref.namespace)) || createdKinds.has(`${groupOf(ref.apiVersion)}/${ref.kind}`);
  const onApplied = (object: KubeObject, outcome: ApplyOutcome): void => {
    if (outcome === 'created' && object.kind === 'Namespace' && object.apiVersion === 'v1') createdNamespaces.add(object.metadata.name);
    if (outcome === 'created' && object.kind === 'CustomResourceDefinition') {
      const spec = object['spec'] as { group?: string; names?: { kind?: string } } | undefined;
      if (spec?.group && spec.names?.kind) createdKinds.add(`${spec.group}/${spec.names.kind}`);
    }
    const p = plannedOf.get(object);
    if (!p) return;
    applied.add(p);
    for (const g of gatesOf.get(describeRef(p.ref)) ?? []) if (g.blocks.length && providersApplied(g)) startGate(g.key);
  };

  let lastOpened = new Set<string>();
  for (;;) {
    const batch = plan.objects.filter((p) => !applied.has(p) && p.gates.every((g) => opened.has(g)));
    if (batch.length) {
      const index = phases.length;
      const after = [...opened].filter((g) => !lastOpened.has(g));
      lastOpened = new Set(opened);
      const t0 = Date.now();
      const title = `phase ${index + 1}: apply ${batch.length} object(s)${after.length ? ` released by ${after.length} gate(s)` : ''}`;
      const report = await logger.group(title, async () => {
        for (const g of after) logger.info(`  open: ${describeGate(plan.gates.get(g) as Gate)}`);
        try {
          return await applyObjects(client, byUrgency(batch, plan, opened), {
            concurrency: options.concurrency ?? 8,
            force: options.force ?? false,
            logger,
            onApplied,
            knownAbsent,
            ...(options.retryBudgets ? { retryBudgets: options.retryBudgets } : {}),
          });
        } catch (error) {
          if (error instanceof ApplyError) {
            for (const a of error.report.applied) counts[a.outcome]++;
            throw new InstallError(`${title} failed: ${error.message}`, partial(), [], error.details);
          }
          throw error;
        }
      });
      for (const p of batch) applied.add(p);
      for (const a of report.applied) counts[a.outcome]++;
      const phase = { index, after, objects: batch.length, counts: report.counts, durationMs: Date.now() - t0 };
      phases.push(phase);
      logger.info(`phase ${index + 1}: ${batch.length} object(s): ${report.counts.created} created, ${report.counts.configured} configured, ${report.counts.unchanged} unchanged (${formatDuration(phase.durationMs)})`);
    }
    if (applied.size === plan.objects.length) break;
    // Start waiting on every gate that something still needs and whose providers are all applied.
    const needed = new Set(plan.objects.filter((p) => !applied.has(p)).flatMap((p) => p.gates.filter((g) => !opened.has(g))));
    for (const key of needed) if (providersApplied(plan.gates.get(key) as Gate)) startGate(key);
    const failed = [...needed].filter((k) => gateError.has(k));
    if (failed.length) throw await blockedError(client, plan, failed, gateError, partial());
    // Gates may have opened while the last phase was being applied: release what they hold first.
    if (plan.objects.some((p) => !applied.has(p) && p.gates.every((g) => opened.has(g)))) continue;
    const pending = [...needed].filter((k) => gateResult.has(k) && !opened.has(k));
    if (pending.length === 0) {
      throw new InstallError('nothing left to apply can proceed', partial(), [], { cause: `waiting objects need gates that nothing provides: ${[...needed].join(', ')}` });
    }
    await Promise.race(pending.map((k) => gateResult.get(k) as Promise<void>));
  }

  let ready = 0;
  if (options.waitForReady ?? true) {
    const workloads = plan.objects.filter((p) => WORKLOADS.includes(p.ref.kind));
    await logger.group(`wait for ${workloads.length} workload(s) to be ready`, async () => {
      const results = await mapSettled(workloads, 32, (p) => waitFor(client, p.ref, ruleFor(p.object), { ...waitOpts, timeoutMs: remaining() }));
      const notReady = results.flatMap((r, i) => (r.ok ? [] : [{ p: workloads[i] as PlannedObject, error: r.error }]));
      ready = workloads.length - notReady.length;
      if (notReady.length) {
        const diagnoses = await diagnoseAll(client, notReady.map((n) => lastObjectOf(n.error) ?? n.p.object));
        throw new InstallError(
          `${notReady.length} of ${workloads.length} workload(s) not ready within ${formatDuration(options.timeoutMs)}: ${notReady.slice(0, 10).map((n) => describeRef(n.p.ref)).join(', ')}${notReady.length > 10 ? ', …' : ''}`,
          { ...partial(), ready },
          diagnoses,
          { cause: `\n${diagnoses.map(formatDiagnosis).join('\n')}`, fix: 'see the fix for each problem above' },
        );
      }
    });
  }
  return { plan, phases, counts, ready, durationMs: Date.now() - started };
}

/**
 * A phase's objects, most urgent first: what opens a gate others still wait for (a Namespace, a CRD, a
 * webhook's Service and the workload behind it, with that workload's ServiceAccount, without which its
 * pods are refused), then other ServiceAccounts and workloads (they take longest to become ready), then
 * the rest in manifest order.
 */
export function byUrgency(batch: readonly PlannedObject[], plan: Plan, opened: ReadonlySet<string>): KubeObject[] {
  const providers = new Set<string>();
  for (const [key, gate] of plan.gates) if (!opened.has(key)) for (const r of gate.providers) providers.add(describeRef(r));
  const saOf = (o: KubeObject): string | undefined => {
    const spec = (o as { spec?: { template?: { spec?: { serviceAccountName?: string } } } }).spec;
    const name = spec?.template?.spec?.serviceAccountName;
    return name ? `ServiceAccount ${o.metadata.namespace ?? 'default'}/${name}` : undefined;
  };
  for (const p of batch) {
    const sa = providers.has(describeRef(p.ref)) && WORKLOADS.includes(p.ref.kind) ? saOf(p.object) : undefined;
    if (sa) providers.add(sa);
  }
  const rank = (p: PlannedObject): number => {
    if (providers.has(describeRef(p.ref))) return 0;
    if (p.ref.kind === 'ServiceAccount') return 1;
    if (WORKLOADS.includes(p.ref.kind)) return 2;
    return 3;
  };
  return batch
    .map((p, i) => ({ p, i, r: rank(p) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.p.object);
}

function lastObjectOf(error: unknown): KubeObject | undefined {
  if (error instanceof WaitTimeoutError || error instanceof NotReadyError) return error.lastObject;
  return undefined;
}

async function diagnoseAll(client: KubeClient, objects: KubeObject[]): Promise<Diagnosis[]> {
  const results = await mapSettled(objects, 8, (o) => diagnose(client, o));
  return results.flatMap((r) => (r.ok ? [r.value] : []));
}

async function blockedError(client: KubeClient, plan: Plan, failed: string[], errors: Map<string, unknown>, report: Omit<InstallReport, 'durationMs'>): Promise<InstallError> {
  const lines: string[] = [];
  const stuck: KubeObject[] = [];
  for (const key of failed) {
    const gate = plan.gates.get(key) as Gate;
    const error = errors.get(key);
    const blocked = gate.blocks;
    lines.push(`${describeGate(gate)} did not happen: ${describeError(error).split('\n').join(' ')}`);
    lines.push(`  it blocks ${blocked.length} object(s): ${blocked.slice(0, 8).map(describeRef).join(', ')}${blocked.length > 8 ? `, … ${blocked.length - 8} more` : ''}`);
    const last = lastObjectOf(error);
    if (last) stuck.push(last);
    else {
      for (const r of gate.providers.filter((p) => WORKLOADS.includes(p.kind))) {
        const live = await client.get(r as ObjectRef).catch(() => undefined);
        if (live) stuck.push(live);
      }
    }
  }
  const diagnoses = await diagnoseAll(client, stuck);
  const webhookGates = failed.map((k) => plan.gates.get(k) as Gate).filter((g) => g.kind === 'service');
  return new InstallError(lines.join('\n'), report, diagnoses, {
    cause: diagnoses.length ? `\n${diagnoses.map(formatDiagnosis).join('\n')}` : 'see above',
    fix: webhookGates.length
      ? `make the workloads behind ${webhookGates.map((g) => `Service ${g.namespace}/${g.name}`).join(', ')} ready (see the problems above); the objects their webhooks intercept are applied as soon as they are`
      : 'see the problems above',
  });
}

/** The gates of a plan that are open on the cluster right now (for dry runs): checked once, no waiting. */
export async function openGatesNow(client: KubeClient, plan: Plan): Promise<Set<string>> {
  const open = new Set<string>();
  await mapSettled([...plan.gates.values()], 16, async (g) => {
    if (g.kind === 'namespace') {
      const ns = await client.get({ apiVersion: 'v1', kind: 'Namespace', name: g.name });
      if (ns && namespaceRule.check(ns).state === 'ready') open.add(g.key);
    } else if (g.kind === 'crd') {
      const crd = await client.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: g.name });
      if (crd && crdRule.check(crd).state === 'ready') open.add(g.key);
    } else {
      const slices = await client.list({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespace: g.namespace as string }, { labelSelector: `kubernetes.io/service-name=${g.name}` });
      if (readyEndpoints(slices.items) > 0) open.add(g.key);
    }
  });
  return open;
}
