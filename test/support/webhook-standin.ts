/**
 * Stands in for the pods behind webhook Services on the local control plane, where no container runs.
 * Service ClusterIPs there are loopback addresses and the API server calls a webhook on the Service's
 * ClusterIP and the port its clientConfig names, so a stand-in listens exactly there, once the Service
 * has its ClusterIP and the workloads its selector picks are ready, with a certificate for
 * <service>.<namespace>.svc signed by the cluster CA.
 *
 * It behaves as far as the API server can tell like the real webhook server:
 * - it serves the Service port the webhooks name (default 443), and only when that port's targetPort
 *   exists in the pod template (a named targetPort no container declares leaves the endpoint without
 *   the port on a real cluster: recorded as a problem, never served);
 * - it answers POSTs on the paths the webhooks name and 404s anything else (recorded as a problem);
 * - it answers an AdmissionReview in the apiVersion it was asked in (the API server rejects any other),
 *   allowing it, and a ConversionReview with the objects converted to the desired apiVersion;
 * - a mutating webhook marks each Pod it admits on creation with the annotation MUTATED_BY, as a sidecar
 *   injector marks the pods it injected, so a test can find pods created before their webhook was served.
 * A webhook whose workload never becomes ready never answers, as on a real cluster.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../../src/kube/client.js';
import { selectorMatches } from '../../src/kube/plan.js';
import { ruleFor, type ReadinessRule } from '../../src/kube/readiness.js';
import type { KubeObject } from '../../src/kube/types.js';
import { waitFor, waitUntil } from '../../src/kube/wait.js';

/** Annotation the stand-ins put on Pods they admit: the namespace/name of the webhook Service. */
export const MUTATED_BY = 'webhook-standin.kfops.test/mutated-by';

export interface StandinOptions {
  /** Services ("ns/name") whose stand-in never listens (a firewall: connection refused although the Service has ready endpoints). */
  refuse?: string[];
  /** Services whose stand-in accepts TCP/TLS and never answers (a silent peer). */
  silent?: string[];
  /** Seconds after the workload is ready before the stand-in listens (default 0). */
  delaySeconds?: number;
}

export interface Standins {
  /** AdmissionReview/ConversionReview requests answered, per Service "ns/name". */
  calls: Map<string, number>;
  /** Per Service: the review apiVersions received (e.g. 'admission.k8s.io/v1beta1') and the paths called. */
  seen: Map<string, { versions: Set<string>; paths: Set<string> }>;
  /** Problems found while serving (e.g. a targetPort the pod template does not declare, a path no webhook names). */
  problems: string[];
  stop(): Promise<void>;
}

/** base64 of the cluster CA certificate, for webhook caBundle fields. */
export function clusterCaBundle(clusterDir: string): string {
  return readFileSync(join(clusterDir, 'pki', 'ca.crt')).toString('base64');
}

/** One webhook (or CRD conversion webhook) as the API server calls it. */
interface Hook {
  /** "MutatingWebhookConfiguration istio-sidecar-injector: object.sidecar-injector.istio.io", "CustomResourceDefinition x: conversion". */
  label: string;
  port: number;
  path: string;
  mutating: boolean;
  conversion: boolean;
}

interface ServiceRef {
  clientConfig?: { service?: { namespace?: string; name?: string; path?: string; port?: number } };
}

