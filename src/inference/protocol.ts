/**
 * The two KServe inference protocols over REST: paths, request bodies and response checks.
 * V1: GET /v1/models/{m} -> {name, ready}; POST /v1/models/{m}:predict {instances} -> {predictions}.
 * V2 (Open Inference Protocol): GET /v2/health/ready, /v2/models/{m}/ready, /v2/models/{m};
 * POST /v2/models/{m}/infer {inputs: [{name, shape, datatype, data}]} -> {model_name, outputs}.
 */

export type Protocol = 'v1' | 'v2';

export const V2_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type V2Datatype = (typeof V2_DATATYPES)[number];

export interface V2Tensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
  parameters?: Record<string, unknown>;
}

export interface V2Request {
  inputs: V2Tensor[];
  parameters?: Record<string, unknown>;
}

export interface ProtocolPaths {
  /** The model's readiness. */
  ready: string;
  /** The inference call. */
  infer: string;
  /** The model's metadata (v2) or status (v1). */
  metadata: string;
  /** Lists the models the server holds (v1 only; v2 has no standard list). */
  list?: string;
}

const enc = (model: string): string => encodeURIComponent(model);

export function pathsFor(protocol: Protocol, model: string): ProtocolPaths {
  return protocol === 'v1'
    ? {
        ready: `/v1/models/${enc(model)}`,
        infer: `/v1/models/${enc(model)}:predict`,
        metadata: `/v1/models/${enc(model)}`,
        list: '/v1/models',
      }
    : {
        ready: `/v2/models/${enc(model)}/ready`,
        infer: `/v2/models/${enc(model)}/infer`,
        metadata: `/v2/models/${enc(model)}`,
      };
}

/** Human form of a protocol's calls, for messages: `POST /v2/models/m/infer with typed inputs`. */
export function describeCall(protocol: Protocol, model: string): string {
  const p = pathsFor(protocol, model);
  return protocol === 'v1'
    ? `GET ${p.ready} and POST ${p.infer} with {"instances": [...]}`
    : `GET ${p.ready} and POST ${p.infer} with {"inputs": [{"name", "shape", "datatype", "data"}]}`;
}

export const other = (protocol: Protocol): Protocol => (protocol === 'v1' ? 'v2' : 'v1');

/** Plain rows: a list of scalars, a list of equal-length lists, or a list of objects (one column per key). */
export type Rows = unknown[];

export interface V2FromRowsOptions {
  /** The input's name for list rows (default `input-0`); object rows use their keys. */
  name?: string;
  /** Forces the datatype of every input (e.g. FP32 for a model whose signature says float). */
  datatype?: V2Datatype;
}

/** The datatype JSON values fit: BOOL, INT64 (all whole numbers), FP64, or BYTES (strings). Undefined when mixed. */
export function inferDatatype(values: readonly unknown[]): V2Datatype | undefined {
  if (values.length === 0) return 'FP64';
  if (values.every((v) => typeof v === 'boolean')) return 'BOOL';
  if (values.every((v) => typeof v === 'number' && Number.isFinite(v)))
    return values.every((v) => Number.isInteger(v)) ? 'INT64' : 'FP64';
  if (values.every((v) => typeof v === 'string')) return 'BYTES';
  return undefined;
}

/** Flattens nested arrays (row-major), as the V2 protocol's `data` is. */
export function flatten(value: unknown): unknown[] {
  if (!Array.isArray(value)) return [value];
  const out: unknown[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else out.push(v);
  };
  walk(value);
  return out;
}

/** The shape of nested arrays, or undefined when they are ragged. */
export function shapeOf(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return [];
  if (value.length === 0) return [0];
  const inner = value.map(shapeOf);
  const first = inner[0];
  if (!first || inner.some((s) => !s || s.length !== first.length || s.some((d, i) => d !== first[i])))
    return undefined;
  return [value.length, ...first];
}

/**
 * Builds a V2 inference request from plain rows:
 * - `[1, 2, 3]` -> one input of shape [3];
 * - `[[5.1, 3.5], [6.2, 2.9]]` -> one input of shape [2, 2], data flattened row-major;
 * - `[{"a": 1, "b": "x"}, ...]` -> one input per column (shape [n]) and `parameters.content_type: "pd"`,
 *   the pandas codec MLServer's MLflow runtime decodes into a DataFrame with those columns.
 * Throws an Error describing the problem (the caller names the input).
 */
