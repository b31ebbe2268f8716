/**
 * The doctor's checks: each a named pure rule over a snapshot of the cluster (src/doctor/snapshot.ts)
 * that names a failure our users met, the evidence, and the fix. A check whose lists could not be read
 * says "unknown" with the reason; it never passes for lack of data.
 */
import { load as loadYaml } from 'js-yaml';
import { storageFix } from '../kserve/wait.js';
import { formatBytes, formatCpu, parseQuantity } from '../kube/quantity.js';
import { conditionOf, type KubeObject } from '../kube/types.js';
import type { Listing, Snapshot, SnapshotKey } from './snapshot.js';

export type Status = 'ok' | 'problem' | 'not-applicable' | 'unknown';
export type Severity = 'error' | 'warning';

export interface Finding {
  check: string;
  title: string;
  status: Status;
  /** For problems: error (breaks installs or serving) or warning. */
  severity?: Severity;
  summary: string;
  evidence: string[];
  fix?: string;
  /** Where users met it (the troubleshooting seeds). */
  seen: string;
}

export interface Check {
  id: string;
  title: string;
  seen: string;
  needs: SnapshotKey[];
  run(s: Snapshot): Omit<Finding, 'check' | 'title' | 'seen'>;
}

const DEFAULT_CLASS = 'storageclass.kubernetes.io/is-default-class';
const BETA_DEFAULT_CLASS = 'storageclass.beta.kubernetes.io/is-default-class';
const ok = (summary: string, evidence: string[] = []) => ({ status: 'ok' as const, summary, evidence });
const na = (summary: string) => ({ status: 'not-applicable' as const, summary, evidence: [] });
const problem = (severity: Severity, summary: string, evidence: string[], fix: string) => ({
  status: 'problem' as const,
  severity,
  summary,
  evidence,
  fix,
});
const spec = (o: KubeObject): Record<string, unknown> => (o['spec'] as Record<string, unknown> | undefined) ?? {};
const status = (o: KubeObject): Record<string, unknown> => (o['status'] as Record<string, unknown> | undefined) ?? {};
const ref = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
const MAX_EVIDENCE = 10;
const some = (lines: string[]): string[] =>
  lines.length > MAX_EVIDENCE
    ? [...lines.slice(0, MAX_EVIDENCE), `... and ${lines.length - MAX_EVIDENCE} more`]
    : lines;

/** 1. No default StorageClass, and claims Pending because of it. */
export const defaultStorageClass: Check = {
  id: 'default-storage-class',
  title: 'Default StorageClass',
  seen: 'first seed #1: PVCs Pending, "no persistent volumes available for this claim and no storage class is set"',
  needs: ['storageClasses', 'pvcs'],
  run(s) {
    const classes = s.storageClasses.items;
    const defaults = classes.filter(
      (c) =>
        c.metadata.annotations?.[DEFAULT_CLASS] === 'true' || c.metadata.annotations?.[BETA_DEFAULT_CLASS] === 'true',
    );
    const waiting = s.pvcs.items.filter(
      (p) => status(p)['phase'] === 'Pending' && !spec(p)['storageClassName'] && !spec(p)['volumeName'],
    );
    if (defaults.length === 1) return ok(`default StorageClass ${defaults[0]?.metadata.name}`);
    if (defaults.length > 1)
      return problem(
        'warning',
        `${defaults.length} StorageClasses are marked default; claims without a class get the newest`,
        defaults.map((c) => `StorageClass ${c.metadata.name}`),
        'keep the annotation on one: kubectl annotate storageclass <name> storageclass.kubernetes.io/is-default-class-',
      );
    if (waiting.length === 0) return ok('no default StorageClass, and no claim waits for one');
    const first = classes[0]?.metadata.name;
    return problem(
      'error',
      `no default StorageClass: ${waiting.length} claim(s) without a class stay Pending`,
      [
        ...some(waiting.map((p) => `PersistentVolumeClaim ${ref(p)} Pending, no storageClassName`)),
        `StorageClasses: ${classes.map((c) => c.metadata.name).join(', ') || 'none'}`,
      ],
      first
        ? `make one the default: kubectl patch storageclass ${first} -p '{"metadata":{"annotations":{"${DEFAULT_CLASS}":"true"}}}' (install-kubeflow: default-storage-class: ${first})`
        : 'install a storage provisioner and a StorageClass, then mark it default',
    );
  },
};

