import { existsSync, readFileSync } from 'node:fs';
import { load as loadYaml } from 'js-yaml';
import { kubeconfigInput } from '../kubeconfig.js';
import { ConfigurationError, describeError } from '../../common/errors.js';
import type { Inputs } from '../../common/inputs.js';
import { redactUrlCredentials, splitUrlCredentials } from '../../common/redact.js';
import { COMPARE_MODES, DEFAULT_TOLERANCE, parseTolerance, TOLERANCE_FORM } from '../../inference/compare.js';
import { DEFAULT_AUDIENCE, type AuthKind } from '../../inference/endpoint.js';
import { V2_DATATYPES, type V2Datatype } from '../../inference/protocol.js';
import type { AuthSettings, SmokeTestSettings, Target } from '../../inference/smoke-test.js';

/** The action's inputs, as action.yml names them. */
export const INPUT = {
  url: 'url',
  hostHeader: 'host-header',
  modelName: 'model-name',
  inferenceService: 'inferenceservice',
  namespace: 'namespace',
  route: 'route',
  ingressAddress: 'ingress-address',
  kubeconfig: 'kubeconfig',
  protocol: 'protocol',
  payload: 'payload',
  payloadFile: 'payload-file',
  inputName: 'input-name',
  datatype: 'datatype',
  expected: 'expected',
  expectedFile: 'expected-file',
  compare: 'compare',
  tolerance: 'tolerance',
  auth: 'auth',
  token: 'token',
  serviceAccount: 'service-account',
  serviceAccountNamespace: 'service-account-namespace',
  audience: 'audience',
  tokenExpiration: 'token-expiration',
  assertTokenRequired: 'assert-token-required',
  timeout: 'timeout',
  requestTimeout: 'request-timeout',
  requests: 'requests',
  concurrency: 'concurrency',
  duration: 'duration',
  maxP95Ms: 'max-p95-ms',
  maxErrorRate: 'max-error-rate',
  insecure: 'insecure-skip-tls-verify',
} as const;

export interface Settings extends SmokeTestSettings {
  kubeconfig?: string;
  /** The input that gave the payload (payload or payload-file), for errors found later. */
  payloadInput: string;
}

/** The input to name for a domain field the endpoint refused. */
export function inputOf(field: string, settings: Pick<Settings, 'payloadInput'>): string {
  const inputs: Record<string, string> = {
    payload: settings.payloadInput,
    expected: INPUT.expected,
    inputName: INPUT.inputName,
    datatype: INPUT.datatype,
    protocol: INPUT.protocol,
  };
  return inputs[field] ?? field;
}

const URL_FORM = 'an http:// or https:// URL such as http://34.120.1.2 or https://iris.team.example.com';

/** A JSON or YAML document from an input, or from the file another input names. */
function document(
  inputs: Inputs,
  inline: string,
  file: string,
  readFile: (path: string) => string,
  expected: string,
): { value: unknown; input: string } | undefined {
  const text = inputs.optional(inline);
  const path = inputs.optional(file);
  if (text !== undefined && path !== undefined)
    throw new ConfigurationError(file, path, `either ${inline} or ${file}, not both`);
  if (text !== undefined) return { value: inputs.structured(inline, expected), input: inline };
  if (path === undefined) return undefined;
  let content: string;
  try {
    content = readFile(path);
  } catch (error) {
    throw new ConfigurationError(
      file,
      path,
      `a readable file (${(error as { code?: string }).code ?? describeError(error)})`,
    );
  }
  try {
    return { value: loadYaml(content), input: file };
  } catch (error) {
    throw new ConfigurationError(
      file,
      path,
      `a file holding ${expected} (the parser said: ${describeError(error).split('\n')[0]})`,
    );
  }
}

function rate(inputs: Inputs, name: string): number | undefined {
  const v = inputs.optional(name);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(v);
  const n = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(n >= 0 && n <= 1))
    throw new ConfigurationError(name, v, 'a fraction from 0 to 1 such as 0.01, or a percentage such as 1%');
  return n;
}

/**
 * The model's address. Credentials in it (`https://user:pass@host`) are masked at once, never quoted,
 * and taken out of the URL: the calls carry them as a Basic Authorization header.
 */
