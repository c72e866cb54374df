import type { ChangeEvent, Op, Row } from '../core/change-event';
import type { Lsn } from '../core/lsn';
import { encodeKey } from '../core/row-key';
import { decodeColumn } from './column-decoding';
import {
  type DeleteMessage,
  type InsertMessage,
  type TupleValue,
  UNCHANGED_TOAST,
  type UpdateMessage,
} from './pgoutput/messages';
import type { SourceTable } from './table-schemas';

export interface TxnContext {
  readonly commitLsn: Lsn;
  readonly xid: number;
  readonly commitTimeMs: number;
  /** Next sequence number inside the transaction; advanced by every event built. */
  seq: number;
}

interface DecodedTuple {
  row: Row;
  unchanged: string[];
}

/** "schema.table.column" per column, for errors; made once per table version, not per value. */
const columnNames = new WeakMap<SourceTable, readonly string[]>();
function wheres(t: SourceTable): readonly string[] {
  let w = columnNames.get(t);
  if (!w) {
    w = t.schema.columns.map((c) => `${t.schema.schema}.${t.schema.table}.${c.name}`);
    columnNames.set(t, w);
  }
  return w;
}

function decodeTuple(t: SourceTable, tuple: readonly TupleValue[]): DecodedTuple {
  const row: Row = {};
  const unchanged: string[] = [];
  const cols = t.schema.columns;
  const where = wheres(t);
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    const v = tuple[t.tupleIndex[i]!];
    if (v === UNCHANGED_TOAST) unchanged.push(c.name);
    else if (v === null || v === undefined) row[c.name] = null;
    else row[c.name] = decodeColumn(t, i, v, where[i]!);
  }
  return { row, unchanged };
}

function keyOf(row: Row, key: readonly string[]): Row {
  const out: Row = {};
  for (const k of key) out[k] = row[k] ?? null;
  return out;
}

function event(
  t: SourceTable,
  ctx: TxnContext,
  op: Op,
  before: Row | null,
  after: Row | null,
  unchanged: string[] = [],
): ChangeEvent {
  return {
    op,
    table: { schema: t.schema.schema, table: t.schema.table },
    position: { lsn: ctx.commitLsn, seq: ctx.seq++ },
    txId: ctx.xid,
    commitTimeMs: ctx.commitTimeMs,
    schemaVersion: t.schema.version,
    before,
    after,
    unchanged,
    snapshot: false,
  };
}

export function insertEvents(t: SourceTable, ctx: TxnContext, m: InsertMessage): ChangeEvent[] {
  return [event(t, ctx, 'c', null, decodeTuple(t, m.newTuple).row)];
}

/**
 * An update. TOAST-unchanged columns are taken from the old row when REPLICA IDENTITY FULL sent
 * it, else listed in `unchanged`. An update that changes the key becomes a delete of the old key
 * and an insert of the new one; that insert keeps the old key in `before`, so a sink can fill
 * its unchanged columns from the old key's row.
 */
export function updateEvents(t: SourceTable, ctx: TxnContext, m: UpdateMessage): ChangeEvent[] {
  const key = t.schema.primaryKey;
  const next = decodeTuple(t, m.newTuple);
  let old: DecodedTuple | null = m.oldTuple ? decodeTuple(t, m.oldTuple) : null;
  if (old && m.oldKind === 'O' && next.unchanged.length > 0) {
    for (const c of next.unchanged) next.row[c] = old.row[c] ?? null;
    next.unchanged = [];
  }
  const newKey = keyOf(next.row, key);
  if (old) {
    const oldKey = keyOf(old.row, key);
    if (encodeKey(oldKey, key) !== encodeKey(newKey, key)) {
      const before = m.oldKind === 'O' ? old.row : oldKey;
      return [
        { ...event(t, ctx, 'd', before, null), newKey },
        event(t, ctx, 'c', oldKey, next.row, next.unchanged),
      ];
    }
  } else {
    old = null;
  }
  const before = m.oldKind === 'O' && old ? old.row : newKey;
  return [event(t, ctx, 'u', before, next.row, next.unchanged)];
}

export function deleteEvents(t: SourceTable, ctx: TxnContext, m: DeleteMessage): ChangeEvent[] {
  const old = decodeTuple(t, m.oldTuple).row;
  return [event(t, ctx, 'd', m.oldKind === 'O' ? old : keyOf(old, t.schema.primaryKey), null)];
}

export function truncateEvent(t: SourceTable, ctx: TxnContext): ChangeEvent {
  return event(t, ctx, 't', null, null);
}

/**
 * The delete of a key the source does not hold (a sweep: tidemark sweep): `key` is the key
 * columns' Postgres text, in the order of the table's key.
 */
export function sweptKeyEvent(t: SourceTable, ctx: TxnContext, key: readonly string[]): ChangeEvent {
  const before: Row = {};
  const where = wheres(t);
  t.schema.primaryKey.forEach((name, k) => {
    const i = t.schema.columns.findIndex((c) => c.name === name);
    before[name] = decodeColumn(t, i, key[k]!, where[i]!);
  });
  return event(t, ctx, 'd', before, null);
}
