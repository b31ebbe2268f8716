/**
 * Runs caller workflows with nektos/act (scripts/act.sh, built from its Go module) in host mode, the way
 * a user's repository runs them on GitHub:
 * - kfops itself is a snapshot (HEAD with this tree's .github/, dist bundles freshly built for the actions
 *   the run needs) committed in a temporary git repository; the caller's
 *   `uses: OWNER/kfops/.github/workflows/<name>.yml@<sha>` is served from it through --local-repository;
 * - the caller's repository is another temporary git repository (origin https://github.com/<owner>/<repo>,
 *   so github.repository is right), holding the caller workflow made from examples/callers/<name>.yml;
 * - actions that need the internet get local stand-ins through --local-repository, at the commit the
 *   workflows pin: google-github-actions/auth (test/support/act-standins/auth: the real credentials file,
 *   against the fake STS) and actions/checkout of another repository (test/support/act-standins/checkout:
 *   clones kfops from the snapshot); act copies the caller's own checkout itself;
 * - the job's OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL) is a stand-in server here;
 * - Node 24 is first on PATH (act runs node24 actions on the first `node`).
 * The run's log comes from act's JSON log: job results, step outputs and step summaries per job.
 */
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, load } from 'js-yaml';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const standins = join(root, 'test', 'support', 'act-standins');

/** The owner/repo the snapshot of kfops goes by in the caller workflows. */
export const KFOPS_REPOSITORY = 'kfops-test/kfops';

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=kfops test', '-c', 'user.email=test@kfops.invalid', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();

/** The commit an action is pinned to in kfops' workflows (`uses: owner/repo@<40 hex>`). */
export function pinnedCommit(action: string): string {
  const text = readFileSync(join(root, '.github', 'workflows', 'platform.yml'), 'utf8');
  const m = new RegExp(`uses: ${action.replace('/', '\\/')}@([0-9a-f]{40})`).exec(text);
  if (!m) throw new Error(`platform.yml pins no commit of ${action}`);
  return m[1] as string;
}

export interface KfopsSnapshot {
  dir: string;
  sha: string;
}

const snapshots = new Map<string, Promise<KfopsSnapshot>>();

/** Runs a command without blocking the event loop (servers of the same test keep answering). */
function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output.slice(-4000)}`)),
    );
  });
}

/**
 * kfops as committed (HEAD), with this working tree's .github/ over it (the workflows under test), and
 * dist/<action>/ rebuilt from that source for the given actions, committed in a new git repository.
 * HEAD rather than the working tree: others' unfinished edits elsewhere must not break the bundles.
 * Built once per set of actions in a process.
 */
export function kfopsSnapshot(actions: string[]): Promise<KfopsSnapshot> {
  const key = [...actions].sort().join(',');
  const known = snapshots.get(key);
  if (known) return known;
  const made = makeSnapshot(key);
  snapshots.set(key, made);
  return made;
}

async function makeSnapshot(key: string): Promise<KfopsSnapshot> {
  const dir = mkdtempSync(join(tmpdir(), 'kfops-snapshot-'));
  execFileSync('sh', ['-c', `git archive --format=tar HEAD | tar -x -C '${dir}'`], { cwd: root, stdio: 'ignore' });
  rmSync(join(dir, '.github'), { recursive: true, force: true });
  cpSync(join(root, '.github'), join(dir, '.github'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  await run(process.execPath, [join(dir, 'scripts', 'build.mjs'), '--only', key], dir);
  rmSync(join(dir, 'node_modules'));
  git(dir, 'init', '--quiet', '--initial-branch=main');
  git(dir, 'add', '--all');
  git(dir, 'commit', '--quiet', '-m', 'kfops snapshot');
  return { dir, sha: git(dir, 'rev-parse', 'HEAD') };
}

export interface CallerRepo {
  dir: string;
  repository: string;
  /** Writes the files (path -> content, null deletes) and commits them; returns the commit. */
  commit(files: Record<string, string | null>, message?: string): string;
  head(): string;
  /** Runs git in the repository (e.g. checkout, merge). */
  git(...args: string[]): string;
}

/** A caller's repository in a temporary directory, with the given files committed on `main`. */
export function callerRepo(repository: string, files: Record<string, string>): CallerRepo {
  const dir = mkdtempSync(join(tmpdir(), 'kfops-caller-'));
  git(dir, 'init', '--quiet', '--initial-branch=main');
  git(dir, 'remote', 'add', 'origin', `https://github.com/${repository}.git`);
  const repo: CallerRepo = {
    dir,
    repository,
    commit(changes, message = 'change') {
      for (const [path, content] of Object.entries(changes)) {
        if (content === null) rmSync(join(dir, path), { force: true });
        else {
          mkdirSync(dirname(join(dir, path)), { recursive: true });
          writeFileSync(join(dir, path), content);
        }
      }
      git(dir, 'add', '--all');
      git(dir, 'commit', '--quiet', '--allow-empty', '-m', message);
      return git(dir, 'rev-parse', 'HEAD');
    },
    head: () => git(dir, 'rev-parse', 'HEAD'),
    git: (...args) => git(dir, ...args),
  };
  repo.commit(files, 'initial');
  return repo;
}

