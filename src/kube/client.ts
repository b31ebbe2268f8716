import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  VersionApi,
  RequestContext,
  HttpMethod,
  Watch,
  type V1APIResource,
} from '@kubernetes/client-node';
import { fetch } from 'undici';
import { KfopsError } from '../common/errors.js';
import { explainKubeError } from './errors.js';
import { statusCodeOf } from './errors.js';
import type { ManagedFieldsEntry } from './owned-fields.js';
import { groupOf, type KubeObject, type ObjectRef } from './types.js';

/** What a metadata-only list tells about a live object. */
export interface LiveMetadata {
  resourceVersion: string;
  managedFields?: ManagedFieldsEntry[];
}

/** How long after an outage a 403/401 is taken for an API server still filling its caches. */
export const RESTART_GRACE_MS = 20_000;

/** Deadline of one API request (not of watches), so a server that accepts and never answers cannot hang a run. */
export const REQUEST_TIMEOUT_MS = 60_000;

type Query = Record<string, string | number | boolean | undefined>;

export interface RawApplyOptions {
  fieldManager: string;
  force?: boolean;
  dryRun?: boolean;
}

/** The object API with discovery exposed (KubernetesObjectApi keeps it protected). */
export class KubeObjects extends KubernetesObjectApi {
  static create(kc: KubeConfig): KubeObjects {
    const api = kc.makeApiClient(KubeObjects);
    api.setDefaultNamespace(kc);
    return api;
  }
  /** The API resource serving kind in apiVersion, or undefined. Cached; refetched on a miss. */
  discover(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    return this.resource(apiVersion, kind);
  }
  /** Forgets the cached discovery of apiVersion (after a CRD appears or changes). */
  forget(apiVersion: string): void {
    delete this.apiVersionResourceCache[apiVersion];
  }
}

export interface ConfigSources {
  /** An explicit kubeconfig path (e.g. an action input). */
  kubeconfig?: string | undefined;
  /** The environment to read KUBECONFIG, HOME and KUBERNETES_SERVICE_HOST from. */
  env?: Record<string, string | undefined>;
  /** Where the in-cluster service-account files live (for tests). */
  serviceAccountDir?: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Loads a kubeconfig from, in order: the explicit path, $KUBECONFIG, the in-cluster service account,
 * ~/.kube/config. The first that exists is used; when none works the error lists each one tried and why.
 */
export function loadKubeConfig(sources: ConfigSources = {}): { kc: KubeConfig; source: string } {
  const env = sources.env ?? {};
  const tried: string[] = [];
  const fromFile = (path: string, label: string): { kc: KubeConfig; source: string } | undefined => {
    if (!existsSync(path)) {
      tried.push(`${label} ${path}: file not found`);
      return undefined;
    }
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(path);
    } catch (error) {
      tried.push(
        `${label} ${path}: cannot be parsed (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
      );
      return undefined;
    }
    const problem = usableProblem(kc);
    if (problem) {
      tried.push(`${label} ${path}: ${problem}`);
      return undefined;
    }
    return { kc, source: `${label} ${path}` };
  };

  if (sources.kubeconfig) {
    const r = fromFile(sources.kubeconfig, 'kubeconfig');
    if (r) return r;
    // An explicit path that does not work is an error, not a reason to fall back silently.
    throw noConfig(tried);
  }
  const envPaths = (env['KUBECONFIG'] ?? '').split(':').filter(Boolean);
  for (const p of envPaths) {
    const r = fromFile(p, 'KUBECONFIG');
    if (r) return r;
  }
  if (envPaths.length === 0) tried.push('KUBECONFIG: not set');

  const saDir = sources.serviceAccountDir ?? SA_DIR;
  if (env['KUBERNETES_SERVICE_HOST'] && existsSync(join(saDir, 'token'))) {
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser(
      {
        name: 'inCluster',
        server: `https://${env['KUBERNETES_SERVICE_HOST']}:${env['KUBERNETES_SERVICE_PORT'] ?? '443'}`,
        caFile: join(saDir, 'ca.crt'),
        skipTLSVerify: false,
      },
      { name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: join(saDir, 'token') } } },
    );
    return { kc, source: 'in-cluster service account' };
  }
  tried.push(
    env['KUBERNETES_SERVICE_HOST']
      ? `in-cluster: ${join(saDir, 'token')} not found`
      : 'in-cluster: KUBERNETES_SERVICE_HOST not set',
  );

  if (env['HOME']) {
    const r = fromFile(join(env['HOME'], '.kube', 'config'), 'default kubeconfig');
    if (r) return r;
  }
  throw noConfig(tried);
}

