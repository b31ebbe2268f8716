import type {
  Cluster,
  ClusterRef,
  MasterAuthorizedNetworksConfig,
  NodePool,
  NodePoolAutoscaling,
  ReleaseChannelName,
} from './types.js';

/** What the user asked for; defaults are set by the caller (the action's input parsing). */
export interface ClusterSpec extends ClusterRef {
  releaseChannel: ReleaseChannelName;
  nodePool: string;
  machineType: string;
  /** Nodes per zone of the node pool (the API's initialNodeCount / setSize count). */
  nodeCount: number;
  /** Autoscaling bounds for the whole pool (all zones together), when autoscaling is on. */
  autoscaling?: { min: number; max: number };
  diskSizeGb: number;
  diskType: string;
  spot: boolean;
  network?: string;
  subnetwork?: string;
  privateNodes: boolean;
  /** Control plane CIDR (/28) for private nodes. */
  masterIpv4Cidr?: string;
  /** CIDRs allowed to reach the control plane; empty: no restriction is set. */
  authorizedNetworks: string[];
  labels: Record<string, string>;
  /** `<project>.svc.id.goog`, or undefined to leave Workload Identity off. */
  workloadPool?: string;
  /** Turn the DNS-based control plane endpoint on (with external traffic allowed). */
  dnsEndpoint: boolean;
  serviceAccount?: string;
}

/**
 * Region names are `<geography>-<direction><number>` (us-central1, asia-northeast3, europe-west12,
 * northamerica-northeast2, me-central1); a zone adds `-<letter>` (us-central1-a).
 */
const REGION = /^[a-z]{2,20}-(central|(north|south)(east|west)?|east|west)[1-9]\d?$/;
const ZONE = new RegExp(`${REGION.source.slice(0, -1)}-[a-z]$`);
export const LOCATION_FORM = 'a region such as us-central1 or asia-northeast3, or a zone such as us-central1-a';

/** True when location names a zone (asia-northeast3-a) rather than a region (asia-northeast3). */
export function isZone(location: string): boolean {
  return ZONE.test(location);
}

/** True for a region or a zone name. */
export function isLocation(location: string): boolean {
  return REGION.test(location) || ZONE.test(location);
}

/**
 * An IPv4 CIDR block: four octets of 0-255 without leading zeros, a prefix length of 0-32 (exactly
 * `prefix` when given), and no address bits set past the prefix (10.0.0.0/8, not 10.1.2.3/8).
 */
export function isIpv4Cidr(text: string, prefix?: number): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return false;
  const parts = m.slice(1, 5);
  if (parts.some((p) => Number(p) > 255 || (p.length > 1 && p.startsWith('0')))) return false;
  const bits = Number(m[5]);
  if (
    bits > 32 ||
    ((m[5] as string).length > 1 && (m[5] as string).startsWith('0')) ||
    (prefix !== undefined && bits !== prefix)
  )
    return false;
  const address = parts.reduce((n, p) => n * 256 + Number(p), 0);
  return bits === 32 || address % 2 ** (32 - bits) === 0;
}

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

function autoscalingOf(spec: ClusterSpec): NodePoolAutoscaling | undefined {
  if (!spec.autoscaling) return undefined;
  return {
    enabled: true,
    totalMinNodeCount: spec.autoscaling.min,
    totalMaxNodeCount: spec.autoscaling.max,
    locationPolicy: 'BALANCED',
  };
}

/** The authorized networks config for these CIDRs (off when there are none). */
export function authorizedNetworksConfig(cidrs: string[]): MasterAuthorizedNetworksConfig {
  return { enabled: cidrs.length > 0, cidrBlocks: cidrs.map((cidrBlock) => ({ cidrBlock })) };
}

/** The authorized networks a live cluster has: ipEndpointsConfig first, the deprecated field for older clusters. */
export function liveAuthorizedNetworks(live: Cluster): string[] {
  const config =
    live.controlPlaneEndpointsConfig?.ipEndpointsConfig?.authorizedNetworksConfig ??
    live.masterAuthorizedNetworksConfig;
  return config?.enabled ? (config.cidrBlocks ?? []).map((b) => b.cidrBlock ?? '').sort() : [];
}

/** Whether nodes are private: NetworkConfig.defaultEnablePrivateNodes, the deprecated field for older clusters. */
export function livePrivateNodes(live: Cluster): boolean {
  return Boolean(live.networkConfig?.defaultEnablePrivateNodes ?? live.privateClusterConfig?.enablePrivateNodes);
}

