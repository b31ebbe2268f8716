/**
 * A fake of the Kubernetes Engine (Container) API v1 REST surface that setup-gke uses, on loopback.
 * It follows the public REST reference: projects.locations.clusters get/create/delete/update/
 * setResourceLabels, clusters.nodePools get/setAutoscaling/setSize, projects.locations.operations
 * get/list; long-running operations go PENDING -> RUNNING -> DONE as they are polled; errors are
 * `{"error": google.rpc.Status}` bodies with the HTTP status and status name the API uses.
 * It also serves an STS-style token endpoint (POST /v1/token) for external_account credentials.
 *
 * The clusters it creates point at a real control plane (endpoint + CA given to the constructor), so
 * a kubeconfig built from them is used for real.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { containerDiscovery, findMethod, pruneToSchema, validateSchema, type Discovery } from './gke-discovery.js';

type Json = Record<string, unknown>;

export interface RpcError {
  code: number;
  message: string;
  status: string;
  details?: Json[];
}

export interface FakeOperation extends Json {
  name: string;
  operationType: string;
  status: 'PENDING' | 'RUNNING' | 'DONE' | 'ABORTING' | 'STATUS_UNSPECIFIED';
  targetLink: string;
  selfLink: string;
  location: string;
  zone: string;
  startTime: string;
  endTime?: string;
  detail?: string;
  error?: { code: number; message: string; details: Json[] };
  progress?: Json;
}

interface OpState {
  op: FakeOperation;
  project: string;
  polls: number;
  /** Runs when the operation becomes DONE without an error. */
  onDone: () => void;
  /** Set to finish the operation with this google.rpc.Status (numeric google.rpc.Code). */
  failWith?: { code: number; message: string };
  onFail?: () => void;
  /** Set to go ABORTING after RUNNING and end DONE without the change (with this error, when given). */
  abort?: { error?: { code: number; message: string } };
  /** Set to report STATUS_UNSPECIFIED on every poll. */
  unspecified?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: Json | undefined;
  authorization: string | undefined;
}

export interface FakeGkeOptions {
  /** host:port of the real control plane, returned as Cluster.endpoint. */
  endpoint: string;
  /** Base64 PEM of its CA (Cluster.masterAuth.clusterCaCertificate). */
  caCertificate: string;
  /** Returned as privateClusterConfig.privateEndpoint (default: endpoint). */
  privateEndpoint?: string;
  /** Returned as controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint when DNS access is on. */
  dnsEndpoint?: string;
  /** Bearer tokens the API accepts. */
  tokens: string[];
  /** Polls of an operation before it is DONE (default 3: PENDING, RUNNING, RUNNING with progress). */
  pollsToDone?: number;
  /**
   * Check requests against Google's Container API v1 discovery document (test/support/gke-discovery.ts)
   * and answer like the API (400 INVALID_ARGUMENT) for unknown fields, wrong types and bad enum values;
   * successful answers carry only the document's fields. Default true.
   */
  enforceSchema?: boolean;
}

const GRPC: Record<string, number> = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAUTHENTICATED: 16,
};

/** A request the fake refuses with 400 INVALID_ARGUMENT (a documented constraint between fields). */
class FakeRequestError extends Error {}

