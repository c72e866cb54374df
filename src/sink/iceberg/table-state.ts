import { TidemarkError } from '../../core/errors';
import { encodeKey } from '../../core/row-key';
import type { Catalog, TableIdent } from './catalog';
import { identText } from './catalog';
import type { FileIO } from './file-io';
import { KeyIndex } from './key-index';
import type { TableMetadata } from './table-metadata';
import { currentSchema, parseTableMetadata } from './table-metadata';
import { planScan, scanLiveRows } from './table-scan';

/** What the writer holds per table between rounds: the committed metadata and its key index. */
export interface TableState {
  readonly ident: TableIdent;
  metadataLocation: string;
  metadata: TableMetadata;
  /** null = stale (another writer committed): rebuilt before the next stage. */
  index: KeyIndex | null;
  /** Partition tuple of every live data file (delete files go to their data file's partition). */
  filePartitions: Map<string, Record<string, unknown>>;
}

export async function loadMetadata(
  catalog: Catalog,
  io: FileIO,
  ident: TableIdent,
): Promise<{ location: string; metadata: TableMetadata } | null> {
  const location = await catalog.currentLocation(ident);
  if (location === null) return null;
  let bytes: Uint8Array;
  try {
    bytes = await io.read(location);
  } catch (e) {
    throw new TidemarkError(
      'corrupt_state',
      `table ${identText(ident)}: metadata file ${location} cannot be read`,
      { cause: e },
    );
  }
  return {
    location,
    metadata: parseTableMetadata(Buffer.from(bytes).toString('utf8'), location, identText(ident)),
  };
}

/**
 * Rebuilds the key index from the key columns of the live data files minus position deletes.
 * Key columns are identified by the schema's identifier-field-ids.
 */
export async function rebuildIndex(
  io: FileIO,
  m: TableMetadata,
  ident: TableIdent,
  filePartitions?: Map<string, Record<string, unknown>>,
): Promise<KeyIndex> {
  const schema = currentSchema(m);
  const ids = schema['identifier-field-ids'] ?? [];
  const keyFields = ids.map((id) => schema.fields.find((f) => f.id === id)!);
  if (keyFields.length === 0 || keyFields.some((f) => !f)) {
    throw new TidemarkError(
      'corrupt_state',
      `table ${identText(ident)}: its schema has no identifier fields; tidemark tables are keyed`,
    );
  }
  const names = keyFields.map((f) => f.name);
  const index = new KeyIndex();
  if (filePartitions) {
    filePartitions.clear();
    for (const e of (await planScan(io, m, identText(ident))).dataFiles)
      filePartitions.set(e.file.filePath, e.file.partition);
  }
  for await (const live of scanLiveRows(io, m, identText(ident), keyFields))
    index.set(encodeKey(live.row, names), live.file, live.pos);
  return index;
}