const requests = (pod: KubeObject): { cpu: number; memory: number } => {
  const containers =
    (spec(pod)['containers'] as { resources?: { requests?: Record<string, string> } }[] | undefined) ?? [];
  let cpu = 0;
  let memory = 0;
  for (const c of containers) {
    cpu += parseQuantity(c.resources?.requests?.['cpu']) ?? 0;
    memory += parseQuantity(c.resources?.requests?.['memory']) ?? 0;
  }
  return { cpu, memory };
};

/** 2. Pods the scheduler cannot place for lack of CPU or memory. */
export const insufficientResources: Check = {
  id: 'insufficient-resources',
  title: 'Pods short of CPU or memory',
  seen: 'first seed #2 (pods Pending, "Insufficient cpu"); the Chinese install log (minikube without enough memory)',
  needs: ['pods', 'nodes'],
  run(s) {
    const stuck = s.pods.items.filter((p) => {
      const c = conditionOf(p, 'PodScheduled');
      return (
        status(p)['phase'] === 'Pending' &&
        c?.status === 'False' &&
        c.reason === 'Unschedulable' &&
        /Insufficient (cpu|memory)/.test(c.message ?? '')
      );
    });
    if (stuck.length === 0) return ok('no pod is waiting for CPU or memory');
    let maxCpu = 0;
    let maxMemory = 0;
    for (const n of s.nodes.items) {
      const a = (status(n)['allocatable'] as Record<string, string> | undefined) ?? {};
      maxCpu = Math.max(maxCpu, parseQuantity(a['cpu']) ?? 0);
      maxMemory = Math.max(maxMemory, parseQuantity(a['memory']) ?? 0);
    }
    return problem(
      'error',
      `${stuck.length} pod(s) cannot be scheduled: no node has the CPU or memory they request`,
      some(
        stuck.map((p) => {
          const r = requests(p);
          // The scheduler's message names each resource: "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory."
          const why = [
            ...new Set(
              [...(conditionOf(p, 'PodScheduled')?.message ?? '').matchAll(/Insufficient ([\w./-]*[\w/-])/g)].map(
                (m) => m[1],
              ),
            ),
          ]
            .map((x) => `Insufficient ${x}`)
            .join(', ');
          return `Pod ${ref(p)}: requests ${formatCpu(r.cpu)} CPU, ${formatBytes(r.memory)} memory (${why}); the largest node allocates ${formatCpu(maxCpu)} CPU, ${formatBytes(maxMemory)}`;
        }),
      ),
      'add nodes or use a larger machine type (setup-gke: machine-type, node-count or autoscaling-max), or lower the requests',
    );
  },
};

