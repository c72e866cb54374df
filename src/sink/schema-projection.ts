import type { ChangeEvent, Row } from '../core/change-event';
import type { ColumnType, Value } from '../core/column-type';
import { type ColumnSchema, type TableSchema, tableKey } from '../core/table-schema';
import { decodeText } from '../source/types/text-values';
import { castText } from './text-casts';

/**
 * A value of an older column type as the newer (widened) type holds it. Only int→bigint needs
 * a new representation (number → bigint); float4→float8, numeric precision, varchar length and
 * varchar→text keep theirs. Anything else is passed through: the sinks' schema evolution has
 * already refused a change that is not a widening.
 */
function widen(v: Value, from: ColumnType, to: ColumnType): Value {
  if (v === null || v === undefined) return v;
  if (to.kind === 'int64' && (from.kind === 'int16' || from.kind === 'int32') && typeof v === 'number')
    return BigInt(v);
  if (to.kind === 'list' && from.kind === 'list' && Array.isArray(v))
    return v.map((x) => widen(x, from.element, to.element));
  return v;
}

/**
 * An event decoded with an older schema version, expressed in a newer one, so that one round
 * can write rows from before and after a schema change with the newest schema: columns are
 * matched by attnum (a rename keeps it), a dropped column goes, a column added later holds in
 * rows from before it existed what Postgres gives them (its constant default, else null), and
 * widened types get the new representation. Columns `to` casts to text hold their values' text
 * (also when the versions are equal); pair it with `sinkSchema(to)`.
 */
export function projectEvent(ev: ChangeEvent, from: TableSchema, to: TableSchema): ChangeEvent {
  if (from.version === to.version && !to.columns.some((c) => c.castToText)) return ev;
  const oldByAttnum = new Map(from.columns.map((c) => [c.attnum, c]));
  const mapRow = (row: Row | null, fillNew: boolean): Row | null => {
    if (!row) return row;
    const out: Row = {};
    for (const c of to.columns) {
      const old = oldByAttnum.get(c.attnum);
      if (!old) {
        if (fillNew) out[c.name] = fillValue(to, c);
        continue;
      }
      if (!(old.name in row)) continue;
      const v = row[old.name] as Value;
      // a column cast to text (text-casts.ts): the value as its own type (this event's) writes it
      out[c.name] = c.castToText ? castText(v, old.type) : widen(v, old.type, c.type);
    }
    return out;
  };
  const newName = new Map(
    to.columns.flatMap((c) => {
      const old = oldByAttnum.get(c.attnum);
      return old ? [[old.name, c.name] as const] : [];
    }),
  );
  return {
    ...ev,
    schemaVersion: to.version,
    before: mapRow(ev.before, false),
    after: mapRow(ev.after, true),
    unchanged: ev.unchanged.flatMap((n) => (newName.has(n) ? [newName.get(n)!] : [])),
  };
}

/** What rows that existed before column `c` was added hold: its constant default, else null. */
export function fillValue(table: TableSchema, c: ColumnSchema): Value {
  if (c.fill === undefined) return null;
  return decodeText(c.type, c.fill, `${tableKey(table)} column "${c.name}" default`);
}
