import { formatDuration } from '../common/duration.js';
import { describeError, KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { mapSettled } from '../common/concurrency.js';
import { ApplyError, applyObjects, type ApplyOutcome, type ApplyReport } from './apply.js';
import type { KubeClient } from './client.js';
import { diagnose, eventTime, formatDiagnosis, type Diagnosis } from './diagnose.js';
import { classifyFor, explainKubeError, explainWebhookRefusal, type KubeApiError } from './errors.js';
import type { YieldedField } from './owned-fields.js';
import { describeGate, planInstall, type Gate, type Plan, type PlannedObject } from './plan.js';
import { crdRule, namespaceRule, ruleFor } from './readiness.js';
import { describeRef, groupOf, type KubeObject, type ObjectRef } from './types.js';
import {
  readyEndpoints,
  waitFor,
  waitForServiceEndpoints,
  waitUntil,
  WaitTimeoutError,
  NotReadyError,
  type WaitOptions,
} from './wait.js';

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
  /**
   * How long a webhook may keep failing after its Service has ready endpoints before the install stops
   * (default 20 s): long enough for a CA bundle to be injected or proxy rules to settle, short enough
   * that a webhook that cannot be called (a missing CA bundle, a firewall) fails the run in seconds.
   */
  refusedGraceMs?: number;
  /** Ends the install early (it fails with what it had done). */
  signal?: AbortSignal;
}

export interface PhaseReport {
  index: number;
  /** The gates that opened and released this phase (empty for the first). */
  after: string[];
  objects: number;
  counts: Record<ApplyOutcome, number>;
  durationMs: number;
}

/** Placeholder fields of an object that were left to the component owning them on the cluster. */
export interface YieldedReport {
  ref: ObjectRef;
  fields: YieldedField[];
}

export interface InstallReport {
  plan: Plan;
  phases: PhaseReport[];
  counts: Record<ApplyOutcome, number>;
  /** Workloads that were waited for at the end. */
  ready: number;
  yielded: YieldedReport[];
  durationMs: number;
}

/** What an install that stopped had not done: objects never applied, each under the gate that held it. */
export interface BlockedGate {
  gate: string;
  state: 'failed' | 'waiting' | 'not started';
  objects: ObjectRef[];
}

export interface PartialInstallReport extends Omit<InstallReport, 'durationMs'> {
  /** Objects not applied when the install stopped. */
  notApplied: ObjectRef[];
  /** The gates that held them. */
  blocked: BlockedGate[];
  durationMs: number;
}

/** The install could not finish: what blocked it, with a diagnosis per object that is not ready. */
export class InstallError extends KfopsError {
  override readonly name = 'InstallError';
  constructor(
    message: string,
    readonly report: PartialInstallReport,
    readonly diagnoses: Diagnosis[],
    details: { cause?: string; fix?: string },
  ) {
    super(message, details);
  }
}

const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet'];
const REFUSED_GRACE_MS = 20_000;
const REFUSED_CLASS = 'webhook-refused';

/**
 * Installs a set of manifests in dependency order: each object is server-side applied as soon as the
 * gates it needs are open (its Namespace Active, its CRD Established, the Service of a fail-closed
 * webhook that intercepts it ready), all within one deadline. Ends by waiting for every workload to be
 * ready. On failure the error names what blocked what and diagnoses every object that is not ready;
 * every wait and retry still running is cancelled before it returns.
 */
export async function install(
  client: KubeClient,
  objects: readonly KubeObject[],
  options: InstallOptions,
): Promise<InstallReport> {
  const run = new Installation(client, planInstall(objects), options);
  try {
    return await run.run();
  } finally {
    run.stop();
  }
}

