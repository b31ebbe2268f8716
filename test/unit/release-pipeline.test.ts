/** The release pipeline's decisions, over fakes of its use cases (the real ones run in the integration tests). */
import { describe, expect, it } from 'vitest';
import { KfopsError } from '../../src/common/errors.js';
import type { SmokeTestResult, SmokeTestSettings } from '../../src/inference/smoke-test.js';
import { APPLIED_ANNOTATION } from '../../src/kserve/inferenceservice.js';
import type { ReleaseModelReport, ReleaseModelSettings } from '../../src/kserve/release.js';
import type { KubeObject } from '../../src/kube/types.js';
import type { AliasMove } from '../../src/mlflow/registry.js';
import { parseReleaseDocument } from '../../src/release/file.js';
import {
  candidateName,
  overallResult,
  releaseService,
  runFailure,
  runReleases,
  type PipelineDeps,
  type PipelineSettings,
} from '../../src/release/pipeline.js';

const NS = 'team';
const spec = (over: Record<string, unknown> = {}) =>
  parseReleaseDocument(
    {
      service: 'wine',
      namespace: NS,
      model: 'models:/wine/2',
      canary: 20,
      alias: 'champion',
      smoke: { payload: [[0.9, 0.4]], expected: { outputs: [{ data: [1] }] }, requests: 5 },
      ...over,
    },
    { file: 'models/wine.yaml' },
  );

const settings = (over: Partial<PipelineSettings> = {}): PipelineSettings => ({
  mode: 'production',
  mlflow: { url: 'http://mlflow.example' },
  s3Check: true,
  smokeAuth: { kind: 'serviceaccount', serviceAccount: 'default-editor' },
  auth: { mode: 'auto', fromNamespaces: [] },
  timeoutMs: 60_000,
  smokeTimeoutMs: 30_000,
  requestTimeoutMs: 10_000,
  forceConflicts: false,
  ...over,
});

const isvc = (name: string, version: string): KubeObject => ({
  apiVersion: 'serving.kserve.io/v1beta1',
  kind: 'InferenceService',
  metadata: {
    name,
    namespace: NS,
    annotations: {
      [APPLIED_ANNOTATION]: JSON.stringify({
        predictor: { model: { storageUri: `s3://models/wine/${version}` } },
        model: { uri: `s3://models/wine/${version}`, version, name: 'wine', registry: `models:/wine/${version}` },
      }),
    },
  },
});

interface World {
  services: Map<string, KubeObject>;
  calls: string[];
  smokes: SmokeTestSettings[];
  aliases: Map<string, string>;
}

/**
 * A cluster of InferenceServices keyed by name (deploy writes the applied record, rollback restores the one
 * before), a smoke test that passes or fails as told, and an alias store.
 */
function fakes(
  opts: {
    live?: KubeObject[];
    smoke?: 'pass' | 'wrong' | 'throw';
    deployFails?: 'before-apply' | 'after-apply';
    unchanged?: boolean;
    aliasFails?: boolean;
  } = {},
): { deps: PipelineDeps; world: World } {
  const world: World = {
    services: new Map((opts.live ?? []).map((o) => [o.metadata.name, o])),
    calls: [],
    smokes: [],
    aliases: new Map([['champion', '1']]),
  };
  const previous = new Map<string, KubeObject | undefined>();
  const deps: PipelineDeps = {
    readService: (_ns, name) => Promise.resolve(world.services.get(name)),
    releaseModel: (s: ReleaseModelSettings, report: ReleaseModelReport) => {
      const name = s.release.service.name;
      const action = s.release.action;
      const canary = s.model?.predictor.canaryTrafficPercent;
      world.calls.push(`${action} ${name}${canary ? ` canary ${canary}` : ''}`);
      if (action === 'deploy') {
        const version = (s.model?.source.uri ?? '').split('/').pop() as string;
        report.model = {
          uri: `s3://models/wine/${version}`,
          version,
          name: 'wine',
          registry: s.model?.source.uri as string,
          source: { kind: 's3', uri: `s3://models/wine/${version}`, bucket: 'models', prefix: `wine/${version}` },
        };
        report.step = 'release';
        if (opts.deployFails === 'before-apply') return Promise.reject(new KfopsError('API server refused', {}));
        previous.set(name, world.services.get(name));
        world.services.set(name, isvc(name, version));
        if (opts.deployFails === 'after-apply')
          return Promise.reject(new KfopsError('The predictor crashed', { cause: 'CrashLoopBackOff' }));
        report.release = {
          action,
          plan: { predictor: {}, applied: { predictor: {} }, changed: !opts.unchanged },
          outcome: opts.unchanged ? 'unchanged' : 'configured',
          policy: { applied: false, reason: 'test' },
          applied: isvc(name, version),
          ready: { isvc: isvc(name, version), url: `http://${name}.${NS}.example.com`, traffic: [], readyMs: 5 },
        } as unknown as ReleaseModelReport['release'];
      }
      if (action === 'rollback') {
        const before = previous.get(name);
        if (before) world.services.set(name, before);
      }
      report.step = 'done';
      return Promise.resolve(report);
    },
    smokeTest: (s) => {
      world.smokes.push(s);
      if (opts.smoke === 'throw') return Promise.reject(new KfopsError('503 no healthy upstream', { fix: 'x' }));
      return Promise.resolve({
        endpoint: { baseUrl: 'http://gw', model: 'wine', via: 'gw' },
        report: {
          inferenceMs: 3,
          failures: opts.smoke === 'wrong' ? ['$.outputs[0].data[0]: expected 1, got 0'] : [],
          load: {
            requests: 5,
            succeeded: 5,
            failed: 0,
            errorRate: 0,
            outcomes: {},
            elapsedMs: 50,
            throughput: 100,
            concurrency: 4,
            latency: { p50: 4, p95: 9, p99: 11, mean: 5, min: 2, max: 11 },
          },
        },
      } as unknown as SmokeTestResult);
    },
    moveAlias: (name, alias, version): Promise<AliasMove> => {
      world.calls.push(`alias ${name}@${alias} -> ${version}`);
      if (opts.aliasFails) return Promise.reject(new KfopsError('refused (403)', {}));
      const previousVersion = world.aliases.get(alias);
      world.aliases.set(alias, version);
      return Promise.resolve({ name, alias, version, ...(previousVersion ? { previousVersion } : {}) });
    },
  };
  return { deps, world };
}

