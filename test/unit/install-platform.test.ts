import bcrypt from 'bcryptjs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { asInputError, INPUT } from '../../src/actions/install-kubeflow/inputs.js';
import { ConfigurationError, KfopsError } from '../../src/common/errors.js';
import type { Logger } from '../../src/common/logger.js';
import type { ApplyReport } from '../../src/kube/apply.js';
import { InstallError, type InstallReport, type PartialInstallReport } from '../../src/kube/install.js';
import { planInstall } from '../../src/kube/plan.js';
import { refOf, type KubeObject, type ObjectRef } from '../../src/kube/types.js';
import {
  installPlatform,
  newPlatformReport,
  PlatformDeadlineError,
  type InstallPlatformClients,
  type InstallPlatformReport,
  type InstallPlatformSettings,
  type PlatformCluster,
} from '../../src/kubeflow/install-platform.js';
import { REQUIRE_JWT_POLICY } from '../../src/kubeflow/platform.js';
import { loadManifests } from '../../src/kubeflow/manifests.js';
import { PlatformSettingError } from '../../src/kubeflow/settings-error.js';
import { Inputs } from '../../src/common/inputs.js';
import { readSettings } from '../../src/actions/install-kubeflow/inputs.js';
import { dexHashEnv } from '../../src/kubeflow/users.js';
import { loadKubeflowRender } from '../support/kubeflow-render.js';

const SERVER = 'https://203.0.113.10:6443';
const ISSUER = 'https://container.googleapis.com/v1/projects/p/locations/europe-west4/clusters/ml';
const key = (r: Pick<ObjectRef, 'kind' | 'name'> & { namespace?: string }): string =>
  `${r.kind} ${r.namespace ?? ''}/${r.name}`;
const pick = (objects: readonly KubeObject[], kind: string, namespace: string | undefined, name: string): KubeObject =>
  objects.find(
    (o) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? undefined) === namespace,
  ) as KubeObject;

function settings(over: Partial<InstallPlatformSettings> = {}): InstallPlatformSettings {
  return {
    source: { type: 'file', file: '/manifests/example.yaml' },
    planOnly: false,
    timeoutMs: 60_000,
    concurrency: 8,
    forceConflicts: false,
    users: [],
    passwords: new Map(),
    expose: 'none',
    domain: '',
    m2mAuth: false,
    ...over,
  };
}

function installReport(objects: readonly KubeObject[]): InstallReport {
  return {
    plan: planInstall(objects),
    phases: [],
    counts: { created: objects.length, configured: 0, unchanged: 0 },
    ready: 3,
    yielded: [],
    durationMs: 1234,
  };
}

/**
 * A cluster that records every call in order (`calls`) and answers from `live` (objects on the cluster)
 * and the overrides; `installed` is what install got.
 */
function fakeCluster(over: Partial<PlatformCluster> = {}, live: KubeObject[] = []) {
  const calls: string[] = [];
  let installed: readonly KubeObject[] | undefined;
  const applied: { objects: KubeObject[]; dryRun: boolean }[] = [];
  const preflightWrites: boolean[] = [];
  const cluster: PlatformCluster = {
    server: SERVER,
    find: async (ref) => {
      calls.push(`find ${key(ref)}`);
      return live.find((o) => key(refOf(o)) === key(ref));
    },
    issuer: async () => {
      calls.push('issuer');
      return ISSUER;
    },
    preflight: async (_objects, options) => {
      calls.push('preflight');
      preflightWrites.push(options.write !== false);
      return {
        serverVersion: 'v1.31.2',
        defaultStorageClass: 'standard',
        storageClassSet: false,
        requested: { cpu: 1, memory: 1 },
        allocatable: { cpu: 8, memory: 32e9, nodes: 2 },
        warnings: [],
      };
    },
    openGates: async () => {
      calls.push('openGates');
      return new Set<string>();
    },
    apply: async (objects, options) => {
      calls.push(`apply${options.dryRun ? ' (dry run)' : ''} ${objects.map((o) => key(refOf(o))).join(', ')}`);
      applied.push({ objects, dryRun: options.dryRun === true });
      return {
        applied: [],
        counts: {
          created: options.dryRun ? objects.length : 0,
          configured: options.dryRun ? 0 : objects.length,
          unchanged: 0,
        },
      } satisfies ApplyReport;
    },
    install: async (objects) => {
      calls.push('install');
      installed = objects;
      return installReport(objects);
    },
    gatewayAddress: async () => {
      calls.push('gatewayAddress');
      return '198.51.100.7';
    },
    ...over,
  };
  return {
    cluster,
    calls,
    applied,
    preflightWrites,
    installed: (): readonly KubeObject[] => installed ?? [],
  };
}

