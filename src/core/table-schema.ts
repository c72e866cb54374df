import type { ColumnType } from './column-type';

/** A source table's identity: Postgres schema and table name. */
export interface TableRef {
  readonly schema: string;
  readonly table: string;
}

export function tableKey(t: TableRef): string {
  return `${t.schema}.${t.table}`;
}

export function parseTableKey(text: string): TableRef {
  const dot = text.indexOf('.');
  if (dot <= 0 || dot === text.length - 1)
    throw new RangeError(`not a schema-qualified table name: "${text}"`);
  return { schema: text.slice(0, dot), table: text.slice(dot + 1) };
}

export interface ColumnSchema {
  readonly name: string;
  /** pg_attribute.attnum: stable across renames, so it tells a rename from a drop plus an add. */
  readonly attnum: number;
  readonly type: ColumnType;
  /** The Postgres type as the source saw it, for messages and docs ("numeric(12,2)", "mood"). */
  readonly pgType: string;
  readonly nullable: boolean;
  /**
   * For a column added with `DEFAULT constant` while rows existed: the value those rows hold in
   * Postgres (which stores it once and writes no change for them), in Postgres text form. A sink
   * adding the column gives it to its existing rows, so the mirror still equals the source.
   */
  readonly fill?: string;
  /**
   * The table's `onIncompatibleSchema` is `cast-to-string` and this column's type once changed
   * in a way a sink cannot follow in place: the sinks hold it as text from then on (sink/text-casts.ts).
   * Set by the source when it sees the change, carried into every later version.
   */
  readonly castToText?: true;
}

/**
 * The schema of one mirrored table at one version. `version` increases by one at every
 * schema change the source observes; every change event names the version it was decoded
 * with, so sinks apply rows before a change with the old schema and rows after with the new.
 */
export interface TableSchema extends TableRef {
  readonly version: number;
  readonly columns: readonly ColumnSchema[];
  /** Names of the key columns, in key order: the primary key, or the configured key. */
  readonly primaryKey: readonly string[];
}

export function columnByName(s: TableSchema, name: string): ColumnSchema | undefined {
  return s.columns.find((c) => c.name === name);
}