describe('production releases', () => {
  it('a serving service: canary -> smoke passes -> promote and move the alias (previous version recorded)', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'pass' });
    const r = await releaseService(settings(), spec(), deps);
    expect(world.calls).toEqual(['deploy wine canary 20', 'promote wine', 'alias wine@champion -> 2']);
    expect(r).toMatchObject({
      outcome: 'passed',
      deployedAs: 'wine',
      file: 'models/wine.yaml',
      current: { reference: 'models:/wine/1', version: '1', uri: 's3://models/wine/1' },
      candidate: { reference: 'models:/wine/2', version: '2', registeredModel: 'wine', uri: 's3://models/wine/2' },
      alias: { name: 'champion', version: '2', previousVersion: '1' },
      smoke: { requests: 5, errors: 0, p50Ms: 4, p95Ms: 9, p99Ms: 11 },
      url: 'http://wine.team.example.com',
      modelVersionUrl: 'http://mlflow.example/#/models/wine/versions/2',
    });
    expect(r.cause).toBeUndefined();
    expect(world.aliases.get('champion')).toBe('2');
    // The smoke test goes through the gateway to the service itself, with the file's thresholds.
    expect(world.smokes[0]).toMatchObject({
      target: { type: 'inferenceservice', name: 'wine', namespace: NS, route: 'gateway' },
      requests: 5,
      maxErrorRate: 0,
      auth: { kind: 'serviceaccount', serviceAccount: 'default-editor', namespace: NS },
    });
  });

  it('a wrong answer: roll back, alias untouched, outcome rolled-back with the cause', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'wrong' });
    const r = await releaseService(settings(), spec(), deps);
    expect(world.calls).toEqual(['deploy wine canary 20', 'rollback wine']);
    expect(r.outcome).toBe('rolled-back');
    expect(r.cause).toBe(
      'smoke test failed: $.outputs[0].data[0]: expected 1, got 0; the previous release serves again, alias untouched',
    );
    expect(r.alias).toBeUndefined();
    expect(world.aliases.get('champion')).toBe('1');
    expect(world.services.get('wine')?.metadata.annotations?.[APPLIED_ANNOTATION]).toContain('wine/1');
  });

  it('an endpoint that does not answer is a failed smoke test too', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'throw' });
    const r = await releaseService(settings(), spec(), deps);
    expect(world.calls).toEqual(['deploy wine canary 20', 'rollback wine']);
    expect(r.cause).toMatch(/^smoke test failed: 503 no healthy upstream — Fix: x; the previous release/);
  });

  it('a first release deploys directly (no canary); failing, it has nothing to roll back to', async () => {
    const { deps, world } = fakes({ smoke: 'wrong' });
    const r = await releaseService(settings(), spec(), deps);
    expect(world.calls).toEqual(['deploy wine']);
    expect(r.outcome).toBe('failed');
    expect(r.current).toBeUndefined();
    expect(r.cause).toContain('first release of team/wine: nothing to roll back to');
    expect(world.aliases.get('champion')).toBe('1');
  });

  it('canary 0 replaces directly even when the service serves', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'pass' });
    await releaseService(settings(), spec({ canary: 0 }), deps);
    expect(world.calls[0]).toBe('deploy wine');
  });

  it('what already serves: unchanged, smoke-tested, alias made to read the version', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '2')], smoke: 'pass', unchanged: true });
    const r = await releaseService(settings(), spec(), deps);
    expect(r.outcome).toBe('unchanged');
    expect(world.smokes).toHaveLength(1);
    expect(world.calls).toEqual(['deploy wine canary 20', 'promote wine', 'alias wine@champion -> 2']);
  });

  it('unchanged but failing its smoke test: failed, nothing rolled back (this run changed nothing)', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '2')], smoke: 'wrong', unchanged: true });
    const r = await releaseService(settings(), spec(), deps);
    expect(r.outcome).toBe('failed');
    expect(world.calls).toEqual(['deploy wine canary 20']);
    expect(r.cause).toContain('nothing to roll back');
  });

  it('a deploy that failed after its apply rolls back; one that failed before it does not', async () => {
    const after = fakes({ live: [isvc('wine', '1')], deployFails: 'after-apply' });
    const r1 = await releaseService(settings(), spec(), after.deps);
    expect(after.world.calls).toEqual(['deploy wine canary 20', 'rollback wine']);
    expect(r1).toMatchObject({ outcome: 'rolled-back' });
    expect(r1.cause).toMatch(/^deploy failed: The predictor crashed — Cause: CrashLoopBackOff; the previous/);
    expect(after.world.smokes).toHaveLength(0);

    const before = fakes({ live: [isvc('wine', '1')], deployFails: 'before-apply' });
    const r2 = await releaseService(settings(), spec(), before.deps);
    expect(before.world.calls).toEqual(['deploy wine canary 20']);
    expect(r2).toMatchObject({ outcome: 'failed', cause: 'deploy failed: API server refused' });
  });

  it('a refused alias move after a passed smoke test: failed with the cause, the good release not undone', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'pass', aliasFails: true });
    const r = await releaseService(settings(), spec(), deps);
    expect(world.calls).toEqual(['deploy wine canary 20', 'promote wine', 'alias wine@champion -> 2']);
    expect(r.outcome).toBe('failed');
    expect(r.cause).toBe('promoted, but alias champion of wine was not moved to version 2: refused (403)');
  });

  it('no alias in the file: promoted, no registry write', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'pass' });
    const r = await releaseService(settings(), spec({ alias: undefined }), deps);
    expect(world.calls).toEqual(['deploy wine canary 20', 'promote wine']);
    expect(r).toMatchObject({ outcome: 'passed' });
    expect(r.alias).toBeUndefined();
  });
});

