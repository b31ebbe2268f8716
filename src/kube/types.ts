import type { KubernetesObject } from '@kubernetes/client-node';

/** A Kubernetes object as plain data (what YAML manifests and the API give). */
export interface KubeObject extends KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string };
  [field: string]: unknown;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export function refOf(obj: KubernetesObject): ObjectRef {
  const ref: ObjectRef = { apiVersion: obj.apiVersion ?? 'v1', kind: obj.kind ?? '', name: obj.metadata?.name ?? '' };
  if (obj.metadata?.namespace) ref.namespace = obj.metadata.namespace;
  return ref;
}

/** "Deployment kubeflow/centraldashboard", "CustomResourceDefinition profiles.kubeflow.org". */
export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

/** The API group of an apiVersion: "apps/v1" -> "apps", "v1" -> "". */
export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? (apiVersion.split('/')[0] as string) : '';
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** status.conditions of any object, or []. */
export function conditionsOf(obj: unknown): Condition[] {
  const c = (obj as { status?: { conditions?: unknown } } | undefined)?.status?.conditions;
  return Array.isArray(c) ? (c as Condition[]) : [];
}

export function conditionOf(obj: unknown, type: string): Condition | undefined {
  return conditionsOf(obj).find((c) => c.type === type);
}