/** One install's state, and its steps. */
class Installation {
  readonly started = Date.now();
  readonly deadline: number;
  readonly logger: Logger;
  readonly counts: Record<ApplyOutcome, number> = { created: 0, configured: 0, unchanged: 0 };
  readonly phases: PhaseReport[] = [];
  readonly yielded: YieldedReport[] = [];
  /** Objects applied (or attempted and failed in the phase that stopped the install). */
  readonly applied = new Set<PlannedObject>();
  readonly gateResult = new Map<string, Promise<void>>();
  readonly gateError = new Map<string, unknown>();
  /** Open gates, with the time they opened. */
  readonly opened = new Map<string, number>();
  /** What this run created cannot have held anything before (no reads needed for objects in it). */
  readonly createdNamespaces = new Set<string>();
  readonly createdKinds = new Set<string>();
  /** First refusal (ms) of each webhook Service whose gate was open. */
  readonly refusedSince = new Map<string, number>();
  readonly byRef: Map<string, PlannedObject>;
  readonly plannedOf: Map<KubeObject, PlannedObject>;
  readonly gatesOf = new Map<string, Gate[]>();
  readonly abort = new AbortController();
  private readonly deadlineTimer: NodeJS.Timeout;
  private ready = 0;

  constructor(
    readonly client: KubeClient,
    readonly plan: Plan,
    readonly options: InstallOptions,
  ) {
    this.deadline = this.started + options.timeoutMs;
    this.logger = options.logger ?? silentLogger;
    this.byRef = new Map(plan.objects.map((p) => [describeRef(p.ref), p] as const));
    this.plannedOf = new Map(plan.objects.map((p) => [p.object, p] as const));
    for (const g of plan.gates.values())
      for (const r of g.providers) this.gatesOf.set(describeRef(r), [...(this.gatesOf.get(describeRef(r)) ?? []), g]);
    this.deadlineTimer = setTimeout(
      () => this.abort.abort(new Error(`the install's deadline of ${formatDuration(options.timeoutMs)} passed`)),
      options.timeoutMs,
    );
    options.signal?.addEventListener('abort', () => this.abort.abort(options.signal?.reason), { once: true });
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  remaining(): number {
    return Math.max(1, this.deadline - Date.now());
  }

  /** Cancels every wait, watch and retry still running. */
  stop(): void {
    clearTimeout(this.deadlineTimer);
    if (!this.abort.signal.aborted) this.abort.abort(new Error('the install ended'));
  }

  async run(): Promise<InstallReport> {
    this.watchPodRefusals();
    let lastOpened = new Set<string>();
    for (;;) {
      const batch = this.releasable();
      if (batch.length) {
        const after = [...this.opened.keys()].filter((g) => !lastOpened.has(g));
        lastOpened = new Set(this.opened.keys());
        await this.applyPhase(batch, after);
      }
      if (this.applied.size === this.plan.objects.length) break;
      await this.waitForNextGate();
    }
    if (this.options.waitForReady ?? true) await this.waitForWorkloads();
    return {
      plan: this.plan,
      phases: this.phases,
      counts: this.counts,
      ready: this.ready,
      yielded: this.yielded,
      durationMs: Date.now() - this.started,
    };
  }

  /**
   * Pods refused by a webhook whose Service gate is open: their ReplicaSet or StatefulSet controller
   * retries with a growing backoff for ever and the workload never becomes ready, so once the same
   * webhook has refused pods for longer than the grace, the install stops with that cause. Read from
   * the controllers' FailedCreate events; without permission to watch Events, nothing is watched.
   */
  watchPodRefusals(): void {
    const namespaces = new Set(
      this.plan.objects.filter((p) => WORKLOADS.includes(p.ref.kind)).map((p) => p.ref.namespace ?? 'default'),
    );
    if (namespaces.size === 0) return;
    const grace = this.options.refusedGraceMs ?? REFUSED_GRACE_MS;
    const firstSeen = new Map<string, number>();
    const ref: ObjectRef = { apiVersion: 'v1', kind: 'Event', name: 'FailedCreate' };
    const rule = {
      name: 'no pod refused by a webhook that is up',
      check: () => ({ state: 'pending' as const, message: '' }),
    };
    waitUntil(
      this.client,
      { apiVersion: 'v1', kind: 'Event', fieldSelector: 'reason=FailedCreate,type=Warning' },
      { ref, rule },
      (events) => {
        for (const e of events.values()) {
          if (!namespaces.has(e.metadata.namespace ?? '')) continue;
          const message = String(e['message'] ?? '');
          const service = explainKubeError(new Error(message), { action: 'create pods' }).webhook?.service;
          if (!service) continue;
          const gate = `service:${service.namespace}/${service.name}`;
          const openedAt = this.opened.get(gate);
          // Only refusals seen after the webhook's Service had ready endpoints (second-resolution times).
          if (openedAt === undefined || eventTime(e as Parameters<typeof eventTime>[0]) < openedAt - 1000) continue;
          const first = firstSeen.get(gate) ?? Date.now();
          firstSeen.set(gate, first);
          if (Date.now() - first >= grace) return { readiness: { state: 'failed', message }, object: e };
        }
        return { readiness: { state: 'pending', message: '' } };
      },
      { timeoutMs: this.remaining(), signal: this.signal, logger: this.logger },
    ).then(
      () => undefined,
      (error: unknown) => {
        if (!(error instanceof NotReadyError) || !error.lastObject) {
          this.logger.debug(`pod creation refusals are not watched: ${describeError(error).split('\n')[0]}`);
          return;
        }
        const e = error.lastObject;
        const involved = e['involvedObject'] as { kind?: string; name?: string } | undefined;
        const owner = `${involved?.kind ?? ''} ${e.metadata.namespace ?? ''}/${involved?.name ?? ''}`;
        const refusal = explainKubeError(new Error(String(e['message'] ?? '')), { action: `create pods of ${owner}` });
        const service = refusal.webhook?.service;
        const explained = service ? explainWebhookRefusal(refusal, service) : refusal;
        this.abort.abort(
          new KfopsError(
            `pods of ${owner} are refused by admission webhook "${refusal.webhook?.name ?? '?'}" for more than ${formatDuration(grace)} although its Service has ready endpoints`,
            explained.details,
          ),
        );
      },
    );
  }

  /** Objects not applied yet whose gates are all open. */
  releasable(): PlannedObject[] {
    return this.plan.objects.filter((p) => !this.applied.has(p) && p.gates.every((g) => this.opened.has(g)));
  }

  /** Starts the gates that something still needs and whose providers are applied; waits until one opens. Throws when one failed. */
  async waitForNextGate(): Promise<void> {
    const needed = new Set(
      this.plan.objects.filter((p) => !this.applied.has(p)).flatMap((p) => p.gates.filter((g) => !this.opened.has(g))),
    );
    for (const key of needed) if (this.providersApplied(this.plan.gates.get(key) as Gate)) this.startGate(key);
    const failed = [...needed].filter((k) => this.gateError.has(k));
    if (failed.length) throw await this.blockedError(failed);
    // Gates may have opened while the last phase was being applied: release what they hold first.
    if (this.releasable().length) return;
    const pending = [...needed].filter((k) => this.gateResult.has(k) && !this.opened.has(k));
    if (pending.length === 0) {
      throw this.fail('nothing left to apply can proceed', {
        cause: `waiting objects need gates that nothing provides: ${[...needed].join(', ')}`,
      });
    }
    await Promise.race(pending.map((k) => this.gateResult.get(k) as Promise<void>));
    if (this.signal.aborted)
      throw this.fail(`the install stopped: ${describeError(this.signal.reason)}`, {
        cause: describeError(this.signal.reason),
      });
  }

  providersApplied(gate: Gate): boolean {
    return gate.providers.every((r) => {
      const p = this.byRef.get(describeRef(r));
      return !p || this.applied.has(p);
    });
  }

  startGate(key: string): void {
    if (this.gateResult.has(key)) return;
    const gate = this.plan.gates.get(key) as Gate;
    this.logger.debug(`waiting for ${describeGate(gate)}`);
    this.gateResult.set(
      key,
      this.waitGate(gate).then(
        () => {
          if (!this.signal.aborted) this.opened.set(key, Date.now());
        },
        (error: unknown) => void this.gateError.set(key, error),
      ),
    );
  }

  async waitGate(gate: Gate): Promise<void> {
    const opts = this.waitOptions();
    if (gate.kind === 'namespace') {
      await waitFor(this.client, { apiVersion: 'v1', kind: 'Namespace', name: gate.name }, namespaceRule, opts());
    } else if (gate.kind === 'crd') {
      await waitFor(
        this.client,
        { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: gate.name },
        crdRule,
        opts(),
      );
    } else {
      for (const w of gate.providers.filter((r) => WORKLOADS.includes(r.kind))) {
        await waitFor(this.client, w, ruleFor({ kind: w.kind }), opts());
        if (this.signal.aborted) return;
      }
      await waitForServiceEndpoints(this.client, gate.namespace as string, gate.name, opts());
    }
  }

  waitOptions(): () => WaitOptions {
    return () => ({
      logger: this.logger,
      timeoutMs: this.remaining(),
      signal: this.signal,
      ...(this.options.watchTimeoutSeconds ? { watchTimeoutSeconds: this.options.watchTimeoutSeconds } : {}),
    });
  }

  /** Records an applied object; gates it was the last provider of start waiting at once. */
  onApplied(object: KubeObject, outcome: ApplyOutcome): void {
    if (outcome === 'created' && object.kind === 'Namespace' && object.apiVersion === 'v1')
      this.createdNamespaces.add(object.metadata.name);
    if (outcome === 'created' && object.kind === 'CustomResourceDefinition') {
      const spec = object['spec'] as { group?: string; names?: { kind?: string } } | undefined;
      if (spec?.group && spec.names?.kind) this.createdKinds.add(`${spec.group}/${spec.names.kind}`);
    }
    const p = this.plannedOf.get(object);
    if (!p) return;
    this.applied.add(p);
    for (const g of this.gatesOf.get(describeRef(p.ref)) ?? [])
      if (g.blocks.length && this.providersApplied(g)) this.startGate(g.key);
  }

  knownAbsent(ref: ObjectRef): boolean {
    return (
      (ref.namespace !== undefined && this.createdNamespaces.has(ref.namespace)) ||
      this.createdKinds.has(`${groupOf(ref.apiVersion)}/${ref.kind}`)
    );
  }

  /**
   * Retry classes: a webhook whose Service gate is open (it has ready endpoints) and that still cannot
   * be called gets a grace period shared by every object it intercepts, counted from its first refusal;
   * after it, the error is final. Everything else as healableClass.
   */
  classify(error: KubeApiError): string | undefined {
    const service = error.webhook?.service;
    if (
      error.reason === 'webhook-unreachable' &&
      service &&
      this.opened.has(`service:${service.namespace}/${service.name}`)
    ) {
      const key = `${service.namespace}/${service.name}`;
      const since = this.refusedSince.get(key) ?? Date.now();
      this.refusedSince.set(key, since);
      return Date.now() - since < (this.options.refusedGraceMs ?? REFUSED_GRACE_MS) ? REFUSED_CLASS : undefined;
    }
    return classifyFor(this.client)(error);
  }

  async applyPhase(batch: PlannedObject[], after: string[]): Promise<void> {
    const index = this.phases.length;
    const t0 = Date.now();
    const title = `phase ${index + 1}: apply ${batch.length} object(s)${after.length ? ` released by ${after.length} gate(s)` : ''}`;
    const report = await this.logger.group(title, async () => {
      for (const g of after) this.logger.info(`  open: ${describeGate(this.plan.gates.get(g) as Gate)}`);
      try {
        return await applyObjects(this.client, byUrgency(batch, this.plan, new Set(this.opened.keys())), {
          concurrency: this.options.concurrency ?? 8,
          force: this.options.force ?? false,
          logger: this.logger,
          onApplied: (o, outcome) => this.onApplied(o, outcome),
          knownAbsent: (ref) => this.knownAbsent(ref),
          classify: (e) => this.classify(e),
          signal: this.signal,
          retryBudgets: {
            ...this.options.retryBudgets,
            [REFUSED_CLASS]: this.options.refusedGraceMs ?? REFUSED_GRACE_MS,
          },
        });
      } catch (error) {
        if (error instanceof ApplyError) {
          // Objects that failed stay "not applied"; those applied were recorded as they went in.
          this.record(error.report);
          throw await this.applyFailure(title, error);
        }
        throw error;
      }
    });
    for (const p of batch) this.applied.add(p);
    this.record(report);
    const phase = { index, after, objects: batch.length, counts: report.counts, durationMs: Date.now() - t0 };
    this.phases.push(phase);
    const kept = report.applied.reduce((n, a) => n + (a.yielded?.length ?? 0), 0);
    this.logger.info(
      `phase ${index + 1}: ${batch.length} object(s): ${report.counts.created} created, ${report.counts.configured} configured, ${report.counts.unchanged} unchanged` +
        `${kept ? `; ${kept} placeholder field(s) left to the components that own them` : ''} (${formatDuration(phase.durationMs)})`,
    );
  }

  record(report: ApplyReport): void {
    for (const a of report.applied) {
      this.counts[a.outcome]++;
      if (a.yielded?.length) this.yielded.push({ ref: a.ref, fields: a.yielded });
    }
  }

  /** An apply that failed: webhooks that refused while their Service had ready endpoints get the cause and fix that fit. */
  async applyFailure(title: string, error: ApplyError): Promise<InstallError> {
    const failures = await Promise.all(
      error.failures.map(async (f) => {
        const service = f.error.webhook?.service;
        if (
          f.error.reason !== 'webhook-unreachable' ||
          !service ||
          !this.opened.has(`service:${service.namespace}/${service.name}`)
        )
          return f;
        const svc = this.plan.objects.find(
          (p) =>
            p.ref.kind === 'Service' &&
            p.ref.apiVersion === 'v1' &&
            p.ref.name === service.name &&
            (p.ref.namespace ?? 'default') === service.namespace,
        );
        const endpoints = await this.endpointsOf(service.namespace, service.name);
        return {
          ...f,
          error: explainWebhookRefusal(f.error, {
            ...service,
            endpoints,
            ...webhookTarget(svc?.object, f.error.webhook?.name, this.plan),
            ...injectorOf(f.error.webhook?.name, this.plan),
          }),
        };
      }),
    );
    const explained = new ApplyError(failures, error.report);
    const stopped = this.signal.aborted ? ` (retries stopped: ${describeError(this.signal.reason)})` : '';
    return this.fail(`${title} failed${stopped}: ${explained.message}`, explained.details);
  }

  async endpointsOf(namespace: string, name: string): Promise<number> {
    try {
      const slices = await this.client.list(
        { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespace },
        { labelSelector: `kubernetes.io/service-name=${name}` },
      );
      return readyEndpoints(slices.items);
    } catch {
      return 0;
    }
  }

  async waitForWorkloads(): Promise<void> {
    const workloads = this.plan.objects.filter((p) => WORKLOADS.includes(p.ref.kind));
    await this.logger.group(`wait for ${workloads.length} workload(s) to be ready`, async () => {
      const opts = this.waitOptions();
      const results = await mapSettled(workloads, 32, (p) => waitFor(this.client, p.ref, ruleFor(p.object), opts()));
      const notReady = results.flatMap((r, i) =>
        r.ok && r.value ? [] : [{ p: workloads[i] as PlannedObject, error: r.ok ? undefined : r.error }],
      );
      this.ready = workloads.length - notReady.length;
      if (notReady.length) {
        const diagnoses = await diagnoseAll(
          this.client,
          notReady.map((n) => lastObjectOf(n.error) ?? n.p.object),
        );
        const why = this.signal.aborted
          ? describeError(this.signal.reason)
          : `within ${formatDuration(this.options.timeoutMs)}`;
        throw this.fail(
          `${notReady.length} of ${workloads.length} workload(s) not ready (${why}): ${notReady
            .slice(0, 10)
            .map((n) => describeRef(n.p.ref))
            .join(', ')}${notReady.length > 10 ? ', …' : ''}`,
          { cause: `\n${diagnoses.map(formatDiagnosis).join('\n')}`, fix: 'see the fix for each problem above' },
          diagnoses,
        );
      }
    });
  }

  /** The report so far: what was applied, and what was not under which gate. */
  partial(): PartialInstallReport {
    const notApplied = this.plan.objects.filter((p) => !this.applied.has(p));
    const blocked = new Map<string, BlockedGate>();
    for (const p of notApplied) {
      const key = p.gates.find((g) => this.gateError.has(g)) ?? p.gates.find((g) => !this.opened.has(g));
      if (!key) continue;
      const gate = this.plan.gates.get(key) as Gate;
      const state = this.gateError.has(key) ? 'failed' : this.gateResult.has(key) ? 'waiting' : 'not started';
      const entry = blocked.get(key) ?? { gate: describeGate(gate), state, objects: [] };
      entry.objects.push(p.ref);
      blocked.set(key, entry);
    }
    return {
      plan: this.plan,
      phases: this.phases,
      counts: this.counts,
      ready: this.ready,
      yielded: this.yielded,
      notApplied: notApplied.map((p) => p.ref),
      blocked: [...blocked.values()],
      durationMs: Date.now() - this.started,
    };
  }

  /** An InstallError with the report so far; everything still running is cancelled. */
  fail(message: string, details: { cause?: string; fix?: string }, diagnoses: Diagnosis[] = []): InstallError {
    const error = new InstallError(message, this.partial(), diagnoses, details);
    this.stop();
    return error;
  }

  async blockedError(failed: string[]): Promise<InstallError> {
    const lines: string[] = [];
    const stuck: KubeObject[] = [];
    for (const key of failed) {
      const gate = this.plan.gates.get(key) as Gate;
      const error = this.gateError.get(key);
      const blocked = gate.blocks;
      lines.push(`${describeGate(gate)} did not happen: ${describeError(error).split('\n').join(' ')}`);
      lines.push(
        `  it blocks ${blocked.length} object(s): ${blocked.slice(0, 8).map(describeRef).join(', ')}${blocked.length > 8 ? `, … ${blocked.length - 8} more` : ''}`,
      );
      const last = lastObjectOf(error);
      if (last) stuck.push(last);
      else {
        for (const r of gate.providers.filter((p) => WORKLOADS.includes(p.kind))) {
          const live = await this.client.get(r as ObjectRef).catch(() => undefined);
          if (live) stuck.push(live);
        }
      }
    }
    const diagnoses = await diagnoseAll(this.client, stuck);
    const webhookGates = failed.map((k) => this.plan.gates.get(k) as Gate).filter((g) => g.kind === 'service');
    return this.fail(
      lines.join('\n'),
      {
        cause: diagnoses.length ? `\n${diagnoses.map(formatDiagnosis).join('\n')}` : 'see above',
        fix: webhookGates.length
          ? `make the workloads behind ${webhookGates.map((g) => `Service ${g.namespace}/${g.name}`).join(', ')} ready (see the problems above); the objects their webhooks intercept are applied as soon as they are`
          : 'see the problems above',
      },
      diagnoses,
    );
  }
}

interface WebhookEntry {
  name: string;
  clientConfig?: { service?: { port?: number } };
}

/** The webhook configuration in the plan that holds the named webhook, and that webhook. */
function webhookOf(
  plan: Plan,
  webhook: string | undefined,
): { config: PlannedObject; entry: WebhookEntry } | undefined {
  for (const p of plan.objects) {
    if (p.ref.kind !== 'ValidatingWebhookConfiguration' && p.ref.kind !== 'MutatingWebhookConfiguration') continue;
    const entry = ((p.object['webhooks'] as WebhookEntry[] | undefined) ?? []).find((x) => x.name === webhook);
    if (entry) return { config: p, entry };
  }
  return undefined;
}

/** The Service port a webhook calls (clientConfig.service.port, default 443) and the pods' target port behind it. */
function webhookTarget(
  service: KubeObject | undefined,
  webhook: string | undefined,
  plan: Plan,
): { targetPort?: string | number } {
  const ports =
    (service?.['spec'] as { ports?: { port: number; targetPort?: string | number }[] } | undefined)?.ports ?? [];
  const port = webhookOf(plan, webhook)?.entry.clientConfig?.service?.port ?? 443;
  const match = ports.find((p) => p.port === port);
  return match ? { targetPort: match.targetPort ?? match.port } : {};
}

/** Who injects the CA bundle of a webhook, when its configuration says (cert-manager's annotations). */
function injectorOf(webhook: string | undefined, plan: Plan): { injectedBy?: string } {
  const config = webhookOf(plan, webhook)?.config;
  if (!config) return {};
  const a = config.object.metadata.annotations ?? {};
  const where = `${config.ref.kind} ${config.ref.name}`;
  const from = a['cert-manager.io/inject-ca-from'];
  if (from)
    return {
      injectedBy: `cert-manager's cainjector (annotation cert-manager.io/inject-ca-from: ${from} on ${where}; Certificate ${from} must be Ready)`,
    };
  const secret = a['cert-manager.io/inject-ca-from-secret'];
  if (secret)
    return {
      injectedBy: `cert-manager's cainjector (annotation cert-manager.io/inject-ca-from-secret: ${secret} on ${where})`,
    };
  return {};
}

/**
 * A phase's objects, most urgent first: what opens a gate others still wait for (a Namespace, a CRD, a
 * webhook's Service and the workload behind it, with that workload's ServiceAccount, without which its
 * pods are refused), then other ServiceAccounts and workloads (they take longest to become ready), then
 * the rest in manifest order.
 */
export function byUrgency(batch: readonly PlannedObject[], plan: Plan, opened: ReadonlySet<string>): KubeObject[] {
  const providers = new Set<string>();
  for (const [key, gate] of plan.gates)
    if (!opened.has(key)) for (const r of gate.providers) providers.add(describeRef(r));
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

/** The gates of a plan that are open on the cluster right now (for dry runs): checked once, no waiting. */
export async function openGatesNow(client: KubeClient, plan: Plan): Promise<Set<string>> {
  const open = new Set<string>();
  await mapSettled([...plan.gates.values()], 16, async (g) => {
    if (g.kind === 'namespace') {
      const ns = await client.get({ apiVersion: 'v1', kind: 'Namespace', name: g.name });
      if (ns && namespaceRule.check(ns).state === 'ready') open.add(g.key);
    } else if (g.kind === 'crd') {
      const crd = await client.get({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: g.name,
      });
      if (crd && crdRule.check(crd).state === 'ready') open.add(g.key);
    } else {
      const slices = await client.list(
        { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespace: g.namespace as string },
        { labelSelector: `kubernetes.io/service-name=${g.name}` },
      );
      if (readyEndpoints(slices.items) > 0) open.add(g.key);
    }
  });
  return open;
}
