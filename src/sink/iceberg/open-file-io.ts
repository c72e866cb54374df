import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IcebergConfig } from '../../config/schema';
import { TidemarkError } from '../../core/errors';
import { type FileIO, LocalFileIO } from './file-io';

/** The storage that `sinks.iceberg.location` names, and the table location root as a URI. */
export function openFileIO(cfg: Pick<IcebergConfig, 'location'>): { io: FileIO; warehouse: string } {
  if (cfg.location.startsWith('s3://')) {
    throw new TidemarkError(
      'config',
      'config key "sinks.iceberg.location": s3:// locations are not available in this build',
      {
        fix: 'use a local path',
      },
    );
  }
  const warehouse = cfg.location.startsWith('file://')
    ? cfg.location
    : pathToFileURL(resolve(cfg.location)).toString();
  return { io: new LocalFileIO(), warehouse };
}
