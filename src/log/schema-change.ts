import { formatLsn, type Lsn } from '../core/lsn';
import type { TableSchema } from '../core/table-schema';

/**
 * What a new schema version changed, carried in its record on the schema topic (the control
 * record of a schema change): from which version, at which transaction (commit LSN: its changes
 * and every later one use the new version), and per column what happened. Columns are matched by
 * attnum, so a rename is told from a drop plus an add.
 */
export interface SchemaChange {
  readonly fromVersion: number;
  /** Commit LSN of the first transaction decoded with the new version. */
  readonly atLsn: string | null;
  readonly added: readonly string[];
  readonly dropped: readonly string[];
  readonly renamed: ReadonlyArray<{ readonly from: string; readonly to: string }>;
  readonly retyped: ReadonlyArray<{ readonly column: string; readonly from: string; readonly to: string }>;
  readonly key: { readonly from: readonly string[]; readonly to: readonly string[] } | null;
}

export function describeSchemaChange(before: TableSchema, after: TableSchema, at: Lsn | null): SchemaChange {
  const old = new Map(before.columns.map((c) => [c.attnum, c]));
  const now = new Map(after.columns.map((c) => [c.attnum, c]));
  const renamed: Array<{ from: string; to: string }> = [];
  const retyped: Array<{ column: string; from: string; to: string }> = [];
  for (const [attnum, c] of now) {
    const o = old.get(attnum);
    if (!o) continue;
    if (o.name !== c.name) renamed.push({ from: o.name, to: c.name });
    if (o.pgType !== c.pgType) retyped.push({ column: c.name, from: o.pgType, to: c.pgType });
  }
  const sameKey =
    before.primaryKey.length === after.primaryKey.length &&
    before.primaryKey.every((k, i) => k === after.primaryKey[i]);
  return {
    fromVersion: before.version,
    atLsn: at === null ? null : formatLsn(at),
    added: after.columns.filter((c) => !old.has(c.attnum)).map((c) => c.name),
    dropped: before.columns.filter((c) => !now.has(c.attnum)).map((c) => c.name),
    renamed,
    retyped,
    key: sameKey ? null : { from: before.primaryKey, to: after.primaryKey },
  };
}
