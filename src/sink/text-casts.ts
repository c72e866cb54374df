import { type ColumnType, sameType, type Value } from '../core/column-type';
import type { TableSchema } from '../core/table-schema';
import { icebergTypeOf } from './iceberg/iceberg-types';
import { promotes } from './iceberg/schema-evolution';
import { valueText } from './warehouse/pg-copy-text';
import { isWidening } from './warehouse/schema-diff';

/**
 * `onIncompatibleSchema: cast-to-string`. A column whose type changes in a way a sink cannot
 * follow in place is flagged by the source (ColumnSchema.castToText) and from then on both
 * sinks hold it as text: the sinks see the table through `sinkSchema`, and every value of it,
 * before and after the change, as `castText` writes it. The flag stays on the column in every
 * later version, so the sinks never have to turn text back into a narrower type.
 */

/** True when both sinks follow a column's type change in place (the warehouse widens, Iceberg promotes). */
export function followedInPlace(from: ColumnType, to: ColumnType): boolean {
  if (sameType(from, to)) return true;
  if (!isWidening(from, to)) return false;
  try {
    return promotes(
      icebergTypeOf(from, () => 0, ''),
      icebergTypeOf(to, () => 0, ''),
    );
  } catch {
    return false;
  }
}

/** The table as the sinks hold it: flagged columns are text. */
export function sinkSchema(s: TableSchema): TableSchema {
  if (!s.columns.some((c) => c.castToText)) return s;
  return {
    ...s,
    columns: s.columns.map((c) =>
      c.castToText ? { ...c, type: { kind: 'text' }, pgType: `text (cast from ${c.pgType})` } : c,
    ),
  };
}

/**
 * A value of `type` as a flagged column holds it: its Postgres text form ('t'/'f' for a
 * boolean, timestamps in UTC with microseconds, as pg-copy-text.ts writes them). Strings
 * (text, json, numeric, enum…) stay as they are.
 */
export function castText(v: Value, type: ColumnType): Value {
  if (v === null || v === undefined || typeof v === 'string') return v ?? null;
  return valueText(v, type);
}
