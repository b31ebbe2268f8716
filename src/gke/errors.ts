import { KfopsError, type ErrorDetails } from '../common/errors.js';
import { RPC_CODES, type ApiErrorBody, type Operation } from './types.js';

/**
 * The IAM role that grants each Container API permission kfops needs (the smallest predefined role
 * that has it). roles/container.admin holds all of them and also the Kubernetes objects inside.
 */
export const PERMISSION_ROLES: Record<string, string> = {
  'container.clusters.get': 'roles/container.clusterViewer',
  'container.clusters.list': 'roles/container.clusterViewer',
  'container.clusters.create': 'roles/container.clusterAdmin',
  'container.clusters.update': 'roles/container.clusterAdmin',
  'container.clusters.delete': 'roles/container.clusterAdmin',
  'container.operations.get': 'roles/container.clusterAdmin',
  'container.operations.list': 'roles/container.clusterAdmin',
  'container.clusters.getCredentials': 'roles/container.developer',
  'iam.serviceAccounts.actAs': 'roles/iam.serviceAccountUser',
  'serviceusage.services.use': 'roles/serviceusage.serviceUsageConsumer',
};

/** What each request needs, for a 403 whose body does not name the permission. */
const METHOD_PERMISSION: Record<string, string> = {
  'get cluster': 'container.clusters.get',
  'create cluster': 'container.clusters.create',
  'delete cluster': 'container.clusters.delete',
  'update cluster': 'container.clusters.update',
  'set node pool autoscaling': 'container.clusters.update',
  'set node pool size': 'container.clusters.update',
  'set resource labels': 'container.clusters.update',
  'get operation': 'container.operations.get',
  'list operations': 'container.operations.list',
};

export interface QuotaShortage {
  /** e.g. CPUS, IN_USE_ADDRESSES, SSD_TOTAL_GB */
  quota: string;
  /** The region the quota applies to, or `project` for a project-wide quota (e.g. CPUS_ALL_REGIONS). */
  scope?: string;
  requires?: string;
  short?: string;
  limit?: string;
}

/**
 * Finds quota shortages in a message. The API writes them as
 * `Insufficient regional quota to satisfy request: resource "CPUS": request requires '24.0' and is short '16.0'. project has a quota of '8.0' ...`
 * and Compute Engine (inside a failed operation) as `Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 8.0 in region europe-central2.`
 */
export function findQuotaShortages(text: string): QuotaShortage[] {
  const found: QuotaShortage[] = [];
  const insufficient =
    /insufficient (regional|project|zonal)? ?quota to satisfy request(?: for resource)?:? resource:? \\?"([A-Z0-9_]+)\\?"[.:]? (?:the )?request requires '([\d.]+)' and is short '([\d.]+)'\. (?:project has a quota of|the regional quota is) '([\d.]+)'/gi;
  for (const m of text.matchAll(insufficient)) {
    found.push({
      quota: m[2] as string,
      scope: (m[1] ?? '').toLowerCase() || undefined,
      requires: m[3],
      short: m[4],
      limit: m[5],
    } as QuotaShortage);
  }
  const exceeded = /Quota '([A-Z0-9_]+)' exceeded\.\s+Limit: ([\d.]+)(?: in (region|zone) ([a-z0-9-]+))?/g;
  for (const m of text.matchAll(exceeded)) {
    found.push({ quota: m[1] as string, limit: m[2] as string, ...(m[4] ? { scope: `${m[3]} ${m[4]}` } : {}) });
  }
  return found;
}

function regionOf(location: string): string {
  return /^[a-z]+-[a-z]+\d+-[a-z]$/.test(location) ? location.slice(0, -2) : location;
}

/** The cause and fix for quota shortages found in text; undefined when there are none. */
export function explainQuota(text: string, where: { project: string; location: string }): ErrorDetails | undefined {
  const shortages = findQuotaShortages(text);
  if (shortages.length === 0) return undefined;
  const region = regionOf(where.location);
  const lines = shortages.map((s) => {
    const scope =
      s.scope === 'project' || s.quota.endsWith('_ALL_REGIONS')
        ? 'project-wide'
        : s.scope?.startsWith('region ') || s.scope?.startsWith('zone ')
          ? `in ${s.scope}`
          : `in region ${region}`;
    const numbers = [
      s.requires && `needs ${s.requires}`,
      s.short && `short by ${s.short}`,
      s.limit && `limit ${s.limit}`,
    ]
      .filter(Boolean)
      .join(', ');
    return `quota ${s.quota} ${scope}${numbers ? ` (${numbers})` : ''}`;
  });
  return {
    cause: `not enough Compute Engine quota: ${lines.join('; ')}`,
    fix: `request a higher ${shortages.map((s) => s.quota).join(' / ')} quota for project ${where.project} ${shortages.some((s) => s.quota.endsWith('_ALL_REGIONS')) ? '' : `in ${region} `}(IAM & Admin > Quotas), or ask for less: fewer nodes (node-count / autoscaling-max), a smaller machine-type or disk-size-gb, or another location`,
  };
}

function detailsOf(status: ApiErrorBody, suffix: string): Array<Record<string, unknown>> {
  return (status.details ?? []).filter(
    (d) => typeof d['@type'] === 'string' && (d['@type'] as string).endsWith(suffix),
  );
}

/** The permission a 403 names: in an ErrorInfo's metadata, or in the text `Required "container.clusters.create" permission(s)`. */
export function deniedPermission(status: ApiErrorBody): string | undefined {
  for (const info of detailsOf(status, 'google.rpc.ErrorInfo')) {
    const meta = info['metadata'] as Record<string, string> | undefined;
    if (meta?.['permission']) return meta['permission'];
  }
  const m =
    /Required "([a-zA-Z.]+)" permission/.exec(status.message ?? '') ??
    /permission "?([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+)"?/.exec(status.message ?? '');
  return m?.[1];
}