type Workflow = {
  jobs: Record<string, { uses?: string; with?: Record<string, unknown>; secrets?: Record<string, string> }>;
};

/**
 * examples/callers/<name>.yml as a user copies it: OWNER/kfops and COMMIT_SHA replaced by the snapshot,
 * `with` values (and secrets) overridden or added per job (e.g. the test's project, the fake API endpoint, and
 * kfops-repository/kfops-ref, which act needs because it has no job.workflow_repository/workflow_sha).
 */
export function callerFromExample(
  name: string,
  snapshot: KfopsSnapshot,
  withValues: Record<string, unknown>,
  secretValues: Record<string, string> = {},
): { text: string; workflow: Workflow } {
  const source = readFileSync(join(root, 'examples', 'callers', `${name}.yml`), 'utf8')
    .replaceAll('OWNER/kfops/', `${KFOPS_REPOSITORY}/`)
    .replaceAll('@COMMIT_SHA', `@${snapshot.sha}`);
  const workflow = load(source) as Workflow;
  for (const job of Object.values(workflow.jobs)) {
    if (!job.uses?.startsWith(`${KFOPS_REPOSITORY}/`)) continue;
    job.with = {
      ...job.with,
      'kfops-repository': KFOPS_REPOSITORY,
      'kfops-ref': snapshot.sha,
      ...withValues,
    };
    job.secrets = { ...job.secrets, ...secretValues };
  }
  return { text: dump(workflow, { lineWidth: 200 }), workflow };
}

export interface OidcStandin {
  /** ACTIONS_ID_TOKEN_REQUEST_URL */
  url: string;
  /** ACTIONS_ID_TOKEN_REQUEST_TOKEN */
  requestToken: string;
  /** The token it hands out (the subject token of the STS exchange). */
  idToken: string;
  requests: Array<{ audience: string | null; authorized: boolean }>;
  close(): Promise<void>;
}

/** The runner's OIDC token endpoint: GET ?audience=... with the request token -> {"value": <token>}. */
export async function startOidcStandin(): Promise<OidcStandin> {
  const requestToken = `oidc-request-${Math.random().toString(36).slice(2)}`;
  const idToken = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: 'repo:acme/models' })).toString('base64url')}.c2ln`;
  const requests: OidcStandin['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const authorized = req.headers.authorization === `Bearer ${requestToken}`;
    requests.push({ audience: url.searchParams.get('audience'), authorized });
    res.writeHead(authorized ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(authorized ? { count: 1, value: idToken } : { message: 'Bad credentials' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token?api-version=2.0`,
    requestToken,
    idToken,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface ActJob {
  /** act's name for the job, e.g. `rebuild/rebuild-cluster.yml/platform` or `release.yml/rebuild`. */
  name: string;
  result?: 'success' | 'failure' | string;
  /** Step outputs set in this job, by step id and output name. */
  outputs: Record<string, Record<string, string>>;
  /** Step summaries written in this job, in order. */
  summary: string;
  /** Steps by name with their result. */
  steps: Array<{ name: string; result: string }>;
}

export interface ActRun {
  code: number;
  durationMs: number;
  /** `[job] message` lines. */
  log: string;
  jobs: ActJob[];
  job(suffix: string): ActJob | undefined;
}

export interface ActOptions {
  caller: CallerRepo;
  event: 'push' | 'pull_request' | 'workflow_dispatch';
  payload: Record<string, unknown>;
  /** Maps owner/repo@ref to a directory (kfops' snapshot, stand-ins). */
  localRepositories: Record<string, string>;
  /** Variables every step sees (act --env). */
  env?: Record<string, string>;
  secrets?: Record<string, string>;
  vars?: Record<string, string>;
  timeoutMs?: number;
}

/** --local-repository entries for kfops' snapshot and the stand-ins of auth and checkout. */
export function standardRepositories(snapshot: KfopsSnapshot): Record<string, string> {
  return {
    [`${KFOPS_REPOSITORY}@${snapshot.sha}`]: snapshot.dir,
    [`google-github-actions/auth@${pinnedCommit('google-github-actions/auth')}`]: join(standins, 'auth'),
    [`actions/checkout@${pinnedCommit('actions/checkout')}`]: join(standins, 'checkout'),
  };
}