export function v2RequestFromRows(rows: Rows, options: V2FromRowsOptions = {}): V2Request {
  if (!Array.isArray(rows) || rows.length === 0) throw new Error('expected a non-empty JSON array of rows');
  const typed = (values: unknown[], what: string): V2Datatype => {
    if (options.datatype) return options.datatype;
    const t = inferDatatype(values);
    if (!t)
      throw new Error(
        `${what} mixes value types (${[...new Set(values.map((v) => (v === null ? 'null' : typeof v)))].join(', ')}); give one type per column or set the datatype`,
      );
    return t;
  };
  if (rows.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
    const columns: string[] = [];
    for (const r of rows as Record<string, unknown>[])
      for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
    const inputs = columns.map((c) => {
      const values = (rows as Record<string, unknown>[]).map((r, i) => {
        if (!(c in r)) throw new Error(`row ${i} has no column "${c}" (every row needs the same columns)`);
        return r[c];
      });
      return { name: c, shape: [rows.length], datatype: typed(values, `column "${c}"`), data: values };
    });
    return { parameters: { content_type: 'pd' }, inputs };
  }
  const shape = shapeOf(rows);
  if (!shape) throw new Error('rows have different lengths; every row needs the same number of values');
  const data = flatten(rows);
  if (data.some((v) => v !== null && typeof v === 'object'))
    throw new Error('rows must hold scalars, lists of scalars, or objects of scalars');
  return { inputs: [{ name: options.name ?? 'input-0', shape, datatype: typed(data, 'the rows'), data }] };
}

/** One input a v2 model declares (GET /v2/models/{m}: inputs). */
export interface V2InputSpec {
  name: string;
  datatype: string;
  shape: number[];
}

/** The declared inputs of a v2 model's metadata, or [] when it declares none (or the answer is not metadata). */
export function declaredInputs(metadata: unknown): V2InputSpec[] {
  const inputs = (metadata as { inputs?: unknown } | undefined)?.inputs;
  if (!Array.isArray(inputs)) return [];
  return inputs
    .filter((i): i is Record<string, unknown> => i !== null && typeof i === 'object' && typeof i.name === 'string')
    .map((i) => ({
      name: i.name as string,
      datatype: typeof i.datatype === 'string' ? i.datatype : '',
      shape: Array.isArray(i.shape) ? (i.shape as unknown[]).map(Number) : [],
    }));
}

const describeInputs = (inputs: readonly V2InputSpec[]): string =>
  inputs.map((i) => `${i.name} (${i.datatype || '?'} [${i.shape.join(', ')}])`).join(', ');

/**
 * A v2 request from plain rows, built to match the inputs the model declares:
 * - list rows and several declared inputs (a column signature, e.g. an MLflow model trained on a DataFrame):
 *   one named input per column, in the declared order, with the declared datatype (`content_type: "pd"`);
 * - list rows and one declared input (a tensor signature): one tensor of the declared name and datatype;
 * - object rows: one input per key, with the declared datatype of the input of that name;
 * - no declared inputs: as v2RequestFromRows.
 * A row whose width differs from the declared inputs throws, naming them. `form` says what was built.
 */
export function v2RequestForModel(
  rows: Rows,
  inputs: readonly V2InputSpec[],
  options: V2FromRowsOptions = {},
): { request: V2Request; form: string } {
  const known = (t: string): V2Datatype | undefined =>
    (V2_DATATYPES as readonly string[]).includes(t) ? (t as V2Datatype) : undefined;
  if (!Array.isArray(rows) || rows.length === 0) throw new Error('expected a non-empty JSON array of rows');
  if (inputs.length === 0 || options.name !== undefined) {
    const request = v2RequestFromRows(rows, options);
    const why = options.name !== undefined ? 'as `input-name` says' : 'the model declares no inputs';
    return { request, form: `${describeBuilt(request)} (${why})` };
  }
  if (rows.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
    const request = v2RequestFromRows(rows, options);
    const names = inputs.map((i) => i.name);
    const unknown = request.inputs.filter((t) => !names.includes(t.name)).map((t) => t.name);
    const missing = inputs.length > 1 ? names.filter((n) => !request.inputs.some((t) => t.name === n)) : [];
    if (inputs.length > 1 && (unknown.length || missing.length))
      throw new Error(
        `the rows' columns do not match the model's declared inputs ${describeInputs(inputs)}${missing.length ? `: missing ${missing.join(', ')}` : ''}${unknown.length ? `${missing.length ? ';' : ':'} not declared ${unknown.join(', ')}` : ''}`,
      );
    for (const t of request.inputs) {
      const declared = known(inputs.find((i) => i.name === t.name)?.datatype ?? '');
      if (declared && !options.datatype) t.datatype = declared;
    }
    return { request, form: `${describeBuilt(request)} (object rows' keys, datatypes as the model declares)` };
  }
  const shape = shapeOf(rows);
  if (!shape) throw new Error('rows have different lengths; every row needs the same number of values');
  const width = shape.length === 1 ? 1 : (shape[1] ?? 0);
  if (inputs.length > 1) {
    if (shape.length !== 2 || width !== inputs.length)
      throw new Error(
        `each row has ${shape.length === 1 ? 'one value' : `${width} value(s)`} but the model declares ${inputs.length} inputs, one per column: ${describeInputs(inputs)}; give rows of ${inputs.length} values in that order, or objects keyed by those names`,
      );
    const request: V2Request = {
      parameters: { content_type: 'pd' },
      inputs: inputs.map((spec, c) => {
        const data = (rows as unknown[][]).map((r) => r[c]);
        const datatype = options.datatype ?? known(spec.datatype) ?? inferDatatype(data) ?? 'BYTES';
        return { name: spec.name, shape: [rows.length], datatype, data };
      }),
    };
    return { request, form: `${describeBuilt(request)} (one input per column, as the model declares)` };
  }
  const spec = inputs[0] as V2InputSpec;
  const declaredWidth = spec.shape.length === 2 && (spec.shape[1] ?? -1) > 0 ? spec.shape[1] : undefined;
  if (declaredWidth !== undefined && (shape.length !== 2 || width !== declaredWidth))
    throw new Error(
      `each row has ${shape.length === 1 ? 'one value' : `${width} value(s)`} but the model declares one input ${describeInputs([spec])}: rows of ${declaredWidth} values`,
    );
  const built = v2RequestFromRows(rows, { name: spec.name, ...options });
  const datatype = known(spec.datatype);
  if (datatype && !options.datatype) for (const t of built.inputs) t.datatype = datatype;
  return { request: built, form: `${describeBuilt(built)} (the tensor the model declares)` };
}