/** The Cluster body of a create request. */
export function clusterForCreate(spec: ClusterSpec): Cluster {
  const autoscaling = autoscalingOf(spec);
  const pool: NodePool = {
    name: spec.nodePool,
    initialNodeCount: spec.nodeCount,
    config: {
      machineType: spec.machineType,
      diskSizeGb: spec.diskSizeGb,
      diskType: spec.diskType,
      ...(spec.spot ? { spot: true } : {}),
      oauthScopes: [CLOUD_PLATFORM_SCOPE],
      ...(spec.serviceAccount ? { serviceAccount: spec.serviceAccount } : {}),
      ...(spec.workloadPool ? { workloadMetadataConfig: { mode: 'GKE_METADATA' as const } } : {}),
    },
    ...(autoscaling ? { autoscaling } : {}),
    management: { autoUpgrade: true, autoRepair: true },
  };
  return {
    name: spec.name,
    description: 'Created by kfops setup-gke',
    releaseChannel: { channel: spec.releaseChannel },
    nodePools: [pool],
    ...(spec.network ? { network: spec.network } : {}),
    ...(spec.subnetwork ? { subnetwork: spec.subnetwork } : {}),
    ipAllocationPolicy: { useIpAliases: true },
    ...(spec.workloadPool ? { workloadIdentityConfig: { workloadPool: spec.workloadPool } } : {}),
    // NetworkConfig.defaultEnablePrivateNodes replaces the deprecated PrivateClusterConfig.enablePrivateNodes
    // (the document says it is invalid to send both).
    ...(spec.privateNodes ? { networkConfig: { defaultEnablePrivateNodes: true } } : {}),
    ...(spec.privateNodes && spec.masterIpv4Cidr
      ? { privateClusterConfig: { masterIpv4CidrBlock: spec.masterIpv4Cidr } }
      : {}),
    ...(spec.authorizedNetworks.length || spec.dnsEndpoint
      ? {
          controlPlaneEndpointsConfig: {
            ...(spec.dnsEndpoint ? { dnsEndpointConfig: { allowExternalTraffic: true } } : {}),
            // ipEndpointsConfig.authorizedNetworksConfig replaces the deprecated Cluster.masterAuthorizedNetworksConfig.
            ...(spec.authorizedNetworks.length
              ? { ipEndpointsConfig: { authorizedNetworksConfig: authorizedNetworksConfig(spec.authorizedNetworks) } }
              : {}),
          },
        }
      : {}),
    ...(Object.keys(spec.labels).length ? { resourceLabels: spec.labels } : {}),
  };
}

/** One difference between the inputs and the live cluster. */
export interface Drift {
  field: string;
  want: string;
  live: string;
  /** The change the API allows in place, or undefined when only a rebuild changes it. */
  change?: DriftChange;
}

export type DriftChange =
  | { kind: 'autoscaling'; pool: string; autoscaling: NodePoolAutoscaling }
  | { kind: 'size'; pool: string; nodeCount: number }
  | { kind: 'releaseChannel'; channel: ReleaseChannelName }
  | { kind: 'workloadIdentity'; workloadPool: string }
  | { kind: 'authorizedNetworks'; cidrs: string[] }
  | { kind: 'dnsEndpoint' }
  | { kind: 'labels'; labels: Record<string, string> };

const show = (v: unknown): string =>
  v === undefined || v === '' ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v);

/** The last path segment of a network URL or name (`projects/p/global/networks/default` -> `default`). */
const lastSegment = (s: string | undefined): string | undefined => s?.split('/').pop();

/** The node pool's size in the cluster's own terms: per-zone count when fixed, bounds when autoscaled. */
function liveAutoscaling(pool: NodePool): { min: number; max: number } | undefined {
  const a = pool.autoscaling;
  if (!a?.enabled) return undefined;
  const zones = Math.max(1, pool.locations?.length ?? 1);
  const min = a.totalMinNodeCount ?? (a.minNodeCount ?? 0) * zones;
  const max = a.totalMaxNodeCount ?? (a.maxNodeCount ?? 0) * zones;
  return { min, max };
}

/**
 * The differences between spec and the live cluster, each with the in-place change the API allows.
 * Node machine type, disk, spot, network and private nodes are reported but only change by a rebuild.
 */
