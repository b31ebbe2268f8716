/**
 * deploy-inferenceservice with an s3:// model and no credentials, service-account or s3-endpoint: KServe's
 * storage-initializer falls back to the namespace's default ServiceAccount, so the check reads it (and its
 * Secrets) from the real local API server and warns unless one carries S3 credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyObjects } from '../../src/kube/apply.js';
import type { KubeClient } from '../../src/kube/client.js';
import { warnAnonymousS3 } from '../../src/kserve/release.js';
import { adminClient, recordingLogger, sleep, uniqueName } from './helpers.js';

const ns = uniqueName('s3anon');
let admin: KubeClient;

beforeAll(async () => {
  admin = adminClient();
  await applyObjects(admin, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }], {
    fieldManager: 'test',
  });
  // The ServiceAccount controller creates "default" in a new namespace.
  for (
    let i = 0;
    i < 50 && !(await admin.get({ apiVersion: 'v1', kind: 'ServiceAccount', name: 'default', namespace: ns }));
    i++
  )
    await sleep(200);
});

afterAll(async () => {
  await admin.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('an s3:// model with no credentials', () => {
  it('warns, with the fix, when the default ServiceAccount carries no S3 Secret', async () => {
    const logger = recordingLogger();
    await warnAnonymousS3(admin, ns, 's3://models/iris/1', logger);
    const text = logger.lines.join('\n');
    expect(text).toMatch(/^warning: the model is at s3:\/\/models\/iris\/1 but no S3 credentials/m);
    expect(text).toContain(`ServiceAccount ${ns}/default carries no S3 Secret`);
    expect(text).toContain('give s3-endpoint with the credentials, or a service-account');
  });

  it('says which Secret the storage-initializer uses when the default ServiceAccount carries one', async () => {
    await applyObjects(
      admin,
      [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: 'minio',
            namespace: ns,
            annotations: { 'serving.kserve.io/s3-endpoint': 'minio.kubeflow:9000' },
          },
          stringData: { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'key' },
        },
        {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name: 'default', namespace: ns },
          secrets: [{ name: 'minio' }],
        },
      ],
      { fieldManager: 'test' },
    );
    const logger = recordingLogger();
    await warnAnonymousS3(admin, ns, 's3://models/iris/1', logger);
    expect(logger.lines).toEqual([
      `info: the model is at s3://models/iris/1: the storage-initializer reads it with Secret ${ns}/minio of ServiceAccount ${ns}/default`,
    ]);
  });
});
