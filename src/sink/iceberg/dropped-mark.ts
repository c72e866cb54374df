import type { TableMetadata } from './table-metadata';

/** Table property naming when the source table was found dropped (ISO time); absent while it exists. */
export const SOURCE_DROPPED_PROPERTY = 'tidemark.source-dropped-at';

/**
 * `m` with its dropped mark set to `droppedAt` (null: cleared), or null when it already is. The
 * metadata log is the caller's (a snapshot commit or a metadata-only one adds its own entry).
 */
export function withDroppedMark(m: TableMetadata, droppedAt: string | null): TableMetadata | null {
  if ((m.properties[SOURCE_DROPPED_PROPERTY] ?? null) === droppedAt) return null;
  const properties = { ...m.properties };
  if (droppedAt === null) delete properties[SOURCE_DROPPED_PROPERTY];
  else properties[SOURCE_DROPPED_PROPERTY] = droppedAt;
  return { ...m, properties };
}
