/**
 * The contract of the workflows: what the runner under test (act) ignores or cannot see is checked here
 * on the files themselves. Every check is a function from the set of workflows to a list of problems, and
 * each is also run on a broken copy, where it must find the problem.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

type Json = Record<string, unknown>;
interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  if?: string;
}
interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown> | 'inherit';
  permissions?: Record<string, string> | string;
  concurrency?: { group: string; 'cancel-in-progress'?: boolean } | string;
  environment?: string | { name: string };
  needs?: string | string[];
  steps?: Step[];
}
interface Declared {
  type?: string;
  required?: boolean;
  default?: unknown;
}
interface Workflow {
  on: Json & { workflow_call?: { inputs?: Record<string, Declared>; secrets?: Record<string, Declared> } };
  permissions?: Record<string, string> | string;
  jobs: Record<string, Job>;
}
interface WorkflowSet {
  /** .github/workflows/<file> */
  workflows: Record<string, Workflow>;
  /** examples/callers/<file> */
  callers: Record<string, Workflow>;
  /** action.yml of actions/<name>, or undefined when there is none. */
  action: (name: string) => { inputs?: Record<string, Declared> } | undefined;
}

const readYaml = <T>(path: string): T => load(readFileSync(path, 'utf8')) as T;
const yamlIn = (dir: string): Record<string, Workflow> =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => [f, readYaml<Workflow>(join(dir, f))]),
  );

function realSet(): WorkflowSet {
  return {
    workflows: yamlIn(join(root, '.github', 'workflows')),
    callers: yamlIn(join(root, 'examples', 'callers')),
    action: (name) => {
      const file = join(root, 'actions', name, 'action.yml');
      return existsSync(file) ? readYaml(file) : undefined;
    },
  };
}

const reusable = (set: WorkflowSet): Array<[string, Workflow]> =>
  Object.entries(set.workflows).filter(([, w]) => w.on && 'workflow_call' in w.on);
const everyJob = (set: WorkflowSet): Array<[string, string, Job]> =>
  [
    ...Object.entries(set.workflows),
    ...Object.entries(set.callers).map(([f, w]) => [`examples/${f}`, w] as const),
  ].flatMap(([f, w]) => Object.entries(w.jobs).map(([id, j]) => [f, id, j] as [string, string, Job]));
const steps = (job: Job): Step[] => job.steps ?? [];
const kfopsAction = (uses: string | undefined): string | undefined =>
  /^\.\/(?:\.kfops\/)?actions\/([a-z0-9-]+)$/.exec(uses ?? '')?.[1];
const authenticates = (job: Job): boolean => steps(job).some((s) => s.uses?.startsWith('google-github-actions/auth@'));
const permissionOf = (job: Job, wf: Workflow, scope: string): string | undefined => {
  const p = job.permissions ?? wf.permissions;
  if (typeof p === 'string') return p === 'write-all' ? 'write' : p === 'read-all' ? 'read' : undefined;
  return p?.[scope];
};
/** The called workflow of a job's `uses`: ./.github/workflows/x.yml or <owner>/kfops/.github/workflows/x.yml@ref. */
const calledWorkflow = (set: WorkflowSet, uses: string): [string, Workflow | undefined] => {
  const file = /^(?:\.|[\w.-]+\/kfops)\/\.github\/workflows\/([\w.-]+\.ya?ml)(?:@.+)?$/.exec(uses)?.[1];
  return file ? [file, set.workflows[file]] : [uses, undefined];
};
const requiredWithoutDefault = (decl: Record<string, Declared> = {}): string[] =>
  Object.entries(decl)
    .filter(([, d]) => d.required === true && d.default === undefined)
    .map(([k]) => k);

// ---- the checks -------------------------------------------------------------------------------------

/** Steps of kfops actions pass only declared inputs and every required one. */
function actionInputs(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, id, job] of everyJob(set)) {
    for (const step of steps(job)) {
      const name = kfopsAction(step.uses);
      if (!name) continue;
      const meta = set.action(name);
      if (!meta) {
        problems.push(`${file} ${id}: ${step.uses}: actions/${name}/action.yml does not exist`);
        continue;
      }
      const declared = meta.inputs ?? {};
      for (const k of Object.keys(step.with ?? {}))
        if (!(k in declared)) problems.push(`${file} ${id}: ${step.uses} has no input ${k}`);
      for (const k of requiredWithoutDefault(declared))
        if (!(k in (step.with ?? {}))) problems.push(`${file} ${id}: ${step.uses} needs input ${k}`);
    }
  }
  return problems;
}

