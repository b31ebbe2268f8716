import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { badInputProblems, SENTINEL, tryBadInput, type BadInput } from '../support/bad-inputs.js';

const dir = mkdtempSync(join(tmpdir(), 'kfops-bad-'));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
const base = { kubeconfig };

const CASES: BadInput[] = [
  { what: 'a missing kubeconfig file', inputs: { kubeconfig: join(dir, 'nope') }, input: 'kubeconfig' },
  { what: 'a namespace with capitals', inputs: { ...base, namespace: 'MLflow' }, input: 'namespace' },
  {
    what: 'a version in words',
    inputs: { ...base, 'mlflow-version': 'latest' },
    input: 'mlflow-version',
    expect: 'major.minor.patch',
  },
  { what: 'a version with a v', inputs: { ...base, 'mlflow-version': 'v3.17.2' }, input: 'mlflow-version' },
  { what: 'an image with spaces', inputs: { ...base, image: 'mlflow latest' }, input: 'image' },
  { what: 'an unknown database', inputs: { ...base, database: 'sqlite' }, input: 'database', expect: '`postgres`' },
  {
    what: 'external without its Secret',
    inputs: { ...base, database: 'external' },
    input: 'database-secret',
    expect: 'key `uri`',
  },
  {
    what: 'a database Secret with postgres',
    inputs: { ...base, 'database-secret': 'db' },
    input: 'database-secret',
    expect: 'database: external',
  },
  { what: 'a storage size in words', inputs: { ...base, 'postgres-storage': 'big' }, input: 'postgres-storage' },
  { what: 'a StorageClass with capitals', inputs: { ...base, 'storage-class': 'Fast_SSD' }, input: 'storage-class' },
  {
    what: 'an artifact destination on disk',
    inputs: { ...base, 'artifacts-destination': '/mnt/artifacts' },
    input: 'artifacts-destination',
    expect: 's3://bucket',
  },
  {
    what: 'an Azure destination',
    inputs: { ...base, 'artifacts-destination': 'wasbs://c@a.blob.core.windows.net/x' },
    input: 'artifacts-destination',
  },
  {
    what: 'a bucket name with capitals',
    inputs: { ...base, 'artifacts-destination': 's3://MyBucket/x' },
    input: 'artifacts-destination',
  },
  {
    what: 'an S3 endpoint with a path',
    inputs: { ...base, 's3-endpoint': 'http://minio:9000/bucket' },
    input: 's3-endpoint',
  },
  { what: 'an S3 endpoint port out of range', inputs: { ...base, 's3-endpoint': 'minio:99999' }, input: 's3-endpoint' },
  { what: 'an S3 region with spaces', inputs: { ...base, 's3-region': 'us east' }, input: 's3-region' },
  { what: 'verify-ssl maybe', inputs: { ...base, 's3-verify-ssl': 'maybe' }, input: 's3-verify-ssl' },
  {
    what: 'an access key without its secret',
    inputs: { ...base, 's3-access-key-id': 'AKIAEXAMPLE' },
    input: 's3-secret-access-key',
    expect: 'or neither',
  },
  {
    what: 'a secret key without its id',
    inputs: { ...base, 's3-secret-access-key': SENTINEL },
    input: 's3-access-key-id',
  },
  {
    what: 'S3 keys with a GCS destination',
    inputs: { ...base, 'artifacts-destination': 'gs://models/mlflow', 's3-secret-access-key': SENTINEL },
    input: 's3-secret-access-key',
    expect: 'Workload Identity',
  },
  { what: 'create-bucket yes', inputs: { ...base, 'create-bucket': 'yes' }, input: 'create-bucket' },
  {
    what: 'a host with a path',
    inputs: { ...base, 'external-hosts': 'kubeflow.example.com/mlflow' },
    input: 'external-hosts',
  },
  {
    what: 'a notebook namespace with capitals',
    inputs: { ...base, 'notebook-namespaces': 'Alice' },
    input: 'notebook-namespaces',
  },
  { what: 'a model namespace with dots', inputs: { ...base, 'model-namespaces': 'team.a' }, input: 'model-namespaces' },
  { what: 'a user with spaces', inputs: { ...base, users: 'ci bot' }, input: 'users' },
  {
    what: "a user in the notebooks' names",
    inputs: { ...base, users: 'profile-alice' },
    input: 'users',
    expect: '`profile-`',
  },
  {
    what: 'the admin as an extra user',
    inputs: { ...base, users: 'admin' },
    input: 'users',
    expect: 'other than the admin',
  },
  { what: 'an admin name with a colon', inputs: { ...base, 'admin-username': 'ad:min' }, input: 'admin-username' },
  {
    what: 'a lower-case permission',
    inputs: { ...base, 'default-permission': 'read' },
    input: 'default-permission',
    expect: '`READ`',
  },
  { what: 'dashboard-link 1', inputs: { ...base, 'dashboard-link': '1' }, input: 'dashboard-link' },
  {
    what: 'a GCP service account without its project',
    inputs: { ...base, 'gcp-service-account': 'mlflow@example.com' },
    input: 'gcp-service-account',
    expect: 'iam.gserviceaccount.com',
  },
  { what: 'zero workers', inputs: { ...base, workers: '0' }, input: 'workers' },
  { what: 'a zero timeout', inputs: { ...base, timeout: '0s' }, input: 'timeout', expect: 'greater than zero' },
  { what: 'concurrency in words', inputs: { ...base, concurrency: 'eight' }, input: 'concurrency' },
  { what: 'force-conflicts sure', inputs: { ...base, 'force-conflicts': 'sure' }, input: 'force-conflicts' },
];

describe('install-mlflow with bad inputs (the bundle as a process, as the runner runs it)', () => {
  it(`has at least 30 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(30));
  it.each(CASES.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await tryBadInput('install-mlflow', c);
    expect(badInputProblems(c, r), r.log).toEqual([]);
  });
});