describe('candidate releases (pull requests)', () => {
  it('deploy beside production as <service>-pr-<n>, smoke it, never promote or move an alias', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'pass' });
    const r = await releaseService(settings({ mode: 'candidate', pullRequest: 42 }), spec(), deps);
    expect(world.calls).toEqual(['deploy wine-pr-42']);
    expect(world.smokes[0]?.target).toMatchObject({ name: 'wine-pr-42' });
    expect(r).toMatchObject({
      mode: 'candidate',
      deployedAs: 'wine-pr-42',
      outcome: 'passed',
      current: { version: '1' },
      candidate: { version: '2' },
    });
    expect(world.services.get('wine')?.metadata.annotations?.[APPLIED_ANNOTATION]).toContain('wine/1');
    expect(world.aliases.get('champion')).toBe('1');
  });

  it('a failing candidate is failed (no rollback: production never changed)', async () => {
    const { deps, world } = fakes({ live: [isvc('wine', '1')], smoke: 'wrong' });
    const r = await releaseService(settings({ mode: 'candidate', pullRequest: 7 }), spec(), deps);
    expect(world.calls).toEqual(['deploy wine-pr-7']);
    expect(r).toMatchObject({ outcome: 'failed', cause: 'smoke test failed: $.outputs[0].data[0]: expected 1, got 0' });
  });

  it('candidate names stay within 45 characters', () => {
    expect(candidateName('wine', 12)).toBe('wine-pr-12');
    expect(candidateName('wine')).toBe('wine-candidate');
    const long = candidateName(`a${'b'.repeat(38)}-cdef`, 12345);
    expect(long.length).toBeLessThanOrEqual(45);
    expect(long).toMatch(/^ab+-pr-12345$/);
  });
});

describe('a run of several releases', () => {
  it('each service on its own; the worst outcome and every cause in the error', async () => {
    const { deps } = fakes({ live: [isvc('wine', '1')], smoke: 'wrong' });
    const run = await runReleases(settings(), [spec(), spec({ service: 'iris', alias: undefined })], deps, {
      runUrl: 'https://github.example/o/r/actions/runs/1',
    });
    expect(run.releases.map((r) => [r.service, r.outcome])).toEqual([
      ['wine', 'rolled-back'],
      ['iris', 'failed'],
    ]);
    expect(overallResult(run)).toBe('failed');
    expect(runFailure(run)?.message).toBe('2 of 2 release(s) did not pass: team/wine rolled-back, team/iris failed');
    expect(overallResult({ mode: 'production', releases: [] })).toBe('none');
    expect(runFailure({ mode: 'production', releases: [] })).toBeUndefined();
  });
});