/** Every Service a webhook in objects calls, with its webhooks: "ns/name" -> hooks. */
export function webhookServices(objects: readonly KubeObject[]): Map<string, Hook[]> {
  const services = new Map<string, Hook[]>();
  const add = (ref: ServiceRef | undefined, hook: Omit<Hook, 'port' | 'path'>): void => {
    const svc = ref?.clientConfig?.service;
    if (!svc?.name || !svc.namespace) return;
    const id = `${svc.namespace}/${svc.name}`;
    services.set(id, [...(services.get(id) ?? []), { ...hook, port: svc.port ?? 443, path: svc.path || '/' }]);
  };
  for (const o of objects) {
    if (
      (o.kind === 'ValidatingWebhookConfiguration' || o.kind === 'MutatingWebhookConfiguration') &&
      o.apiVersion.startsWith('admissionregistration.k8s.io/')
    ) {
      for (const w of (o['webhooks'] as (ServiceRef & { name: string })[] | undefined) ?? []) {
        add(w, {
          label: `${o.kind} ${o.metadata.name}: ${w.name}`,
          mutating: o.kind === 'MutatingWebhookConfiguration',
          conversion: false,
        });
      }
    } else if (o.kind === 'CustomResourceDefinition') {
      const conversion = (o['spec'] as { conversion?: { strategy?: string; webhook?: ServiceRef } } | undefined)
        ?.conversion;
      if (conversion?.strategy === 'Webhook')
        add(conversion.webhook, {
          label: `${o.kind} ${o.metadata.name}: conversion`,
          mutating: false,
          conversion: true,
        });
    }
  }
  return services;
}