/** 3. The Kubeflow gateway is reachable only through a port-forward. */
export const gatewayExposure: Check = {
  id: 'gateway-exposure',
  title: 'Gateway reachable from outside',
  seen: 'first seed #3: the dashboard only through kubectl port-forward',
  needs: ['services'],
  run(s) {
    const gw = s.services.items.find(
      (o) => o.metadata.namespace === 'istio-system' && o.metadata.name === 'istio-ingressgateway',
    );
    if (!gw) return na('no istio-system/istio-ingressgateway Service (Kubeflow is not installed here)');
    const type = (spec(gw)['type'] as string | undefined) ?? 'ClusterIP';
    if (type === 'LoadBalancer') {
      const ingress = ((status(gw)['loadBalancer'] as { ingress?: { ip?: string; hostname?: string }[] } | undefined)
        ?.ingress ?? [])[0];
      if (ingress?.ip || ingress?.hostname) return ok(`LoadBalancer at ${ingress.ip ?? ingress.hostname}`);
      return problem(
        'error',
        'the gateway is a LoadBalancer without an address',
        [`Service istio-system/istio-ingressgateway: type LoadBalancer, no status.loadBalancer.ingress`],
        'check the cloud controller (kubectl describe svc -n istio-system istio-ingressgateway shows its Events); on a cluster without one, use a NodePort or an ingress',
      );
    }
    return problem(
      'warning',
      `the gateway is a ${type} Service: reachable only through a port-forward`,
      [`Service istio-system/istio-ingressgateway: type ${type}`],
      'install-kubeflow with expose: loadbalancer (or kubectl patch svc -n istio-system istio-ingressgateway -p \'{"spec":{"type":"LoadBalancer"}}\')',
    );
  },
};

/** 6. MLflow's admin password: where it is, never what it is. */
export const mlflowAdminPassword: Check = {
  id: 'mlflow-admin-password',
  title: "MLflow's admin password",
  seen: 'first seed #6: the documented admin password did not work; it had to be dug out of a Secret',
  needs: ['secrets'],
  run(s) {
    const found = s.secrets.items.filter((x) => x.metadata.name === 'mlflow-admin');
    if (found.length === 0) return na('no MLflow installed by install-mlflow (no Secret mlflow-admin)');
    return ok(
      `in Secret ${found.map(ref).join(', ')}`,
      found.map(
        (x) => `kubectl get secret -n ${x.metadata.namespace} mlflow-admin -o jsonpath='{.data.password}' | base64 -d`,
      ),
    );
  },
};

/** 11. Knative's domain is not set: InferenceService URLs are cluster-local. */
export const kserveDomain: Check = {
  id: 'kserve-domain',
  title: "KServe's domain",
  seen: 'first seed #11: status.url ended in svc.cluster.local; calls from outside got 404',
  needs: ['configMaps'],
  run(s) {
    const cm = s.configMaps.items.find(
      (o) => o.metadata.namespace === 'knative-serving' && o.metadata.name === 'config-domain',
    );
    if (!cm) return na('no knative-serving/config-domain (Knative Serving is not installed here)');
    const data = (cm as { data?: Record<string, string> }).data ?? {};
    const domains = Object.keys(data).filter((k) => k !== '_example');
    if (domains.length) return ok(`domain ${domains.join(', ')}`);
    return problem(
      'warning',
      'no domain in knative-serving/config-domain: InferenceService URLs are cluster-local',
      ['ConfigMap knative-serving/config-domain has no key but _example'],
      'install-kubeflow with domain: sslip (and expose: loadbalancer) or domain: <your DNS domain>',
    );
  },
};

/** 12. CRDs that are not Established, and a controller running without its CRD. */
export const crds: Check = {
  id: 'crds',
  title: 'CRDs established',
  seen: 'the Chinese install log: "no matches for kind InferenceService", "ensure CRDs are installed first"',
  needs: ['crds', 'deployments'],
  run(s) {
    const broken = s.crds.items.filter((c) => conditionOf(c, 'Established')?.status !== 'True');
    const names = new Set(s.crds.items.map((c) => c.metadata.name));
    const orphans = s.deployments.items.filter(
      (d) => d.metadata.name === 'kserve-controller-manager' && !names.has('inferenceservices.serving.kserve.io'),
    );
    if (broken.length === 0 && orphans.length === 0) return ok(`${s.crds.items.length} CRD(s), all Established`);
    return problem(
      'error',
      `${broken.length} CRD(s) not Established${orphans.length ? `; KServe's controller runs without the InferenceService CRD` : ''}`,
      some([
        ...broken.map((c) => {
          const n = conditionOf(c, 'NamesAccepted');
          const e = conditionOf(c, 'Established');
          return `CustomResourceDefinition ${c.metadata.name}: Established ${e?.status ?? 'absent'}${n?.status === 'False' ? `; NamesAccepted False: ${n.message ?? n.reason ?? ''}` : e?.message ? `: ${e.message}` : ''}`;
        }),
        ...orphans.map(
          (d) => `Deployment ${ref(d)} runs; CustomResourceDefinition inferenceservices.serving.kserve.io is missing`,
        ),
      ]),
      'install the CRDs before the objects and controllers that use them (install-kubeflow orders them); a NamesAccepted conflict needs one of the two CRDs removed',
    );
  },
};