export class FakeGke {
  readonly clusters = new Map<string, Json>();
  readonly operations = new Map<string, OpState>();
  readonly requests: RecordedRequest[] = [];
  /** Permissions the caller lacks: requests that need one get 403 PERMISSION_DENIED. */
  readonly denied = new Set<string>();
  /** Regional CPU quota (CPUS) per region, when set: creates that need more get 403 like the API's. */
  readonly cpuQuota = new Map<string, number>();
  /** The next operation of this type finishes DONE with this error (google.rpc.Code number). */
  readonly failNext = new Map<string, { code: number; message: string }>();
  /** The next operation of this type is aborted: RUNNING, ABORTING, then DONE (with this error, if any), changing nothing. */
  readonly abortNext = new Map<string, { error?: { code: number; message: string } }>();
  /** The next operation of this type reports STATUS_UNSPECIFIED on every poll. */
  readonly unspecifiedNext = new Set<string>();
  /** Answers the next requests matching method and path suffix with this error, once each (e.g. 503). */
  readonly injected: Array<{ method: string; pathEnds: string; code: number; status: string; message: string }> = [];
  /** Runs before a request is handled (e.g. to let "another run" act between two calls). */
  beforeRequest: ((method: string, path: string) => void) | undefined;
  /** Tokens the STS endpoint hands out, with their lifetime in seconds. */
  stsToken: { token: string; expiresIn: number } | undefined;
  /**
   * Fields the fake's own answers had that the document's response schema lacks (dropped before
   * sending), and values of the wrong type or enum: tests expect it empty.
   */
  readonly undocumented: string[] = [];
  /** The discovery document the requests are checked against (undefined with enforceSchema: false). */
  readonly discovery: Discovery | undefined;
  private server: Server | undefined;
  private counter = 0;
  private readonly responseSchema = new WeakMap<ServerResponse, string>();
  url = '';

