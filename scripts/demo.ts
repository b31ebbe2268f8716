/**
 * npm run demo: the main job, locally. Starts the local control plane (building it on first use),
 * writes the generated Kubeflow-shaped bundle (569 objects; not the real Kubeflow images, which cannot
 * run on this simulated cluster), stands in for its webhook backends, and runs install-kubeflow on it
 * exactly as a workflow step would, with a Dex user and her Profile, the gateway exposed through a
 * LoadBalancer (kwok has no cloud: a stand-in assigns the address) and machine-to-machine auth, then
 * prints the outputs and the job summary.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { applyObjects } from '../src/kube/apply.js';
import { KubeClient } from '../src/kube/client.js';
import { generateKubeflowBundle, WEBHOOK_BACKENDS } from '../test/support/kubeflow-bundle.js';
import { startLoadBalancerStandin } from '../test/support/loadbalancer-standin.js';
import { startProfileStandin } from '../test/support/profile-standin.js';
import { runAction } from '../test/support/run-action.js';
import { clusterCaBundle, startWebhookStandins } from '../test/support/webhook-standin.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync('bash', [join(root, 'test/cluster/up.sh')], { stdio: 'inherit' });
const kubeconfig = execFileSync('bash', [join(root, 'test/cluster/status.sh')], { encoding: 'utf8' }).trim();
const clusterDir = dirname(kubeconfig);
const client = KubeClient.fromSources({ kubeconfig });

// The cluster's storage: kwok provisions claims of this class. It is not the default yet: the
// install's preflight makes it the default because the bundle's claims need one.
await applyObjects(client, [{ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'kwok-volume' }, provisioner: 'kwok.x-k8s.io/volume', volumeBindingMode: 'Immediate' } as never]);

const demoDir = join(process.env['KFOPS_CACHE'] ?? join(homedir(), '.cache', 'kfops'), 'demo');
mkdirSync(demoDir, { recursive: true });
const bundleFile = join(demoDir, 'kubeflow-bundle.yaml');
writeFileSync(bundleFile, generateKubeflowBundle({ caBundle: clusterCaBundle(clusterDir) }).map((o) => dump(o, { lineWidth: -1, noRefs: true })).join('---\n'));
console.log(`\nbundle: ${bundleFile}\n`);

// The login's password comes from the step's environment (a GitHub secret in a workflow).
const password = process.env['DEMO_PASSWORD'] ?? randomBytes(12).toString('base64url');
const users = dump([{ email: 'user@example.com', 'password-env': 'DEMO_PASSWORD', contributors: [{ email: 'reviewer@example.com', role: 'view' }] }]);
console.log(`Dex login: user@example.com (password from DEMO_PASSWORD, ${process.env['DEMO_PASSWORD'] ? 'as given' : 'generated: set DEMO_PASSWORD to choose it'}; never printed)\n`);

const standins = startWebhookStandins(client, clusterDir, WEBHOOK_BACKENDS);
const profiles = startProfileStandin(client);
const loadBalancers = startLoadBalancerStandin(client);
const result = await runAction(
  'install-kubeflow',
  { 'manifests-file': bundleFile, 'default-storage-class': 'kwok-volume', users, expose: 'loadbalancer', domain: 'sslip', 'm2m-auth': 'true', timeout: '10m' },
  { KUBECONFIG: kubeconfig, DEMO_PASSWORD: password },
  (line) => console.log(line),
);
profiles.stop();
loadBalancers.stop();
await standins.stop();
console.log('\noutputs:');
for (const [k, v] of Object.entries(result.outputs)) console.log(`  ${k}: ${v}`);
console.log('\njob summary:');
console.log(result.summary.replace(/<\/?(table|thead|tbody)>/g, '').replace(/<tr>/g, '').replace(/<\/tr>/g, '\n').replace(/<t[hd]>/g, ' | ').replace(/<\/t[hd]>/g, '').replace(/<br>/g, '; ').replace(/<[^>]+>/g, ''));
console.log(`\nStop the control plane with: npm run cluster:down`);
process.exit(result.code);
