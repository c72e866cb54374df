import { TidemarkError } from '../../core/errors';
import { encodeKey } from '../../core/row-key';
import type { Catalog, CommittedTable, TableIdent } from './catalog';
import { identText } from './catalog';
import { type FileIO, unreadable } from './file-io';
import type { IcebergField, IcebergSchema } from './iceberg-types';
import { KeyIndex } from './key-index';
import type { TableMetadata } from './table-metadata';
import { currentSchema, currentSnapshot, parseTableMetadata } from './table-metadata';
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
  /**
   * Set while `metadata` holds a schema change made inside a round in parts and not committed
   * (schema-change-commit.ts evolveInRound): the catalog's metadata at metadataLocation, the
   * base a commit swaps from. The round's commit, built on `metadata`, lands the change.
   */
  pendingBase?: TableMetadata;
}

/**
 * Records a committed swap in the writer's state: the metadata it built and the file it wrote,
 * or, when the catalog writes the metadata itself (REST), the catalog's file and metadata; when
 * those show another writer's commit right after this one, the key index is dropped (stale).
 * True when the catalog could not say: the state must then be reloaded before its next use.
 */
export function recordCommitted(
  catalog: Catalog,
  st: TableState,
  committed: { readonly tables?: ReadonlyMap<string, CommittedTable> },
  built: TableMetadata,
  file: string,
): boolean {
  st.pendingBase = undefined;
  if (!catalog.writesMetadata) {
    st.metadata = built;
    st.metadataLocation = file;
    return false;
  }
  const now = committed.tables?.get(identText(st.ident));
  if (!now) return true;
  st.metadata = now.metadata;
  st.metadataLocation = now.location;
  const mine = currentSnapshot(built)?.['snapshot-id'] ?? null;
  if ((currentSnapshot(now.metadata)?.['snapshot-id'] ?? null) !== mine) st.index = null;
  return false;
}

/**
 * Why a change staged against `baseLocation` cannot be rebased onto `fresh`: data files it may
 * delete rows from were rewritten away (a compaction). Null when every data file live at the
 * base is still live, so its position deletes still point at the right rows.
 */
export async function rewrittenSince(
  io: FileIO,
  baseLocation: string,
  fresh: TableMetadata,
  table: string,
): Promise<string | null> {
  // The base file goes once the metadata log drops it (write.metadata.delete-after-commit.enabled,
  // metadata-swap.ts): the files it held cannot be compared then, so the change is staged again.
  if (!(await io.exists(baseLocation)))
    return `the metadata it was staged on (${baseLocation}) was dropped from the metadata log and deleted`;
  const base = parseTableMetadata(new TextDecoder().decode(await io.read(baseLocation)), baseLocation, table);
  const live = new Set((await planScan(io, fresh, table)).dataFiles.map((e) => e.file.filePath));
  const gone = (await planScan(io, base, table)).dataFiles.filter((e) => !live.has(e.file.filePath));
  return gone.length > 0 ? `${gone.length} data file(s) were rewritten by another writer` : null;
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
    throw unreadable(e, `table ${identText(ident)}: metadata file ${location} cannot be read`);
  }
  return {
    location,
    metadata: parseTableMetadata(Buffer.from(bytes).toString('utf8'), location, identText(ident)),
  };
}

/** A keyed table's identifier fields, whose values the key index encodes (core/row-key encodeKey). */
export function keyFieldsOf(schema: IcebergSchema, table: string): IcebergField[] {
  const ids = schema['identifier-field-ids'] ?? [];
  const keyFields = ids.map((id) => schema.fields.find((f) => f.id === id));
  if (keyFields.length === 0 || keyFields.some((f) => !f)) {
    throw new TidemarkError(
      'corrupt_state',
      `table ${table}: its schema has no identifier fields; tidemark tables are keyed`,
    );
  }
  return keyFields as IcebergField[];
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
  const keyFields = keyFieldsOf(schema, identText(ident));
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
