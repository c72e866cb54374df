import type { Value } from './column-type';
import type { Position } from './position';
import type { TableRef } from './table-schema';

/** A row keyed by column name, holding canonical values (see column-type.ts). */
export type Row = Record<string, Value>;

/**
 * Debezium's op codes: c = insert, u = update, d = delete, r = snapshot read, t = truncate.
 * An update that changes the primary key is never a `u`: the source emits a `d` of the old
 * key followed by a `c` of the new one at consecutive sequence numbers.
 */
export type Op = 'c' | 'u' | 'd' | 'r' | 't';

export interface ChangeEvent {
  readonly op: Op;
  readonly table: TableRef;
  readonly position: Position;
  /** Source transaction id (xid); for snapshot rows, the snapshot's xmin. */
  readonly txId: number;
  /** Commit time of the source transaction, ms since the epoch (snapshot rows: snapshot start). */
  readonly commitTimeMs: number;
  /** Version of the table schema the row was decoded with (TableSchema.version). */
  readonly schemaVersion: number;
  /** Old image: the key columns (default replica identity) or the full row (FULL); null for c/r/t. */
  readonly before: Row | null;
  /** New image; null for d/t. */
  readonly after: Row | null;
  /**
   * Columns of `after` whose value did not change and was not sent (TOAST). Their entry is
   * absent from `after`; a sink must keep (or fill in) the stored value, never write null.
   * Empty when every value is present.
   */
  readonly unchanged: readonly string[];
  /** True for rows of the initial snapshot (op r). */
  readonly snapshot: boolean;
  /**
   * On the `d` of an update that changed the key: the new key's columns (its `c` follows at the
   * next sequence number, with this `d`'s key as its `before`). In Kafka it is Debezium's
   * `__debezium.newkey` header; absent from the envelope.
   */
  readonly newKey?: Row;
}
