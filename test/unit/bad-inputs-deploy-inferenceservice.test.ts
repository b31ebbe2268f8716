import { describe, expect, it } from 'vitest';
import { badInputProblems, SENTINEL, tryBadInput, type BadInput } from '../support/bad-inputs.js';

// Every case fails before any server is contacted; the kubeconfig points nowhere so that a case the
// action accepted would fail later with another error (not naming the input), never reach a cluster.
const base = { name: 'wine', 'model-uri': 's3://models/wine/1' };
const s3 = { ...base, 's3-access-key-id': 'AKIAEXAMPLE', 's3-secret-access-key': SENTINEL };
const registry = {
  ...base,
  'model-uri': 'models:/wine@champion',
  'mlflow-tracking-uri': 'https://mlflow.example.com',
  'mlflow-artifact-root': 's3://mlflow/artifacts',
};

const CASES: BadInput[] = [
  { what: 'no name', inputs: { 'model-uri': 's3://models/wine/1' }, input: 'name', expect: 'lowercase DNS label' },
  { what: 'a name with capitals', inputs: { ...base, name: 'Wine_1' }, input: 'name' },
  {
    what: 'a name starting with a digit',
    inputs: { ...base, name: '1wine' },
    input: 'name',
    expect: 'starting with a letter',
  },
  {
    what: 'a name too long for host names',
    inputs: { ...base, name: 'w'.repeat(46) },
    input: 'name',
    expect: 'at most 45 characters',
  },
  {
    what: 'a namespace with a space',
    inputs: { ...base, namespace: 'team a' },
    input: 'namespace',
    expect: 'a namespace name',
  },
  { what: 'a namespace longer than 63', inputs: { ...base, namespace: 'n'.repeat(64) }, input: 'namespace' },
  { what: 'an unknown action', inputs: { ...base, action: 'redeploy' }, input: 'action', expect: '`rollback`' },
  { what: 'deploy without a model', inputs: { name: 'wine' }, input: 'model-uri', expect: 'models:/<name>@<alias>' },
  {
    what: 's3 without a bucket',
    inputs: { ...base, 'model-uri': 's3:///x' },
    input: 'model-uri',
    expect: 'the bucket is missing',
  },
  {
    what: 'gs without a bucket',
    inputs: { ...base, 'model-uri': 'gs:///x' },
    input: 'model-uri',
    expect: 'the bucket is missing',
  },
  {
    what: 'a bucket name S3 refuses',
    inputs: { ...base, 'model-uri': 's3://Bad_Bucket/x' },
    input: 'model-uri',
    expect: 'bucket name',
  },
  {
    what: 'an unknown scheme',
    inputs: { ...base, 'model-uri': 'ftp://host/model' },
    input: 'model-uri',
    expect: 'a storage URI',
  },
  { what: 'a model URI with a space', inputs: { ...base, 'model-uri': 's3://models/wine 1' }, input: 'model-uri' },
  {
    what: 'the MLmodel file instead of its directory',
    inputs: { ...base, 'model-uri': 's3://models/wine/1/MLmodel' },
    input: 'model-uri',
    expect: 'not the file itself',
  },
  {
    what: 'a claim name with capitals',
    inputs: { ...base, 'model-uri': 'pvc://Claim/x' },
    input: 'model-uri',
    expect: 'PersistentVolumeClaim',
  },
  {
    what: 'a model URL with a password',
    inputs: { ...base, 'model-uri': `https://ana:${SENTINEL}@models.example.com/wine` },
    input: 'model-uri',
    expect: 'without credentials',
  },
  {
    what: 'a registry stage',
    inputs: { ...registry, 'model-uri': 'models:/wine/Production' },
    input: 'model-uri',
    expect: 'stages such as "Production" are deprecated',
  },
  {
    what: 'a registry name that is broken percent-encoding',
    inputs: { ...registry, 'model-uri': 'models:/%E0@champion' },
    input: 'model-uri',
    expect: 'percent-encoding',
  },
  {
    what: 'a registry reference without a tracking server',
    inputs: { ...base, 'model-uri': 'models:/wine@champion' },
    input: 'mlflow-tracking-uri',
  },
  {
    what: 'a tracking server that is not http(s)',
    inputs: { ...registry, 'mlflow-tracking-uri': 'ftp://mlflow.example.com' },
    input: 'mlflow-tracking-uri',
    expect: 'the http(s) URL',
  },
  {
    what: 'credentials in the tracking URI and in mlflow-username',
    inputs: {
      ...registry,
      'mlflow-tracking-uri': `https://ana:${SENTINEL}@mlflow.example.com`,
      'mlflow-username': 'bob',
      'mlflow-password': 'other',
    },
    input: 'mlflow-tracking-uri',
    expect: 'not both',
  },
  {
    what: 'an MLflow password without a user',
    inputs: { ...registry, 'mlflow-password': SENTINEL },
    input: 'mlflow-username',
  },
  {
    what: 'an MLflow user without a password',
    inputs: { ...registry, 'mlflow-username': 'ana' },
    input: 'mlflow-password',
  },
  {
    what: 'an MLflow token and a password',
    inputs: { ...registry, 'mlflow-token': SENTINEL, 'mlflow-username': 'ana', 'mlflow-password': SENTINEL },
    input: 'mlflow-token',
    expect: 'not both',
  },
  {
    what: 'an artifact root on local disk',
    inputs: { ...registry, 'mlflow-artifact-root': 'file:///mlruns' },
    input: 'mlflow-artifact-root',
  },
  { what: 'a model format with a space', inputs: { ...base, 'model-format': 'ml flow' }, input: 'model-format' },
  {
    what: 'a format version with a space',
    inputs: { ...base, 'model-format-version': '1 2' },
    input: 'model-format-version',
  },
  { what: 'an unknown protocol', inputs: { ...base, protocol: 'v3' }, input: 'protocol', expect: '`grpc-v2`' },
  { what: 'v1 for an mlflow model', inputs: { ...base, protocol: 'v1' }, input: 'protocol', expect: 'MLServer' },
  {
    what: 'a canary over 100 %',
    inputs: { ...base, 'canary-traffic-percent': '150' },
    input: 'canary-traffic-percent',
    expect: 'from 0 to 100',
  },
  {
    what: 'a canary with RawDeployment',
    inputs: { ...base, 'canary-traffic-percent': '10', 'deployment-mode': 'RawDeployment' },
    input: 'canary-traffic-percent',
  },
  { what: 'an unknown deployment mode', inputs: { ...base, 'deployment-mode': 'Raw' }, input: 'deployment-mode' },
  { what: 'negative min-replicas', inputs: { ...base, 'min-replicas': '-1' }, input: 'min-replicas' },
  {
    what: 'max-replicas below min-replicas',
    inputs: { ...base, 'min-replicas': '3', 'max-replicas': '2' },
    input: 'max-replicas',
    expect: 'at least min-replicas (3)',
  },
  {
    what: 'scale to zero with RawDeployment',
    inputs: { ...base, 'min-replicas': '0', 'deployment-mode': 'RawDeployment' },
    input: 'min-replicas',
  },
  { what: 'a zero timeout', inputs: { ...base, timeout: '0s' }, input: 'timeout', expect: 'greater than zero' },
  { what: 'a timeout in words', inputs: { ...base, timeout: 'soon' }, input: 'timeout', expect: 'a duration such as' },
  { what: 'wait yes', inputs: { ...base, wait: 'yes' }, input: 'wait' },
  { what: 's3-check no', inputs: { ...base, 's3-check': 'no' }, input: 's3-check' },
  { what: 'force-conflicts 1', inputs: { ...base, 'force-conflicts': '1' }, input: 'force-conflicts' },
  {
    what: 'an access key without its secret',
    inputs: { ...base, 's3-access-key-id': 'AKIAEXAMPLE' },
    input: 's3-secret-access-key',
  },
  {
    what: 'a secret key without its access key',
    inputs: { ...base, 's3-secret-access-key': SENTINEL },
    input: 's3-access-key-id',
  },
  {
    what: 'an S3 endpoint port out of range',
    inputs: { ...s3, 's3-endpoint': 'minio.kubeflow:99999' },
    input: 's3-endpoint',
    expect: 'port 1 to 65535',
  },
  {
    what: 'an S3 endpoint with a path',
    inputs: { ...s3, 's3-endpoint': 'http://minio:9000/bucket' },
    input: 's3-endpoint',
  },
  {
    what: 'an S3 endpoint without credentials',
    inputs: { ...base, 's3-endpoint': 'minio.kubeflow:9000' },
    input: 's3-access-key-id',
  },
  {
    what: 'https against an http endpoint',
    inputs: { ...s3, 's3-endpoint': 'http://minio.kubeflow:9000', 's3-use-https': 'true' },
    input: 's3-use-https',
    expect: 'already says http',
  },
  { what: 'an S3 region with a space', inputs: { ...s3, 's3-region': 'us east 1' }, input: 's3-region' },
  { what: 's3-verify-ssl 0', inputs: { ...s3, 's3-verify-ssl': '0' }, input: 's3-verify-ssl' },
  {
    what: 'a ServiceAccount name with capitals',
    inputs: { ...s3, 'service-account': 'Model_SA' },
    input: 'service-account',
    expect: 'a ServiceAccount name',
  },
  { what: 'a runtime name with a space', inputs: { ...base, runtime: 'kserve mlserver' }, input: 'runtime' },
  {
    what: 'resources with an unknown key',
    inputs: { ...base, resources: '{request: {cpu: 1}}' },
    input: 'resources',
    expect: 'unknown key "request"',
  },
  {
    what: 'resources with a bad quantity',
    inputs: { ...base, resources: '{limits: {memory: lots}}' },
    input: 'resources',
    expect: 'is not a Kubernetes quantity',
  },
  { what: 'resources that are not YAML', inputs: { ...base, resources: '{limits: [' }, input: 'resources' },
  {
    what: 'a label value with a space',
    inputs: { ...base, labels: 'team=ml ops' },
    input: 'labels',
    expect: 'label values',
  },
  {
    what: 'a label key with two slashes',
    inputs: { ...base, labels: 'a/b/c=x' },
    input: 'labels',
    expect: 'Kubernetes label keys',
  },
  { what: 'annotations as a list', inputs: { ...base, annotations: '[a, b]' }, input: 'annotations' },
  {
    what: 'an annotation the action owns',
    inputs: { ...base, annotations: 'serving.kserve.io/deploymentMode: RawDeployment' },
    input: 'annotations',
    expect: 'use deployment-mode',
  },
  { what: 'an unknown auth policy mode', inputs: { ...base, 'auth-policy': 'none' }, input: 'auth-policy' },
  {
    what: 'a namespace to admit with capitals',
    inputs: { ...base, 'auth-allow-namespaces': 'Kubeflow' },
    input: 'auth-allow-namespaces',
  },
  {
    what: 'a kubeconfig that does not exist',
    inputs: { ...base, kubeconfig: '/nonexistent/kubeconfig' },
    input: 'kubeconfig',
    expect: 'that exists',
  },
];

describe('deploy-inferenceservice with bad inputs (the bundle as a process, as the runner runs it)', () => {
  it(`has at least 30 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(30));
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await tryBadInput('deploy-inferenceservice', {
      ...c,
      env: { KUBECONFIG: '/nonexistent/kubeconfig', ...c.env },
    });
    // A secret given as an input reaches the log once, as the runner's mask command (the runner
    // consumes it; it is never shown). Anything else with the sentinel is a leak.
    const lines = r.log.split('\n');
    expect(
      lines.filter((l) => l.includes(SENTINEL) && l !== `::add-mask::${SENTINEL}`),
      r.log,
    ).toEqual([]);
    const shown = { ...r, log: lines.filter((l) => !l.startsWith('::add-mask::')).join('\n') };
    expect(badInputProblems(c, shown), r.log).toEqual([]);
  });
});
