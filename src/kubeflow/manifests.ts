import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { loadAll } from 'js-yaml';
import { KfopsError } from '../common/errors.js';
import type { ExecRunner } from '../common/exec.js';
import type { Logger } from '../common/logger.js';
import { redactUrlCredentials } from '../common/redact.js';
import { shapeProblem } from '../kube/apply.js';
import type { KubeObject } from '../kube/types.js';
import { PlatformSettingError } from './settings-error.js';

export const DEFAULT_KUBEFLOW_VERSION = 'v1.9.1';
export const DEFAULT_MANIFESTS_REPO = 'https://github.com/kubeflow/manifests.git';

export type ManifestSource =
  | { type: 'file'; file: string }
  | { type: 'path'; path: string; components: string[] }
  | { type: 'version'; version: string; repo: string; components: string[] };

/** Parses a multi-document YAML stream into objects; `List` kinds are flattened, empty documents skipped. */
export function parseManifests(text: string, origin: string): KubeObject[] {
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (error) {
    throw new KfopsError(`${origin} is not valid YAML`, {
      cause: error instanceof Error ? error.message.split('\n')[0] : String(error),
      fix: 'render the manifests again (kustomize build) and check the file',
    });
  }
  const out: KubeObject[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    const items =
      (doc as { kind?: string }).kind?.endsWith('List') && Array.isArray((doc as { items?: unknown }).items)
        ? (doc as { items: unknown[] }).items
        : [doc];
    for (const item of items) {
      const problem = shapeProblem(item);
      if (problem)
        throw new KfopsError(`${origin}: document ${i + 1} ${problem}`, {
          fix: 'every object needs apiVersion, kind and metadata.name',
        });
      out.push(item as KubeObject);
    }
  });
  return out;
}

export interface RenderDeps {
  exec: ExecRunner;
  logger: Logger;
  /** Environment for the tools run (PATH decides which kustomize, kubectl and git are used). */
  env?: Record<string, string | undefined>;
}

/** Renders a kustomization with `kustomize build`, or `kubectl kustomize` when kustomize is absent. */
export async function kustomizeBuild(dir: string, deps: RenderDeps): Promise<string> {
  const tried: string[] = [];
  for (const [cmd, args] of [
    ['kustomize', ['build', dir]],
    ['kubectl', ['kustomize', dir]],
  ] as const) {
    const r = await deps.exec(cmd, args, deps.env ? { env: deps.env } : {});
    if (r.code === 0) return r.stdout;
    if (r.code === 127 || (/ENOENT|not found/.test(r.stderr) && r.stdout === '')) {
      tried.push(`${cmd}: not installed`);
      continue;
    }
    throw new KfopsError(`${cmd} ${args.join(' ')} failed (exit ${r.code})`, {
      cause: r.stderr.trim().split('\n').slice(-5).join('\n'),
      fix: 'fix the kustomization (kustomize 5.2.1 or newer renders Kubeflow 1.9)',
    });
  }
  throw new KfopsError('Cannot render the kustomization', {
    cause: tried.join('; '),
    fix: 'install kustomize (5.2.1 or newer) or kubectl on the runner, or pass manifests-file with already rendered YAML',
  });
}

/** Loads the objects to install from a rendered file, a local kustomization, or a kubeflow/manifests ref. */
export async function loadManifests(
  source: ManifestSource,
  deps: RenderDeps,
): Promise<{ objects: KubeObject[]; origin: string }> {
  if (source.type === 'file') {
    const text = await readFile(source.file, 'utf8').catch((e: unknown) => {
      throw new PlatformSettingError(
        'source.file',
        source.file,
        `a readable YAML file (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      );
    });
    return { objects: parseManifests(text, source.file), origin: source.file };
  }
  if (source.type === 'path') {
    const isDir = await stat(source.path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) throw new PlatformSettingError('source.path', source.path, 'a directory holding a kustomization.yaml');
    return { objects: await renderComponents(source.path, source.components, deps), origin: source.path };
  }
  // A repository URL may carry credentials (https://user:token@host/...): they never reach a log line or message.
  const repo = redactUrlCredentials(source.repo);
  const dir = await mkdtemp(join(tmpdir(), 'kfops-manifests-'));
  try {
    deps.logger.info(`cloning ${repo} at ${source.version}`);
    const r = await deps.exec(
      'git',
      ['clone', '--depth', '1', '--branch', source.version, source.repo, dir],
      deps.env ? { env: deps.env } : {},
    );
    if (r.code !== 0) {
      const missing = /Remote branch .* not found|not found in upstream/.test(r.stderr);
      throw missing
        ? new PlatformSettingError(
            'source.version',
            source.version,
            `a tag or branch of ${repo} (e.g. ${DEFAULT_KUBEFLOW_VERSION})`,
          )
        : new KfopsError(`git clone of ${repo} failed (exit ${r.code})`, {
            cause: redactUrlCredentials(r.stderr.trim().split('\n').slice(-3).join('\n')),
            fix: 'check that the runner can reach the repository',
          });
    }
    const components = source.components.length ? source.components : ['example'];
    return { objects: await renderComponents(dir, components, deps), origin: `${repo}@${source.version}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function renderComponents(root: string, components: string[], deps: RenderDeps): Promise<KubeObject[]> {
  const paths = components.length ? components.map((c) => (isAbsolute(c) ? c : join(root, c))) : [root];
  const out: KubeObject[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    deps.logger.info(`rendering ${p}`);
    for (const o of parseManifests(await kustomizeBuild(p, deps), p)) {
      // Components share objects (namespaces, CRDs); the first rendering wins.
      const key = `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(o);
      }
    }
  }
  return out;
}