/** Calls of kfops' reusable workflows pass only declared inputs and secrets, and every required one. */
function workflowCalls(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, id, job] of everyJob(set)) {
    if (!job.uses) continue;
    const [called, wf] = calledWorkflow(set, job.uses);
    if (!wf) {
      if (/kfops/.test(job.uses)) problems.push(`${file} ${id}: ${job.uses}: no such workflow in .github/workflows`);
      continue;
    }
    const call = wf.on.workflow_call;
    if (!call) {
      problems.push(`${file} ${id}: ${called} is not a reusable workflow (on.workflow_call)`);
      continue;
    }
    for (const k of Object.keys(job.with ?? {}))
      if (!(k in (call.inputs ?? {}))) problems.push(`${file} ${id}: ${called} has no input ${k}`);
    for (const k of requiredWithoutDefault(call.inputs))
      if (!(k in (job.with ?? {}))) problems.push(`${file} ${id}: ${called} needs input ${k}`);
    for (const [k, v] of Object.entries(job.with ?? {})) {
      const type = call.inputs?.[k]?.type;
      const literal = typeof v !== 'string' || !v.includes('${{');
      if (literal && type === 'boolean' && typeof v !== 'boolean')
        problems.push(`${file} ${id}: ${called} input ${k} is a boolean, given ${JSON.stringify(v)}`);
    }
    if (job.secrets === 'inherit') continue;
    for (const k of Object.keys(job.secrets ?? {}))
      if (!(k in (call.secrets ?? {}))) problems.push(`${file} ${id}: ${called} has no secret ${k}`);
    for (const k of requiredWithoutDefault(call.secrets))
      if (!(k in (job.secrets ?? {}))) problems.push(`${file} ${id}: ${called} needs secret ${k}`);
  }
  return problems;
}

/** Every action or workflow from another repository is pinned by a full commit SHA (examples: COMMIT_SHA for kfops). */
function pinned(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, id, job] of everyJob(set)) {
    const uses = [job.uses, ...steps(job).map((s) => s.uses)].filter((u): u is string => !!u);
    for (const u of uses) {
      if (u.startsWith('./') || u.startsWith('docker://')) continue;
      if (file.startsWith('examples/') && /^OWNER\/kfops\/.+@COMMIT_SHA$/.test(u)) continue;
      if (!/^[\w.-]+\/[\w.-]+(\/[^@]+)?@[0-9a-f]{40}$/.test(u))
        problems.push(`${file} ${id}: ${u} is not pinned by a commit SHA`);
    }
  }
  return problems;
}

/** Every job states its token permissions (its own, or the workflow's). */
function permissionsDeclared(set: WorkflowSet): string[] {
  const all = {
    ...set.workflows,
    ...Object.fromEntries(Object.entries(set.callers).map(([f, w]) => [`examples/${f}`, w])),
  };
  return Object.entries(all).flatMap(([file, wf]) =>
    Object.entries(wf.jobs)
      .filter(([, j]) => j.permissions === undefined && wf.permissions === undefined)
      .map(([id]) => `${file} ${id}: no permissions`),
  );
}

/**
 * Jobs that change a cluster (setup-gke, release-models) are in a concurrency group keyed by the cluster
 * (releases of one service: by cluster and namespace), never cancelling a run in progress in production.
 */
function concurrency(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, wf] of reusable(set)) {
    for (const [id, job] of Object.entries(wf.jobs)) {
      const changes = steps(job).some((s) => ['setup-gke', 'release-models'].includes(kfopsAction(s.uses) ?? ''));
      if (!changes) continue;
      const c = job.concurrency;
      const group = typeof c === 'string' ? c : c?.group;
      if (!group) {
        problems.push(`${file} ${id}: no concurrency group`);
        continue;
      }
      for (const key of ['inputs.project', 'inputs.location', 'inputs.cluster'])
        if (!group.includes(key)) problems.push(`${file} ${id}: concurrency group ${group} lacks ${key}`);
      const release = steps(job).find((s) => kfopsAction(s.uses) === 'release-models');
      if (release?.with?.['namespace'] !== undefined && !group.includes('inputs.namespace'))
        problems.push(`${file} ${id}: the concurrency group of a one-service release lacks inputs.namespace`);
      const production = release ? release.with?.['mode'] === 'production' : true;
      if (production && (typeof c === 'string' || c?.['cancel-in-progress'] !== false))
        problems.push(`${file} ${id}: a production job must not cancel a run in progress (cancel-in-progress: false)`);
    }
  }
  return problems;
}