interface Webhook {
  name: string;
  failurePolicy?: string;
  clientConfig?: { service?: { namespace: string; name: string; port?: number } };
  rules?: { resources?: string[]; operations?: string[] }[];
}

/** 14. Fail-closed admission webhooks whose Service has no ready endpoint: they block every matching write. */
export const webhooksWithoutEndpoints: Check = {
  id: 'webhooks-without-endpoints',
  title: 'Admission webhooks with a backend',
  seen: 'installs that hang or fail with "failed calling webhook ... no endpoints available for service"',
  needs: ['validatingWebhooks', 'mutatingWebhooks', 'endpointSlices', 'services'],
  run(s) {
    const ready = new Map<string, number>();
    for (const slice of s.endpointSlices.items) {
      const svc = slice.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const endpoints = ((slice as { endpoints?: { conditions?: { ready?: boolean } }[] }).endpoints ?? []).filter(
        (e) => e.conditions?.ready !== false,
      ).length;
      const key = `${slice.metadata.namespace}/${svc}`;
      ready.set(key, (ready.get(key) ?? 0) + endpoints);
    }
    const services = new Set(s.services.items.map(ref));
    const dead: string[] = [];
    let total = 0;
    for (const config of [...s.validatingWebhooks.items, ...s.mutatingWebhooks.items]) {
      for (const w of (config as { webhooks?: Webhook[] }).webhooks ?? []) {
        const svc = w.clientConfig?.service;
        if (!svc) continue;
        total++;
        if ((w.failurePolicy ?? 'Fail') !== 'Fail') continue;
        const key = `${svc.namespace}/${svc.name}`;
        if ((ready.get(key) ?? 0) > 0) continue;
        const resources = [...new Set((w.rules ?? []).flatMap((r) => r.resources ?? []))].join(', ');
        dead.push(
          `${config.kind} ${config.metadata.name}, webhook ${w.name}: Service ${key} ${services.has(key) ? 'has no ready endpoint' : 'does not exist'}; intercepts ${resources || 'nothing'}`,
        );
      }
    }
    if (dead.length === 0)
      return ok(`${total} webhook(s) with a Service backend: every fail-closed one has a ready endpoint`);
    return problem(
      'error',
      `${dead.length} fail-closed webhook(s) cannot be called: every write they intercept is refused`,
      some(dead),
      "start the webhook's workload (kubectl get pods -n <namespace>), or, if its component was removed, delete the webhook configuration",
    );
  },
};