function servingCert(clusterDir: string, dnsName: string, ip: string): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'kfops-hook-'));
  try {
    const pki = join(clusterDir, 'pki');
    writeFileSync(join(dir, 'ext'), `subjectAltName=DNS:${dnsName},IP:${ip}\nextendedKeyUsage=serverAuth\n`);
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key'),
        '-subj',
        `/CN=${dnsName}`,
        '-out',
        join(dir, 'csr'),
      ],
      { stdio: 'ignore' },
    );
    execFileSync(
      'openssl',
      [
        'x509',
        '-req',
        '-in',
        join(dir, 'csr'),
        '-CA',
        join(pki, 'ca.crt'),
        '-CAkey',
        join(pki, 'ca.key'),
        '-CAcreateserial',
        '-CAserial',
        join(dir, 'srl'),
        '-days',
        '2',
        '-extfile',
        join(dir, 'ext'),
        '-out',
        join(dir, 'crt'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key')), cert: readFileSync(join(dir, 'crt')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const hasClusterIP: ReadinessRule = {
  name: 'Service has a ClusterIP',
  check: (o) =>
    (o['spec'] as { clusterIP?: string } | undefined)?.clusterIP
      ? { state: 'ready', message: 'has a ClusterIP' }
      : { state: 'pending', message: 'no ClusterIP yet' },
};

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: { containers?: { name: string; ports?: { name?: string; containerPort: number }[] }[] };
}
const templateOf = (o: KubeObject): PodTemplate =>
  (o['spec'] as { template?: PodTemplate } | undefined)?.template ?? {};
const WORKLOAD_KINDS = ['Deployment', 'StatefulSet'];
const FOREVER_MS = 24 * 3_600_000;

/** JSON Pointer escaping of one path segment (RFC 6901). */
const pointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

interface AdmissionRequest {
  uid?: string;
  operation?: string;
  resource?: { resource?: string };
  object?: { metadata?: { annotations?: Record<string, string> } };
}

/** The AdmissionReview response: allowed; a mutating webhook marks a created Pod by JSONPatch. */
function admit(request: AdmissionRequest, id: string, mutating: boolean): Record<string, unknown> {
  const response: Record<string, unknown> = { uid: request.uid ?? '', allowed: true };
  if (mutating && request.resource?.resource === 'pods' && request.operation === 'CREATE') {
    const patch = request.object?.metadata?.annotations
      ? [{ op: 'add', path: `/metadata/annotations/${pointer(MUTATED_BY)}`, value: id }]
      : [{ op: 'add', path: '/metadata/annotations', value: { [MUTATED_BY]: id } }];
    response['patchType'] = 'JSONPatch';
    response['patch'] = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  return response;
}

const ADMISSION_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];

/** Serves every Service that a webhook in `objects` names (webhook configurations and CRD conversion webhooks). */
export function startWebhookStandins(
  client: KubeClient,
  clusterDir: string,
  objects: readonly KubeObject[],
  options: StandinOptions = {},
): Standins {
  const calls = new Map<string, number>();
  const seen = new Map<string, { versions: Set<string>; paths: Set<string> }>();
  const problems: string[] = [];
  const servers: Server[] = [];
  const abort = new AbortController();
  const signal = abort.signal;
  const problem = (p: string): void => {
    if (!problems.includes(p)) problems.push(p);
  };
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });

  /** Waits until the workloads the Service selects are ready; returns them (undefined when stopped). */
  const readyWorkloads = async (
    namespace: string,
    selector: Record<string, string>,
  ): Promise<KubeObject[] | undefined> => {
    const selects = (o: KubeObject): boolean =>
      Object.keys(selector).length > 0 &&
      selectorMatches({ matchLabels: selector }, templateOf(o).metadata?.labels ?? {});
    const expected = objects.filter(
      (o) => WORKLOAD_KINDS.includes(o.kind) && (o.metadata.namespace ?? 'default') === namespace && selects(o),
    );
    const kinds = expected.length ? [...new Set(expected.map((o) => o.kind))] : ['Deployment'];
    const found: KubeObject[] = [];
    for (const kind of kinds) {
      const names = expected.filter((o) => o.kind === kind).map((o) => o.metadata.name);
      let ready: KubeObject[] = [];
      const rule = ruleFor({ kind });
      await waitUntil(
        client,
        { apiVersion: 'apps/v1', kind, namespace },
        {
          ref: {
            apiVersion: 'apps/v1',
            kind,
            namespace,
            name: names.join(',') || `(selected by ${JSON.stringify(selector)})`,
          },
          rule,
        },
        (live) => {
          const selected = [...live.values()].filter(selects);
          const missing = names.filter((n) => !selected.some((o) => o.metadata.name === n));
          const notReady = selected.filter((o) => rule.check(o).state !== 'ready');
          ready = selected;
          if (selected.length === 0 || missing.length || notReady.length)
            return {
              readiness: {
                state: 'pending',
                message: `${selected.length - notReady.length} of ${Math.max(selected.length, names.length)} ready`,
              },
            };
          return { readiness: { state: 'ready', message: 'ready' } };
        },
        { timeoutMs: FOREVER_MS, signal },
      );
      if (signal.aborted) return undefined;
      found.push(...ready.map((o) => ({ ...o, apiVersion: 'apps/v1', kind })));
    }
    return found;
  };

  const handler =
    (id: string, hooks: Hook[]) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const path = new URL(req.url ?? '/', 'https://x').pathname;
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const s = seen.get(id) ?? { versions: new Set<string>(), paths: new Set<string>() };
        seen.set(id, s);
        s.paths.add(path);
        let review: { apiVersion?: string; kind?: string; request?: Record<string, unknown> } | undefined;
        try {
          review = JSON.parse(body) as typeof review;
        } catch {
          review = undefined;
        }
        if (review?.apiVersion) s.versions.add(review.apiVersion);
        if (options.silent?.includes(id)) return; // holds the request open until the caller gives up
        const named = hooks.filter((h) => h.path === path);
        if (req.method !== 'POST' || named.length === 0) {
          problem(
            `${id}: ${req.method ?? '?'} ${path} is not a webhook path (${[...new Set(hooks.map((h) => `POST ${h.path}`))].join(', ')})`,
          );
          res.statusCode = req.method !== 'POST' && named.length ? 405 : 404;
          res.end();
          return;
        }
        if (!review) {
          problem(`${id}: ${path}: the request body is not JSON`);
          res.statusCode = 400;
          res.end();
          return;
        }
        const reply = (answer: Record<string, unknown>): void => {
          calls.set(id, (calls.get(id) ?? 0) + 1);
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify(answer));
        };
        if (
          review.kind === 'AdmissionReview' &&
          ADMISSION_VERSIONS.includes(review.apiVersion ?? '') &&
          review.request
        ) {
          if (named.every((h) => h.conversion))
            problem(`${id}: ${path} is a conversion webhook but received an AdmissionReview`);
          reply({
            apiVersion: review.apiVersion,
            kind: 'AdmissionReview',
            response: admit(
              review.request as AdmissionRequest,
              id,
              named.some((h) => h.mutating),
            ),
          });
        } else if (
          review.kind === 'ConversionReview' &&
          review.apiVersion === 'apiextensions.k8s.io/v1' &&
          review.request
        ) {
          if (!named.some((h) => h.conversion))
            problem(`${id}: ${path} is an admission webhook but received a ConversionReview`);
          const request = review.request as {
            uid?: string;
            desiredAPIVersion?: string;
            objects?: Record<string, unknown>[];
          };
          reply({
            apiVersion: review.apiVersion,
            kind: 'ConversionReview',
            response: {
              uid: request.uid ?? '',
              convertedObjects: (request.objects ?? []).map((o) => ({ ...o, apiVersion: request.desiredAPIVersion })),
              result: { status: 'Success' },
            },
          });
        } else {
          problem(
            `${id}: ${path}: unexpected review ${review.kind ?? '(no kind)'} ${review.apiVersion ?? '(no apiVersion)'}`,
          );
          res.statusCode = 400;
          res.end();
        }
      });
    };

  const serve = async (id: string, hooks: Hook[]): Promise<void> => {
    const [namespace, name] = id.split('/') as [string, string];
    // The serving certificate is made as soon as the Service has its ClusterIP, as a pod would have its
    // certificate before it reports ready; the server listens once the selected workloads are ready.
    const svc = (await waitFor(client, { apiVersion: 'v1', kind: 'Service', name, namespace }, hasClusterIP, {
      timeoutMs: FOREVER_MS,
      signal,
    })) as KubeObject | undefined;
    if (!svc || signal.aborted) return;
    const spec = svc['spec'] as { clusterIP: string; ports?: ServicePort[]; selector?: Record<string, string> };
    const { key, cert } = servingCert(clusterDir, `${name}.${namespace}.svc`, spec.clusterIP);
    const workloads = await readyWorkloads(namespace, spec.selector ?? {});
    if (!workloads || signal.aborted) return;
    const ports = [...new Set(hooks.map((h) => h.port))].filter((port) => {
      const users = hooks.filter((h) => h.port === port).map((h) => h.label);
      const sp = spec.ports?.find((p) => p.port === port);
      if (!sp) {
        problem(`Service ${id} has no port ${port}, which ${users.join(', ')} call(s)`);
        return false;
      }
      const target = sp.targetPort ?? sp.port;
      const declared =
        typeof target === 'number' ||
        /^\d+$/.test(target) ||
        workloads.some((w) =>
          (templateOf(w).spec?.containers ?? []).some((c) => (c.ports ?? []).some((p) => p.name === target)),
        );
      if (!declared) {
        problem(
          `Service ${id} port ${port} targets port "${target}", which no container of ${workloads.map((w) => `${w.kind} ${namespace}/${w.metadata.name}`).join(', ')} declares (called by ${users.join(', ')})`,
        );
        return false;
      }
      return true;
    });
    if (options.delaySeconds) await sleep(options.delaySeconds * 1000);
    if (signal.aborted || options.refuse?.includes(id)) return;
    for (const port of ports) {
      const server = createServer(
        { key, cert },
        handler(
          id,
          hooks.filter((h) => h.port === port),
        ),
      );
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, spec.clusterIP, () => resolve());
      });
      if (signal.aborted) {
        server.closeAllConnections();
        server.close();
        return;
      }
    }
  };

  const running = [...webhookServices(objects)].map(([id, hooks]) =>
    serve(id, hooks).catch((error: unknown) => {
      if (!signal.aborted)
        problem(`${id}: the stand-in could not serve: ${error instanceof Error ? error.message : String(error)}`);
    }),
  );
  return {
    calls,
    seen,
    problems,
    async stop() {
      abort.abort();
      await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 1000))]);
      const closed = servers.filter((s) => s.listening).map((s) => new Promise((r) => s.close(() => r(undefined))));
      // The API server keeps connections alive, and a silent stand-in holds requests open: close them
      // all, or close() waits for their timeouts.
      for (const s of servers) s.closeAllConnections();
      await Promise.all(closed);
    },
  };
}
