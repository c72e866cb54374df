import { TidemarkError } from '../core/errors';
import type { PartitionConfig } from './iceberg/partitioning';

const FORM = /^\s*(?:([a-z]+(?:\[\d+\])?)\(\s*([^()\s]+)\s*\)|([^()\s]+))\s*$/;

/**
 * Parses a table's `partitionBy` entries: `column` (identity), `day(created_at)`,
 * `bucket[16](id)`, `truncate[4](sku)`, the Iceberg transform names.
 */
export function parsePartitionBy(table: string, entries: readonly string[]): PartitionConfig[] {
  return entries.map((e) => {
    const m = FORM.exec(e);
    if (!m) {
      throw new TidemarkError('config', `config key "tables.${table}.partitionBy": cannot read "${e}"`, {
        fix: 'write a column name, or transform(column) such as day(created_at) or bucket[16](id)',
      });
    }
    return m[3] ? { column: m[3], transform: 'identity' } : { column: m[2]!, transform: m[1]! };
  });
}
