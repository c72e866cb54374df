import type { ColumnType } from '../core/column-type';
import { TidemarkError } from '../core/errors';
import { type TableSchema, tableKey } from '../core/table-schema';
import type { SchemaChange } from './schema-change';

/**
 * Table schema versions as stored on the compacted schema topic (and in Redis): the key is
 * "schema.table@version", so compaction keeps every version a retained event may refer to.
 */
export function schemaRecordKey(s: TableSchema): string {
  return `${tableKey(s)}@${s.version}`;
}

/** `change`: what this version changed from the previous one (absent for a table's first version). */
export function encodeSchemaRecord(s: TableSchema, change?: SchemaChange): string {
  return JSON.stringify({
    schema: s.schema,
    table: s.table,
    version: s.version,
    primaryKey: s.primaryKey,
    columns: s.columns.map((c) => ({
      name: c.name,
      attnum: c.attnum,
      type: c.type,
      pgType: c.pgType,
      nullable: c.nullable,
      ...(c.fill !== undefined ? { fill: c.fill } : {}),
      ...(c.castToText ? { castToText: true } : {}),
    })),
    ...(change ? { change } : {}),
  });
}

export function decodeSchemaRecord(text: string): TableSchema {
  try {
    const o = JSON.parse(text) as {
      schema: string;
      table: string;
      version: number;
      primaryKey: string[];
      columns: Array<{
        name: string;
        attnum: number;
        type: ColumnType;
        pgType: string;
        nullable: boolean;
        fill?: string;
        castToText?: true;
      }>;
    };
    if (typeof o.schema !== 'string' || !Array.isArray(o.columns) || !Number.isInteger(o.version))
      throw new Error('missing fields');
    return {
      schema: o.schema,
      table: o.table,
      version: o.version,
      primaryKey: o.primaryKey,
      columns: o.columns,
    };
  } catch (e) {
    throw new TidemarkError('malformed_event', `bad schema record: ${(e as Error).message}`, { cause: e });
  }
}
