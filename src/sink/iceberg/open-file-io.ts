import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IcebergConfig } from '../../config/schema';
import { TidemarkError } from '../../core/errors';
import { type FileIO, LocalFileIO } from './file-io';
import { S3FileIO } from './s3-file-io';

/** The region when the config has no `s3` block (the schema's default too). */
const DEFAULT_S3_REGION = 'us-east-1';

/**
 * The storage that `sinks.iceberg.location` names, and the table location root as a URI: a
 * local path (file://…), or s3://bucket/prefix on S3 or an S3-compatible store
 * (`sinks.iceberg.s3`; credentials from the AWS SDK's default chain). An S3 location is checked
 * here, at start: an unknown bucket, refused credentials or an unreachable endpoint is a
 * `config` error now rather than a failed commit later.
 */
export async function openFileIO(
  cfg: Pick<IcebergConfig, 'location' | 's3'>,
): Promise<{ io: FileIO; warehouse: string }> {
  if (/^s3a?:\/\//.test(cfg.location)) {
    const warehouse = cfg.location.replace(/\/+$/, '');
    if (!/^s3a?:\/\/[^/]+/.test(warehouse))
      throw new TidemarkError(
        'config',
        `config key "sinks.iceberg.location": "${cfg.location}" names no bucket`,
        { fix: 'write it as s3://bucket or s3://bucket/prefix' },
      );
    // No `s3` block: AWS S3 itself, with its own (virtual-hosted) URL style.
    const io = new S3FileIO({
      endpoint: cfg.s3?.endpoint,
      region: cfg.s3?.region ?? DEFAULT_S3_REGION,
      forcePathStyle: cfg.s3?.forcePathStyle ?? false,
    });
    try {
      await io.checkReachable(`${warehouse}/`);
    } catch (e) {
      io.close();
      throw e;
    }
    return { io, warehouse };
  }
  const warehouse = cfg.location.startsWith('file://')
    ? cfg.location
    : pathToFileURL(resolve(cfg.location)).toString();
  return { io: new LocalFileIO(), warehouse };
}
