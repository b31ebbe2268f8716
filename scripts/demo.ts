/**
 * npm run demo: the main job, locally. Starts the local control plane (building it on first use) and
 * runs install-kubeflow exactly as a workflow step would on the real Kubeflow 1.9.1 render (kubectl
 * kustomize example of kubeflow/manifests v1.9.1, 569 objects), with a Dex user and her Profile, the
 * gateway exposed through a LoadBalancer with an sslip.io domain, and machine-to-machine auth from the
 * cluster's own token issuer, then prints the outputs and the job summary.
 * The nodes are simulated (kwok): no container runs, so stand-ins play what the pods would do on a real
 * cluster: they answer the webhooks on the Services' loopback ClusterIPs once their workloads are ready,
 * inject CA bundles as cert-manager's cainjector, istiod, Knative and the training operator do, create
 * a Profile's namespace as the profile controller does, and assign the load balancer address (kwok has
 * no cloud). KFOPS_CLUSTER_DIR and the KFOPS_*_PORT and KFOPS_SERVICE_CIDR variables pick the control
 * plane (test/cluster/lib.sh).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { applyObjects } from '../src/kube/apply.js';
import { KubeClient } from '../src/kube/client.js';
import { startCaInjector } from '../test/support/ca-injector.js';
import { kubeflowRenderPath, loadKubeflowRender } from '../test/support/kubeflow-render.js';
import { startLoadBalancerStandin } from '../test/support/loadbalancer-standin.js';
import { startProfileStandin } from '../test/support/profile-standin.js';
import { runAction } from '../test/support/run-action.js';
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
profiles.stop();
loadBalancers.stop();
await caInjector.stop();
await standins.stop();
if (standins.problems.length) console.log(`\nwebhook stand-in problems: ${standins.problems.join('; ')}`);
console.log('\noutputs:');
for (const [k, v] of Object.entries(result.outputs)) console.log(`  ${k}: ${v}`);
console.log('\njob summary:');
console.log(
  result.summary
    .replace(/<\/?(table|thead|tbody)>/g, '')
    .replace(/<tr>/g, '')
    .replace(/<\/tr>/g, '\n')
    .replace(/<t[hd]>/g, ' | ')
    .replace(/<\/t[hd]>/g, '')
    .replace(/<br>/g, '; ')
    .replace(/<[^>]+>/g, ''),
);
console.log(`\nStop the control plane with: npm run cluster:down`);
process.exit(result.code);
