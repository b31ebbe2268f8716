import { mapSettled } from '../common/concurrency.js';
import { KfopsError } from '../common/errors.js';
import { stableJson } from '../common/json.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { withRetry, type RetryDeps } from '../common/retry.js';
import type { KubeClient, LiveMetadata } from './client.js';
import type { KubeApiError } from './errors.js';
import { classifyFor, DEFAULT_RETRY_BUDGETS, explainKubeError } from './errors.js';
import { yieldOwnedPlaceholders, type YieldedField } from './owned-fields.js';
import { describeRef, refOf, type KubeObject, type ObjectRef } from './types.js';

export const FIELD_MANAGER = 'kfops';
/**
 * Set on every applied object that does not set it. Besides telling people who manages an object, it
 * gives the field manager at least one field to own: an apply that owns no field (a bare Namespace)
 * loses its managedFields entry, and the API server then rewrites the object on every re-apply.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

export interface AppliedObject {
  ref: ObjectRef;
  outcome: ApplyOutcome;
  /** The object as the API server returned it. */
  object: KubeObject;
  /** Placeholder fields of the manifest left to the component that owns them on the cluster (see owned-fields.ts). */
  yielded?: YieldedField[];
}

export interface ApplyOptions {
  fieldManager?: string;
  /** Take ownership of fields another manager owns (server-side apply force). */
  force?: boolean;
  /** Server-side dry run: validated and admitted by the server, nothing stored. */
  dryRun?: boolean;
  /** Objects in flight at once (default 8). */
  concurrency?: number;
  /**
   * Add the app.kubernetes.io/managed-by label (default true). Turn it off for partial objects applied
   * under a field manager of their own (e.g. one annotation on an object someone else manages).
   */
  markManaged?: boolean;
  /** Namespace for namespaced objects that name none (default "default"). */
  defaultNamespace?: string;
  /** Retry budget (ms) per healable error class; merged over DEFAULT_RETRY_BUDGETS. */
  retryBudgets?: Record<string, number>;
  logger?: Logger;
  retryDeps?: RetryDeps;
  /** Called as each object is applied (with the object as given), before the others finish. */
  onApplied?: (object: KubeObject, outcome: ApplyOutcome) => void;
  /**
   * Objects known not to exist, e.g. in a Namespace or of a CRD this install created moments ago:
   * counted as created without reading the cluster first.
   */
  knownAbsent?: (ref: ObjectRef) => boolean;
  /**
   * Names the retry class of an error (default: healableClass), e.g. to give a webhook that refuses
   * while its Service has ready endpoints a shorter budget than one whose pods are still starting.
   */
  classify?: (error: KubeApiError) => string | undefined;
  /** Stops the apply: no new object is started and no retry waits any longer. */
  signal?: AbortSignal;
}

export interface ApplyReport {
  applied: AppliedObject[];
  counts: Record<ApplyOutcome, number>;
}

export class ApplyError extends KfopsError {
  override readonly name = 'ApplyError';
  constructor(
    readonly failures: { ref: ObjectRef; error: KubeApiError }[],
    readonly report: ApplyReport,
  ) {
    const total = failures.length + report.applied.length;
    const lines = failures.slice(0, 20).map((f) => `  - ${f.error.message}`);
    if (failures.length > 20) lines.push(`  - … and ${failures.length - 20} more`);
    super(
      `${failures.length} of ${total} object(s) could not be applied:\n${lines.join('\n')}`,
      combinedDetails(failures),
    );
  }
}

/**
 * Cause and fix of several failures: each distinct cause once, with the objects it applies to, so that
 * no object's cause is hidden behind the first one's.
 */
function combinedDetails(failures: readonly { ref: ObjectRef; error: KubeApiError }[]): {
  cause?: string;
  fix?: string;
} {
  const group = (pick: (e: KubeApiError) => string | undefined): Map<string, ObjectRef[]> => {
    const out = new Map<string, ObjectRef[]>();
    for (const f of failures) {
      const text = pick(f.error);
      if (text) out.set(text, [...(out.get(text) ?? []), f.ref]);
    }
    return out;
  };
  const causes = group((e) => e.details.cause);
  const fixes = group((e) => e.details.fix);
  const show = (m: Map<string, ObjectRef[]>): string | undefined => {
    if (m.size === 0) return undefined;
    if (m.size === 1) return [...m.keys()][0];
    const items = [...m]
      .slice(0, 20)
      .map(
        ([text, refs]) =>
          `\n  - ${refs.slice(0, 3).map(describeRef).join(', ')}${refs.length > 3 ? ` (+${refs.length - 3})` : ''}: ${text}`,
      );
    return `${items.join('')}${m.size > 20 ? `\n  - … ${m.size - 20} more` : ''}`;
  };
  const cause = show(causes);
  const fix = show(fixes);
  return { ...(cause ? { cause } : {}), ...(fix ? { fix } : {}) };
}