/** `inputs x, y (FP64 [2])` / `tensor input-0 FP64 [2, 4]`, for messages and the summary. */
export function describeBuilt(request: V2Request): string {
  const [first] = request.inputs;
  if (request.inputs.length === 1 && first) return `tensor ${first.name} ${first.datatype} [${first.shape.join(', ')}]`;
  return `inputs ${request.inputs.map((t) => `${t.name} ${t.datatype} [${t.shape.join(', ')}]`).join(', ')}`;
}

/** The request body to send: a full protocol body passes through; plain rows are wrapped for the protocol. */
export function requestBody(protocol: Protocol, payload: unknown, options: V2FromRowsOptions = {}): unknown {
  if (Array.isArray(payload)) return protocol === 'v1' ? { instances: payload } : v2RequestFromRows(payload, options);
  if (payload && typeof payload === 'object') {
    const p = payload as Record<string, unknown>;
    if (protocol === 'v1' && 'inputs' in p && !('instances' in p)) {
      throw new Error(
        'the payload is a V2 request ({"inputs": ...}) but the protocol is v1, which takes {"instances": [...]}; give plain rows to have it built for either protocol',
      );
    }
    if (protocol === 'v2' && ('instances' in p || 'signature_name' in p) && !('inputs' in p)) {
      throw new Error(
        'the payload is a V1 request ({"instances": ...}) but the protocol is v2, which takes {"inputs": [{"name", "shape", "datatype", "data"}]}; give plain rows to have it built for either protocol',
      );
    }
    return payload;
  }
  throw new Error('expected a JSON object (a protocol request body) or a JSON array (plain rows)');
}

/** Problems with a response that claims success: a server that is Ready but answers nonsense is not working. */
export function responseProblems(protocol: Protocol, body: unknown): string[] {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    return [`the answer is not a JSON object (${JSON.stringify(body)?.slice(0, 80)})`];
  const b = body as Record<string, unknown>;
  if (protocol === 'v1') {
    if (!Array.isArray(b['predictions']))
      return [`a V1 answer needs "predictions" (a list); got keys ${JSON.stringify(Object.keys(b))}`];
    return [];
  }
  if (!Array.isArray(b['outputs']))
    return [`a V2 answer needs "outputs" (a list); got keys ${JSON.stringify(Object.keys(b))}`];
  const problems: string[] = [];
  (b['outputs'] as unknown[]).forEach((o, i) => {
    const t = (o ?? {}) as Partial<V2Tensor>;
    const where = `outputs[${i}]${typeof t.name === 'string' ? ` ("${t.name}")` : ''}`;
    if (typeof t.name !== 'string') problems.push(`${where} has no name`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
      problems.push(`${where} has no valid shape`);
    if (typeof t.datatype !== 'string' || !(V2_DATATYPES as readonly string[]).includes(t.datatype))
      problems.push(`${where} has datatype ${JSON.stringify(t.datatype)}, not one of ${V2_DATATYPES.join(', ')}`);
    if (!Array.isArray(t.data)) problems.push(`${where} has no data list`);
    else if (Array.isArray(t.shape)) {
      const expected = t.shape.reduce((a, d) => a * d, 1);
      const got = flatten(t.data).length;
      if (got !== expected)
        problems.push(`${where} has shape [${t.shape.join(', ')}] (${expected} values) but ${got} values of data`);
    }
  });
  return problems;
}
