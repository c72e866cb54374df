import type { TableRef } from '../../core/table-schema';

/** A SQL identifier, always quoted so source names keep their case and may be reserved words. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(t: TableRef): string {
  return `${ident(t.schema)}.${ident(t.table)}`;
}

/** A SQL string literal (standard_conforming_strings: only quotes are doubled). */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Metadata columns (shared with the Iceberg sink, see ../meta-columns.ts). */
export { META } from '../meta-columns';