function address(inputs: Inputs): { url: string; credentials?: { username: string; password: string } } {
  const raw = inputs.optional(INPUT.url) as string;
  // Before any message can quote it: everything between the scheme and an @ may be a password.
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(raw)?.[1];
  if (userinfo) {
    // The whole user-info, and the password alone (a user name alone is masked only when it is all there is: a token).
    inputs.mask(userinfo);
    const password = userinfo.slice(userinfo.indexOf(':') + 1);
    if (userinfo.includes(':') && password) inputs.mask(password);
  }
  const hide = { hideValue: userinfo !== undefined || raw.includes('@') };
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigurationError(INPUT.url, redactUrlCredentials(raw), URL_FORM, hide);
  }
  const shown = redactUrlCredentials(raw);
  if (!/^https?:$/.test(parsed.protocol) || parsed.search || parsed.hash)
    throw new ConfigurationError(INPUT.url, shown, 'an http:// or https:// URL without query or fragment', hide);
  if (/\/v[12]\//.test(`${parsed.pathname}/`)) {
    throw new ConfigurationError(
      INPUT.url,
      shown,
      'the base address only (scheme, host, port and any gateway prefix): the /v1/models/... or /v2/models/... paths are added for the protocol',
      hide,
    );
  }
  const split = splitUrlCredentials(raw);
  if (split.password) inputs.mask(split.password);
  else if (split.username) inputs.mask(split.username);
  const url = split.url.replace(/\/+$/, '');
  if (split.username === undefined && split.password === undefined) return { url };
  return { url, credentials: { username: split.username ?? '', password: split.password ?? '' } };
}