/** Checks the shape every manifest object needs; returns what is wrong or undefined. */
export function shapeProblem(obj: unknown): string | undefined {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return 'is not a mapping';
  const o = obj as Partial<KubeObject>;
  if (typeof o.apiVersion !== 'string' || o.apiVersion === '') return 'has no apiVersion';
  if (typeof o.kind !== 'string' || o.kind === '') return 'has no kind';
  if (!o.metadata || typeof o.metadata.name !== 'string' || o.metadata.name === '')
    return `(${o.kind}) has no metadata.name`;
  return undefined;
}

const IGNORED_METADATA = ['managedFields', 'resourceVersion', 'creationTimestamp', 'uid', 'generation', 'selfLink'];

/** The object as sent: server-owned metadata removed. */
function applyBody(given: KubeObject, namespace: string | undefined, fieldManager: string | undefined): KubeObject {
  // A copy: fields left to their owners are removed from it, never from the caller's object.
  const obj = structuredClone(given);
  const metadata: Record<string, unknown> = { ...obj.metadata };
  for (const k of IGNORED_METADATA) delete metadata[k];
  const labels = (obj.metadata.labels ?? {}) as Record<string, string>;
  if (fieldManager && !(MANAGED_BY_LABEL in labels))
    metadata['labels'] = { ...labels, [MANAGED_BY_LABEL]: fieldManager };
  if (namespace === undefined) delete metadata['namespace'];
  else metadata['namespace'] = namespace;
  return { ...obj, metadata } as unknown as KubeObject;
}

/** Content equality ignoring server bookkeeping (for dry runs, where resourceVersion does not move). */
function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): unknown => {
    const metadata: Record<string, unknown> = { ...o.metadata };
    for (const k of IGNORED_METADATA) delete metadata[k];
    return { ...o, metadata };
  };
  return stableJson(strip(a)) === stableJson(strip(b));
}

/**
 * Server-side applies objects with one field manager, at most `concurrency` at a time. Errors that can
 * heal (throttling, 5xx, unreachable webhook or API, a CRD not yet served) are retried within their own
 * budget; every other error fails its object at once. All objects are attempted; if any failed, an
 * ApplyError lists each with its cause. The report says, per object, created / configured / unchanged.
 */
