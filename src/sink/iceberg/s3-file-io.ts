import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type ErrorKind, TidemarkError } from '../../core/errors';
import type { FileIO } from './file-io';

/** Objects above this size go up in parts: one PUT of a large data file is one long retry. */
export const MULTIPART_THRESHOLD_BYTES = 16 * 1024 * 1024;
/** Part size: S3 allows 10,000 parts, so objects up to ~160 GB (minimum part size is 5 MiB). */
export const MULTIPART_PART_BYTES = 16 * 1024 * 1024;
/** Parts in flight at once per upload. */
const PART_CONCURRENCY = 4;
/**
 * Attempts per request in the SDK's `standard` retry mode (exponential backoff with jitter,
 * throttling and 5xx and network errors retried). Five rather than the SDK's three: a read that
 * still fails is reported by the table readers as unreadable, which stops the daemon.
 */
const MAX_ATTEMPTS = 5;

export interface S3FileIOOptions {
  /** An S3-compatible endpoint (MinIO, Ceph, moto, …); absent: AWS S3 itself. */
  readonly endpoint?: string;
  readonly region: string;
  /** Path-style URLs (http://host/bucket/key), which most S3-compatible stores need. */
  readonly forcePathStyle: boolean;
  /**
   * Explicit credentials, for embedders and tests only. The daemon leaves this out and the SDK's
   * default chain finds them: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN), a web
   * identity token (Kubernetes IRSA/pod identity), AWS_PROFILE and ~/.aws, the ECS or EC2 role.
   */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export interface S3Location {
  readonly scheme: 's3' | 's3a';
  readonly bucket: string;
  readonly key: string;
}

/** `s3://bucket/key` (or `s3a://`, as Hadoop-based engines write) → bucket and key. */
export function parseS3Location(location: string): S3Location {
  const m = /^(s3a?):\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!m) throw new TidemarkError('internal', `${location} is not an s3:// location`);
  return { scheme: m[1] as 's3' | 's3a', bucket: m[2]!, key: m[3]! };
}

/**
 * FileIO on S3 and S3-compatible object stores. Locations are `s3://bucket/key` URIs (the form
 * every Iceberg reader resolves); `s3a://` ones, written by other engines, are read as well.
 * A write resolves once S3 answered the PUT (or completed the multipart upload), when the object
 * is durable and, S3 being strongly consistent, visible to every reader. Errors are
 * TidemarkErrors naming the object and S3's error code, with what to do about it.
 */
export class S3FileIO implements FileIO {
  private readonly client: S3Client;