/** An error response of the Container API: the HTTP status with its google.rpc.Status body. */
export class GkeApiError extends KfopsError {
  override readonly name = 'GkeApiError';
  constructor(
    readonly what: string,
    readonly httpStatus: number,
    readonly status: ApiErrorBody,
    details: ErrorDetails,
  ) {
    super(
      `Could not ${what}: HTTP ${httpStatus}${status.status ? ` ${status.status}` : ''}: ${status.message ?? '(no message)'}`,
      details,
    );
  }
  get rpcStatus(): string | undefined {
    return this.status.status;
  }
}

export interface ErrorContext {
  /** What was being done, e.g. `create cluster`. */
  what: string;
  project: string;
  location: string;
  /** Who called, when known (e.g. the service account's email). */
  principal?: string;
}

/** Turns an error response into a GkeApiError whose cause and fix say what to do. */
export function explainApiError(httpStatus: number, status: ApiErrorBody, ctx: ErrorContext): GkeApiError {
  const message = status.message ?? '';
  const who = ctx.principal ?? 'the identity in Application Default Credentials';
  let details: ErrorDetails = {};
  const quota = explainQuota(message, ctx);
  const serviceDisabled =
    detailsOf(status, 'google.rpc.ErrorInfo').some((d) => d['reason'] === 'SERVICE_DISABLED') ||
    /has not been used in project|is disabled/i.test(message);
  if (quota) {
    details = quota;
  } else if (httpStatus === 403 && serviceDisabled) {
    details = {
      cause: `the Kubernetes Engine API is not enabled in project ${ctx.project}`,
      fix: `enable it (gcloud services enable container.googleapis.com --project ${ctx.project}), wait a minute, and run again`,
    };
  } else if (httpStatus === 403) {
    const permission = deniedPermission(status) ?? METHOD_PERMISSION[ctx.what];
    const role = permission ? PERMISSION_ROLES[permission] : undefined;
    details = {
      cause: permission ? `${who} lacks the IAM permission ${permission}` : `${who} is not allowed to ${ctx.what}`,
      fix: `grant ${role ?? 'roles/container.clusterAdmin'}${permission ? ` (it includes ${permission})` : ''} to ${who} on project ${ctx.project} (gcloud projects add-iam-policy-binding ${ctx.project} --member=<principal> --role=${role ?? 'roles/container.clusterAdmin'}); roles/container.admin also covers the Kubernetes objects later steps create`,
    };
  } else if (httpStatus === 401) {
    details = {
      cause: 'the access token was rejected (expired, revoked, or not a Google OAuth token)',
      fix: 'authenticate before this step (google-github-actions/auth with Workload Identity Federation, or a key file in GOOGLE_APPLICATION_CREDENTIALS)',
    };
  } else if (httpStatus === 404) {
    details = {
      cause: `not found in project ${ctx.project}, location ${ctx.location}`,
      fix: 'check the project ID and the location (a region such as asia-northeast3, or a zone such as asia-northeast3-a)',
    };
  } else if (httpStatus === 400 && /location|zone|region/i.test(message)) {
    details = {
      cause: `the API rejected the location ${JSON.stringify(ctx.location)}`,
      fix: 'use a region (e.g. asia-northeast3) or a zone (e.g. asia-northeast3-a) where GKE is offered',
    };
  } else if (httpStatus === 400) {
    details = { cause: 'the API rejected the request as invalid', fix: 'check the inputs the message names' };
  } else if (httpStatus === 429 || httpStatus >= 500) {
    details = { cause: 'the API is throttling or temporarily failing', fix: 'run again later' };
  }
  return new GkeApiError(ctx.what, httpStatus, status, details);
}

/** The error of an operation that finished with one, explained (quota, permission) where possible. */
export function operationError(op: Operation, ctx: { project: string; location: string; cluster: string }): KfopsError {
  const err = op.error ?? {};
  const codeName = typeof err.code === 'number' ? (RPC_CODES[err.code] ?? String(err.code)) : undefined;
  const conditions = [...(op.clusterConditions ?? []), ...(op.nodepoolConditions ?? [])].map((c) =>
    [c.canonicalCode ?? c.code, c.message].filter(Boolean).join(': '),
  );
  const text = [err.message, op.detail, op.statusMessage, ...conditions].filter(Boolean).join('\n');
  const quota = explainQuota(text, ctx);
  const kind = (op.operationType ?? 'operation').toLowerCase().replace(/_/g, ' ');
  const head = `The ${kind} of cluster ${ctx.cluster} failed (${op.name ?? 'operation'}${codeName ? `, ${codeName}` : ''}): ${err.message ?? op.detail ?? op.statusMessage ?? 'no message'}`;
  const more = conditions.filter((c) => !err.message || !c.includes(err.message));
  const details: ErrorDetails = quota ?? {
    cause: more.length
      ? `cluster conditions: ${more.join('; ')}`
      : codeName === 'PERMISSION_DENIED'
        ? 'a permission GKE needed was missing (often the node service account or its roles/iam.serviceAccountUser binding)'
        : undefined,
    fix:
      op.operationType === 'CREATE_CLUSTER'
        ? `read the error above; a cluster left in ERROR state must be deleted before it can be created again (run with recreate: true and confirm: ${ctx.cluster})`
        : 'read the error above and run again once it is fixed',
  };
  if (!details.cause) delete details.cause;
  return new KfopsError(head, details);
}