  constructor(private readonly options: FakeGkeOptions) {
    this.discovery = options.enforceSchema === false ? undefined : containerDiscovery();
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Puts a RUNNING cluster in place, as if created earlier; `overrides` change its fields. */
  seedCluster(project: string, location: string, name: string, body: Json, overrides: Json = {}): Json {
    const cluster = { ...this.materialize(project, location, name, body), status: 'RUNNING', ...overrides };
    this.clusters.set(this.clusterKey(project, location, name), cluster);
    return cluster;
  }

  /** Starts an operation on the server side, as another client would (e.g. a concurrent create). */
  startCreate(project: string, location: string, name: string, body: Json): FakeOperation {
    const cluster = this.materialize(project, location, name, body);
    this.clusters.set(this.clusterKey(project, location, name), cluster);
    return this.newOp(
      project,
      location,
      'CREATE_CLUSTER',
      `clusters/${name}`,
      () => {
        cluster['status'] = 'RUNNING';
      },
      () => {
        cluster['status'] = 'ERROR';
      },
    ).op;
  }

  /** Starts an operation of the given type on an existing cluster, as another client would; it changes nothing when done. */
  startOperation(project: string, location: string, name: string, type: string): FakeOperation {
    return this.newOp(project, location, type, `clusters/${name}`, () => undefined).op;
  }

  private clusterKey(project: string, location: string, name: string): string {
    return `projects/${project}/locations/${location}/clusters/${name}`;
  }

  private zonesOf(location: string): string[] {
    return /-[a-z]$/.test(location) ? [location] : ['a', 'b', 'c'].map((z) => `${location}-${z}`);
  }

  private fingerprint(labels: Record<string, string>): string {
    let h = 0;
    for (const ch of JSON.stringify(Object.entries(labels).sort())) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return h.toString(16).padStart(8, '0');
  }

  private materialize(project: string, location: string, name: string, body: Json): Json {
    const zones = this.zonesOf(location);
    const pools: Json[] = (
      (body['nodePools'] as Json[] | undefined) ?? [
        { name: 'default-pool', initialNodeCount: 3, config: { machineType: 'e2-medium' } },
      ]
    ).map((p) => ({
      ...p,
      locations: zones,
      status: 'RUNNING',
      version: '1.36.3-gke.1000',
      config: { diskSizeGb: 100, diskType: 'pd-balanced', ...(p['config'] as Json) },
      instanceGroupUrls: zones.map(
        (z) =>
          `https://www.googleapis.com/compute/v1/projects/${project}/zones/${z}/instanceGroupManagers/gke-${name}-${String(p['name'])}-grp`,
      ),
    }));
    const count = pools.reduce((n, p) => n + Number(p['initialNodeCount'] ?? 0) * zones.length, 0);
    const labels = (body['resourceLabels'] as Record<string, string> | undefined) ?? {};
    const privConfig = body['privateClusterConfig'] as Json | undefined;
    const netConfig = body['networkConfig'] as Json | undefined;
    // Private nodes: NetworkConfig.defaultEnablePrivateNodes, or the deprecated PrivateClusterConfig field
    // (the API refuses both at once).
    if (netConfig?.['defaultEnablePrivateNodes'] !== undefined && privConfig?.['enablePrivateNodes'] !== undefined)
      throw new FakeRequestError(
        'It is invalid to specify both PrivateClusterConfig.enablePrivateNodes and NetworkConfig.defaultEnablePrivateNodes.',
      );
    const privateNodes = Boolean(netConfig?.['defaultEnablePrivateNodes'] ?? privConfig?.['enablePrivateNodes']);
    const endpoints = body['controlPlaneEndpointsConfig'] as Json | undefined;
    const dns = (endpoints?.['dnsEndpointConfig'] as Json | undefined) ?? {};
    const ipIn = (endpoints?.['ipEndpointsConfig'] as Json | undefined) ?? {};
    const nets = (ipIn['authorizedNetworksConfig'] ?? body['masterAuthorizedNetworksConfig']) as Json | undefined;
    if (ipIn['authorizedNetworksConfig'] && body['masterAuthorizedNetworksConfig'])
      throw new FakeRequestError(
        'It is invalid to specify both Cluster.masterAuthorizedNetworksConfig and ControlPlaneEndpointsConfig.IPEndpointsConfig.authorizedNetworksConfig.',
      );
    const privateEndpoint = this.options.privateEndpoint ?? this.options.endpoint;
    return {
      ...body,
      name,
      location,
      locations: zones,
      zone: location,
      nodePools: pools,
      network: body['network'] ?? 'default',
      subnetwork: body['subnetwork'] ?? 'default',
      endpoint: this.options.endpoint,
      masterAuth: { clusterCaCertificate: this.options.caCertificate },
      releaseChannel: body['releaseChannel'] ?? { channel: 'REGULAR' },
      networkConfig: {
        network: `projects/${project}/global/networks/${String(body['network'] ?? 'default')}`,
        subnetwork: `projects/${project}/regions/${location.replace(/-[a-z]$/, '')}/subnetworks/${String(body['subnetwork'] ?? 'default')}`,
        ...netConfig,
        defaultEnablePrivateNodes: privateNodes,
      },
      // The deprecated fields are still reported, as the API does for clusters created with either form.
      ...(privConfig || privateNodes
        ? {
            privateClusterConfig: {
              ...privConfig,
              ...(privateNodes ? { enablePrivateNodes: true, privateEndpoint } : {}),
              publicEndpoint: this.options.endpoint,
            },
          }
        : {}),
      ...(nets ? { masterAuthorizedNetworksConfig: nets } : {}),
      controlPlaneEndpointsConfig: {
        // DNSEndpointConfig.endpoint is "Always present"; allowExternalTraffic only when it was turned on.
        dnsEndpointConfig: {
          ...dns,
          endpoint: this.options.dnsEndpoint ?? `gke-fake-${name}.${location}.gke.goog`,
        },
        ipEndpointsConfig: {
          enabled: true,
          enablePublicEndpoint: true,
          publicEndpoint: this.options.endpoint,
          ...(privateNodes ? { privateEndpoint } : {}),
          ...(nets ? { authorizedNetworksConfig: nets } : {}),
        },
      },
      resourceLabels: labels,
      labelFingerprint: this.fingerprint(labels),
      status: 'PROVISIONING',
      currentMasterVersion: '1.36.3-gke.1000',
      currentNodeVersion: '1.36.3-gke.1000',
      currentNodeCount: count,
      selfLink: `https://container.googleapis.com/v1/projects/${project}/locations/${location}/clusters/${name}`,
      createTime: new Date().toISOString(),
    };
  }

  private newOp(
    project: string,
    location: string,
    type: string,
    target: string,
    onDone: () => void,
    onFail?: () => void,
  ): OpState {
    const name = `operation-${Date.now()}-${(++this.counter).toString(16).padStart(8, '0')}`;
    const op: FakeOperation = {
      name,
      zone: location,
      location,
      operationType: type,
      status: 'PENDING',
      selfLink: `https://container.googleapis.com/v1/projects/${project}/locations/${location}/operations/${name}`,
      targetLink: `https://container.googleapis.com/v1/projects/${project}/locations/${location}/${target}`,
      startTime: new Date().toISOString(),
    };
    const state: OpState = { op, project, polls: 0, onDone, ...(onFail ? { onFail } : {}) };
    const abort = this.abortNext.get(type);
    if (abort) {
      state.abort = abort;
      this.abortNext.delete(type);
    }
    if (this.unspecifiedNext.delete(type)) state.unspecified = true;
    const failure = this.failNext.get(type);
    if (failure) {
      state.failWith = failure;
      this.failNext.delete(type);
    }
    this.operations.set(name, state);
    return state;
  }

  /** One poll: PENDING -> RUNNING (with progress metrics) -> DONE, applying the change at DONE. */
  private advance(state: OpState): void {
    if (state.op.status === 'DONE') return;
    state.polls++;
    const total = this.options.pollsToDone ?? 3;
    if (state.unspecified) {
      state.op.status = 'STATUS_UNSPECIFIED';
      return;
    }
    if (state.abort) {
      if (state.polls < 2) {
        state.op.status = 'RUNNING';
      } else if (state.polls < 4) {
        state.op.status = 'ABORTING';
      } else {
        state.op.status = 'DONE';
        state.op.endTime = new Date().toISOString();
        if (state.abort.error) {
          state.op.error = { ...state.abort.error, details: [] };
          state.op.detail = state.abort.error.message;
        }
        // The cluster is back to RUNNING, unchanged.
        const key = /projects\/[^/]+\/locations\/[^/]+\/clusters\/[^/]+/.exec(state.op.targetLink)?.[0];
        const cluster = key ? this.clusters.get(key) : undefined;
        if (cluster && cluster['status'] === 'RECONCILING') cluster['status'] = 'RUNNING';
      }
      return;
    }
    if (state.polls < total) {
      state.op.status = 'RUNNING';
      state.op.progress = {
        metrics: [
          { name: 'CLUSTER_DEPLOYING', intValue: String(state.polls) },
          { name: 'CLUSTER_DEPLOYING_TOTAL', intValue: String(total) },
        ],
      };
      return;
    }
    state.op.status = 'DONE';
    state.op.endTime = new Date().toISOString();
    if (state.failWith) {
      state.op.error = { code: state.failWith.code, message: state.failWith.message, details: [] };
      state.op.detail = state.failWith.message;
      state.op.clusterConditions = [
        { code: 'GCE_QUOTA_EXCEEDED', canonicalCode: 'RESOURCE_EXHAUSTED', message: state.failWith.message },
      ];
      state.onFail?.();
    } else {
      state.onDone();
    }
  }

  /** The running operation on a cluster, if any. */
  private busy(key: string): OpState | undefined {
    const suffix = `/${key.split('/locations/')[1] as string}`;
    return [...this.operations.values()].find(
      (s) => s.op.status !== 'DONE' && (s.op.targetLink.endsWith(suffix) || s.op.targetLink.includes(`${suffix}/`)),
    );
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const schema = this.responseSchema.get(res);
    if (this.discovery && schema && code >= 200 && code < 300) {
      const removed: string[] = [];
      body = pruneToSchema(this.discovery, schema, body, removed);
      this.undocumented.push(
        ...removed.map((f) => `${schema}.${f}`),
        ...validateSchema(this.discovery, schema, body).map((v) => `${schema}: ${v.description}`),
      );
    }
    res.writeHead(code, { 'Content-Type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(body));
  }

  private fail(res: ServerResponse, code: number, status: string, message: string, details: Json[] = []): void {
    this.send(res, code, {
      error: { code, message, status, ...(details.length ? { details } : {}) } satisfies RpcError,
    });
  }

  /**
   * Answers 400 INVALID_ARGUMENT, as the API does, when the body or query has fields, types or enum
   * values the discovery document does not allow; returns true when it did.
   */
  private rejectInvalid(res: ServerResponse, method: string, url: URL, body: Json | undefined): boolean {
    const doc = this.discovery as Discovery;
    const m = findMethod(doc, method, url.pathname);
    if (!m) return false;
    if (m.response?.$ref) this.responseSchema.set(res, m.response.$ref);
    const violations: Array<{ field?: string; description: string }> = [];
    for (const key of url.searchParams.keys()) {
      const param = m.parameters?.[key] ?? doc.parameters[key];
      if (!param || (m.parameters?.[key] && m.parameters[key].location !== 'query'))
        violations.push({
          description: `Invalid JSON payload received. Unknown name ${JSON.stringify(key)}: Cannot bind query parameter. Field '${key}' could not be found in request message.`,
        });
    }
    if (body !== undefined) {
      if (!m.request) {
        violations.push({ description: 'Invalid JSON payload received. Unexpected token: this method takes no body.' });
      } else {
        for (const v of validateSchema(doc, m.request.$ref, body))
          violations.push({ ...(v.field ? { field: v.field } : {}), description: v.description });
      }
    }
    if (violations.length === 0) return false;
    this.fail(res, 400, 'INVALID_ARGUMENT', violations.map((v) => v.description).join('\n'), [
      { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations },
    ]);
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';

    if (method === 'POST' && url.pathname === '/v1/token') {
      // STS token exchange (RFC 8693), as external_account credentials use it.
      const form = new URLSearchParams(raw);
      if (!this.stsToken || !form.get('subject_token'))
        return this.send(res, 400, { error: 'invalid_request', error_description: 'no subject_token' });
      return this.send(res, 200, {
        access_token: this.stsToken.token,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: this.stsToken.expiresIn,
      });
    }

    let body: Json | undefined;
    try {
      body = raw ? (JSON.parse(raw) as Json) : undefined;
    } catch {
      return this.fail(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    const authorization = req.headers.authorization;
    this.requests.push({ method, path: url.pathname, body, authorization });
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!token || !this.options.tokens.includes(token)) {
      return this.fail(
        res,
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    }
    this.beforeRequest?.(method, url.pathname);
    if (this.discovery && this.rejectInvalid(res, method, url, body)) return;
    const i = this.injected.findIndex((x) => x.method === method && url.pathname.endsWith(x.pathEnds));
    if (i >= 0) {
      const [x] = this.injected.splice(i, 1);
      return this.fail(res, x!.code, x!.status, x!.message);
    }

    const m = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/(.*)$/.exec(url.pathname);
    if (!m) return this.fail(res, 404, 'NOT_FOUND', `Method not found: ${url.pathname}`);
    const [, project, location, rest] = m as unknown as [string, string, string, string];
    const deny = (permission: string, resource: string): boolean => {
      if (!this.denied.has(permission)) return false;
      this.fail(res, 403, 'PERMISSION_DENIED', `Required "${permission}" permission(s) for "${resource}".`, [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'IAM_PERMISSION_DENIED',
          domain: 'iam.googleapis.com',
          metadata: { permission, resource },
        },
      ]);
      return true;
    };
    const projectRes = `projects/${project}`;

    // operations
    if (rest === 'operations' && method === 'GET') {
      if (deny('container.operations.list', projectRes)) return;
      return this.send(res, 200, {
        operations: [...this.operations.values()]
          .filter((s) => s.project === project && s.op.location === location)
          .map((s) => s.op),
      });
    }
    const opm = /^operations\/([^/]+)$/.exec(rest);
    if (opm && method === 'GET') {
      if (deny('container.operations.get', `${projectRes}/locations/${location}/operations/${opm[1]}`)) return;
      const state = this.operations.get(opm[1] as string);
      if (!state || state.project !== project)
        return this.fail(res, 404, 'NOT_FOUND', `Not found: operation ${opm[1]}.`);
      this.advance(state);
      return this.send(res, 200, state.op);
    }

    // clusters
    if (rest === 'clusters' && method === 'POST') {
      const cluster = (body?.['cluster'] ?? {}) as Json;
      const name = String(cluster['name'] ?? '');
      const key = this.clusterKey(project, location, name);
      if (deny('container.clusters.create', projectRes)) return;
      if (!/^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/.test(name))
        return this.fail(res, 400, 'INVALID_ARGUMENT', `Invalid value for field "cluster.name": "${name}".`);
      if (this.clusters.has(key)) return this.fail(res, 409, 'ALREADY_EXISTS', `Already exists: ${key}.`);
      const quota = this.cpuQuota.get(location.replace(/-[a-z]$/, ''));
      if (quota !== undefined) {
        const zones = this.zonesOf(location).length;
        const need = ((cluster['nodePools'] as Json[] | undefined) ?? []).reduce((n, p) => {
          const vcpu = Number(
            /-(\d+)$/.exec(String((p['config'] as Json | undefined)?.['machineType'] ?? 'e2-medium'))?.[1] ?? 2,
          );
          return n + vcpu * Number(p['initialNodeCount'] ?? 0) * zones;
        }, 0);
        if (need > quota) {
          return this.fail(
            res,
            403,
            'PERMISSION_DENIED',
            `Insufficient regional quota to satisfy request: resource "CPUS": request requires '${need.toFixed(1)}' and is short '${(need - quota).toFixed(1)}'. project has a quota of '${quota.toFixed(1)}' with '${quota.toFixed(1)}' available. View and manage quotas at https://console.cloud.google.com/iam-admin/quotas?usage=USED&project=${project}.`,
          );
        }
      }
      let created: Json;
      try {
        created = this.materialize(project, location, name, cluster);
      } catch (error) {
        if (!(error instanceof FakeRequestError)) throw error;
        return this.fail(res, 400, 'INVALID_ARGUMENT', error.message);
      }
      this.clusters.set(key, created);
      const state = this.newOp(
        project,
        location,
        'CREATE_CLUSTER',
        `clusters/${name}`,
        () => {
          created['status'] = 'RUNNING';
        },
        () => {
          created['status'] = 'ERROR';
          created['statusMessage'] = state.failWith?.message;
        },
      );
      return this.send(res, 200, state.op);
    }
    const cm = /^clusters\/([^/:]+)(?::(setResourceLabels))?$/.exec(rest);
    if (cm) {
      const name = cm[1] as string;
      const key = this.clusterKey(project, location, name);
      const cluster = this.clusters.get(key);
      const need =
        method === 'GET'
          ? 'container.clusters.get'
          : method === 'DELETE'
            ? 'container.clusters.delete'
            : 'container.clusters.update';
      if (deny(need, key)) return;
      if (!cluster) return this.fail(res, 404, 'NOT_FOUND', `Not found: ${key}.`);
      if (method === 'GET' && !cm[2]) return this.send(res, 200, cluster);
      const running = this.busy(key);
      if (running) {
        return this.fail(
          res,
          400,
          'FAILED_PRECONDITION',
          `Operation ${running.op.name} is currently ${running.op.operationType === 'CREATE_CLUSTER' ? 'creating' : running.op.operationType === 'DELETE_CLUSTER' ? 'deleting' : 'updating'} cluster ${name}. Please wait and try again once it is done.`,
        );
      }
      if (method === 'DELETE' && !cm[2]) {
        cluster['status'] = 'STOPPING';
        return this.send(
          res,
          200,
          this.newOp(project, location, 'DELETE_CLUSTER', `clusters/${name}`, () => this.clusters.delete(key)).op,
        );
      }
      if (method === 'PUT' && !cm[2]) {
        const update = (body?.['update'] ?? {}) as Json;
        const fields = Object.keys(update);
        if (fields.length !== 1)
          return this.fail(
            res,
            400,
            'INVALID_ARGUMENT',
            `Exactly one update can be applied to a cluster with each request (got ${fields.length}).`,
          );
        cluster['status'] = 'RECONCILING';
        return this.send(
          res,
          200,
          this.newOp(project, location, 'UPDATE_CLUSTER', `clusters/${name}`, () => {
            cluster['status'] = 'RUNNING';
            if (update['desiredReleaseChannel']) cluster['releaseChannel'] = update['desiredReleaseChannel'];
            if (update['desiredWorkloadIdentityConfig'])
              cluster['workloadIdentityConfig'] = update['desiredWorkloadIdentityConfig'];
            const nets =
              ((
                (update['desiredControlPlaneEndpointsConfig'] as Json | undefined)?.['ipEndpointsConfig'] as
                  Json | undefined
              )?.['authorizedNetworksConfig'] as Json | undefined) ??
              (update['desiredMasterAuthorizedNetworksConfig'] as Json | undefined);
            if (nets) {
              cluster['masterAuthorizedNetworksConfig'] = nets;
              const endpoints = cluster['controlPlaneEndpointsConfig'] as Json;
              endpoints['ipEndpointsConfig'] = {
                ...(endpoints['ipEndpointsConfig'] as Json),
                authorizedNetworksConfig: nets,
              };
            }
            const dns = (update['desiredControlPlaneEndpointsConfig'] as Json | undefined)?.['dnsEndpointConfig'] as
              Json | undefined;
            if (dns) {
              const endpoints = cluster['controlPlaneEndpointsConfig'] as Json;
              endpoints['dnsEndpointConfig'] = { ...(endpoints['dnsEndpointConfig'] as Json), ...dns };
            }
          }).op,
        );
      }
      if (method === 'POST' && cm[2] === 'setResourceLabels') {
        // labelFingerprint is Required; one left out counts as "" (the API's own wording).
        if ((body?.['labelFingerprint'] ?? '') !== cluster['labelFingerprint'])
          return this.fail(
            res,
            400,
            'FAILED_PRECONDITION',
            `Labels could not be set due to fingerprint mismatch; try again with the proper fingerprint: incorrect fingerprint supplied was ${JSON.stringify(body?.['labelFingerprint'] ?? '')}, the expected one is ${JSON.stringify(cluster['labelFingerprint'])}.`,
          );
        return this.send(
          res,
          200,
          this.newOp(project, location, 'SET_LABELS', `clusters/${name}`, () => {
            cluster['resourceLabels'] = body?.['resourceLabels'] ?? {};
            cluster['labelFingerprint'] = this.fingerprint(cluster['resourceLabels'] as Record<string, string>);
          }).op,
        );
      }
    }
    const pm = /^clusters\/([^/]+)\/nodePools(?:\/([^/:]+)(?::(setAutoscaling|setSize))?)?$/.exec(rest);
    if (pm) {
      const [, name, poolName, verb] = pm as unknown as [string, string, string | undefined, string | undefined];
      const key = this.clusterKey(project, location, name);
      if (deny(method === 'GET' ? 'container.clusters.get' : 'container.clusters.update', key)) return;
      const cluster = this.clusters.get(key);
      if (!cluster) return this.fail(res, 404, 'NOT_FOUND', `Not found: ${key}.`);
      const pools = cluster['nodePools'] as Json[];
      if (!poolName && method === 'GET') return this.send(res, 200, { nodePools: pools });
      const pool = pools.find((p) => p['name'] === poolName);
      if (!pool) return this.fail(res, 404, 'NOT_FOUND', `Not found: ${key}/nodePools/${poolName}.`);
      if (method === 'GET' && !verb) return this.send(res, 200, pool);
      const running = this.busy(key);
      if (running)
        return this.fail(
          res,
          400,
          'FAILED_PRECONDITION',
          `Operation ${running.op.name} is currently updating cluster ${name}. Please wait and try again once it is done.`,
        );
      if (method === 'POST' && verb === 'setAutoscaling') {
        const autoscaling = body?.['autoscaling'] as Json | undefined;
        if (!autoscaling) return this.fail(res, 400, 'INVALID_ARGUMENT', 'Required field "autoscaling" is missing.');
        return this.send(
          res,
          200,
          this.newOp(project, location, 'UPDATE_CLUSTER', `clusters/${name}/nodePools/${poolName}`, () => {
            pool['autoscaling'] = autoscaling;
          }).op,
        );
      }
      if (method === 'POST' && verb === 'setSize') {
        const n = Number(body?.['nodeCount']);
        return this.send(
          res,
          200,
          this.newOp(project, location, 'SET_NODE_POOL_SIZE', `clusters/${name}/nodePools/${poolName}`, () => {
            pool['initialNodeCount'] = n;
            cluster['currentNodeCount'] = n * (pool['locations'] as string[]).length;
          }).op,
        );
      }
    }
    return this.fail(res, 404, 'NOT_FOUND', `Method not found: ${method} ${url.pathname}`);
  }
}

export { GRPC };
