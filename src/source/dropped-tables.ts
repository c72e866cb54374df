import type { Client } from 'pg';
import type { Logger } from '../observe/logger';
import type { SourceStateStore } from './state-store';
import { emitTransactionalMessage } from './wal-message';

/**
 * A mirrored table that no longer exists in the source. Its sink tables are kept with their rows
 * and marked (Iceberg table property, warehouse `_tidemark_tables.source_dropped_at`); a table
 * created again under the same name is emptied in the sinks and copied afresh.
 */
export interface DroppedTable {
  readonly table: string;
  /** When the source noticed (its table discovery runs every source.discoverEveryMs). */
  readonly droppedAt: string;
  /** The source's WAL position when it noticed: every change of the table is before it. */
  readonly noticedAtLsn: string;
}

/** WAL message prefix asking the stream to empty a table in the sinks (a truncate at its place). */
export const CLEAR_TABLE = 'tidemark_clear';

/** The tables this pipeline mirrors, recorded so that one added while it was stopped is known as new. */
export function mirroredTablesKey(slot: string): string {
  return `source:${slot}:tables`;
}

/** The relation oid of each mirrored table, recorded with it: another oid is another table. */
export function tableOidsKey(slot: string): string {
  return `source:${slot}:table-oids`;
}

export function droppedTablesKey(slot: string): string {
  return `source:${slot}:dropped-tables`;
}

export async function readDroppedTables(
  state: Pick<SourceStateStore, 'get'>,
  slot: string,
): Promise<DroppedTable[]> {
  return JSON.parse((await state.get(droppedTablesKey(slot))) ?? '[]') as DroppedTable[];
}

export async function writeDroppedTables(
  state: SourceStateStore,
  slot: string,
  tables: readonly DroppedTable[],
): Promise<void> {
  await state.set(
    droppedTablesKey(slot),
    JSON.stringify([...tables].sort((a, b) => (a.table < b.table ? -1 : 1))),
  );
}

/**
 * Tables among `keys` that were dropped and now exist again: each is emptied in the sinks by a
 * WAL message the stream turns into a truncate at its place, then leaves the dropped list. Called
 * before the table is added back to the publication, so none of its new changes precede the
 * truncate.
 */
export async function clearRecreatedTables(
  client: Pick<Client, 'query'>,
  state: SourceStateStore,
  slot: string,
  keys: readonly string[],
  logger: Logger,
): Promise<string[]> {
  const dropped = await readDroppedTables(state, slot);
  const back = dropped.filter((d) => keys.includes(d.table));
  for (const d of back) {
    await emitTransactionalMessage(client, CLEAR_TABLE, { slot, table: d.table });
    logger.warn(
      { table: d.table, droppedAt: d.droppedAt },
      'table created again after it was dropped: its sink tables are emptied and it is copied afresh',
    );
  }
  if (back.length > 0)
    await writeDroppedTables(
      state,
      slot,
      dropped.filter((d) => !back.includes(d)),
    );
  return back.map((d) => d.table);
}

/**
 * `source.tables` without the exact names of tables that were mirrored and are gone now (dropped
 * while the pipeline ran or was stopped): they would stop the start as a typo does, yet the
 * pipeline should go on with the others. A name never mirrored stays, and stays an error.
 */
export async function withoutDroppedNames(
  patterns: readonly string[],
  present: ReadonlySet<string>,
  state: Pick<SourceStateStore, 'get'>,
  slot: string,
  logger: Logger,
): Promise<string[]> {
  const recorded = new Set<string>(
    JSON.parse((await state.get(mirroredTablesKey(slot))) ?? '[]') as string[],
  );
  for (const d of await readDroppedTables(state, slot)) recorded.add(d.table);
  return patterns.filter((p) => {
    const gone = !p.startsWith('!') && !p.includes('*') && !present.has(p) && recorded.has(p);
    if (gone) logger.warn({ table: p }, 'source.tables names a table dropped in the source: left out');
    return !gone;
  });
}

/**
 * Mirrored tables that were dropped and created again while the pipeline was stopped (another
 * relation oid under the recorded name): recorded as dropped and taken out of the mirrored set,
 * so that the start empties them in the sinks (clearRecreatedTables) and copies them afresh like
 * a table that joined while it was stopped.
 */
export async function noticeReplacedWhileStopped(
  client: Pick<Client, 'query'>,
  state: SourceStateStore,
  slot: string,
  catalog: ReadonlyArray<{ readonly schema: string; readonly table: string; readonly oid: number }>,
  logger: Logger,
): Promise<string[]> {
  const oids = JSON.parse((await state.get(tableOidsKey(slot))) ?? '{}') as Record<string, number | null>;
  const replaced = catalog
    .map((t) => ({ key: `${t.schema}.${t.table}`, oid: t.oid }))
    .filter((t) => typeof oids[t.key] === 'number' && oids[t.key] !== t.oid)
    .map((t) => t.key);
  if (replaced.length === 0) return [];
  const lsn = (await client.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn as string;
  const at = new Date().toISOString();
  const dropped = (await readDroppedTables(state, slot)).filter((d) => !replaced.includes(d.table));
  for (const table of replaced) {
    dropped.push({ table, droppedAt: at, noticedAtLsn: lsn });
    logger.warn({ table }, 'table dropped and created again while the pipeline was stopped');
  }
  await writeDroppedTables(state, slot, dropped);
  const mirrored = JSON.parse((await state.get(mirroredTablesKey(slot))) ?? 'null') as string[] | null;
  if (mirrored)
    await state.set(mirroredTablesKey(slot), JSON.stringify(mirrored.filter((k) => !replaced.includes(k))));
  return replaced;
}