/** Env for the stand-ins: the OIDC endpoint, the fake STS, and where to clone kfops from. */
export function standardEnv(snapshot: KfopsSnapshot, oidc: OidcStandin, stsUrl: string): Record<string, string> {
  return {
    ACTIONS_ID_TOKEN_REQUEST_URL: oidc.url,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
    KFOPS_ACT_STS_URL: stsUrl,
    KFOPS_ACT_GIT_MIRRORS: JSON.stringify({ [KFOPS_REPOSITORY]: snapshot.dir }),
  };
}

/** Node 24 (the one running the tests) first on PATH. */
function pathWithNodeFirst(): string {
  return [dirname(process.execPath), ...(process.env['PATH'] ?? '').split(delimiter)].join(delimiter);
}

/** Runs act on the caller's repository for one event. */
export async function runAct(options: ActOptions): Promise<ActRun> {
  const work = mkdtempSync(join(tmpdir(), 'kfops-act-'));
  const eventFile = join(work, 'event.json');
  writeFileSync(eventFile, JSON.stringify(options.payload));
  const secretFile = join(work, 'secrets');
  writeFileSync(
    secretFile,
    Object.entries(options.secrets ?? {})
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join('\n'),
    { mode: 0o600 },
  );
  const args = [
    join(root, 'scripts', 'act.sh'),
    options.event,
    '--json',
    '-P',
    'ubuntu-latest=-self-hosted',
    '-e',
    eventFile,
    '--secret-file',
    secretFile,
    '--var-file',
    join(work, 'vars'),
    '--env-file',
    join(work, 'env'),
    '--input-file',
    join(work, 'inputs'),
    '--no-cache-server',
    '--action-cache-path',
    join(work, 'cache'),
  ];
  writeFileSync(join(work, 'vars'), '');
  writeFileSync(join(work, 'env'), '');
  writeFileSync(join(work, 'inputs'), '');
  for (const [k, v] of Object.entries(options.vars ?? {})) args.push('--var', `${k}=${v}`);
  for (const [k, v] of Object.entries(options.env ?? {})) args.push('--env', `${k}=${v}`);
  for (const [k, v] of Object.entries(options.localRepositories)) args.push('--local-repository', `${k}=${v}`);

  const started = Date.now();
  const child = spawn('bash', args, {
    cwd: options.caller.dir,
    env: { PATH: pathWithNodeFirst(), HOME: process.env['HOME'] ?? work, GOTOOLCHAIN: 'auto' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let raw = '';
  child.stdout.on('data', (c: Buffer) => (raw += c.toString()));
  child.stderr.on('data', (c: Buffer) => (raw += c.toString()));
  const timeoutMs = options.timeoutMs ?? 600_000;
  const timer = setTimeout(() => {
    if (child.pid) process.kill(-child.pid, 'SIGTERM');
  }, timeoutMs);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearTimeout(timer);
  const durationMs = Date.now() - started;
  rmSync(work, { recursive: true, force: true });

  const jobs = new Map<string, ActJob>();
  const lines: string[] = [];
  for (const line of raw.split('\n')) {
    if (!line.trim()) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      lines.push(line);
      continue;
    }
    const name = typeof entry['job'] === 'string' ? entry['job'] : '';
    const msg = String(entry['msg'] ?? '').replace(/\n$/, '');
    lines.push(name ? `[${name}] ${msg}` : msg);
    if (!name) continue;
    const job = jobs.get(name) ?? { name, outputs: {}, summary: '', steps: [] };
    jobs.set(name, job);
    if (entry['command'] === 'set-output') {
      const step = Array.isArray(entry['stepID']) ? String(entry['stepID'][0]) : '';
      job.outputs[step] = { ...job.outputs[step], [String(entry['name'])]: String(entry['arg'] ?? '') };
    }
    if (entry['command'] === 'summary') job.summary += String(entry['content'] ?? '');
    if (typeof entry['stepResult'] === 'string' && entry['stage'] === 'Main')
      job.steps.push({ name: String(entry['step']), result: entry['stepResult'] });
    if (typeof entry['jobResult'] === 'string') job.result = entry['jobResult'];
  }
  if (code !== 0 && durationMs >= timeoutMs) lines.push(`act: killed after ${timeoutMs} ms`);
  const all = [...jobs.values()];
  return {
    code,
    durationMs,
    log: lines.join('\n'),
    jobs: all,
    job: (suffix) => all.find((j) => j.name === suffix || j.name.endsWith(`/${suffix}`)),
  };
}