/** 4. Dex logins without a Profile, Profiles whose owner has no login, a Dex password Secret that is missing. */
export const dexUsers: Check = {
  id: 'dex-users',
  title: 'Dex logins and Profiles',
  seen: 'first seed #4: users added to Dex by hand, then an empty dashboard (no Profile) or no login at all',
  needs: ['configMaps', 'profiles', 'deployments', 'secrets'],
  run(s) {
    const cm = s.configMaps.items.find((o) => o.metadata.namespace === 'auth' && o.metadata.name === 'dex');
    if (!cm) return na('no auth/dex ConfigMap (Dex is not installed here)');
    let config: { staticPasswords?: { email?: string; hashFromEnv?: string }[]; connectors?: unknown[] };
    try {
      config = (loadYaml((cm as { data?: Record<string, string> }).data?.['config.yaml'] ?? '') ?? {}) as typeof config;
    } catch (error) {
      return problem(
        'error',
        "Dex's config.yaml is not YAML: Dex cannot start",
        [String(error).split('\n')[0] as string],
        'fix ConfigMap auth/dex (install-kubeflow users: renders it)',
      );
    }
    const logins = (config.staticPasswords ?? []).map((p) => (p.email ?? '').toLowerCase()).filter(Boolean);
    const owners = new Map(
      s.profiles.items.map((p) => [
        ((spec(p)['owner'] as { name?: string } | undefined)?.name ?? '').toLowerCase(),
        p.metadata.name,
      ]),
    );
    const evidence: string[] = [];
    let severity: Severity = 'warning';
    for (const email of logins)
      if (!owners.has(email))
        evidence.push(`Dex login ${email} owns no Profile: the dashboard shows no namespace to work in`);
    if (!config.connectors?.length)
      for (const [owner, profile] of owners)
        if (owner && !logins.includes(owner))
          evidence.push(`Profile ${profile} is owned by ${owner}, who has no Dex login`);
    const dex = s.deployments.items.find((d) => d.metadata.namespace === 'auth' && d.metadata.name === 'dex');
    const secrets = new Set(s.secrets.items.filter((x) => x.metadata.namespace === 'auth').map((x) => x.metadata.name));
    const containers =
      (
        spec(dex ?? o0)['template'] as
          | { spec?: { containers?: { envFrom?: { secretRef?: { name?: string; optional?: boolean } }[] }[] } }
          | undefined
      )?.spec?.containers ?? [];
    for (const c of containers)
      for (const e of c.envFrom ?? [])
        if (e.secretRef?.name && !e.secretRef.optional && !secrets.has(e.secretRef.name)) {
          evidence.push(
            `Deployment auth/dex reads Secret auth/${e.secretRef.name}, which does not exist: Dex cannot start, nobody can log in`,
          );
          severity = 'error';
        }
    if (evidence.length === 0) return ok(`${logins.length} Dex login(s), each with a Profile`);
    return problem(
      severity,
      `${evidence.length} mismatch(es) between Dex logins and Profiles`,
      some(evidence),
      'declare users with install-kubeflow `users:` (a Dex login, its hashed password Secret and its Profile together) instead of editing Dex by hand',
    );
  },
};
const o0 = { apiVersion: 'v1', kind: 'None', metadata: { name: '' } } as KubeObject;

/** 7. InferenceServices that are not Ready, with the cause from their pods. */
export const inferenceServices: Check = {
  id: 'inferenceservices',
  title: 'InferenceServices ready',
  seen: 'first seed #7: "Initial scale was never achieved" (the storage initializer had no S3 credentials)',
  needs: ['inferenceServices', 'pods'],
  run(s) {
    if (!s.inferenceServices.served) return na('InferenceServices are not served (KServe is not installed here)');
    const bad = s.inferenceServices.items.filter((i) => conditionOf(i, 'Ready')?.status !== 'True');
    if (bad.length === 0) return ok(`${s.inferenceServices.items.length} InferenceService(s), all Ready`);
    const evidence: string[] = [];
    let fix =
      'kubectl describe inferenceservice -n <namespace> <name>; deploy-inferenceservice names the cause when it deploys';
    for (const isvc of bad) {
      const ready = conditionOf(isvc, 'Ready');
      evidence.push(
        `InferenceService ${ref(isvc)}: Ready ${ready?.status ?? 'absent'}${ready?.reason ? ` (${ready.reason})` : ''}${ready?.message ? `: ${ready.message}` : ''}`,
      );
      const pods = s.pods.items.filter(
        (p) =>
          p.metadata.namespace === isvc.metadata.namespace &&
          p.metadata.labels?.['serving.kserve.io/inferenceservice'] === isvc.metadata.name,
      );
      for (const p of pods) {
        const inits =
          (status(p)['initContainerStatuses'] as
            | {
                name: string;
                state?: { terminated?: { exitCode?: number; message?: string } };
                lastState?: { terminated?: { exitCode?: number; message?: string } };
              }[]
            | undefined) ?? [];
        for (const c of inits) {
          const t = c.state?.terminated ?? c.lastState?.terminated;
          if (c.name === 'storage-initializer' && t && t.exitCode !== 0) {
            const text = (t.message ?? '').trim().split('\n').slice(-3).join(' ');
            evidence.push(`Pod ${ref(p)}: storage-initializer exited ${t.exitCode}${text ? `: ${text}` : ''}`);
            fix = storageFix(text);
          }
        }
      }
      if (
        /Initial scale was never achieved/i.test(ready?.message ?? '') &&
        !evidence.some((e) => e.includes('storage-initializer'))
      )
        fix =
          "the model server never started: read the predictor pod's storage-initializer log (kubectl logs -n <namespace> <pod> -c storage-initializer); missing S3 credentials are the usual cause";
    }
    return problem('error', `${bad.length} InferenceService(s) not Ready`, some(evidence), fix);
  },
};