function target(inputs: Inputs): {
  target: Target;
  namespace?: string;
  credentials?: { username: string; password: string };
} {
  const url = inputs.optional(INPUT.url);
  const isvc = inputs.kubeName(INPUT.inferenceService, 'label', 'the name of an InferenceService');
  if (url && isvc)
    throw new ConfigurationError(INPUT.inferenceService, isvc, 'either url or inferenceservice, not both');
  if (!url && !isvc)
    throw new ConfigurationError(
      INPUT.url,
      undefined,
      'the address of the model (url, with model-name) or an InferenceService to read it from (inferenceservice and namespace)',
    );
  const model = inputs.optional(INPUT.modelName);
  if (model !== undefined && /[\s/?#]/.test(model))
    throw new ConfigurationError(
      INPUT.modelName,
      model,
      'a model name without spaces, / ? or # (it becomes part of the path)',
    );
  const namespace = inputs.kubeName(INPUT.namespace, 'label', 'the name of a namespace');
  if (url) {
    const a = address(inputs);
    if (!model)
      throw new ConfigurationError(
        INPUT.modelName,
        undefined,
        "the model's name on the server (with url; KServe names it after the InferenceService)",
      );
    // `route` has a default, so only a value other than it is a mistake here.
    const ignored =
      inputs.optional(INPUT.ingressAddress) !== undefined
        ? INPUT.ingressAddress
        : (inputs.optional(INPUT.route) ?? 'gateway') !== 'gateway'
          ? INPUT.route
          : undefined;
    if (ignored)
      throw new ConfigurationError(
        ignored,
        redactUrlCredentials(inputs.optional(ignored) ?? ''),
        `nothing with url (${ignored} applies to inferenceservice); put the address in url and the host in host-header`,
        { hideValue: (inputs.optional(ignored) ?? '').includes('@') },
      );
    const hostHeader = inputs.matching(
      INPUT.hostHeader,
      /^[A-Za-z0-9.-]+(:\d+)?$/,
      'a host name such as iris.team.example.com',
    );
    return {
      target: { type: 'url', url: a.url, ...(hostHeader ? { hostHeader } : {}), model },
      ...(namespace ? { namespace } : {}),
      ...(a.credentials ? { credentials: a.credentials } : {}),
    };
  }
  if (!namespace)
    throw new ConfigurationError(
      INPUT.namespace,
      undefined,
      'the namespace of the InferenceService (a Kubeflow profile namespace)',
    );
  if (inputs.optional(INPUT.hostHeader))
    throw new ConfigurationError(
      INPUT.hostHeader,
      inputs.optional(INPUT.hostHeader),
      'nothing with inferenceservice (the Host is read from its status.url)',
    );
  const ingress = inputs.optional(INPUT.ingressAddress);
  if (ingress?.includes('@'))
    throw new ConfigurationError(
      INPUT.ingressAddress,
      ingress,
      "the gateway's address without credentials: an IP or host name with an optional port",
      { hideValue: true },
    );
  const ingressAddress = inputs.matching(
    INPUT.ingressAddress,
    /^(https?:\/\/)?[A-Za-z0-9.:[\]-]+(:\d+)?\/?$/,
    "the gateway's address: an IP or host name with an optional port, e.g. 34.120.1.2 or 127.0.0.1:8080",
  );
  const route = inputs.choice(INPUT.route, ['gateway', 'cluster-local'] as const, 'gateway');
  if (route === 'cluster-local' && ingressAddress)
    throw new ConfigurationError(
      INPUT.ingressAddress,
      ingressAddress,
      'nothing with route: cluster-local (the cluster-local address is read from status.address.url)',
    );
  return {
    target: {
      type: 'inferenceservice',
      name: isvc as string,
      namespace,
      route,
      ...(ingressAddress ? { ingressAddress } : {}),
      ...(model ? { model } : {}),
    },
    namespace,
  };
}

function auth(
  inputs: Inputs,
  credentials: { username: string; password: string } | undefined,
  namespace: string | undefined,
): AuthSettings {
  const token = inputs.secret(INPUT.token);
  const kind = inputs.choice<AuthKind>(INPUT.auth, ['none', 'bearer', 'serviceaccount'], token ? 'bearer' : 'none');
  if (credentials && kind !== 'none') {
    throw new ConfigurationError(
      INPUT.url,
      redactUrlCredentials(inputs.optional(INPUT.url) ?? ''),
      `an address without user name and password when auth is ${kind} (a call carries one Authorization header): remove them from url, or leave auth and token empty`,
      { hideValue: true },
    );
  }
  if (kind === 'bearer') {
    if (!token)
      throw new ConfigurationError(INPUT.token, undefined, 'a bearer token (from a secret) with auth: bearer');
    if (/^bearer\s/i.test(token))
      throw new ConfigurationError(INPUT.token, token, 'the token alone, without the `Bearer ` prefix (it is added)', {
        hideValue: true,
      });
    if ([...token].some((c) => /\s/.test(c) || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
      throw new ConfigurationError(
        INPUT.token,
        token,
        'a token without spaces, line breaks or control characters (it is sent in a header)',
        { hideValue: true },
      );
    return { kind: 'bearer', token };
  }
  if (kind === 'serviceaccount') {
    if (token)
      throw new ConfigurationError(INPUT.auth, kind, 'bearer when a token is given (serviceaccount mints its own)');
    const saNamespace = inputs.kubeName(INPUT.serviceAccountNamespace, 'label', 'the name of a namespace') ?? namespace;
    if (!saNamespace)
      throw new ConfigurationError(
        INPUT.serviceAccountNamespace,
        undefined,
        'the namespace of the ServiceAccount (or give namespace)',
      );
    const expirationMs = inputs.duration(INPUT.tokenExpiration, '10m', { positive: true });
    if (expirationMs < 600_000 || expirationMs > 48 * 3_600_000)
      throw new ConfigurationError(
        INPUT.tokenExpiration,
        inputs.optional(INPUT.tokenExpiration),
        "a duration from 10m (the TokenRequest API's minimum) to 48h",
      );
    return {
      kind: 'serviceaccount',
      serviceAccount: inputs.kubeName(
        INPUT.serviceAccount,
        'subdomain',
        'the name of a ServiceAccount',
        'default-editor',
      ) as string,
      namespace: saNamespace,
      audience: inputs.matching(
        INPUT.audience,
        /^[^\s,]+$/,
        'one audience without spaces or commas, e.g. istio-ingressgateway.istio-system.svc.cluster.local',
        DEFAULT_AUDIENCE,
      ) as string,
      expirationSeconds: Math.round(expirationMs / 1000),
    };
  }
  if (token) throw new ConfigurationError(INPUT.auth, 'none', 'bearer (or leave auth empty) when a token is given');
  if (credentials) return { kind: 'basic', ...credentials };
  return { kind: 'none' };
}

/** Reads and checks every input before anything is called. `readFile` reads payload-file and expected-file. */
export function readSettings(
  inputs: Inputs,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  exists: (path: string) => boolean = existsSync,
): Settings {
  const { target: t, namespace, credentials } = target(inputs);
  const payload = document(
    inputs,
    INPUT.payload,
    INPUT.payloadFile,
    readFile,
    'a JSON request body ({"instances": ...} or {"inputs": ...}) or a JSON list of rows',
  );
  if (!payload)
    throw new ConfigurationError(
      INPUT.payload,
      undefined,
      'a JSON request body ({"instances": [...]} for v1, {"inputs": [...]} for v2) or plain rows such as [[5.1, 3.5, 1.4, 0.2]] (or payload-file)',
    );
  if (payload.value === null || typeof payload.value !== 'object')
    throw new ConfigurationError(
      payload.input,
      JSON.stringify(payload.value),
      'a JSON object (a request body) or a JSON list (rows)',
    );
  if (Array.isArray(payload.value) && payload.value.length === 0)
    throw new ConfigurationError(payload.input, '[]', 'at least one row, e.g. [[5.1, 3.5, 1.4, 0.2]]');
  const expected = document(inputs, INPUT.expected, INPUT.expectedFile, readFile, 'the expected answer as JSON');
  const compare = inputs.choice(INPUT.compare, COMPARE_MODES, 'subset');
  const toleranceText = inputs.optional(INPUT.tolerance);
  const tolerance =
    toleranceText === undefined
      ? compare === 'exact'
        ? { absolute: 0, relative: 0 }
        : DEFAULT_TOLERANCE
      : parseTolerance(toleranceText);
  if (!tolerance) throw new ConfigurationError(INPUT.tolerance, toleranceText, TOLERANCE_FORM);
  const datatype = inputs.optional(INPUT.datatype)?.toUpperCase();
  if (datatype && !(V2_DATATYPES as readonly string[]).includes(datatype))
    throw new ConfigurationError(INPUT.datatype, datatype, `one of ${V2_DATATYPES.join(', ')}`);
  const inputName = inputs.optional(INPUT.inputName);
  if (inputName !== undefined && /\s/.test(inputName))
    throw new ConfigurationError(INPUT.inputName, inputName, 'an input name without spaces, e.g. input-0');

  const a = auth(inputs, credentials, namespace);
  const assertTokenRequired = inputs.boolean(INPUT.assertTokenRequired, false);
  if (assertTokenRequired && a.kind === 'none')
    throw new ConfigurationError(
      INPUT.assertTokenRequired,
      'true',
      'false with auth: none (the check compares a call with a token to one without)',
    );

  const maxP95 = inputs.optional(INPUT.maxP95Ms);
  if (maxP95 !== undefined && !(/^\d+(\.\d+)?$/.test(maxP95) && Number(maxP95) > 0))
    throw new ConfigurationError(INPUT.maxP95Ms, maxP95, 'a positive number of milliseconds such as 250');
  const kubeconfig = kubeconfigInput(inputs, INPUT.kubeconfig, exists);
  const durationMs =
    inputs.optional(INPUT.duration) !== undefined
      ? inputs.duration(INPUT.duration, '0', { positive: true })
      : undefined;
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    target: t,
    protocol: inputs.choice(INPUT.protocol, ['auto', 'v1', 'v2'] as const, 'auto'),
    payload: payload.value,
    payloadInput: payload.input,
    ...(inputName ? { inputName } : {}),
    ...(datatype ? { datatype: datatype as V2Datatype } : {}),
    ...(expected ? { expected: expected.value } : {}),
    compare,
    tolerance,
    auth: a,
    assertTokenRequired,
    timeoutMs: inputs.duration(INPUT.timeout, '5m', { positive: true }),
    requestTimeoutMs: inputs.duration(INPUT.requestTimeout, '30s', { positive: true }),
    requests: inputs.integer(INPUT.requests, 100, { min: 0, max: 1_000_000 }),
    concurrency: inputs.integer(INPUT.concurrency, 4, { min: 1, max: 256 }),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(maxP95 !== undefined ? { maxP95Ms: Number(maxP95) } : {}),
    maxErrorRate: rate(inputs, INPUT.maxErrorRate) ?? 0,
    insecure: inputs.boolean(INPUT.insecure, false),
  };
}
