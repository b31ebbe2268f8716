/**
 * Fields that a cluster component owns are left to it.
 *
 * Manifests often hold an empty value or a placeholder for a field that a component fills in on the
 * cluster: `caBundle: Cg==` (base64 of a newline) in webhook configurations that cert-manager's
 * cainjector or istiod inject, `rules: []` in aggregated ClusterRoles whose rules the
 * clusterrole-aggregation-controller writes. Applying the placeholder again would either conflict with
 * that component (without force) or overwrite what it wrote (with force), breaking the webhook or
 * emptying the role until the component writes it again.
 *
 * The rule: a field is left out of the applied configuration when (1) the manifest sets it to an empty
 * or placeholder value, (2) another field manager owns it on the live object, and (3) our field manager
 * does not. Ownership is read from the live object's managedFields, so no list of component or field
 * names is needed.
 */
import type { KubeObject } from './types.js';

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsType?: string;
  fieldsV1?: FieldsNode;
  subresource?: string;
}

/** A node of the fieldsV1 trie: keys are "f:<field>", "k:<json keys>", "v:<json value>", "i:<index>" or "." (the node itself). */
export type FieldsNode = { [key: string]: FieldsNode };

/** A field left to its owner: where it is and who owns it. */
export interface YieldedField {
  path: string;
  managers: string[];
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * An empty or placeholder value: null, "", [], {}, or a base64 string of nothing but whitespace (such
 * as "Cg==", the newline kustomize configurations use where a CA bundle will be injected).
 */
export function isPlaceholder(value: unknown): boolean {
  if (value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value as object).length === 0;
  if (typeof value === 'string' && value.length % 4 === 0 && BASE64.test(value)) {
    return Buffer.from(value, 'base64').toString('latin1').trim() === '';
  }
  return false;
}

/** Every owned path of a fieldsV1 trie: a leaf ({}), or a node marked "." (owned itself). */
function ownedPaths(node: FieldsNode, prefix: string[] = [], out: string[][] = []): string[][] {
  const keys = Object.keys(node);
  if (keys.length === 0 || '.' in node) {
    if (prefix.length) out.push(prefix);
  }
  for (const key of keys) if (key !== '.') ownedPaths(node[key] as FieldsNode, [...prefix, key], out);
  return out;
}

/** Whether a fieldsV1 trie owns the path (or an ancestor of it that is owned as a whole). */
function owns(node: FieldsNode | undefined, path: readonly string[]): boolean {
  let cur = node;
  for (const key of path) {
    if (!cur) return false;
    const next = cur[key];
    if (next === undefined) return false;
    cur = next;
  }
  return cur !== undefined && (Object.keys(cur).length === 0 || '.' in cur);
}

/** Compares a value of the manifest with a JSON key of the trie (numbers and strings as the server writes them). */
function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The child of `value` that a trie key names, with a setter to delete it from its parent. */
function child(value: unknown, key: string): { value: unknown; remove: () => void } | undefined {
  if (key.startsWith('f:')) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const field = key.slice(2);
    const obj = value as Record<string, unknown>;
    if (!(field in obj)) return undefined;
    return { value: obj[field], remove: () => delete obj[field] };
  }
  if (!Array.isArray(value)) return undefined;
  let index = -1;
  if (key.startsWith('k:')) {
    let keys: Record<string, unknown>;
    try {
      keys = JSON.parse(key.slice(2)) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    index = value.findIndex(
      (item) =>
        item &&
        typeof item === 'object' &&
        Object.entries(keys).every(([k, v]) => sameValue((item as Record<string, unknown>)[k], v)),
    );
  } else if (key.startsWith('v:')) {
    let wanted: unknown;
    try {
      wanted = JSON.parse(key.slice(2));
    } catch {
      return undefined;
    }
    index = value.findIndex((item) => sameValue(item, wanted));
  } else if (key.startsWith('i:')) {
    index = Number(key.slice(2));
  }
  if (index < 0 || index >= value.length) return undefined;
  // List items are never removed: only fields of maps are left to their owners.
  return { value: value[index], remove: () => undefined };
}

/** A readable path: webhooks[name=x].clientConfig.caBundle. */
function describePath(path: readonly string[]): string {
  return path
    .map((k) => {
      if (k.startsWith('f:')) return `.${k.slice(2)}`;
      if (k.startsWith('k:')) {
        try {
          return `[${Object.entries(JSON.parse(k.slice(2)) as Record<string, unknown>)
            .map(([a, b]) => `${a}=${String(b)}`)
            .join(',')}]`;
        } catch {
          return `[${k.slice(2)}]`;
        }
      }
      return `[${k.slice(2)}]`;
    })
    .join('')
    .replace(/^\./, '');
}

/**
 * Removes from `body` (in place) the placeholder fields that another manager owns on `live` and
 * `fieldManager` does not, and returns them. `body` is the configuration about to be applied.
 */
export function yieldOwnedPlaceholders(
  body: KubeObject,
  live: { metadata?: { managedFields?: ManagedFieldsEntry[] } } | undefined,
  fieldManager: string,
): YieldedField[] {
  const entries = (live?.metadata?.managedFields ?? []).filter((e) => !e.subresource && e.fieldsV1);
  if (entries.length === 0) return [];
  const ours = entries.filter((e) => e.manager === fieldManager).map((e) => e.fieldsV1 as FieldsNode);
  const byPath = new Map<string, { path: string[]; managers: string[] }>();
  for (const e of entries) {
    if (e.manager === fieldManager) continue;
    for (const path of ownedPaths(e.fieldsV1 as FieldsNode)) {
      const key = JSON.stringify(path);
      const seen = byPath.get(key) ?? { path, managers: [] };
      seen.managers.push(e.manager ?? '(unnamed)');
      byPath.set(key, seen);
    }
  }
  const yielded: YieldedField[] = [];
  for (const { path, managers } of byPath.values()) {
    if (path[0] === 'f:metadata' && (path[1] === 'f:name' || path[1] === 'f:namespace')) continue;
    if (ours.some((t) => owns(t, path))) continue;
    let cur: { value: unknown; remove: () => void } | undefined = { value: body, remove: () => undefined };
    for (const key of path) {
      cur = cur ? child(cur.value, key) : undefined;
      if (!cur) break;
    }
    if (!cur || !isPlaceholder(cur.value) || !path[path.length - 1]?.startsWith('f:')) continue;
    cur.remove();
    yielded.push({ path: describePath(path), managers: [...new Set(managers)] });
  }
  return yielded;
}
