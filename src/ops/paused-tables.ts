import type { OffsetStore } from '../offsets/offset-store';

/** A table an operator paused: its changes wait in Kafka while the other tables go on. */
export interface PausedTable {
  readonly table: string;
  readonly since: string;
  readonly reason: string;
}

const KEY = 'sink:paused-tables';

export async function readPausedTables(store: Pick<OffsetStore, 'get'>): Promise<PausedTable[]> {
  return JSON.parse((await store.get(KEY)) ?? '[]') as PausedTable[];
}

/** Adds or removes one table; returns the list as stored. */
export async function setTablePaused(
  store: Pick<OffsetStore, 'get' | 'set'>,
  table: string,
  paused: boolean,
  reason = '',
): Promise<PausedTable[]> {
  const rest = (await readPausedTables(store)).filter((p) => p.table !== table);
  const next = paused ? [...rest, { table, since: new Date().toISOString(), reason }] : rest;
  await store.set(KEY, JSON.stringify(next));
  return next;
}