export function findDrift(spec: ClusterSpec, live: Cluster): Drift[] {
  const drift: Drift[] = [];
  const pool = live.nodePools?.find((p) => p.name === spec.nodePool);
  const liveChannel = live.releaseChannel?.channel ?? 'UNSPECIFIED';
  if (liveChannel !== spec.releaseChannel)
    drift.push({
      field: 'release-channel',
      want: spec.releaseChannel,
      live: liveChannel,
      change: { kind: 'releaseChannel', channel: spec.releaseChannel },
    });
  if (!pool) {
    drift.push({
      field: 'node-pool',
      want: spec.nodePool,
      live: (live.nodePools ?? []).map((p) => p.name).join(', ') || '(none)',
    });
  } else {
    const c = pool.config ?? {};
    if (c.machineType !== undefined && c.machineType !== spec.machineType)
      drift.push({ field: 'machine-type', want: spec.machineType, live: c.machineType });
    if (c.diskSizeGb !== undefined && c.diskSizeGb !== spec.diskSizeGb)
      drift.push({ field: 'disk-size-gb', want: String(spec.diskSizeGb), live: String(c.diskSizeGb) });
    if (c.diskType !== undefined && c.diskType !== spec.diskType)
      drift.push({ field: 'disk-type', want: spec.diskType, live: c.diskType });
    if (Boolean(c.spot) !== spec.spot)
      drift.push({ field: 'spot', want: String(spec.spot), live: String(Boolean(c.spot)) });
    const auto = liveAutoscaling(pool);
    if (spec.autoscaling) {
      if (!auto || auto.min !== spec.autoscaling.min || auto.max !== spec.autoscaling.max) {
        drift.push({
          field: 'autoscaling',
          want: `${spec.autoscaling.min}-${spec.autoscaling.max} nodes`,
          live: auto ? `${auto.min}-${auto.max} nodes` : 'off',
          change: { kind: 'autoscaling', pool: spec.nodePool, autoscaling: autoscalingOf(spec) as NodePoolAutoscaling },
        });
      }
    } else if (auto) {
      drift.push({
        field: 'autoscaling',
        want: 'off',
        live: `${auto.min}-${auto.max} nodes`,
        change: { kind: 'autoscaling', pool: spec.nodePool, autoscaling: { enabled: false } },
      });
    } else {
      // A fixed-size pool: the count per zone, the pool's initialNodeCount (setSize changes it). The
      // deprecated Cluster.currentNodeCount (total, divided by zones) only when a pool does not report it.
      const zones = Math.max(1, pool.locations?.length ?? 1);
      const current =
        pool.initialNodeCount ??
        (live.currentNodeCount !== undefined && (live.nodePools?.length ?? 1) === 1
          ? Math.round(live.currentNodeCount / zones)
          : undefined);
      if (current !== undefined && current !== spec.nodeCount)
        drift.push({
          field: 'node-count',
          want: `${spec.nodeCount} per zone`,
          live: `${current} per zone`,
          change: { kind: 'size', pool: spec.nodePool, nodeCount: spec.nodeCount },
        });
    }
  }
  const liveWorkloadPool = live.workloadIdentityConfig?.workloadPool;
  if ((spec.workloadPool ?? '') !== (liveWorkloadPool ?? '')) {
    drift.push({
      field: 'workload-identity',
      want: show(spec.workloadPool),
      live: show(liveWorkloadPool),
      ...(spec.workloadPool ? { change: { kind: 'workloadIdentity' as const, workloadPool: spec.workloadPool } } : {}),
    });
  }
  const liveNets = liveAuthorizedNetworks(live);
  const wantNets = [...spec.authorizedNetworks].sort();
  if (liveNets.join(',') !== wantNets.join(',')) {
    drift.push({
      field: 'master-authorized-networks',
      want: wantNets.join(', ') || '(any)',
      live: liveNets.join(', ') || '(any)',
      change: { kind: 'authorizedNetworks', cidrs: wantNets },
    });
  }
  // The DNS endpoint is always present, but answers the runner only with external traffic allowed.
  const liveDns = live.controlPlaneEndpointsConfig?.dnsEndpointConfig;
  if (spec.dnsEndpoint && !liveDns?.allowExternalTraffic)
    drift.push({
      field: 'dns-endpoint',
      want: 'external traffic allowed',
      live: liveDns?.endpoint ? `${liveDns.endpoint}, external traffic not allowed` : '(no DNS endpoint)',
      change: { kind: 'dnsEndpoint' },
    });
  const livePrivate = livePrivateNodes(live);
  if (livePrivate !== spec.privateNodes)
    drift.push({ field: 'private-nodes', want: String(spec.privateNodes), live: String(livePrivate) });
  if (spec.network && lastSegment(live.network) !== lastSegment(spec.network))
    drift.push({ field: 'network', want: spec.network, live: show(live.network) });
  if (spec.subnetwork && lastSegment(live.subnetwork) !== lastSegment(spec.subnetwork))
    drift.push({ field: 'subnetwork', want: spec.subnetwork, live: show(live.subnetwork) });
  const liveLabels = live.resourceLabels ?? {};
  const missing = Object.entries(spec.labels).filter(([k, v]) => liveLabels[k] !== v);
  if (missing.length) {
    drift.push({
      field: 'labels',
      want: missing.map(([k, v]) => `${k}=${v}`).join(', '),
      live: missing.map(([k]) => `${k}=${liveLabels[k] ?? '(unset)'}`).join(', '),
      // Labels the inputs do not name are kept: the change only adds or sets.
      change: { kind: 'labels', labels: { ...liveLabels, ...spec.labels } },
    });
  }
  return drift;
}

/** `3 x e2-standard-8 (autoscaling 2-4)` for each node pool. */
export function describePools(cluster: Cluster): string[] {
  return (cluster.nodePools ?? []).map((p) => {
    const auto = liveAutoscaling(p);
    const zones = p.locations?.length;
    return `${p.name}: ${p.config?.machineType ?? '?'}, ${auto ? `autoscaling ${auto.min}-${auto.max} nodes` : `${p.initialNodeCount ?? '?'} node(s) per zone`}${zones ? ` in ${zones} zone(s)` : ''}${p.config?.spot ? ', spot' : ''}`;
  });
}
