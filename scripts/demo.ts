/**
 * npm run demo: the main job, locally. Starts the local control plane (building it on first use) and
 * runs install-kubeflow exactly as a workflow step would on the real Kubeflow 1.9.1 render (kubectl
 * kustomize example of kubeflow/manifests v1.9.1, 569 objects), with a Dex user and her Profile, the
 * gateway exposed through a LoadBalancer with an sslip.io domain, and machine-to-machine auth from the
 * cluster's own token issuer, then prints the outputs and the job summary. Then install-mlflow as
 * platform.yml runs it next, a notebook of the user's profile logs and registers a model through it with
 * the PodDefault's identity, and the model is resolved as deploy-inferenceservice resolves it.
 * The nodes are simulated (kwok): no container runs, so stand-ins play what the pods would do on a real
 * cluster: they answer the webhooks on the Services' loopback ClusterIPs once their workloads are ready,
 * inject CA bundles as cert-manager's cainjector, istiod, Knative and the training operator do, create
 * a Profile's namespace as the profile controller does, and assign the load balancer address (kwok has
 * no cloud). KFOPS_CLUSTER_DIR and the KFOPS_*_PORT and KFOPS_SERVICE_CIDR variables pick the control
 * plane (test/cluster/lib.sh).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { applyObjects } from '../src/kube/apply.js';
import { KubeClient } from '../src/kube/client.js';
import { MlflowClient, parseRegistryRef, resolveModel } from '../src/mlflow/registry.js';
import { startCaInjector } from '../test/support/ca-injector.js';
import { kubeflowRenderPath, loadKubeflowRender } from '../test/support/kubeflow-render.js';
import { startLoadBalancerStandin } from '../test/support/loadbalancer-standin.js';
import {
  containerEnv,
  initPostgresFromCluster,
  startPodStandin,
  startPostgres,
  type Container,
} from '../test/support/mlflow-pod.js';
import { startProfileStandin } from '../test/support/profile-standin.js';
import { pythonEnv } from '../test/support/python.js';
import { runAction } from '../test/support/run-action.js';
import { startS3 } from '../test/support/servers.js';
import { startWebhookStandins } from '../test/support/webhook-standin.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync('bash', [join(root, 'test/cluster/up.sh')], { stdio: 'inherit' });
const kubeconfig = execFileSync('bash', [join(root, 'test/cluster/status.sh')], { encoding: 'utf8' }).trim();
const clusterDir = dirname(kubeconfig);
const client = KubeClient.fromSources({ kubeconfig });

// The cluster's storage: kwok provisions claims of this class. It is not the default yet: the
// install's preflight makes it the default because the render's claims need one.
await applyObjects(client, [
  {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'kwok-volume' },
    provisioner: 'kwok.x-k8s.io/volume',
    volumeBindingMode: 'Immediate',
  } as never,
]);

// The real render, as the action reads it from a file (its sha256 is checked against the pinned one).
const manifestsFile = kubeflowRenderPath();
const render = loadKubeflowRender();
console.log(`\nmanifests: ${manifestsFile} (Kubeflow 1.9.1, ${render.length} objects)\n`);

// The login's password comes from the step's environment (a GitHub secret in a workflow).
const password = process.env['DEMO_PASSWORD'] ?? randomBytes(12).toString('base64url');
const users = dump([
  {
    email: 'user@example.com',
    'password-env': 'DEMO_PASSWORD',
    contributors: [{ email: 'reviewer@example.com', role: 'view' }],
  },
]);
console.log(
  `Dex login: user@example.com (password from DEMO_PASSWORD, ${process.env['DEMO_PASSWORD'] ? 'as given' : 'generated: set DEMO_PASSWORD to choose it'}; never printed)\n`,
);

const standins = startWebhookStandins(client, clusterDir, render);
const caInjector = startCaInjector(client, clusterDir);
const profiles = startProfileStandin(client);
const loadBalancers = startLoadBalancerStandin(client);
const result = await runAction(
  'install-kubeflow',
  {
    'manifests-file': manifestsFile,
    'default-storage-class': 'kwok-volume',
    users,
    expose: 'loadbalancer',
    domain: 'sslip',
    'm2m-auth': 'true',
    timeout: '10m',
  },
  { KUBECONFIG: kubeconfig, DEMO_PASSWORD: password },
  (line) => console.log(line),
);
loadBalancers.stop();
await caInjector.stop();
await standins.stop();
if (standins.problems.length) console.log(`\nwebhook stand-in problems: ${standins.problems.join('; ')}`);
printRun('install-kubeflow', result);
if (result.code !== 0) {
  profiles.stop();
  process.exit(result.code);
}

// MLflow next to it, as platform.yml runs it. No container runs on the fake nodes, so the pod
// stand-in runs the MLflow pod's containers (taken from the live pod) on the pod's IP with MLflow
// from PyPI, against a real PostgreSQL (Debian's) for the in-cluster database and a real
// S3-compatible server for the artifacts (Kubeflow's MinIO does not run here either).
console.log('\n=== install-mlflow\n');
const venv = pythonEnv('mlflow-server');
const s3 = await startS3();
const pg = await startPostgres(
  `127.${40 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}.7`,
  5432,
);
const pods = startPodStandin(client, 'mlflow', {
  venv,
  serverLabel: 'server',
  overrides: (_podIP, serverIP) => ({
    PGHOSTADDR: pg.host,
    ...(serverIP ? { MLFLOW_TRACKING_URI: `http://${serverIP}:5000` } : {}),
  }),
});
const [mlflow] = await Promise.all([
  runAction(
    'install-mlflow',
    {
      's3-endpoint': `127.0.0.1:${s3.port}`,
      's3-access-key-id': s3.accessKeyId,
      's3-secret-access-key': s3.secretAccessKey,
      'storage-class': 'kwok-volume',
      users: 'ci-bot',
      timeout: '5m',
    },
    { KUBECONFIG: kubeconfig },
    (line) => console.log(line),
  ),
  initPostgresFromCluster(client, pg, 'mlflow', { secret: 'mlflow-postgres', initConfigMap: 'mlflow-postgres-init' }),
]);
printRun('install-mlflow', mlflow);

let code = mlflow.code;
if (code === 0) {
  // A notebook of the user's profile that selected "MLflow tracking server": the PodDefault's
  // environment, with its Secret, logs and registers a model and sets alias champion.
  // The fake node reports the users Job complete at once; its real run (the stand-in's) may end later.
  for (let i = 0; i < 240 && !pods.runs.some((r) => r.container === 'users'); i++)
    await new Promise((r) => setTimeout(r, 500));
  const users = pods.runs.find((r) => r.container === 'users');
  console.log(
    `\nthe users Job's container, run by the pod stand-in: exit ${users?.code}\n${users?.output.trim() ?? ''}`,
  );
  const namespace = (mlflow.outputs['notebook-namespaces'] ?? '').split(',')[0] as string;
  const pd = (await client.get({
    apiVersion: 'kubeflow.org/v1alpha1',
    kind: 'PodDefault',
    namespace,
    name: 'mlflow',
  })) as unknown as {
    spec: { env: Container['env'] };
  };
  const secrets = (await client.list({ apiVersion: 'v1', kind: 'Secret', namespace })).items.map((x) => ({
    ...x,
    kind: 'Secret',
  }));
  const env = containerEnv({ name: 'notebook', env: pd.spec.env }, secrets);
  const server = `http://${pods.serverAddress() ?? '127.0.0.1'}:5000`;
  console.log(
    `\n=== a notebook in ${namespace} (MLflow user ${env['MLFLOW_TRACKING_USERNAME']}, experiment ${env['MLFLOW_EXPERIMENT_NAME']})\n`,
  );
  const logged = spawnSync(
    join(venv, 'bin', 'python'),
    [join(root, 'test/python/mlflow_log_model.py'), 'iris', 'champion'],
    {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env, MLFLOW_TRACKING_URI: server },
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  console.log(logged.stdout.trim() || logged.stderr.trim().split('\n').slice(-3).join('\n'));
  code = logged.status ?? 1;
  if (code === 0) {
    // What deploy-inferenceservice does with models:/iris@champion.
    const ref = parseRegistryRef('models:/iris@champion');
    if ('problem' in ref) throw new Error(ref.problem);
    const resolved = await resolveModel(
      new MlflowClient({
        trackingUri: server,
        username: env['MLFLOW_TRACKING_USERNAME'],
        password: env['MLFLOW_TRACKING_PASSWORD'],
      }),
      ref,
      { artifactRoot: mlflow.outputs['artifact-root'] },
    );
    console.log(`models:/iris@champion -> version ${resolved.version} at ${resolved.uri}`);
  }
}
profiles.stop();
await pods.stop();
await pg.stop();
await s3.stop();
console.log(`\nStop the control plane with: npm run cluster:down`);
process.exit(code);

function printRun(name: string, run: Awaited<ReturnType<typeof runAction>>): void {
  console.log(`\n${name} outputs:`);
  for (const [k, v] of Object.entries(run.outputs)) console.log(`  ${k}: ${v}`);
  console.log(`\n${name} job summary:`);
  console.log(
    run.summary
      .replace(/<\/?(table|thead|tbody)>/g, '')
      .replace(/<tr>/g, '')
      .replace(/<\/tr>/g, '\n')
      .replace(/<t[hd]>/g, ' | ')
      .replace(/<\/t[hd]>/g, '')
      .replace(/<br>/g, '; ')
      .replace(/<[^>]+>/g, ''),
  );
}