/** id-token: write exactly where Google auth runs; pull-requests: write exactly where the comment is written. */
function leastPermissions(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, wf] of reusable(set)) {
    for (const [id, job] of Object.entries(wf.jobs)) {
      const idToken = permissionOf(job, wf, 'id-token') === 'write';
      if (idToken !== authenticates(job))
        problems.push(
          `${file} ${id}: id-token: ${idToken ? 'write without Google auth' : 'write missing for Google auth'}`,
        );
      const comments = steps(job).some(
        (s) =>
          kfopsAction(s.uses) === 'release-models' &&
          s.with?.['github-token'] !== undefined &&
          s.with?.['comment'] !== 'off',
      );
      const prWrite = permissionOf(job, wf, 'pull-requests') === 'write';
      if (prWrite !== comments)
        problems.push(
          `${file} ${id}: pull-requests: ${prWrite ? 'write where no comment is written' : 'write missing for the comment'}`,
        );
      for (const [scope, level] of Object.entries(typeof job.permissions === 'object' ? job.permissions : {}))
        if (level === 'write' && !['id-token', 'pull-requests'].includes(scope))
          problems.push(`${file} ${id}: ${scope}: write is more than the job needs`);
    }
  }
  return problems;
}

/** Production jobs run in a deployment environment the caller can name; candidate jobs do not. */
function environments(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, wf] of reusable(set)) {
    for (const [id, job] of Object.entries(wf.jobs)) {
      const release = steps(job).find((s) => kfopsAction(s.uses) === 'release-models');
      const production = release ? release.with?.['mode'] === 'production' : authenticates(job);
      const env = typeof job.environment === 'object' ? job.environment.name : job.environment;
      if (production && env !== '${{ inputs.environment }}')
        problems.push(`${file} ${id}: a production job needs environment: \${{ inputs.environment }}`);
      if (production && !wf.on.workflow_call?.inputs?.['environment']) problems.push(`${file}: no input environment`);
      if (!production && env) problems.push(`${file} ${id}: environment ${env} on a job that is not production`);
    }
  }
  return problems;
}

/** A caller job grants at least what the called workflow's jobs ask (a called workflow can only lower it). */
function callerPermissions(set: WorkflowSet): string[] {
  const problems: string[] = [];
  const rank: Record<string, number> = { none: 0, read: 1, write: 2 };
  for (const [file, caller] of Object.entries(set.callers)) {
    for (const [id, job] of Object.entries(caller.jobs)) {
      if (!job.uses) continue;
      const [called, wf] = calledWorkflow(set, job.uses);
      if (!wf) continue;
      for (const inner of Object.values(wf.jobs)) {
        for (const [scope, level] of Object.entries(typeof inner.permissions === 'object' ? inner.permissions : {})) {
          const given = permissionOf(job, caller, scope) ?? 'none';
          if ((rank[given] ?? 0) < (rank[level] ?? 0))
            problems.push(`examples/${file} ${id}: ${called} needs ${scope}: ${level}, the caller grants ${given}`);
        }
      }
    }
  }
  return problems;
}

/** Jobs running kfops actions check kfops out at the workflow's own commit first, and the workflow has the fallback inputs. */
function selfCheckout(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, wf] of reusable(set)) {
    for (const [id, job] of Object.entries(wf.jobs)) {
      const first = steps(job).findIndex((s) => kfopsAction(s.uses));
      if (first < 0) continue;
      const checkout = steps(job).findIndex(
        (s) =>
          s.uses?.startsWith('actions/checkout@') &&
          s.with?.['repository'] === '${{ job.workflow_repository || inputs.kfops-repository }}' &&
          s.with?.['ref'] === '${{ job.workflow_sha || inputs.kfops-ref }}' &&
          s.with?.['path'] === '.kfops',
      );
      if (checkout < 0 || checkout > first)
        problems.push(
          `${file} ${id}: no checkout of kfops at job.workflow_repository/job.workflow_sha into .kfops before its actions`,
        );
      for (const s of steps(job))
        if (s.uses?.startsWith('./actions/'))
          problems.push(`${file} ${id}: ${s.uses} resolves in the caller's repository`);
      for (const k of ['kfops-repository', 'kfops-ref'])
        if (!wf.on.workflow_call?.inputs?.[k]) problems.push(`${file}: no input ${k}`);
    }
  }
  return problems;
}