export async function applyObjects(
  client: KubeClient,
  objects: readonly KubeObject[],
  options: ApplyOptions = {},
): Promise<ApplyReport> {
  const {
    fieldManager = FIELD_MANAGER,
    force = false,
    dryRun = false,
    concurrency = 8,
    defaultNamespace = 'default',
    logger = silentLogger,
  } = options;
  objects.forEach((o, i) => {
    const problem = shapeProblem(o);
    if (problem)
      throw new KfopsError(`Object #${i + 1} ${problem}`, {
        fix: 'every object needs apiVersion, kind and metadata.name',
      });
  });
  const budgets = { ...DEFAULT_RETRY_BUDGETS, ...options.retryBudgets };
  // Whether each object exists, and at which resourceVersion, tells created / configured / unchanged.
  // One metadata-only list per kind and namespace replaces a GET per object (dry runs compare whole
  // objects, so they still read each one).
  const versions = dryRun
    ? new Map<string, LiveMetadata | undefined>()
    : await priorVersions(client, objects, defaultNamespace, concurrency, options.knownAbsent);
  const classify = options.classify;
  const signal = options.signal;
  const settled = await mapSettled(objects, concurrency, async (obj) => {
    const initialRef = refOf(obj);
    signal?.throwIfAborted();
    return withRetry(
      `apply ${describeRef(initialRef)}`,
      async () => {
        let ref = initialRef;
        try {
          const resource = await client.resourceFor(ref);
          const namespace = resource.namespaced ? (obj.metadata.namespace ?? defaultNamespace) : undefined;
          ref = { ...initialRef, ...(namespace ? { namespace } : {}) };
          if (!namespace) delete ref.namespace;
          const body = applyBody(obj, namespace, options.markManaged === false ? undefined : fieldManager);
          const key = describeRef(ref);
          const existing = versions.has(key) ? undefined : await client.get(ref);
          const prior: LiveMetadata | undefined = versions.has(key)
            ? versions.get(key)
            : existing && {
                resourceVersion: existing.metadata.resourceVersion ?? '',
                ...(existing.metadata.managedFields
                  ? { managedFields: existing.metadata.managedFields as LiveMetadata['managedFields'] }
                  : {}),
              };
          const priorVersion = prior?.resourceVersion;
          // Even with force: a placeholder must not overwrite what a component injected.
          const yielded = yieldOwnedPlaceholders(body, prior && { metadata: prior }, fieldManager);
          if (yielded.length)
            logger.debug(
              `${describeRef(ref)}: left to their owners: ${yielded.map((y) => `${y.path} (${y.managers.join(', ')})`).join('; ')}`,
            );
          const result = await client.serverSideApply(body, { fieldManager, force, dryRun });
          const outcome: ApplyOutcome =
            priorVersion === undefined
              ? 'created'
              : dryRun
                ? sameContent(existing as KubeObject, result)
                  ? 'unchanged'
                  : 'configured'
                : priorVersion === result.metadata.resourceVersion
                  ? 'unchanged'
                  : 'configured';
          logger.debug(`${describeRef(ref)} ${outcome}${dryRun ? ' (dry run)' : ''}`);
          options.onApplied?.(obj, outcome);
          return { ref, outcome, object: result, ...(yielded.length ? { yielded } : {}) };
        } catch (error) {
          throw explainKubeError(error, { action: dryRun ? 'dry-run apply' : 'apply', ref, server: client.server });
        }
      },
      // A webhook whose endpoints just became ready can refuse for a moment (proxy rules still
      // propagating): the first retry comes soon.
      {
        classify: classify ? (e) => classify(explainKubeError(e, { action: 'apply' })) : classifyFor(client),
        budgets,
        initialDelayMs: 200,
      },
      { logger, ...(signal ? { signal } : {}), ...options.retryDeps },
    );
  });
  const applied: AppliedObject[] = [];
  const failures: { ref: ObjectRef; error: KubeApiError }[] = [];
  settled.forEach((s, i) => {
    if (s.ok) applied.push(s.value);
    else {
      const ref = refOf(objects[i] as KubeObject);
      failures.push({ ref, error: explainKubeError(s.error, { action: 'apply', ref }) });
    }
  });
  const counts: Record<ApplyOutcome, number> = { created: 0, configured: 0, unchanged: 0 };
  for (const a of applied) counts[a.outcome]++;
  const report = { applied, counts };
  if (failures.length > 0) throw new ApplyError(failures, report);
  return report;
}

/**
 * resourceVersion and managedFields before the apply (undefined: absent) of objects that share a kind and namespace with
 * another object, from one metadata list per group. Objects left out (a lone object of its kind, a kind
 * not served yet, a list the caller may not read) are read one by one when applied.
 */
async function priorVersions(
  client: KubeClient,
  objects: readonly KubeObject[],
  defaultNamespace: string,
  concurrency: number,
  knownAbsent?: (ref: ObjectRef) => boolean,
): Promise<Map<string, LiveMetadata | undefined>> {
  const groups = new Map<string, { ref: Pick<ObjectRef, 'apiVersion' | 'kind' | 'namespace'>; refs: ObjectRef[] }>();
  const out = new Map<string, LiveMetadata | undefined>();
  for (const obj of objects) {
    const resource = await client.resourceFor(obj).catch(() => undefined);
    if (!resource) continue;
    const namespace = resource.namespaced ? (obj.metadata.namespace ?? defaultNamespace) : undefined;
    const ref: ObjectRef = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      ...(namespace ? { namespace } : {}),
    };
    if (knownAbsent?.(ref)) {
      out.set(describeRef(ref), undefined);
      continue;
    }
    const key = `${obj.apiVersion}|${obj.kind}|${namespace ?? ''}`;
    const group = groups.get(key) ?? {
      ref: { apiVersion: obj.apiVersion, kind: obj.kind, ...(namespace ? { namespace } : {}) },
      refs: [],
    };
    group.refs.push(ref);
    groups.set(key, group);
  }
  const listed = [...groups.values()].filter((g) => g.refs.length > 1);
  await mapSettled(listed, concurrency, async (g) => {
    const live = await client.listMetadata(g.ref);
    for (const r of g.refs) out.set(describeRef(r), live.get(r.name));
  });
  return out;
}