function clients(cluster: PlatformCluster, objects: KubeObject[] = loadKubeflowRender()): InstallPlatformClients {
  return {
    cluster,
    render: async () => ({ objects, origin: 'kubeflow/manifests v1.9.1 example' }),
  };
}

/** A logger that keeps the info lines and group names. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: () => undefined,
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: (name, fn) => {
      lines.push(`group: ${name}`);
      return fn();
    },
  };
}

/** The run's promise rejected: its error, and the report as the run left it. */
async function failed(
  s: InstallPlatformSettings,
  c: InstallPlatformClients,
  deps: { deadlineGraceMs?: number } = {},
): Promise<{ error: unknown; report: InstallPlatformReport }> {
  const report = newPlatformReport(s, c.cluster.server);
  const error = await installPlatform(s, c, { ...deps, report }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the run was expected to fail').toBeDefined();
  return { error, report };
}

describe('installPlatform (fake cluster, the real Kubeflow 1.9.1 render)', () => {
  it('renders, checks the cluster, then installs: in that order, with what the steps reported', async () => {
    const f = fakeCluster();
    const logger = recordingLogger();
    const report = await installPlatform(settings(), clients(f.cluster), { logger });
    expect(f.calls).toEqual(['preflight', 'install']);
    expect(f.preflightWrites).toEqual([true]);
    expect(report.step).toBe('done');
    expect(report.server).toBe(SERVER);
    expect(report.manifests).toEqual({ origin: 'kubeflow/manifests v1.9.1 example', objects: 569 });
    expect(f.installed()).toHaveLength(569);
    expect(report.preflight?.serverVersion).toBe('v1.31.2');
    expect(report.install?.counts.created).toBe(569);
    expect(report.platform).toEqual({});
    expect(report.users).toEqual([]);
    expect(report.totalMs).toBeGreaterThanOrEqual(0);
    const groups = logger.lines.filter((l) => l.startsWith('group: '));
    expect(groups.slice(0, 3)).toEqual([
      'group: render the manifests',
      'group: gateway, domain and machine-to-machine auth',
      'group: preflight',
    ]);
    expect(groups[3]).toMatch(/^group: plan: \d+ wave\(s\), \d+ gate\(s\)$/);
    expect(logger.lines).toContain('569 object(s) from kubeflow/manifests v1.9.1 example');
    expect(logger.lines.some((l) => l.startsWith('installed in 1.2s: 569 created'))).toBe(true);
  });

  it('adds users to Dex (config, hash Secret) and a Profile with contributor access, reading Dex from the cluster first', async () => {
    const f = fakeCluster();
    const s = settings({
      users: [
        {
          email: 'alice@example.com',
          passwordEnv: 'ALICE_PW',
          profile: 'team-a',
          contributors: [{ email: 'bob@example.com', role: 'edit' }],
        },
      ],
      passwords: new Map([['alice@example.com', 'correct horse']]),
    });
    const report = await installPlatform(s, clients(f.cluster));
    expect(f.calls).toEqual(['find Secret auth/dex-passwords', 'find ConfigMap auth/dex', 'preflight', 'install']);
    const objects = f.installed();
    const config = (pick(objects, 'ConfigMap', 'auth', 'dex')['data'] as Record<string, string>)['config.yaml'];
    const dex = load(config ?? '') as {
      staticPasswords: { email: string; hashFromEnv?: string }[];
    };
    expect(dex.staticPasswords.find((p) => p.email === 'alice@example.com')?.hashFromEnv).toBe(
      dexHashEnv('alice@example.com'),
    );
    const hashes = pick(objects, 'Secret', 'auth', 'dex-passwords')['stringData'] as Record<string, string>;
    expect(await bcrypt.compare('correct horse', hashes[dexHashEnv('alice@example.com')] as string)).toBe(true);
    expect(JSON.stringify(objects)).not.toContain('correct horse');
    expect(pick(objects, 'Profile', undefined, 'team-a')['spec']).toMatchObject({
      owner: { kind: 'User', name: 'alice@example.com' },
    });
    expect(pick(objects, 'RoleBinding', 'team-a', 'user-bob-example-com-clusterrole-edit')).toBeDefined();
    expect(pick(objects, 'AuthorizationPolicy', 'team-a', 'user-bob-example-com-clusterrole-edit')).toBeDefined();
    expect(report.users).toEqual([
      {
        email: 'alice@example.com',
        profile: 'team-a',
        contributors: [{ email: 'bob@example.com', role: 'edit' }],
        rehashed: true,
      },
    ]);
    expect(report.manifests?.objects).toBe(objects.length);
    expect(objects.length).toBeGreaterThan(569);
  });

  it('keeps the stored hash of a password that did not change', async () => {
    const stored = await bcrypt.hash('correct horse', 4);
    const live: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'dex-passwords', namespace: 'auth' },
      data: { [dexHashEnv('alice@example.com')]: Buffer.from(stored).toString('base64') },
    };
    const f = fakeCluster({}, [live]);
    const s = settings({
      users: [{ email: 'alice@example.com', passwordEnv: 'ALICE_PW', contributors: [] }],
      passwords: new Map([['alice@example.com', 'correct horse']]),
    });
    const report = await installPlatform(s, clients(f.cluster));
    expect(report.users[0]?.rehashed).toBe(false);
    const hashes = pick(f.installed(), 'Secret', 'auth', 'dex-passwords')['stringData'] as Record<string, string>;
    expect(hashes[dexHashEnv('alice@example.com')]).toBe(stored);
  });

  it('adds the m2m RequestAuthentication for the cluster issuer, leaving the gateway JWT policy as rendered', async () => {
    const f = fakeCluster();
    const render = loadKubeflowRender();
    const requireJwt = structuredClone(pick(render, 'AuthorizationPolicy', 'istio-system', REQUIRE_JWT_POLICY));
    const report = await installPlatform(settings({ m2mAuth: true }), clients(f.cluster, render));
    expect(f.calls).toEqual([
      'issuer',
      'find RequestAuthentication istio-system/m2m-token-issuer',
      'preflight',
      'install',
    ]);
    const objects = f.installed();
    const ra = pick(objects, 'RequestAuthentication', 'istio-system', 'm2m-token-issuer');
    expect((ra['spec'] as { jwtRules: { issuer: string }[] }).jwtRules[0]?.issuer).toBe(ISSUER);
    expect(pick(objects, 'AuthorizationPolicy', 'istio-system', REQUIRE_JWT_POLICY)).toEqual(requireJwt);
    expect(report.platform.issuer).toBe(ISSUER);
    expect(report.platform.m2m?.created).toBe(true);
    expect(report.platform.m2m?.oauth2ProxyParameters).toMatch(/^oauth2-proxy-parameters/);
  });

  it('exposes the gateway, waits for its address after the install, then sets and applies the sslip domain', async () => {
    const f = fakeCluster();
    const report = await installPlatform(settings({ expose: 'loadbalancer', domain: 'sslip' }), clients(f.cluster));
    expect(f.calls).toEqual([
      'find Service istio-system/istio-ingressgateway',
      'preflight',
      'install',
      'gatewayAddress',
      'apply ConfigMap knative-serving/config-domain',
    ]);
    const objects = f.installed();
    expect((pick(objects, 'Service', 'istio-system', 'istio-ingressgateway')['spec'] as { type: string }).type).toBe(
      'LoadBalancer',
    );
    expect(Object.keys(f.applied[0]?.objects[0]?.['data'] as object)).toContain('198.51.100.7.sslip.io');
    expect(report.platform).toEqual({
      address: '198.51.100.7',
      domain: '198.51.100.7.sslip.io',
      changedAfterInstall: 1,
    });
    expect(report.step).toBe('done');
  });

  it('sets the domain before the install when the gateway already has an address, and applies nothing after', async () => {
    const live: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
      spec: { type: 'LoadBalancer' },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } },
    };
    const f = fakeCluster({}, [live]);
    const report = await installPlatform(settings({ expose: 'loadbalancer', domain: 'sslip' }), clients(f.cluster));
    expect(f.calls).toEqual([
      'find Service istio-system/istio-ingressgateway',
      'find ConfigMap knative-serving/config-domain',
      'preflight',
      'install',
      'gatewayAddress',
    ]);
    const cm = pick(f.installed(), 'ConfigMap', 'knative-serving', 'config-domain');
    expect(Object.keys(cm['data'] as object)).toContain('198.51.100.7.sslip.io');
    expect(report.platform.changedAfterInstall).toBeUndefined();
  });

  it('plan-only checks without writing and dry-runs what it can, never installing', async () => {
    const f = fakeCluster();
    const report = await installPlatform(settings({ planOnly: true }), clients(f.cluster));
    expect(f.calls[0]).toBe('preflight');
    expect(f.calls[1]).toBe('openGates');
    expect(f.calls[2]).toMatch(/^apply \(dry run\) /);
    expect(f.calls).toHaveLength(3);
    expect(f.preflightWrites).toEqual([false]);
    // No gate is open: only objects that need none (cluster-scoped, CRD-free) are dry-run.
    const dry = f.applied[0]?.objects ?? [];
    expect(dry.length).toBeGreaterThan(0);
    expect(dry.every((o) => !o.metadata.namespace)).toBe(true);
    expect(report.dryRun?.counts.created).toBe(dry.length);
    expect(report.dryRun?.later).toBe(569 - dry.length);
    expect(report.dryRun?.waiting.length).toBeGreaterThan(0);
    expect(report.install).toBeUndefined();
    expect(report.step).toBe('done');
  });
});

