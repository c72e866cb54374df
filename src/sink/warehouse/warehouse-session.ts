import type { ColumnType } from '../../core/column-type';
import type { TableSchema } from '../../core/table-schema';
import type { StagedTable } from './staged-rows';

/** What the shared round / table logic needs from one adapter's open connection. */
export interface WarehouseSession {
  /** Runs one statement with $1… parameters; returns its rows (RETURNING rows for DML). */
  query(sql: string, params?: readonly (string | null)[]): Promise<Record<string, unknown>[]>;
  /** Creates the staging table `name` (quoted) for `table` and bulk-loads its rows into it. */
  stage(table: StagedTable, name: string): Promise<void>;
  /** Drops a staging table (no-op where the database drops it at commit). */
  unstage(name: string): Promise<void>;
  /** How staged column i of `schema` reads as its target type, given staging alias `s`. */
  valueExpr(schema: TableSchema, columnIndex: number): string;
  /** The target column type's SQL. */
  columnType(type: ColumnType): string;
  /**
   * An expression giving stored column `column` (quoted) of type `from` as the text
   * sink/text-casts.ts `castText` writes for its values, for a column cast to text.
   */
  textCastExpr(column: string, from: ColumnType): string;
  /** The SQL type of `_tidemark_lsn` (an LSN as an unsigned 64-bit number). */
  readonly lsnType: string;
  /**
   * When set, the upsert, the partial update, the delete and the append apply the staged rows
   * in slices of about this many bytes: DuckDB's INSERT and UPDATE pin their whole input in
   * memory, so one statement over a large part would need a multiple of the part's size
   * whatever its memory_limit.
   */
  readonly applySliceBytes?: number;
  /** Wraps a database error raised while applying `table` into a TidemarkError. */
  tableError(e: unknown, table: string): Error;
}
