import { TidemarkError } from '../../core/errors';
import type { TableSchema } from '../../core/table-schema';
import type { IcebergSchema } from './iceberg-types';
import { icebergTypeOf, idAllocator } from './iceberg-types';

/**
 * Checks that a source table schema can be written with the table's current Iceberg schema:
 * every column present with the same Iceberg type. (Schema evolution is applied before.)
 */
export function checkSchema(source: TableSchema, ice: IcebergSchema, table: string): void {
  for (const c of source.columns) {
    const f = ice.fields.find((x) => x.name === c.name);
    if (!f)
      throw new TidemarkError(
        'schema_incompatible',
        `table ${table}: column "${c.name}" is not in the Iceberg schema (id ${ice['schema-id']})`,
      );
    const want = JSON.stringify(
      stripIds(icebergTypeOf(c.type, idAllocator(0).next, `table ${table} column "${c.name}"`)),
    );
    const have = JSON.stringify(stripIds(f.type));
    if (want !== have)
      throw new TidemarkError(
        'schema_incompatible',
        `table ${table}: column "${c.name}" is ${c.pgType} (Iceberg ${want}) but the table stores ${have}`,
      );
  }
}

function stripIds(t: unknown): unknown {
  if (typeof t !== 'object' || t === null) return t;
  const { 'element-id': _id, ...rest } = t as Record<string, unknown>;
  return { ...rest, element: stripIds(rest.element) };
}