/** Only jobs that install the platform create a cluster: setup-gke in a release job has create: false. */
function releasesReuseCluster(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, id, job] of everyJob(set)) {
    const releases = steps(job).some((s) => kfopsAction(s.uses) === 'release-models');
    for (const s of steps(job).filter((x) => kfopsAction(x.uses) === 'setup-gke')) {
      const create = s.with?.['create'];
      if (releases && create !== false && create !== 'false')
        problems.push(
          `${file} ${id}: setup-gke in a release job without create: false (a missing cluster would be created)`,
        );
      if (!releases && create !== undefined && create !== true && create !== 'true')
        problems.push(`${file} ${id}: setup-gke with create: ${String(create)} in a job that creates the platform`);
    }
  }
  return problems;
}

/** Scheduled workflows (the e2e run): one run at a time, every job bounded in time, no write scope. */
function scheduledBounded(set: WorkflowSet): string[] {
  const problems: string[] = [];
  for (const [file, wf] of Object.entries(set.workflows).filter(([, w]) => 'schedule' in (w.on ?? {}))) {
    if (!(wf as unknown as Json)['concurrency']) problems.push(`${file}: no concurrency`);
    for (const [id, job] of Object.entries(wf.jobs)) {
      if (typeof (job as Json)['timeout-minutes'] !== 'number') problems.push(`${file} ${id}: no timeout-minutes`);
      const p = job.permissions ?? wf.permissions;
      if (p === undefined || typeof p === 'string' || Object.values(p).some((v) => v === 'write'))
        problems.push(`${file} ${id}: permissions must be listed and read-only`);
    }
  }
  return problems;
}

/** rebuild-cluster's platform job is platform.yml's job with recreate and confirm, after the confirm check. */
function rebuildMatchesPlatform(set: WorkflowSet): string[] {
  const platform = set.workflows['platform.yml']?.jobs['platform'];
  const rebuild = set.workflows['rebuild-cluster.yml']?.jobs['platform'];
  if (!platform || !rebuild) return ['platform.yml or rebuild-cluster.yml has no job platform'];
  const problems: string[] = [];
  const gke = rebuild.steps?.find((s) => s.id === 'gke');
  if (gke?.with?.['recreate'] !== true || gke.with['confirm'] !== '${{ inputs.confirm }}')
    problems.push('rebuild-cluster.yml: setup-gke without recreate: true and confirm: ${{ inputs.confirm }}');
  if (rebuild.needs !== 'confirm') problems.push('rebuild-cluster.yml: platform does not need the confirm job');
  const confirmJob = set.workflows['rebuild-cluster.yml']?.jobs['confirm'];
  if (!confirmJob || Object.keys(confirmJob.permissions ?? { any: 1 }).length > 0 || authenticates(confirmJob))
    problems.push('rebuild-cluster.yml: the confirm job must run with no permissions and no credentials');
  const strip = (j: Job): unknown => {
    const copy = structuredClone(j) as Job;
    delete copy.needs;
    const s = copy.steps?.find((x) => x.id === 'gke');
    if (s?.with) {
      delete s.with['recreate'];
      delete s.with['confirm'];
    }
    return copy;
  };
  if (JSON.stringify(strip(rebuild)) !== JSON.stringify(strip(platform)))
    problems.push('rebuild-cluster.yml: the platform job differs from platform.yml (beyond recreate/confirm)');
  const inputs = (f: string): string[] => Object.keys(set.workflows[f]?.on.workflow_call?.inputs ?? {});
  const extra = inputs('rebuild-cluster.yml').filter((k) => k !== 'confirm');
  if (JSON.stringify(extra) !== JSON.stringify(inputs('platform.yml')))
    problems.push('rebuild-cluster.yml: its inputs (but confirm) differ from platform.yml');
  return problems;
}

const checks = {
  actionInputs,
  workflowCalls,
  pinned,
  permissionsDeclared,
  concurrency,
  leastPermissions,
  environments,
  callerPermissions,
  selfCheckout,
  rebuildMatchesPlatform,
  releasesReuseCluster,
  scheduledBounded,
};

// ---- broken copies ------------------------------------------------------------------------------------

