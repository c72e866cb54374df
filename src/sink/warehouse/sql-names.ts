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

/** Metadata columns; the source's own columns never start with this prefix by convention. */
export const META = {
  op: '_tidemark_op',
  lsn: '_tidemark_lsn',
  seq: '_tidemark_seq',
  commitTime: '_tidemark_commit_time',
  deletedAt: '_tidemark_deleted_at',
  unchanged: '_tidemark_unchanged',
  idx: '_tidemark_idx',
} as const;