describe('installPlatform failures: the first failed step stops the rest, and the report says which', () => {
  it('a Dex read that fails is an error, not "absent": nothing is hashed or installed', async () => {
    const forbidden = new KfopsError('secrets "dex-passwords" is forbidden');
    const f = fakeCluster({
      find: async (ref) => {
        if (ref.kind === 'Secret') throw forbidden;
        return undefined;
      },
    });
    const s = settings({
      users: [{ email: 'alice@example.com', passwordEnv: 'ALICE_PW', contributors: [] }],
      passwords: new Map([['alice@example.com', 'pw']]),
    });
    const { error, report } = await failed(s, clients(f.cluster));
    expect(error).toBe(forbidden);
    expect(report.step).toBe('users');
    expect(report.users).toEqual([]);
    expect(f.calls).toEqual([]);
    expect(f.installed()).toEqual([]);
  });

  it('a preflight failure stops before anything is applied', async () => {
    const noClass = new KfopsError('No default StorageClass: 3 claim(s) would stay Pending');
    const f = fakeCluster({
      preflight: async () => {
        throw noClass;
      },
    });
    const { error, report } = await failed(settings({ m2mAuth: true }), clients(f.cluster));
    expect(error).toBe(noClass);
    expect(report.step).toBe('preflight');
    expect(report.platform.issuer).toBe(ISSUER);
    expect(report.preflight).toBeUndefined();
    expect(f.calls).toEqual(['issuer', 'find RequestAuthentication istio-system/m2m-token-issuer']);
    expect(report.totalMs).toBeGreaterThanOrEqual(0);
  });

  it('an install that stops leaves its partial report and no gateway wait', async () => {
    const f = fakeCluster({
      install: async (objects) => {
        const partial: PartialInstallReport = {
          ...installReport(objects),
          counts: { created: 500, configured: 0, unchanged: 0 },
          notApplied: objects.slice(500).map(refOf),
          blocked: [],
        };
        throw new InstallError('phase 3: apply failed', partial, [], {});
      },
    });
    const { error, report } = await failed(settings({ expose: 'loadbalancer' }), clients(f.cluster));
    expect(error).toBeInstanceOf(InstallError);
    expect(report.step).toBe('install');
    expect(report.install && 'notApplied' in report.install ? report.install.notApplied : []).toHaveLength(69);
    expect(f.calls).not.toContain('gatewayAddress');
  });

  it('a gateway that never gets an address fails after the install, which the report keeps', async () => {
    const f = fakeCluster({
      gatewayAddress: async () => {
        throw new KfopsError('Service istio-system/istio-ingressgateway not ready');
      },
    });
    const { report } = await failed(settings({ expose: 'loadbalancer', domain: 'sslip' }), clients(f.cluster));
    expect(report.step).toBe('gateway');
    expect(report.install?.counts.created).toBe(569);
    expect(report.platform.domain).toBeUndefined();
    expect(f.applied).toEqual([]);
  });

  it('a manifests file that cannot be read fails at render, before the cluster is asked anything, as its input', async () => {
    const f = fakeCluster();
    const unreadable = new PlatformSettingError(
      'source.file',
      '/manifests/example.yaml',
      'a readable YAML file (EACCES)',
    );
    const { error, report } = await failed(settings(), {
      cluster: f.cluster,
      render: async () => {
        throw unreadable;
      },
    });
    expect(error).toBe(unreadable);
    expect(report.step).toBe('render');
    expect(report.manifests).toBeUndefined();
    expect(f.calls).toEqual([]);
    const asInput = asInputError(error);
    expect(asInput).toBeInstanceOf(ConfigurationError);
    expect((asInput as ConfigurationError).message).toContain(`Input '${INPUT.manifestsFile}'`);
  });

  it('sslip without an address source is a domain error, mapped to the domain input', async () => {
    const f = fakeCluster();
    const { error, report } = await failed(settings({ domain: 'sslip' }), clients(f.cluster));
    expect(error).toBeInstanceOf(PlatformSettingError);
    expect((error as PlatformSettingError).field).toBe('domain');
    expect((asInputError(error) as ConfigurationError).message).toContain(`Input '${INPUT.domain}'`);
    expect(report.step).toBe('platform');
    expect(f.calls).toEqual([]);
  });

  it('ends at its deadline naming the step and the API server when a call never answers', async () => {
    const f = fakeCluster({ preflight: () => new Promise(() => undefined) });
    const started = Date.now();
    const { error, report } = await failed(settings({ timeoutMs: 100 }), clients(f.cluster), {
      deadlineGraceMs: 100,
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error).toBeInstanceOf(PlatformDeadlineError);
    expect((error as PlatformDeadlineError).step).toBe('preflight');
    expect((error as KfopsError).describe()).toContain(`the API server at ${SERVER}`);
    expect(report.step).toBe('preflight');
    expect(f.calls).not.toContain('install');
  });
});

describe('a manifests repository URL with credentials', () => {
  const repo = 'https://ci-bot:tok-5ecret@git.example.com/platform/manifests.git';

  it('is masked when read, and never in a log line, the origin or an error', async () => {
    const masked: string[] = [];
    const values: Record<string, string> = { [INPUT.manifestsRepo]: repo, [INPUT.kubeflowVersion]: 'v1.9.1' };
    const s = readSettings(
      new Inputs(
        (n) => values[n] ?? '',
        (v) => masked.push(v),
      ),
    );
    expect(masked).toContain('tok-5ecret');
    expect(s.source).toMatchObject({ type: 'version', repo });

    const logger = recordingLogger();
    const clone = async (_cmd: string, args: readonly string[]) => ({
      code: 128,
      stdout: '',
      stderr: `Cloning into '${args.at(-1)}'...\nfatal: unable to access '${repo}/': Could not resolve host: git.example.com`,
    });
    const e = await loadManifests(s.source, { exec: clone, logger }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(e).toBeInstanceOf(KfopsError);
    const text = `${(e as KfopsError).describe()}\n${logger.lines.join('\n')}`;
    expect(text).toContain('https://***@git.example.com/platform/manifests.git');
    expect(text).not.toContain('tok-5ecret');
    expect(text).not.toContain('ci-bot');
  });
});
