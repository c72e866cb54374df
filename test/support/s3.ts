import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

/** The test S3 server (moto, started by scripts/services) and its one access key. */
export function s3Env(): { endpoint: string; accessKeyId: string; secretAccessKey: string } {
  const endpoint = process.env.TIDEMARK_S3_ENDPOINT;
  const accessKeyId = process.env.TIDEMARK_S3_ACCESS_KEY;
  const secretAccessKey = process.env.TIDEMARK_S3_SECRET_KEY;
  if (!endpoint || !accessKeyId || !secretAccessKey)
    throw new Error('TIDEMARK_S3_* is not set: run "scripts/services up" (npm test does it for you)');
  return { endpoint, accessKeyId, secretAccessKey };
}

/** `sinks.iceberg.s3` for the test server. */
export function s3Config(): { endpoint: string; region: string; forcePathStyle: boolean } {
  return { endpoint: s3Env().endpoint, region: 'us-east-1', forcePathStyle: true };
}

/** The standard AWS variables the SDK's default credential chain reads, for the test key. */
export function awsEnv(): Record<string, string> {
  const { accessKeyId, secretAccessKey } = s3Env();
  return { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey };
}

/** PyIceberg's catalog properties for reading tables on the test server (PyArrowFileIO). */
export function s3PyIcebergProps(): Record<string, string> {
  const { endpoint, accessKeyId, secretAccessKey } = s3Env();
  return {
    's3.endpoint': endpoint,
    's3.access-key-id': accessKeyId,
    's3.secret-access-key': secretAccessKey,
    's3.region': 'us-east-1',
  };
}

export function testS3Client(): S3Client {
  const { endpoint, accessKeyId, secretAccessKey } = s3Env();
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
}

export interface TestBucket {
  readonly name: string;
  /** Deletes every object, then the bucket (moto keeps objects in memory). */
  drop(): Promise<void>;
}

/** A new bucket with a random name on the test server. */
export async function createTestBucket(prefix: string): Promise<TestBucket> {
  const name = `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const client = testS3Client();
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return {
    name,
    async drop() {
      try {
        for (;;) {
          const page = await client.send(new ListObjectsV2Command({ Bucket: name }));
          const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
          if (keys.length === 0) break;
          await client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys } }));
        }
        await client.send(new DeleteBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
  };
}