function usableProblem(kc: KubeConfig): string | undefined {
  if (!kc.getCurrentContext()) return 'no current-context is set';
  if (!kc.getCurrentCluster()) return `current-context "${kc.getCurrentContext()}" names no cluster`;
  return undefined;
}

function noConfig(tried: string[]): KfopsError {
  return new KfopsError('No usable Kubernetes configuration was found', {
    cause: `tried ${tried.join('; ')}`,
    fix: 'pass a kubeconfig path (input `kubeconfig`), export KUBECONFIG, or run inside a cluster with a service account',
  });
}

/** The clients one run needs, created from one kubeconfig. */
export class KubeClient {
  readonly objects: KubeObjects;
  readonly core: CoreV1Api;
  readonly watcher: Watch;
  readonly server: string;
  private dispatcher: ReturnType<RequestContext['getDispatcher']>;
  /** Deadline of each request made with request() (watches have their own). */
  requestTimeoutMs = REQUEST_TIMEOUT_MS;
  private lastUnreachableAt = 0;

  /** Records that the API server did not answer (down, restarting, shutting down). */
  noteUnreachable(): void {
    this.lastUnreachableAt = Date.now();
  }

  /**
   * Whether the API server was unreachable in the last `withinMs`. A kube-apiserver that has just
   * started serves requests before its RBAC caches are filled: for a moment it answers 403 (and
   * 401) to identities whose rights come from RBAC. Such an answer right after an outage is retried.
   */
  recentlyUnreachable(withinMs = RESTART_GRACE_MS): boolean {
    return this.lastUnreachableAt > 0 && Date.now() - this.lastUnreachableAt < withinMs;
  }

