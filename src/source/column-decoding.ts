import type { Row } from '../core/change-event';
import type { Value } from '../core/column-type';
import type { SourceTable } from './table-schemas';
import { decodeText } from './types/text-values';

/**
 * The value of column `i` of a source table from its Postgres text (pgoutput, snapshot and
 * verify reads alike): masked columns become their HMAC, every other column its canonical value.
 */
export function decodeColumn(t: SourceTable, i: number, text: string, where: string): Value {
  const mask = t.maskers[i];
  if (mask) return mask(text);
  return decodeText(t.schema.columns[i]!.type, text, where, t.delimiters[i]);
}

/** Query option that keeps every value as Postgres' text output, for `decodeRow`. */
export const RAW_TEXT = { getTypeParser: () => (v: string) => v };

/** A row of a table's columns in order, as Postgres text (a RAW_TEXT query), decoded. */
export function decodeRow(t: SourceTable, values: readonly (string | null)[], where: string): Row {
  const row: Row = {};
  t.schema.columns.forEach((c, i) => {
    const v = values[i];
    row[c.name] = v === null || v === undefined ? null : decodeColumn(t, i, v, `${where}.${c.name}`);
  });
  return row;
}
