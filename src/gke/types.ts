/**
 * The parts of the Kubernetes Engine (Container) API v1 REST resources that kfops reads and writes.
 * Field names follow the public REST reference (Cluster, NodePool, Operation, ClusterUpdate,
 * google.rpc.Status); every field is optional because the API omits defaults and empty values.
 */

export interface ClusterRef {
  project: string;
  /** A region (regional cluster) or a zone (zonal cluster). */
  location: string;
  name: string;
}

/** `projects/P/locations/L/clusters/C` */
export function clusterPath(ref: ClusterRef): string {
  return `projects/${ref.project}/locations/${ref.location}/clusters/${ref.name}`;
}

export interface NodePoolAutoscaling {
  enabled?: boolean;
  minNodeCount?: number;
  maxNodeCount?: number;
  totalMinNodeCount?: number;
  totalMaxNodeCount?: number;
  locationPolicy?: 'LOCATION_POLICY_UNSPECIFIED' | 'BALANCED' | 'ANY';
  autoprovisioned?: boolean;
}

export interface NodeConfig {
  machineType?: string;
  diskSizeGb?: number;
  diskType?: string;
  spot?: boolean;
  oauthScopes?: string[];
  labels?: Record<string, string>;
  serviceAccount?: string;
  workloadMetadataConfig?: { mode?: 'MODE_UNSPECIFIED' | 'GCE_METADATA' | 'GKE_METADATA' };
}

export interface NodePool {
  name?: string;
  config?: NodeConfig;
  initialNodeCount?: number;
  locations?: string[];
  autoscaling?: NodePoolAutoscaling;
  management?: { autoUpgrade?: boolean; autoRepair?: boolean };
  status?:
    'STATUS_UNSPECIFIED' | 'PROVISIONING' | 'RUNNING' | 'RUNNING_WITH_ERROR' | 'RECONCILING' | 'STOPPING' | 'ERROR';
  /** Which conditions caused the current state (replaces the deprecated statusMessage). */
  conditions?: StatusCondition[];
  /** Deprecated: conditions. */
  statusMessage?: string;
  version?: string;
  instanceGroupUrls?: string[];
}

export interface CidrBlock {
  displayName?: string;
  cidrBlock?: string;
}

export interface MasterAuthorizedNetworksConfig {
  enabled?: boolean;
  cidrBlocks?: CidrBlock[];
  gcpPublicCidrsAccessEnabled?: boolean;
}

export interface PrivateClusterConfig {
  enablePrivateNodes?: boolean;
  enablePrivateEndpoint?: boolean;
  masterIpv4CidrBlock?: string;
  privateEndpoint?: string;
  publicEndpoint?: string;
}

export interface ControlPlaneEndpointsConfig {
  dnsEndpointConfig?: { endpoint?: string; allowExternalTraffic?: boolean };
  ipEndpointsConfig?: {
    authorizedNetworksConfig?: MasterAuthorizedNetworksConfig;
    enabled?: boolean;
    enablePublicEndpoint?: boolean;
    privateEndpoint?: string;
    publicEndpoint?: string;
  };
}

export type ReleaseChannelName = 'UNSPECIFIED' | 'RAPID' | 'REGULAR' | 'STABLE' | 'EXTENDED';

export type ClusterStatus =
  'STATUS_UNSPECIFIED' | 'PROVISIONING' | 'RUNNING' | 'RECONCILING' | 'STOPPING' | 'ERROR' | 'DEGRADED';

export interface Cluster {
  name?: string;
  description?: string;
  nodePools?: NodePool[];
  network?: string;
  subnetwork?: string;
  locations?: string[];
  location?: string;
  endpoint?: string;
  masterAuth?: { clusterCaCertificate?: string };
  releaseChannel?: { channel?: ReleaseChannelName };
  workloadIdentityConfig?: { workloadPool?: string };
  /** enablePrivateNodes, privateEndpoint and publicEndpoint are deprecated (networkConfig, controlPlaneEndpointsConfig). */
  privateClusterConfig?: PrivateClusterConfig;
  /** Deprecated: controlPlaneEndpointsConfig.ipEndpointsConfig.authorizedNetworksConfig; read only for older clusters. */
  masterAuthorizedNetworksConfig?: MasterAuthorizedNetworksConfig;
  networkConfig?: { defaultEnablePrivateNodes?: boolean };
  controlPlaneEndpointsConfig?: ControlPlaneEndpointsConfig;
  ipAllocationPolicy?: { useIpAliases?: boolean };
  resourceLabels?: Record<string, string>;
  labelFingerprint?: string;
  status?: ClusterStatus;
  /** Which conditions caused the current state (replaces the deprecated statusMessage). */
  conditions?: StatusCondition[];
  /** Deprecated: conditions. */
  statusMessage?: string;
  currentMasterVersion?: string;
  /** Deprecated: read only when a node pool has no initialNodeCount. */
  currentNodeCount?: number;
  selfLink?: string;
  createTime?: string;
}

/** google.rpc.Status, as in Operation.error: `code` is a google.rpc.Code number (RPC_CODES). */
export interface RpcStatus {
  code?: number;
  message?: string;
  details?: Array<Record<string, unknown> & { '@type'?: string }>;
}

/**
 * The body of an HTTP error answer, `{"error": ...}`: google.rpc.Status as JSON over HTTP, where
 * `code` is the HTTP status and `status` the google.rpc.Code name (e.g. PERMISSION_DENIED).
 */
export interface ApiErrorBody {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<Record<string, unknown> & { '@type'?: string }>;
}

export interface StatusCondition {
  code?: string;
  message?: string;
  canonicalCode?: string;
}

export interface OperationProgress {
  name?: string;
  status?: Operation['status'];
  metrics?: Array<{ name?: string; intValue?: string | number; doubleValue?: number; stringValue?: string }>;
  stages?: OperationProgress[];
}

export interface Operation {
  name?: string;
  zone?: string;
  operationType?: string;
  status?: 'STATUS_UNSPECIFIED' | 'PENDING' | 'RUNNING' | 'DONE' | 'ABORTING';
  detail?: string;
  statusMessage?: string;
  selfLink?: string;
  targetLink?: string;
  location?: string;
  startTime?: string;
  endTime?: string;
  progress?: OperationProgress;
  clusterConditions?: StatusCondition[];
  nodepoolConditions?: StatusCondition[];
  error?: RpcStatus;
}

/** ClusterUpdate: exactly one field per request. */
export interface ClusterUpdate {
  desiredNodePoolId?: string;
  desiredNodePoolAutoscaling?: NodePoolAutoscaling;
  desiredReleaseChannel?: { channel: ReleaseChannelName };
  desiredWorkloadIdentityConfig?: { workloadPool: string };
  desiredControlPlaneEndpointsConfig?: ControlPlaneEndpointsConfig;
}

/** google.rpc.Code names by number (used inside Operation.error). */
export const RPC_CODES: Record<number, string> = {
  0: 'OK',
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};
