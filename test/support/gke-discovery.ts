/**
 * Google's published Container API v1 discovery document, as google-api-python-client ships it
 * (googleapiclient/discovery_cache/documents/container.v1.json, in the virtualenv of test/python/gapi.txt),
 * and a checker of JSON values against its schemas: field names, types, enum values, nested objects,
 * arrays, maps and `$ref`, with the API's own error texts (proto3 JSON field paths in snake_case).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pythonEnv } from './python.js';

/** The revision of the document pinned by test/python/gapi.txt (google-api-python-client 2.202.0). */
export const DISCOVERY_REVISION = '20261027';

export interface SchemaProperty {
  type?: string;
  format?: string;
  $ref?: string;
  enum?: string[];
  items?: SchemaProperty;
  additionalProperties?: SchemaProperty;
  properties?: Record<string, SchemaProperty>;
  description?: string;
  deprecated?: boolean;
  readOnly?: boolean;
}

export interface DiscoveryMethod {
  id: string;
  httpMethod: string;
  flatPath: string;
  path: string;
  parameters?: Record<string, SchemaProperty & { location?: string; required?: boolean }>;
  request?: { $ref: string };
  response?: { $ref: string };
}

export interface Discovery {
  revision: string;
  rootUrl: string;
  schemas: Record<string, SchemaProperty & { id: string }>;
  parameters: Record<string, SchemaProperty>;
  methods: DiscoveryMethod[];
}

let cached: Discovery | undefined;

/** The path of container.v1.json inside the gapi virtualenv (created on first use). */
export function containerDiscoveryPath(): string {
  const venv = pythonEnv('gapi');
  const lib = join(venv, 'lib');
  for (const python of readdirSync(lib)) {
    const file = join(
      lib,
      python,
      'site-packages',
      'googleapiclient',
      'discovery_cache',
      'documents',
      'container.v1.json',
    );
    if (existsSync(file)) return file;
  }
  throw new Error(`container.v1.json not found under ${lib} (test/python/gapi.txt installs google-api-python-client)`);
}

function collectMethods(resources: Record<string, unknown> | undefined, into: DiscoveryMethod[]): void {
  for (const resource of Object.values(resources ?? {}) as Array<{
    methods?: Record<string, DiscoveryMethod>;
    resources?: Record<string, unknown>;
  }>) {
    into.push(...Object.values(resource.methods ?? {}));
    collectMethods(resource.resources, into);
  }
}

/** The document, checked to be the pinned revision. */
export function containerDiscovery(): Discovery {
  if (cached) return cached;
  const raw = JSON.parse(readFileSync(containerDiscoveryPath(), 'utf8')) as Omit<Discovery, 'methods'> & {
    resources: Record<string, unknown>;
  };
  if (raw.revision !== DISCOVERY_REVISION)
    throw new Error(
      `container.v1.json has revision ${raw.revision}, test/support/gke-discovery.ts pins ${DISCOVERY_REVISION}: update both together`,
    );
  const methods: DiscoveryMethod[] = [];
  collectMethods(raw.resources, methods);
  cached = { revision: raw.revision, rootUrl: raw.rootUrl, schemas: raw.schemas, parameters: raw.parameters, methods };
  return cached;
}

/** The method a request is for: HTTP method and path (`/v1/projects/p/locations/l/clusters/c:setResourceLabels`). */
export function findMethod(doc: Discovery, httpMethod: string, path: string): DiscoveryMethod | undefined {
  const p = path.replace(/^\//, '');
  return doc.methods.find((m) => {
    if (m.httpMethod !== httpMethod) return false;
    const pattern = m.flatPath
      .split(/\{[^}]+\}/)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/:]+');
    return new RegExp(`^${pattern}$`).test(p);
  });
}

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** One way a value breaks the schema, with the field path the API names (`cluster.node_pools[0].config`). */
export interface Violation {
  kind: 'unknown' | 'type' | 'enum';
  /** Where: the proto field path of the enclosing message (unknown) or of the field (type, enum); '' at the top. */
  field: string;
  /** The camelCase JSON path of the offending field, e.g. `cluster.nodePools[0].config.machineTyp`. */
  jsonPath: string;
  description: string;
}

/** The proto type name the API prints for a field's value type. */
function typeName(schema: SchemaProperty, owner: string, name: string): string {
  if (schema.$ref) return `type.googleapis.com/google.container.v1.${schema.$ref}`;
  if (schema.enum) return `type.googleapis.com/google.container.v1.${owner}.${name[0]?.toUpperCase()}${name.slice(1)}`;
  switch (schema.format ?? schema.type) {
    case 'int32':
      return 'TYPE_INT32';
    case 'int64':
      return 'TYPE_INT64';
    case 'uint32':
      return 'TYPE_UINT32';
    case 'uint64':
      return 'TYPE_UINT64';
    case 'double':
      return 'TYPE_DOUBLE';
    case 'float':
      return 'TYPE_FLOAT';
    case 'boolean':
      return 'TYPE_BOOL';
    case 'byte':
      return 'TYPE_BYTES';
    default:
      return 'TYPE_STRING';
  }
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)));

function scalarOk(schema: SchemaProperty, value: unknown): boolean {
  if (schema.enum) return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
  switch (schema.type) {
    case 'string':
      if (schema.format === 'int64' || schema.format === 'uint64')
        return (
          (typeof value === 'string' && /^-?\d+$/.test(value)) || (typeof value === 'number' && Number.isInteger(value))
        );
      return typeof value === 'string';
    case 'integer':
      return (
        (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value))
      );
    case 'number':
      return typeof value === 'number' || (typeof value === 'string' && /^(-?[\d.e+-]+|NaN|-?Infinity)$/i.test(value));
    case 'boolean':
      return typeof value === 'boolean';
    case 'any':
      return true;
    default:
      return true;
  }
}

