import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { Config } from '../config/load';
import type { ChangeEvent } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import { formatLsn, type Lsn } from '../core/lsn';
import { literal } from '../sink/warehouse/sql-names';
import {
  deleteEvents,
  insertEvents,
  type TxnContext,
  truncateEvent,
  updateEvents,
} from '../source/change-builder';
import { sourceClientConfig } from '../source/pg-connection';
import { decodePgoutput } from '../source/pgoutput/decode';
import { createSlot } from '../source/setup/slot';
import type { SourceTable } from '../source/table-schemas';

/**
 * The source at one exact WAL position. A temporary logical slot gives both halves: the
 * snapshot it exports holds exactly the transactions committed before its consistent point
 * `snapshotLsn`, and decoding the slot yields exactly the ones after it. So the source as it
 * was at any later cut C is that snapshot plus the decoded transactions with commit LSN ≤ C,
 * which is what a sink that committed cut C must hold. `reader` stays in that snapshot (a
 * REPEATABLE READ transaction) until `close`; Postgres drops the slot when `close` ends the
 * connection that made it (or when the process dies).
 */
export class SourceAtCut {
  private constructor(
    private readonly holder: Client,
    readonly reader: Client,
    readonly snapshotLsn: Lsn,
    private readonly slot: string,
    private readonly publication: string,
  ) {}

  /**
   * Opens the snapshot and takes ACCESS SHARE locks on the publication's tables in it, as
   * pg_dump does: TRUNCATE is not MVCC-safe, and a table truncated after the snapshot would read
   * empty in it (a false difference: the sinks hold the rows the snapshot should have shown).
   * A TRUNCATE (or ALTER) on the source waits for the verify to end; one committed in the
   * milliseconds between the snapshot and the lock can still show as such a difference.
   */
  static async open(config: Config): Promise<SourceAtCut> {
    const url = config.source.url.reveal();
    const slot = `tidemark_verify_${randomBytes(6).toString('hex')}`;
    const created = await createSlot(sourceClientConfig(url, 'tidemark-verify'), slot, true, true);
    const reader = new Client(sourceClientConfig(url, 'tidemark-verify'));
    reader.on('error', () => {}); // a lost reader fails its next query, which names it
    try {
      await reader.connect();
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await reader.query(`SET TRANSACTION SNAPSHOT '${created.snapshotName}'`);
      await lockPublished(reader, config.source.publication);
    } catch (e) {
      await reader.end().catch(() => {});
      await created.holder.end().catch(() => {});
      throw new TidemarkError('transient', `cannot read the source snapshot: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return new SourceAtCut(created.holder, reader, created.consistentPoint, slot, config.source.publication);
  }

  /**
   * The changes to `tables` (by relation oid) committed after the snapshot and at or before
   * `cut`, in commit order. Refuses a table whose columns changed in that window: its rows
   * before and after would not compare against one schema.
   */
  async changesUpTo(cut: Lsn, tables: ReadonlyMap<number, SourceTable>): Promise<ChangeEvent[]> {
    if (cut < this.snapshotLsn) return [];
    // Decoding stops after the first record ending past the limit: +1 keeps a commit at `cut`.
    const r = await this.holder.query(
      `SELECT data FROM pg_logical_slot_peek_binary_changes(${literal(this.slot)}, ${literal(formatLsn(cut + 1n))}::pg_lsn, NULL, 'proto_version', '1', 'publication_names', ${literal(this.publication)})`,
    );
    const out: ChangeEvent[] = [];
    let txn: TxnContext | null = null;
    for (const row of r.rows as { data: Buffer }[]) {
      const m = decodePgoutput(row.data);
      if (m.tag === 'begin') {
        txn =
          m.finalLsn <= cut
            ? { commitLsn: m.finalLsn, xid: m.xid, commitTimeMs: m.commitTimeMs, seq: 0 }
            : null;
        continue;
      }
      if (!txn) continue;
      if (m.tag === 'relation') {
        const t = tables.get(m.relationOid);
        if (
          t &&
          m.columns.map((c) => c.name).join('\u0000') !== t.schema.columns.map((c) => c.name).join('\u0000')
        )
          throw new TidemarkError(
            'transient',
            `${t.schema.schema}.${t.schema.table} changed its columns while verify ran (at ${formatLsn(txn.commitLsn)}): run verify again`,
          );
      } else if (m.tag === 'insert' || m.tag === 'update' || m.tag === 'delete') {
        const t = tables.get(m.relationOid);
        if (!t) continue;
        if (m.tag === 'insert') out.push(...insertEvents(t, txn, m));
        else if (m.tag === 'update') out.push(...updateEvents(t, txn, m));
        else out.push(...deleteEvents(t, txn, m));
      } else if (m.tag === 'truncate') {
        for (const oid of m.relationOids) {
          const t = tables.get(oid);
          if (t) out.push(truncateEvent(t, txn));
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.reader.query('ROLLBACK').catch(() => {});
    await this.reader.end().catch(() => {});
    await this.holder.end().catch(() => {});
  }
}

/** Locks the publication's tables in the reader's snapshot transaction (see SourceAtCut.open). */
async function lockPublished(reader: Client, publication: string): Promise<void> {
  const names = (
    await reader.query(
      "SELECT format('%I.%I', schemaname, tablename) AS n FROM pg_publication_tables WHERE pubname = $1",
      [publication],
    )
  ).rows.map((r: { n: string }) => r.n);
  if (names.length === 0) return; // verifiedTables names the problem
  // Behind a waiting ALTER or TRUNCATE the lock would wait with it: bounded, then a clear error.
  await reader.query("SET LOCAL lock_timeout = '30s'");
  try {
    await reader.query(`LOCK TABLE ${names.join(', ')} IN ACCESS SHARE MODE`);
  } catch (e) {
    throw new TidemarkError(
      'transient',
      `cannot lock the source tables for the comparison (ACCESS SHARE, as pg_dump does): ${(e as Error).message}`,
      { cause: e, fix: 'run verify again when no TRUNCATE or ALTER TABLE is waiting on them' },
    );
  }
}
