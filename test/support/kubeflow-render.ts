/**
 * The real Kubeflow 1.9.1 render (`kubectl kustomize example` of kubeflow/manifests v1.9.1), shared
 * read-only under ../shared/fixtures. Tests install and plan against it as users get it; nothing here
 * edits it. Its sha256 is checked, so a changed file fails loudly instead of shifting every count.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import type { KubeObject } from '../../src/kube/types.js';

export const KUBEFLOW_RENDER_SHA256 = 'e51616d2a296f8c67fd399887a19575c9d0ed6ae49023909f68b5aff579773ec';

const RELATIVE = join('kubeflow-manifests-v1.9.1', 'example.yaml');
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let verified: string | undefined;
let cached: KubeObject[] | undefined;

/**
 * Path of the real render: $KFOPS_FIXTURES/kubeflow-manifests-v1.9.1/example.yaml, else
 * <repo>/../shared/fixtures/..., else /work/shared/fixtures/.... Throws naming every place tried when
 * none exists, and naming the expected and actual sha256 when the file is not the pinned render.
 */
export function kubeflowRenderPath(): string {
  if (verified) return verified;
  const candidates = [
    ...(process.env['KFOPS_FIXTURES'] ? [join(process.env['KFOPS_FIXTURES'], RELATIVE)] : []),
    join(repoRoot, '..', 'shared', 'fixtures', RELATIVE),
    join('/work/shared/fixtures', RELATIVE),
  ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new Error(
      `the Kubeflow 1.9.1 render was not found; tried ${candidates.join(', ')} (set KFOPS_FIXTURES to the fixtures directory)`,
    );
  }
  const actual = createHash('sha256').update(readFileSync(path)).digest('hex');
  if (actual !== KUBEFLOW_RENDER_SHA256) {
    throw new Error(
      `${path} is not the pinned Kubeflow 1.9.1 render: sha256 expected ${KUBEFLOW_RENDER_SHA256}, actual ${actual}`,
    );
  }
  verified = path;
  return path;
}

/** The render's objects (YAML documents that are empty are dropped). A fresh deep copy each call. */
export function loadKubeflowRender(): KubeObject[] {
  cached ??= loadAll(readFileSync(kubeflowRenderPath(), 'utf8')).filter(
    (d): d is KubeObject => d !== null && d !== undefined,
  );
  return structuredClone(cached);
}