/**
 * Checks value against schema `schemaName` of the document. `at` is the path of value in the request
 * (proto names and camelCase JSON names), '' for a request body.
 */
export function validateSchema(
  doc: Discovery,
  schemaName: string,
  value: unknown,
  at = { field: '', json: '' },
): Violation[] {
  const out: Violation[] = [];
  const message = (name: string, v: unknown, where: { field: string; json: string }): void => {
    const schema = doc.schemas[name];
    if (!schema) return;
    if (v === null) return;
    if (typeof v !== 'object' || Array.isArray(v)) {
      out.push({
        kind: 'type',
        field: where.field,
        jsonPath: where.json,
        description: `Invalid value at '${where.field}' (type.googleapis.com/google.container.v1.${name}), ${show(v)}`,
      });
      return;
    }
    const props = schema.properties ?? {};
    for (const [key, inner] of Object.entries(v as Record<string, unknown>)) {
      const json = where.json ? `${where.json}.${key}` : key;
      const prop = props[key];
      if (!prop) {
        out.push({
          kind: 'unknown',
          field: where.field,
          jsonPath: json,
          description: `Invalid JSON payload received. Unknown name ${JSON.stringify(key)}${where.field ? ` at '${where.field}'` : ''}: Cannot find field.`,
        });
        continue;
      }
      const field = where.field ? `${where.field}.${snake(key)}` : snake(key);
      property(prop, inner, { field, json }, name, key);
    }
  };
  const property = (
    prop: SchemaProperty,
    v: unknown,
    where: { field: string; json: string },
    owner: string,
    name: string,
  ): void => {
    if (v === null || v === undefined) return;
    if (prop.$ref) return message(prop.$ref, v, where);
    if (prop.type === 'array') {
      if (!Array.isArray(v)) {
        out.push({
          kind: 'type',
          field: where.field,
          jsonPath: where.json,
          description: `Invalid value at '${where.field}' (${typeName(prop.items ?? {}, owner, name)}), ${show(v)}`,
        });
        return;
      }
      v.forEach((item, i) =>
        property(prop.items ?? {}, item, { field: `${where.field}[${i}]`, json: `${where.json}[${i}]` }, owner, name),
      );
      return;
    }
    if (prop.type === 'object' && prop.additionalProperties) {
      if (typeof v !== 'object' || Array.isArray(v)) {
        out.push({
          kind: 'type',
          field: where.field,
          jsonPath: where.json,
          description: `Invalid value at '${where.field}', ${show(v)}: a map (JSON object) is expected`,
        });
        return;
      }
      for (const [k, item] of Object.entries(v as Record<string, unknown>))
        property(
          prop.additionalProperties,
          item,
          { field: `${where.field}[${k}]`, json: `${where.json}.${k}` },
          owner,
          name,
        );
      return;
    }
    if (prop.type === 'object' && prop.properties) {
      // An inline message (rare in this document): check its fields by name.
      const inline = { id: `${owner}.${name}`, properties: prop.properties };
      const key = `__inline_${owner}_${name}`;
      doc.schemas[key] ??= inline;
      return message(key, v, where);
    }
    if (!scalarOk(prop, v)) {
      out.push({
        kind: 'type',
        field: where.field,
        jsonPath: where.json,
        description: `Invalid value at '${where.field}' (${typeName(prop, owner, name)}), ${show(v)}`,
      });
      return;
    }
    if (prop.enum && typeof v === 'string' && !prop.enum.includes(v)) {
      out.push({
        kind: 'enum',
        field: where.field,
        jsonPath: where.json,
        description: `Invalid value at '${where.field}' (${typeName(prop, owner, name)}), ${show(v)}`,
      });
    }
  };
  message(schemaName, value, at);
  return out;
}

/** The camelCase paths of the fields in value that the document marks deprecated (recursively). */
export function deprecatedFields(doc: Discovery, schemaName: string, value: unknown, at = ''): string[] {
  const out: string[] = [];
  const schema = doc.schemas[schemaName];
  if (!schema || typeof value !== 'object' || value === null || Array.isArray(value)) return out;
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const prop = schema.properties?.[key];
    if (!prop) continue;
    const path = at ? `${at}.${key}` : key;
    if (prop.deprecated || /(^|\s)Deprecated[.:]/.test(prop.description ?? '')) out.push(path);
    const ref = prop.$ref ?? prop.items?.$ref;
    if (!ref) continue;
    if (Array.isArray(inner))
      inner.forEach((item, i) => out.push(...deprecatedFields(doc, ref, item, `${path}[${i}]`)));
    else out.push(...deprecatedFields(doc, ref, inner, path));
  }
  return out;
}

/** value without the fields schema `schemaName` does not have; `removed` lists their camelCase paths. */
export function pruneToSchema(
  doc: Discovery,
  schemaName: string,
  value: unknown,
  removed: string[] = [],
  at = '',
): unknown {
  const schema = doc.schemas[schemaName];
  if (!schema || typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const prop = schema.properties?.[key];
    const path = at ? `${at}.${key}` : key;
    if (!prop) {
      removed.push(path);
      continue;
    }
    const ref = prop.$ref ?? prop.items?.$ref;
    out[key] = !ref
      ? inner
      : Array.isArray(inner)
        ? inner.map((item, i) => pruneToSchema(doc, ref, item, removed, `${path}[${i}]`))
        : pruneToSchema(doc, ref, inner, removed, path);
  }
  return out;
}
