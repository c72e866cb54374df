import type { TableSchema } from '../../core/table-schema';
import type { SchemaAction } from './schema-diff';
import { ident, META, qualified } from './sql-names';
import type { TableMode } from './warehouse';
import type { WarehouseSession } from './warehouse-session';

/**
 * CREATE TABLE for a target: the source columns in source order (key columns NOT NULL via the
 * primary key; other columns nullable so that a dropped-and-kept column can hold NULL), then
 * the mode's metadata columns. append tables have no primary key: they hold a change history.
 */
export function createTableSql(s: WarehouseSession, schema: TableSchema, mode: TableMode): string[] {
  const cols = schema.columns.map((c) => `${ident(c.name)} ${s.columnType(c.type)}`);
  if (mode === 'soft-delete') cols.push(`${META.deletedAt} TIMESTAMPTZ`);
  if (mode === 'append') {
    cols.push(
      `${META.op} TEXT NOT NULL`,
      `${META.lsn} ${s.lsnType} NOT NULL`,
      `${META.seq} BIGINT NOT NULL`,
      `${META.commitTime} TIMESTAMPTZ NOT NULL`,
    );
  } else {
    cols.push(`PRIMARY KEY (${schema.primaryKey.map(ident).join(', ')})`);
  }
  return [
    `CREATE SCHEMA IF NOT EXISTS ${ident(schema.schema)}`,
    `CREATE TABLE IF NOT EXISTS ${qualified(schema)} (${cols.join(', ')})`,
  ];
}

/** ALTER statements for schema actions ('keep' needs none: non-key columns are nullable). */
export function alterSql(
  s: WarehouseSession,
  table: TableSchema,
  actions: readonly SchemaAction[],
): string[] {
  const t = qualified(table);
  const out: string[] = [];
  for (const a of actions) {
    if (a.kind === 'add')
      out.push(`ALTER TABLE ${t} ADD COLUMN ${ident(a.column.name)} ${s.columnType(a.column.type)}`);
    else if (a.kind === 'rename')
      out.push(`ALTER TABLE ${t} RENAME COLUMN ${ident(a.from)} TO ${ident(a.to)}`);
    else if (a.kind === 'widen')
      out.push(`ALTER TABLE ${t} ALTER COLUMN ${ident(a.column.name)} TYPE ${s.columnType(a.column.type)}`);
    else if (a.kind === 'cast')
      out.push(
        `ALTER TABLE ${t} ALTER COLUMN ${ident(a.column.name)} SET DATA TYPE ${s.columnType(a.column.type)} USING ${s.textCastExpr(ident(a.column.name), a.from)}`,
      );
    else if (a.kind === 'drop') out.push(`ALTER TABLE ${t} DROP COLUMN ${ident(a.column)}`);
  }
  return out;
}