type Mutation = (set: WorkflowSet) => void;
const job = (set: WorkflowSet, file: string, id: string): Job => {
  const j = set.workflows[file]?.jobs[id];
  if (!j) throw new Error(`${file} has no job ${id}`);
  return j;
};
const step = (set: WorkflowSet, file: string, id: string, pred: (s: Step) => boolean): Step => {
  const s = steps(job(set, file, id)).find(pred);
  if (!s) throw new Error(`${file} ${id}: no such step`);
  return s;
};
const gkeStep = (set: WorkflowSet): Step => step(set, 'platform.yml', 'platform', (s) => s.id === 'gke');

const broken: Record<keyof typeof checks, Array<[string, Mutation]>> = {
  actionInputs: [
    ['an input setup-gke does not have', (s) => void (gkeStep(s).with!['cluster'] = 'x')],
    ['a required input left out', (s) => void delete gkeStep(s).with!['project']],
    ['an action that does not exist', (s) => void (gkeStep(s).uses = './.kfops/actions/setup-gek')],
  ],
  workflowCalls: [
    [
      'an input the workflow does not declare',
      (s) => void (s.callers['main.yml']!.jobs['deploy']!.with!['clustr'] = 'x'),
    ],
    ['a required input left out', (s) => void delete s.callers['rebuild.yml']!.jobs['rebuild']!.with!['confirm']],
    [
      'a required secret left out',
      (s) =>
        void delete (s.callers['pull-request.yml']!.jobs['promote']!.secrets as Json)['workload-identity-provider'],
    ],
    ['an undeclared secret', (s) => void ((s.callers['main.yml']!.jobs['deploy']!.secrets as Json)['token'] = 'x')],
    ['a string for a boolean input', (s) => void (s.callers['main.yml']!.jobs['deploy']!.with!['s3-check'] = 'no')],
  ],
  pinned: [
    [
      'a tag',
      (s) =>
        void (step(s, 'platform.yml', 'platform', (x) => !!x.uses?.startsWith('google-github-actions/')).uses =
          'google-github-actions/auth@v3'),
    ],
    [
      'a short SHA',
      (s) =>
        void (step(s, 'deploy.yml', 'release', (x) => !!x.uses?.startsWith('actions/checkout')).uses =
          'actions/checkout@11bd719'),
    ],
    [
      'a branch of kfops in an example',
      (s) => void (s.callers['main.yml']!.jobs['deploy']!.uses = 'OWNER/kfops/.github/workflows/deploy.yml@main'),
    ],
  ],
  permissionsDeclared: [
    ['a job without permissions', (s) => void delete job(s, 'deploy.yml', 'release').permissions],
    ['a caller job without permissions', (s) => void delete s.callers['rebuild.yml']!.jobs['rebuild']!.permissions],
  ],
  concurrency: [
    ['a release job without concurrency', (s) => void delete job(s, 'deploy.yml', 'release').concurrency],
    ['a rebuild without concurrency', (s) => void delete job(s, 'rebuild-cluster.yml', 'platform').concurrency],
    [
      'a one-service release grouped by cluster only',
      (s) =>
        void ((job(s, 'model-release.yml', 'release').concurrency as Json)['group'] =
          'kfops-${{ inputs.project }}-${{ inputs.location }}-${{ inputs.cluster }}'),
    ],
    [
      'a production run cancelled by the next',
      (s) => void ((job(s, 'deploy.yml', 'release').concurrency as Json)['cancel-in-progress'] = true),
    ],
  ],
  leastPermissions: [
    [
      'id-token where nothing authenticates',
      (s) => void (job(s, 'rebuild-cluster.yml', 'confirm').permissions = { 'id-token': 'write' }),
    ],
    [
      'pull-requests: write on a production release',
      (s) => void ((job(s, 'deploy.yml', 'release').permissions as Json)['pull-requests'] = 'write'),
    ],
    [
      'pull-requests: write missing where the comment is written',
      (s) => void delete (job(s, 'promote-model.yml', 'release').permissions as Json)['pull-requests'],
    ],
    ['contents: write', (s) => void ((job(s, 'platform.yml', 'platform').permissions as Json)['contents'] = 'write')],
  ],
  environments: [
    ['a production job without environment', (s) => void delete job(s, 'deploy.yml', 'release').environment],
    [
      'an environment on pull-request candidates',
      (s) => void (job(s, 'promote-model.yml', 'release').environment = 'production'),
    ],
  ],
  callerPermissions: [
    [
      'a caller that does not grant id-token',
      (s) => void delete (s.callers['main.yml']!.jobs['deploy']!.permissions as Json)['id-token'],
    ],
  ],
  selfCheckout: [
    [
      'kfops checked out at the caller commit',
      (s) => void delete step(s, 'deploy.yml', 'release', (x) => x.with?.['path'] === '.kfops').with!['ref'],
    ],
    [
      'an action path in the caller',
      (s) => void (step(s, 'deploy.yml', 'release', (x) => x.id === 'release').uses = './actions/release-models'),
    ],
  ],
  releasesReuseCluster: [
    [
      'a release whose setup-gke may create the cluster',
      (s) => void delete step(s, 'model-release.yml', 'release', (x) => x.id === 'gke').with!['create'],
    ],
    ['a platform that only reuses', (s) => void (gkeStep(s).with!['create'] = false)],
  ],
  scheduledBounded: [
    [
      'an e2e job without timeout-minutes',
      (s) => void delete (job(s, 'e2e-kind.yml', 'e2e') as Json)['timeout-minutes'],
    ],
    ['an e2e without concurrency', (s) => void delete (s.workflows['e2e-kind.yml'] as unknown as Json)['concurrency']],
    [
      'an e2e job that may write contents',
      (s) => void (job(s, 'e2e-kind.yml', 'e2e').permissions = { contents: 'write' }),
    ],
  ],
  rebuildMatchesPlatform: [
    [
      'no recreate',
      (s) => void delete step(s, 'rebuild-cluster.yml', 'platform', (x) => x.id === 'gke').with!['recreate'],
    ],
    ['platform changed alone', (s) => void (gkeStep(s).with!['timeout'] = '1h')],
    [
      'a confirm job with credentials',
      (s) => void (job(s, 'rebuild-cluster.yml', 'confirm').permissions = { contents: 'read' }),
    ],
  ],
};