/** 8. Models in profile namespaces with no ALLOW policy for their predictor: 403 RBAC: access denied. */
export const modelAuthorization: Check = {
  id: 'model-authorization',
  title: 'Model paths allowed in profile namespaces',
  seen: 'first seed #8 and #11: 403 "RBAC: access denied" calling a model in a profile namespace',
  needs: ['inferenceServices', 'namespaces', 'authorizationPolicies'],
  run(s) {
    if (!s.inferenceServices.served) return na('InferenceServices are not served (KServe is not installed here)');
    const profileNs = new Set(
      s.namespaces.items
        .filter((n) => n.metadata.labels?.['app.kubernetes.io/part-of'] === 'kubeflow-profile')
        .map((n) => n.metadata.name),
    );
    const models = s.inferenceServices.items.filter((i) => profileNs.has(i.metadata.namespace ?? ''));
    if (models.length === 0) return na('no InferenceService in a profile namespace');
    const denied: string[] = [];
    for (const m of models) {
      const name = m.metadata.name;
      const predictor: Record<string, string>[] = [
        { 'serving.knative.dev/service': `${name}-predictor` },
        { app: `isvc.${name}-predictor` },
        { 'serving.kserve.io/inferenceservice': name },
      ];
      const allowed = s.authorizationPolicies.items.some((p) => {
        if (p.metadata.namespace !== m.metadata.namespace) return false;
        const sp = spec(p);
        if ((sp['action'] ?? 'ALLOW') !== 'ALLOW') return false;
        const match = (sp['selector'] as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
        if (!match) return false;
        return predictor.some((labels) => Object.entries(match).every(([k, v]) => labels[k] === v));
      });
      if (!allowed) denied.push(`InferenceService ${ref(m)}: no ALLOW AuthorizationPolicy selects its predictor pods`);
    }
    if (denied.length === 0)
      return ok(`${models.length} model(s) in profile namespaces, each with an ALLOW policy for its predictor`);
    return problem(
      'warning',
      `${denied.length} model(s) in profile namespaces answer in-cluster callers with 403 RBAC: access denied`,
      some(denied),
      'deploy with deploy-inferenceservice (it adds <name>-predictor-allow, selecting only the predictor), or apply such a policy; never loosen the namespace or gateway policies',
    );
  },
};

/** 9. Machine tokens refused ("Jwt issuer is not configured"), and JWT checks switched off for model paths. */
export const jwtIssuer: Check = {
  id: 'jwt-issuer',
  title: "The gateway accepts the cluster's tokens, and checks them",
  seen: 'first seed #9: "Jwt issuer is not configured", "fixed" by switching the JWT check off for /v1 and /v2',
  needs: ['requestAuthentications', 'authorizationPolicies', 'issuer'],
  run(s) {
    const gatewayPolicies = s.requestAuthentications.items.filter((r) => r.metadata.namespace === 'istio-system');
    if (
      gatewayPolicies.length === 0 &&
      !s.authorizationPolicies.items.some((p) => p.metadata.namespace === 'istio-system')
    )
      return na('no Istio policies in istio-system (Kubeflow is not installed here)');
    const evidence: string[] = [];
    let severity: Severity = 'warning';
    const issuer = s.issuer.items[0]?.metadata.name;
    const issuers = gatewayPolicies.flatMap((r) =>
      ((spec(r)['jwtRules'] as { issuer?: string }[] | undefined) ?? []).map((j) => j.issuer ?? ''),
    );
    if (issuer && !issuers.includes(issuer))
      evidence.push(
        `the cluster's service-account issuer ${issuer} is in no RequestAuthentication of istio-system (issuers: ${issuers.join(', ') || 'none'}): machine tokens get 401 "Jwt issuer is not configured"`,
      );
    const requireJwt = s.authorizationPolicies.items.find(
      (p) => p.metadata.namespace === 'istio-system' && p.metadata.name === 'istio-ingressgateway-require-jwt',
    );
    const modelPath = /^\/?v[12](\/|\*|$)|^\/?\*|^\/?v[12]\//;
    if (requireJwt) {
      const rules =
        (spec(requireJwt)['rules'] as { to?: { operation?: { notPaths?: string[] } }[] }[] | undefined) ?? [];
      const skipped = rules
        .flatMap((r) => (r.to ?? []).flatMap((t) => t.operation?.notPaths ?? []))
        .filter((p) => modelPath.test(p) || /\/v[12]\//.test(p));
      if (skipped.length) {
        evidence.push(
          `AuthorizationPolicy istio-system/istio-ingressgateway-require-jwt exempts ${skipped.join(', ')}: requests to models pass without a token`,
        );
        severity = 'error';
      }
    } else if (s.authorizationPolicies.items.some((p) => p.metadata.name === 'istio-ingressgateway-oauth2-proxy')) {
      evidence.push(
        'AuthorizationPolicy istio-system/istio-ingressgateway-require-jwt is missing: the gateway no longer requires a valid token',
      );
      severity = 'error';
    }
    if (evidence.length === 0)
      return ok(
        issuer
          ? `the gateway accepts tokens from ${issuer} and requires one on every path but Dex's`
          : "the gateway requires a token on every path but Dex's",
      );
    return problem(
      severity,
      severity === 'error'
        ? "the gateway's JWT check is switched off for some paths (a security problem)"
        : "the cluster's own tokens are not accepted at the gateway",
      evidence,
      severity === 'error'
        ? "restore istio-ingressgateway-require-jwt as Kubeflow ships it, and accept the cluster's issuer instead (install-kubeflow m2m-auth: true)"
        : 'install-kubeflow with m2m-auth: true (it adds the issuer to m2m-token-issuer and to oauth2-proxy)',
    );
  },
};

export const CHECKS: readonly Check[] = [
  defaultStorageClass,
  insufficientResources,
  gatewayExposure,
  dexUsers,
  mlflowAdminPassword,
  inferenceServices,
  modelAuthorization,
  jwtIssuer,
  kserveDomain,
  crds,
  webhooksWithoutEndpoints,
];

/** Runs the checks over a snapshot; a check whose lists were not readable is "unknown" with the reason. */
export function runChecks(snapshot: Snapshot, checks: readonly Check[] = CHECKS): Finding[] {
  return checks.map((c) => {
    const unreadable = c.needs
      .map((k) => snapshot[k])
      .filter((l): l is Extract<Listing, { readable: false }> => !l.readable);
    const base = { check: c.id, title: c.title, seen: c.seen };
    if (unreadable.length)
      return { ...base, status: 'unknown', summary: 'could not run', evidence: unreadable.map((u) => u.reason) };
    try {
      return { ...base, ...c.run(snapshot) };
    } catch (error) {
      return {
        ...base,
        status: 'unknown',
        summary: `the check failed: ${error instanceof Error ? error.message : String(error)}`,
        evidence: [],
      };
    }
  });
}
