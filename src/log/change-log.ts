import type { ChangeEvent } from '../core/change-event';
import type { Lsn } from '../core/lsn';
import type { TableSchema } from '../core/table-schema';
import type { SchemaChange } from './schema-change';

/**
 * The source's side of the change log (Kafka in production, an in-process queue embedded).
 *
 * Contract:
 * - Order: events of one table are stored in the order of `append` calls; a key always lands in
 *   one partition, so per-key order holds. Callers append transactions in commit order.
 * - Durability: a promise resolves only once every event it carries is durable in the log
 *   (Kafka: acknowledged with acks=all by the idempotent producer). A rejected promise means
 *   some of its events may or may not be stored: the source must not acknowledge the slot past
 *   them and must restart from the slot (replays carry identical positions).
 * - Schemas: `publishSchema` resolves before any event decoded with that version is appended.
 * - Watermarks: `publishWatermark(W)` is called only after every append holding a change with
 *   commit LSN ≤ W has resolved; the log records W with, per partition, the highest offset
 *   holding such a change, so that a sink that has read up to those offsets has every change ≤ W.
 */
export interface ChangeLogWriter {
  /** Makes sure the log can take this table's events (Kafka: creates its topic). */
  ensureTables(tables: readonly TableSchema[]): Promise<void>;
  /** `change`: what the version changed, recorded with it (the schema-change control record). */
  publishSchema(schema: TableSchema, change?: SchemaChange): Promise<void>;
  append(events: readonly ChangeEvent[]): Promise<void>;
  /**
   * Called (without awaiting) right after the last `append` of the transaction committed at
   * `commitLsn`. The embedded log needs it: there the appends resolve only once the sinks have
   * committed them, so it cannot learn that a transaction is complete from resolved appends.
   */
  endTransaction?(commitLsn: Lsn): void;
  /**
   * True when appends resolve only once the sinks committed the whole transaction (embedded):
   * the reader's backpressure must then not wait on the open transaction's own appends, which
   * cannot resolve before its end is read.
   */
  readonly resolvesOnCommit?: boolean;
  /**
   * Where appends resolve only at commit (embedded): resolves once the log has room for more of
   * the open transaction (its buffers below their bound, or the transaction is held whole). The
   * reader awaits it after each append, so memory stays bounded inside one large transaction.
   */
  room?(): Promise<void>;
  publishWatermark(lsn: Lsn): Promise<void>;
  close(): Promise<void>;
}