  constructor(private readonly opts: S3FileIOOptions) {
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: opts.credentials,
      retryMode: 'standard',
      maxAttempts: MAX_ATTEMPTS,
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
      // Another endpoint than AWS: checksums only where S3 requires them, since several
      // S3-compatible stores reject the SDK's default CRC32 checksum headers.
      ...(opts.endpoint
        ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
        : {}),
    });
  }

  async write(location: string, bytes: Uint8Array): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    if (bytes.byteLength > MULTIPART_THRESHOLD_BYTES) return this.writeMultipart(location, bytes);
    await this.call('write', location, () =>
      this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes })),
    );
  }

  /** CreateMultipartUpload, the parts (a few at a time), Complete; Abort on any failure. */
  private async writeMultipart(location: string, bytes: Uint8Array): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    const created = await this.call('write', location, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key })),
    );
    const uploadId = created.UploadId!;
    try {
      const count = Math.ceil(bytes.byteLength / MULTIPART_PART_BYTES);
      const etags: string[] = new Array(count);
      let next = 0;
      let failed = false;
      const worker = async (): Promise<void> => {
        while (next < count && !failed) {
          const i = next++;
          const body = bytes.subarray(i * MULTIPART_PART_BYTES, (i + 1) * MULTIPART_PART_BYTES);
          const part = await this.call('write', location, () =>
            this.client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: i + 1,
                Body: body,
              }),
            ),
          );
          etags[i] = part.ETag!;
        }
      };
      // Every worker stops before the upload is aborted: none may upload a part after it.
      const settled = await Promise.allSettled(
        Array.from({ length: Math.min(PART_CONCURRENCY, count) }, () =>
          worker().catch((e: unknown) => {
            failed = true;
            throw e;
          }),
        ),
      );
      const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected) throw rejected.reason;
      await this.call('write', location, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          }),
        ),
      );
    } catch (e) {
      // Best effort: an upload left open only costs storage until a lifecycle rule ends it.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
        .catch(() => undefined);
      throw e;
    }
  }

  async read(location: string): Promise<Uint8Array> {
    const { bucket, key } = parseS3Location(location);
    return this.call('read', location, async () => {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return out.Body!.transformToByteArray();
    });
  }

  async exists(location: string): Promise<boolean> {
    const { bucket, key } = parseS3Location(location);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (e) {
      // HEAD responses have no body: a missing object is only its 404 status.
      if (errorCode(e) === 'NotFound' || httpStatus(e) === 404) return false;
      throw this.error('exists', location, e);
    }
  }

  async delete(location: string): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    await this.call('delete', location, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
    );
  }

  async list(prefix: string): Promise<{ location: string; modifiedMs: number }[]> {
    const { scheme, bucket, key } = parseS3Location(prefix);
    const out: { location: string; modifiedMs: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.call('list', prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token })),
      );
      for (const o of page.Contents ?? [])
        out.push({ location: `${scheme}://${bucket}/${o.Key}`, modifiedMs: o.LastModified?.getTime() ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /**
   * The start check: lists at most one key under `location` (the permission the orphan removal
   * needs anyway; HEAD on a bucket answers errors without a code). Throws a `config` error.
   */
  async checkReachable(location: string): Promise<void> {
    const { bucket, key } = parseS3Location(location);
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
    } catch (e) {
      const err = this.error('list', location, e);
      throw new TidemarkError(
        'config',
        `config key "sinks.iceberg.location": ${location} is not usable: ${err.message}`,
        { cause: e, fix: err.fix },
      );
    }
  }

  close(): void {
    this.client.destroy();
  }

  private async call<T>(op: string, location: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.error(op, location, e);
    }
  }

  private error(op: string, location: string, e: unknown): TidemarkError {
    const code = errorCode(e);
    const [kind, fix] = classify(code, httpStatus(e), this.opts.endpoint);
    const detail = e instanceof Error && e.message && e.message !== code ? `: ${e.message}` : '';
    return new TidemarkError(kind, `S3 ${op} of ${location} failed with ${code}${detail}`, {
      cause: e,
      fix,
    });
  }
}

const CREDENTIAL_FIX =
  'check the credentials tidemark runs with (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the web identity role on Kubernetes, or AWS_PROFILE): they are wrong, expired or of another account';

/**
 * S3's error code, or the error's name or Node's code (ECONNREFUSED…) for network and SDK
 * errors; last, a Node code in the message (the SDK's retry wraps what it cannot recognise as
 * an Error, e.g. one from another realm, into a message).
 */
function errorCode(e: unknown): string {
  const x = e as { Code?: unknown; code?: unknown; name?: unknown; message?: unknown };
  for (const c of [x?.Code, x?.name, x?.code]) if (typeof c === 'string' && c && c !== 'Error') return c;
  const inMessage = typeof x?.message === 'string' ? /\b(E[A-Z]{3,})\b/.exec(x.message) : null;
  return inMessage?.[1] ?? 'UnknownError';
}

function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function classify(code: string, status: number | undefined, endpoint?: string): [ErrorKind, string] {
  switch (code) {
    case 'NoSuchBucket':
      return ['config', 'create the bucket, or correct the bucket in sinks.iceberg.location'];
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return [
        'config',
        'check the credentials and that their policy allows s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on the bucket and prefix',
      ];
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
    case 'InvalidToken':
    case 'TokenRefreshRequired':
      return ['config', CREDENTIAL_FIX];
    case 'CredentialsProviderError':
      return [
        'config',
        'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the pod a web identity role',
      ];
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
    case 'IllegalLocationConstraintException':
      return ['config', 'set sinks.iceberg.s3.region to the region the bucket is in'];
    case 'InvalidBucketName':
      return ['config', 'correct the bucket in sinks.iceberg.location'];
    case 'NoSuchKey':
    case 'NotFound':
      return ['corrupt_state', 'the object is missing: was it deleted by something else than tidemark?'];
  }
  if (status === undefined || status >= 500 || code === 'SlowDown' || code === 'RequestTimeout')
    return [
      'transient',
      `retried; if it persists, check that ${endpoint ? `the endpoint ${endpoint} (sinks.iceberg.s3.endpoint)` : 'S3'} is reachable`,
    ];
  return ['internal', 'see the S3 error code'];
}