  constructor(
    readonly kc: KubeConfig,
    readonly source = 'given KubeConfig',
  ) {
    this.objects = KubeObjects.create(kc);
    this.core = kc.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kc);
    this.server = kc.getCurrentCluster()?.server ?? '(no server)';
  }

  static fromSources(sources: ConfigSources): KubeClient {
    const { kc, source } = loadKubeConfig(sources);
    return new KubeClient(kc, source);
  }

  /** The API server's version (e.g. v1.36.3); a readable error when it cannot be reached. */
  async serverVersion(): Promise<string> {
    try {
      const v = await this.kc.makeApiClient(VersionApi).getCode();
      return v.gitVersion;
    } catch (error) {
      throw explainKubeError(error, {
        action: `reach the API server at ${this.server} (from ${this.source})`,
        server: this.server,
      });
    }
  }

  /** The resource serving ref's kind; KubeApiError 'kind-not-served' when none does. */
  async resourceFor(ref: Pick<ObjectRef, 'apiVersion' | 'kind'>): Promise<V1APIResource> {
    let resource: V1APIResource | undefined;
    try {
      resource = await this.objects.discover(ref.apiVersion, ref.kind);
    } catch (error) {
      throw explainKubeError(error, { action: `discover ${ref.kind} (${ref.apiVersion})`, server: this.server });
    }
    if (!resource) {
      throw explainKubeError(new Error(`Unrecognized API version and kind: ${ref.apiVersion} ${ref.kind}`), {
        action: `discover ${ref.kind}`,
      });
    }
    return resource;
  }

  /**
   * One API request with plain JSON in and out. Objects pass through exactly as written and as the
   * server returns them (the typed clients drop fields their models do not know, such as
   * `x-kubernetes-preserve-unknown-fields` in a CRD schema, and turn timestamps into Dates).
   * Failures throw ApiException (code + Status body) like the typed clients do.
   */
  async request<T = unknown>(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    path: string,
    options: { query?: Query; body?: unknown; contentType?: string; accept?: string } = {},
  ): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), HttpMethod[method]);
    await this.kc.applySecurityAuthentication(ctx);
    const headers = ctx.getHeaders() as unknown as Record<string, string>;
    headers['Accept'] = options.accept ?? 'application/json';
    if (options.body !== undefined) headers['Content-Type'] = options.contentType ?? 'application/json';
    // client-node makes a new connection pool (so a new TLS handshake) for every request; the first
    // one is kept and reused, so requests share keep-alive connections. Headers (tokens, refreshed by
    // exec plugins) still come from the kubeconfig on every request.
    this.dispatcher ??= ctx.getDispatcher();
    let response: Awaited<ReturnType<typeof fetch>>;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        dispatcher: this.dispatcher,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      });
      text = await response.text();
    } catch (error) {
      this.noteUnreachable();
      throw error;
    }
    if (response.status === 503 || (response.status === 429 && /shutting down/i.test(text))) this.noteUnreachable();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text for the error message.
    }
    if (response.status < 200 || response.status > 299) {
      throw new ApiException(
        response.status,
        'Unsuccessful HTTP Request',
        parsed,
        Object.fromEntries(response.headers),
      );
    }
    return parsed as T;
  }

  /** The object's path, e.g. /apis/apps/v1/namespaces/x/deployments/web. Namespaced kinds without a namespace use "default". */
  async objectPath(ref: ObjectRef): Promise<string> {
    return `${(await this.collectionPath({ ...ref, namespace: ref.namespace ?? 'default' })).path}/${encodeURIComponent(ref.name)}`;
  }

  /** The object, or undefined when it does not exist. */
  async get(ref: ObjectRef): Promise<KubeObject | undefined> {
    try {
      return await this.request<KubeObject>('GET', await this.objectPath(ref));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * The object, or undefined when it does not exist or its kind is not served (yet). Any other failure
   * (forbidden, unreachable, throttled past retries) is an error, never "absent".
   */
  async find(ref: ObjectRef): Promise<KubeObject | undefined> {
    try {
      return await this.get(ref);
    } catch (error) {
      const e = explainKubeError(error, { action: 'read', ref, server: this.server });
      if (e.reason === 'kind-not-served') return undefined;
      throw e;
    }
  }

  /** Objects of ref's kind (in ref's namespace, or in all namespaces when it names none), with the list's resourceVersion. */
  async list(
    ref: Pick<ObjectRef, 'apiVersion' | 'kind' | 'namespace'>,
    selectors: { fieldSelector?: string; labelSelector?: string } = {},
  ): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const { path } = await this.collectionPath(ref);
    const result = await this.request<{ items?: KubeObject[]; metadata?: { resourceVersion?: string } }>('GET', path, {
      query: { ...selectors },
    });
    return { items: result.items ?? [], resourceVersion: result.metadata?.resourceVersion ?? '' };
  }

  /**
   * Name -> resourceVersion and managedFields of every object of ref's kind in ref's namespace (or
   * cluster-wide), read as metadata only (PartialObjectMetadataList), so a list of large objects such as
   * CRDs stays small.
   */
  async listMetadata(ref: Pick<ObjectRef, 'apiVersion' | 'kind' | 'namespace'>): Promise<Map<string, LiveMetadata>> {
    const { path } = await this.collectionPath(ref);
    const result = await this.request<{
      items?: { metadata: { name: string; resourceVersion?: string; managedFields?: ManagedFieldsEntry[] } }[];
    }>('GET', path, {
      accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
    });
    return new Map(
      (result.items ?? []).map(
        (i) =>
          [
            i.metadata.name,
            {
              resourceVersion: i.metadata.resourceVersion ?? '',
              ...(i.metadata.managedFields ? { managedFields: i.metadata.managedFields } : {}),
            },
          ] as const,
      ),
    );
  }

  /** Server-side apply of one object (its namespace already resolved). */
  async serverSideApply(obj: KubeObject, options: RawApplyOptions): Promise<KubeObject> {
    const ref: ObjectRef = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    };
    return this.request<KubeObject>('PATCH', await this.objectPath(ref), {
      query: {
        fieldManager: options.fieldManager,
        force: options.force ? true : undefined,
        dryRun: options.dryRun ? 'All' : undefined,
      },
      body: obj,
      contentType: 'application/apply-patch+yaml',
    });
  }

  /** Deletes the object; true if it existed. */
  async remove(
    ref: ObjectRef,
    propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background',
  ): Promise<boolean> {
    try {
      await this.request('DELETE', await this.objectPath(ref), { query: { propagationPolicy } });
      return true;
    } catch (error) {
      if (statusCodeOf(error) === 404) return false;
      throw error;
    }
  }

  /** The collection path of ref's kind: in ref's namespace when namespaced and given, else across all namespaces. */
  async collectionPath(
    ref: Pick<ObjectRef, 'apiVersion' | 'kind' | 'namespace'>,
  ): Promise<{ path: string; namespaced: boolean; plural: string }> {
    const r = await this.resourceFor(ref);
    const base = groupOf(ref.apiVersion) ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
    const ns = r.namespaced && ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : '';
    return { path: `${base}${ns}/${r.name}`, namespaced: r.namespaced, plural: r.name };
  }
}
