/**
 * KServe's own InferenceService controller (github.com/kserve/kserve v0.13.1, built from the Go module
 * proxy by test/support/kserve-controller/main.go: the reconciler alone, without webhooks or listeners),
 * run against the local control plane. Without Knative it serves RawDeployment InferenceServices: it
 * creates the predictor Deployment, Service and HPA (kwok runs the pods) and writes the status itself.
 * What it needs besides the InferenceService CRD: CRDs for ServingRuntime, ClusterServingRuntime and
 * ClusterStorageContainer (written here with open schemas), ConfigMap kserve/inferenceservice-config
 * (deploy and ingress settings) and a ClusterServingRuntime for MLflow models.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { KubeObject } from '../../src/kube/types.js';

const source = join(dirname(fileURLToPath(import.meta.url)), 'kserve-controller');
export const KSERVE_NAMESPACE = 'kserve';

/** Builds the controller once per source version (cached under ~/.cache/kfops); returns the binary's path. */
export function buildKServeController(): string {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(source, f)));
  const dir = join(
    process.env['KFOPS_CACHE'] ?? join(homedir(), '.cache', 'kfops'),
    'kserve-controller',
    hash.digest('hex').slice(0, 12),
  );
  const bin = join(dir, 'kserve-controller');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('go', ['build', '-trimpath', '-o', bin, '.'], {
      cwd: source,
      env: { ...process.env, CGO_ENABLED: '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 20 * 60_000,
    });
  }
  return bin;
}

const openCrd = (plural: string, kind: string, scope: 'Namespaced' | 'Cluster'): KubeObject => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.serving.kserve.io` },
  spec: {
    group: 'serving.kserve.io',
    scope,
    names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
});

export const kserveSupportCrds: KubeObject[] = [
  openCrd('servingruntimes', 'ServingRuntime', 'Namespaced'),
  openCrd('clusterservingruntimes', 'ClusterServingRuntime', 'Cluster'),
  openCrd('clusterstoragecontainers', 'ClusterStorageContainer', 'Cluster'),
];

function configObjects(): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: KSERVE_NAMESPACE } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'inferenceservice-config', namespace: KSERVE_NAMESPACE },
      data: {
        deploy: JSON.stringify({ defaultDeploymentMode: 'Serverless' }),
        ingress: JSON.stringify({
          ingressGateway: 'kubeflow/kubeflow-gateway',
          ingressService: 'istio-ingressgateway.istio-system.svc.cluster.local',
          ingressDomain: 'example.com',
          ingressClassName: 'istio',
          domainTemplate: '{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}',
          urlScheme: 'http',
          disableIstioVirtualHost: true,
          disableIngressCreation: true,
        }),
        storageInitializer: JSON.stringify({
          image: 'kserve/storage-initializer:v0.13.1',
          memoryRequest: '100Mi',
          memoryLimit: '1Gi',
          cpuRequest: '100m',
          cpuLimit: '1',
        }),
        credentials: JSON.stringify({
          s3: { s3AccessKeyIDName: 'AWS_ACCESS_KEY_ID', s3SecretAccessKeyName: 'AWS_SECRET_ACCESS_KEY' },
        }),
      },
    },
    {
      apiVersion: 'serving.kserve.io/v1alpha1',
      kind: 'ClusterServingRuntime',
      metadata: { name: 'kserve-mlserver' },
      spec: {
        supportedModelFormats: [
          { name: 'mlflow', version: '1', autoSelect: true },
          { name: 'mlflow', version: '2', autoSelect: true },
        ],
        protocolVersions: ['v2'],
        containers: [
          {
            name: 'kserve-container',
            image: 'docker.io/seldonio/mlserver:1.3.2',
            resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '1', memory: '2Gi' } },
          },
        ],
      },
    },
  ];
}

export interface RunningController {
  log: () => string;
  stop: () => Promise<void>;
}

/** Installs what the controller reads (its CRDs must be installed: kserveSupportCrds) and starts it with the admin kubeconfig. */
export async function startKServeController(client: KubeClient, kubeconfig: string): Promise<RunningController> {
  const bin = buildKServeController();
  await applyObjects(client, configObjects(), {
    fieldManager: 'test-setup',
    force: true,
    retryBudgets: { 'kind-not-served': 30_000 },
  });
  const child: ChildProcess = spawn(bin, [], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: KSERVE_NAMESPACE,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const take = (d: Buffer): void => {
    log = (log + d.toString()).slice(-200_000);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  // Started when its controller's workers run (or it exited).
  const deadline = Date.now() + 60_000;
  while (!/Starting workers/.test(log)) {
    if (child.exitCode !== null) throw new Error(`the KServe controller exited ${child.exitCode}:\n${log}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the KServe controller did not start within 60 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    log: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
