import type { TableMetadata } from './table-metadata';
import { currentSnapshot } from './table-metadata';

/**
 * Rows per data file so that files come out near `targetFileBytes` (sinks.iceberg.targetFileBytes),
 * never above `targetFileRows`: Parquet bytes per row observed in the files at hand (their sizes
 * over their rows), since a row's encoded size depends on the table (a 2 KiB JSON column makes
 * a million-row file gigabytes, a row of three ints a few megabytes).
 */
export function rowsPerFile(
  targetFileRows: number,
  targetFileBytes: number | undefined,
  observedBytes: number,
  observedRows: number,
): number {
  if (!targetFileBytes || observedRows <= 0 || observedBytes <= 0) return targetFileRows;
  const bytesPerRow = observedBytes / observedRows;
  return Math.max(1, Math.min(targetFileRows, Math.floor(targetFileBytes / bytesPerRow)));
}

/** rowsPerFile from a table's current snapshot summary (what its live files weigh). */
export function rowsPerFileOf(m: TableMetadata, targetFileRows: number, targetFileBytes?: number): number {
  const s: Readonly<Record<string, string>> = currentSnapshot(m)?.summary ?? {};
  return rowsPerFile(
    targetFileRows,
    targetFileBytes,
    Number(s['total-files-size'] ?? 0),
    Number(s['total-records'] ?? 0),
  );
}
