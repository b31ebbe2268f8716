import { KfopsError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import { applyObjects } from '../kube/apply.js';
import type { KubeClient } from '../kube/client.js';
import { explainKubeError } from '../kube/errors.js';
import { formatBytes, formatCpu, parseQuantity } from '../kube/quantity.js';
import { describeRef, refOf, type KubeObject } from '../kube/types.js';
import { PlatformSettingError } from './settings-error.js';

export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
const BETA_DEFAULT_CLASS_ANNOTATION = 'storageclass.beta.kubernetes.io/is-default-class';

export interface PreflightReport {
  serverVersion: string;
  /** The default StorageClass in use (undefined when the manifests need none and there is none). */
  defaultStorageClass?: string;
  /** True when preflight made `default-storage-class` the default. */
  storageClassSet: boolean;
  requested: { cpu: number; memory: number };
  allocatable: { cpu: number; memory: number; nodes: number };
  warnings: string[];
}

export interface PreflightOptions {
  /** Make this StorageClass the default when the cluster has none. */
  defaultStorageClass?: string;
  /** Whether writes are allowed (false for plan-only runs). */
  write?: boolean;
  logger?: Logger;
}

interface Container {
  resources?: { requests?: Record<string, string> };
}
interface PodTemplate {
  spec?: { containers?: Container[]; initContainers?: Container[] };
}

/** CPU (cores) and memory (bytes) one pod of a template requests: containers summed, init containers' max. */
export function podRequests(template: PodTemplate | undefined): { cpu: number; memory: number } {
  const sum = (list: Container[] | undefined, key: string): number =>
    (list ?? []).reduce((acc, c) => acc + (parseQuantity(c.resources?.requests?.[key]) ?? 0), 0);
  const max = (key: string): number =>
    Math.max(0, ...(template?.spec?.initContainers ?? []).map((c) => parseQuantity(c.resources?.requests?.[key]) ?? 0));
  const containers = template?.spec?.containers;
  return {
    cpu: Math.max(sum(containers, 'cpu'), max('cpu')),
    memory: Math.max(sum(containers, 'memory'), max('memory')),
  };
}

/** What the manifests' workloads request in total, and the largest single pod. */
export function manifestRequests(
  objects: readonly KubeObject[],
  nodes: number,
): { cpu: number; memory: number; largest?: { ref: string; cpu: number; memory: number } } {
  let cpu = 0;
  let memory = 0;
  let largest: { ref: string; cpu: number; memory: number } | undefined;
  for (const o of objects) {
    if (!['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) continue;
    const spec = o['spec'] as { replicas?: number; template?: PodTemplate } | undefined;
    const pod = podRequests(spec?.template);
    const replicas = o.kind === 'DaemonSet' ? nodes : (spec?.replicas ?? 1);
    cpu += pod.cpu * replicas;
    memory += pod.memory * replicas;
    if (!largest || pod.cpu > largest.cpu) largest = { ref: describeRef(refOf(o)), ...pod };
  }
  return { cpu, memory, ...(largest ? { largest } : {}) };
}

/** Claims that need a default StorageClass: PVCs and StatefulSet claim templates without storageClassName. */
export function claimsNeedingDefaultClass(objects: readonly KubeObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    if (
      o.kind === 'PersistentVolumeClaim' &&
      !(o['spec'] as { storageClassName?: string } | undefined)?.storageClassName
    )
      out.push(describeRef(refOf(o)));
    if (o.kind === 'StatefulSet') {
      for (const t of (
        o['spec'] as
          | { volumeClaimTemplates?: { metadata?: { name?: string }; spec?: { storageClassName?: string } }[] }
          | undefined
      )?.volumeClaimTemplates ?? []) {
        if (!t.spec?.storageClassName) out.push(`${describeRef(refOf(o))} claim template ${t.metadata?.name ?? ''}`);
      }
    }
  }
  return out;
}

const isDefaultClass = (sc: KubeObject): boolean =>
  sc.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true' ||
  sc.metadata.annotations?.[BETA_DEFAULT_CLASS_ANNOTATION] === 'true';

/**
 * Checks the cluster before anything is written: the API answers, a default StorageClass exists when
 * the manifests have claims that need one (or makes `defaultStorageClass` the default), and the nodes'
 * allocatable CPU and memory cover what the workloads request (a warning, with the numbers).
 */
export async function preflight(
  client: KubeClient,
  objects: readonly KubeObject[],
  options: PreflightOptions = {},
): Promise<PreflightReport> {
  const logger = options.logger ?? silentLogger;
  const serverVersion = await client.serverVersion();
  logger.info(`API server ${client.server} answers: Kubernetes ${serverVersion}`);
  const warnings: string[] = [];

  const safeList = async (apiVersion: string, kind: string): Promise<KubeObject[]> => {
    try {
      return (await client.list({ apiVersion, kind })).items;
    } catch (error) {
      throw explainKubeError(error, { action: `preflight: list ${kind}s`, server: client.server });
    }
  };

  const classes = await safeList('storage.k8s.io/v1', 'StorageClass');
  const defaults = classes.filter(isDefaultClass);
  const claims = claimsNeedingDefaultClass(objects);
  let defaultStorageClass = defaults[0]?.metadata.name;
  let storageClassSet = false;
  if (defaults.length > 1)
    warnings.push(
      `${defaults.length} StorageClasses are marked default (${defaults.map((d) => d.metadata.name).join(', ')}); claims get whichever the API server picks`,
    );
  if (!defaultStorageClass && claims.length) {
    const names = classes.map((c) => c.metadata.name);
    const wanted = options.defaultStorageClass;
    if (!wanted) {
      throw new KfopsError(
        `No default StorageClass: ${claims.length} claim(s) would stay Pending (${claims.slice(0, 5).join(', ')}${claims.length > 5 ? ', …' : ''})`,
        {
          cause: names.length
            ? `the cluster has StorageClasses ${names.join(', ')}, none annotated ${DEFAULT_CLASS_ANNOTATION}: "true"`
            : 'the cluster has no StorageClass at all',
          fix: names.length
            ? `set input default-storage-class to one of ${names.join(', ')}, or annotate one: kubectl annotate storageclass ${names[0]} ${DEFAULT_CLASS_ANNOTATION}=true`
            : 'install a storage provisioner with a StorageClass (e.g. a CSI driver), then set default-storage-class',
        },
      );
    }
    if (!names.includes(wanted))
      throw new PlatformSettingError(
        'defaultStorageClass',
        wanted,
        names.length
          ? `one of the cluster's StorageClasses: ${names.join(', ')}`
          : 'an existing StorageClass (the cluster has none)',
      );
    if (options.write !== false) {
      // A field manager of its own: under "kfops" this partial object would drop the fields that
      // manager applied before (server-side apply removes what the same manager stops sending).
      await applyObjects(
        client,
        [
          {
            apiVersion: 'storage.k8s.io/v1',
            kind: 'StorageClass',
            metadata: { name: wanted, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
          } as KubeObject,
        ],
        { logger, fieldManager: 'kfops-default-storage-class', markManaged: false },
      );
      storageClassSet = true;
      logger.info(`StorageClass ${wanted} is now the default`);
    } else logger.info(`StorageClass ${wanted} would become the default`);
    defaultStorageClass = wanted;
  } else if (defaultStorageClass) logger.info(`default StorageClass: ${defaultStorageClass}`);

  const nodes = (await safeList('v1', 'Node')).filter(
    (n) => !(n['spec'] as { unschedulable?: boolean } | undefined)?.unschedulable,
  );
  const allocatable = { cpu: 0, memory: 0, nodes: nodes.length };
  let biggestNode = { cpu: 0, memory: 0 };
  for (const n of nodes) {
    const a = (n['status'] as { allocatable?: Record<string, string> } | undefined)?.allocatable ?? {};
    const cpu = parseQuantity(a['cpu']) ?? 0;
    const memory = parseQuantity(a['memory']) ?? 0;
    allocatable.cpu += cpu;
    allocatable.memory += memory;
    if (cpu > biggestNode.cpu) biggestNode = { cpu, memory };
  }
  const requested = manifestRequests(objects, nodes.length);
  logger.info(
    `workloads request ${formatCpu(requested.cpu)} CPU and ${formatBytes(requested.memory)}; ${nodes.length} schedulable node(s) offer ${formatCpu(allocatable.cpu)} CPU and ${formatBytes(allocatable.memory)}`,
  );
  if (requested.cpu > allocatable.cpu || requested.memory > allocatable.memory) {
    warnings.push(
      `the workloads request ${formatCpu(requested.cpu)} CPU / ${formatBytes(requested.memory)} but the nodes offer ${formatCpu(allocatable.cpu)} CPU / ${formatBytes(allocatable.memory)}: pods will stay Pending (Insufficient cpu/memory); add nodes or use a larger machine type`,
    );
  }
  if (requested.largest && requested.largest.cpu > biggestNode.cpu) {
    warnings.push(
      `${requested.largest.ref} requests ${formatCpu(requested.largest.cpu)} CPU per pod, more than the largest node offers (${formatCpu(biggestNode.cpu)})`,
    );
  }
  for (const w of warnings) logger.warning(w);
  return {
    serverVersion,
    ...(defaultStorageClass ? { defaultStorageClass } : {}),
    storageClassSet,
    requested: { cpu: requested.cpu, memory: requested.memory },
    allocatable,
    warnings,
  };
}
