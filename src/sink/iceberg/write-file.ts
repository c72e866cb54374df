import type { Value } from '../../core/column-type';
import type { FileIO } from './file-io';
import type { IcebergField } from './iceberg-types';
import type { DataFileRecord } from './manifests';
import { encodeParquet } from './parquet-files';

/**
 * Writes one Parquet file of `columns` (a data file, content 0, or a position-delete file, 1) at
 * `path` and describes it for a manifest entry, with its column metrics.
 */
export async function writeParquetFile(
  io: FileIO,
  path: string,
  content: 0 | 1,
  fields: readonly IcebergField[],
  columns: readonly (readonly Value[])[],
  partition: Record<string, unknown>,
  where: string,
): Promise<DataFileRecord> {
  const enc = encodeParquet(fields, columns, where);
  await io.write(path, enc.bytes);
  return {
    content,
    filePath: path,
    recordCount: enc.recordCount,
    fileSizeInBytes: enc.bytes.length,
    partition,
    metrics: enc.metrics,
  };
}