const copyOf = (set: WorkflowSet): WorkflowSet => ({
  workflows: structuredClone(set.workflows),
  callers: structuredClone(set.callers),
  action: set.action,
});

describe('workflows contract', () => {
  const set = realSet();

  it('covers the five reusable workflows and three caller examples', () => {
    expect(
      reusable(set)
        .map(([f]) => f)
        .sort(),
    ).toEqual(['deploy.yml', 'model-release.yml', 'platform.yml', 'promote-model.yml', 'rebuild-cluster.yml'].sort());
    expect(Object.keys(set.callers).sort()).toEqual(['main.yml', 'pull-request.yml', 'rebuild.yml']);
    expect(
      Object.entries(set.workflows)
        .filter(([, w]) => 'schedule' in w.on)
        .map(([f]) => f),
    ).toEqual(['e2e-kind.yml']);
  });

  describe.each(Object.keys(checks) as Array<keyof typeof checks>)('%s', (name) => {
    it('holds for the workflows and caller examples', () => {
      expect(checks[name](set)).toEqual([]);
    });
    it.each(broken[name])('finds a broken copy: %s', (_label, mutate) => {
      const copy = copyOf(set);
      mutate(copy);
      expect(checks[name](copy).length).toBeGreaterThan(0);
    });
  });

  describe('actionlint', () => {
    const lint = (files: string[]): { code: number; out: string } => {
      try {
        return {
          code: 0,
          out: execFileSync('bash', [join(root, 'scripts', 'actionlint.sh'), ...files], {
            cwd: root,
            encoding: 'utf8',
          }),
        };
      } catch (e) {
        const err = e as { status: number; stdout: string };
        return { code: err.status, out: err.stdout };
      }
    };
    const files = [
      ...Object.keys(set.workflows).map((f) => join('.github', 'workflows', f)),
      ...Object.keys(set.callers).map((f) => join('examples', 'callers', f)),
    ];

    it('passes on every workflow and caller example', () => {
      const r = lint(files);
      expect(r.out).toBe('');
      expect(r.code).toBe(0);
    }, 120_000);

    it('fails on a broken copy (an unknown permission level, an undefined step output)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'kfops-actionlint-'));
      mkdirSync(join(dir, '.github', 'workflows'), { recursive: true });
      const wf = structuredClone(set.workflows['deploy.yml']) as Workflow;
      (wf.jobs['release']!.permissions as Json)['contents'] = 'reed';
      (wf.jobs['release'] as Json)['outputs'] = { result: '${{ steps.nope.outputs.result }}' };
      const file = join(dir, '.github', 'workflows', basename('deploy.yml'));
      writeFileSync(file, dump(wf));
      const r = lint([file]);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain('"reed" is invalid for permission of scope "contents"');
      expect(r.out).toContain('property "nope" is not defined');
    }, 120_000);
  });
});
