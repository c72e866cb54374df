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
