import type { TableSchema } from '../../core/table-schema';
import { ident, META, qualified } from './sql-names';
import type { TableMode } from './warehouse';

/**
 * The SQL that applies a staged table to its target, shared by DuckDB and PostgreSQL (both
 * accept INSERT … ON CONFLICT, UPDATE … FROM, DELETE … USING and correlated subqueries).
 * `valueExpr(i)` is how the staged value of column i reads as the target type (a cast in
 * DuckDB, where some kinds are staged as text; the bare column in PostgreSQL, where COPY
 * parses straight into the target types).
 */
export interface MergeContext {
  readonly schema: TableSchema;
  readonly mode: TableMode;
  /** The staging table's name, already quoted. */
  readonly staging: string;
  readonly valueExpr: (columnIndex: number) => string;
}

const S = 's';
const T = 't';

/** Staged rows [from, to) by their `_tidemark_idx`: one statement's share of a large table. */
export type IdxRange = readonly [from: number, to: number];

function inRange(range: IdxRange | undefined): string {
  return range ? ` AND ${S}.${META.idx} >= ${range[0]} AND ${S}.${META.idx} < ${range[1]}` : '';
}

function keyMatch(m: MergeContext): string {
  return m.schema.primaryKey
    .map((k) => {
      const i = m.schema.columns.findIndex((c) => c.name === k);
      return `${T}.${ident(k)} = ${m.valueExpr(i)}`;
    })
    .join(' AND ');
}

function isUnchanged(i: number): string {
  return `substr(${S}.${META.unchanged}, ${i + 1}, 1) = '1'`;
}

/** Empties (mirror) or marks deleted (soft-delete) every stored row: a source TRUNCATE. */
export function truncateSql(m: MergeContext, atMs: number): string {
  const target = qualified(m.schema);
  if (m.mode === 'soft-delete') {
    return `UPDATE ${target} SET ${META.deletedAt} = to_timestamp(${atMs} / 1000.0) WHERE ${META.deletedAt} IS NULL`;
  }
  return `DELETE FROM ${target}`;
}

/**
 * A key change whose TOAST-unchanged columns are stored under the old key: copies the stored row
 * of the old key ($n+1…) to the new key ($1…$n) before the round's deletes, so that the partial
 * update of the new key keeps them. Parameters: the new key's values, then the old key's, as text.
 * Nothing happens when the old key is not stored or the new one already is.
 */
export function carrySql(m: MergeContext, columnType: (i: number) => string): string {
  const target = qualified(m.schema);
  const keyIdx = m.schema.primaryKey.map((k) => m.schema.columns.findIndex((c) => c.name === k));
  const param = (n: number, i: number) => `CAST($${n} AS ${columnType(i)})`;
  const newKey = new Map(keyIdx.map((i, n) => [i, param(n + 1, i)]));
  const cols = m.schema.columns.map((c) => ident(c.name));
  const exprs = m.schema.columns.map((c, i) => newKey.get(i) ?? `${T}.${ident(c.name)}`);
  const at = (alias: string, first: number) =>
    keyIdx
      .map((i, n) => `${alias}.${ident(m.schema.columns[i]!.name)} = ${param(first + n, i)}`)
      .join(' AND ');
  return (
    `INSERT INTO ${target} (${cols.join(', ')}) SELECT ${exprs.join(', ')} FROM ${target} AS ${T} ` +
    `WHERE ${at(T, keyIdx.length + 1)} AND NOT EXISTS (SELECT 1 FROM ${target} AS x WHERE ${at('x', 1)})`
  );
}

export function deleteSql(m: MergeContext, range?: IdxRange): string {
  const target = qualified(m.schema);
  if (m.mode === 'soft-delete') {
    return `UPDATE ${target} AS ${T} SET ${META.deletedAt} = ${S}.${META.commitTime} FROM ${m.staging} AS ${S} WHERE ${S}.${META.op} = 'd'${inRange(range)} AND ${T}.${META.deletedAt} IS NULL AND ${keyMatch(m)}`;
  }
  return `DELETE FROM ${target} AS ${T} USING ${m.staging} AS ${S} WHERE ${S}.${META.op} = 'd'${inRange(range)} AND ${keyMatch(m)}`;
}

/** Upserts of rows whose every column is known. */
export function upsertSql(m: MergeContext, range?: IdxRange): string {
  const cols = m.schema.columns.map((c) => ident(c.name));
  const exprs = m.schema.columns.map((_, i) => m.valueExpr(i));
  const keys = new Set(m.schema.primaryKey);
  const sets = m.schema.columns
    .filter((c) => !keys.has(c.name))
    .map((c) => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`);
  if (m.mode === 'soft-delete') {
    cols.push(META.deletedAt);
    exprs.push('NULL');
    sets.push(`${META.deletedAt} = NULL`);
  }
  const onConflict = sets.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${sets.join(', ')}`;
  return (
    `INSERT INTO ${qualified(m.schema)} (${cols.join(', ')}) SELECT ${exprs.join(', ')} FROM ${m.staging} AS ${S} ` +
    `WHERE ${S}.${META.op} = 'u' AND ${S}.${META.unchanged} IS NULL${inRange(range)} ON CONFLICT (${m.schema.primaryKey.map(ident).join(', ')}) ${onConflict}`
  );
}

/** Counts staged partial updates (TOAST-unchanged columns) whose key is not stored: they cannot be filled. */
export function missingPartialSql(m: MergeContext): string {
  return (
    `SELECT count(*) AS n FROM ${m.staging} AS ${S} WHERE ${S}.${META.op} = 'u' AND ${S}.${META.unchanged} IS NOT NULL ` +
    `AND NOT EXISTS (SELECT 1 FROM ${qualified(m.schema)} AS ${T} WHERE ${keyMatch(m)})`
  );
}

/**
 * Updates of stored rows that keep every TOAST-unchanged column's stored value. Given the
 * `unchanged` bitmap its rows share, only their changed columns are set: the unchanged ones (the
 * large values TOAST leaves out) are not written again, which DuckDB would hold in memory until
 * the commit. Without it, one statement serves any mix of bitmaps (each column set by a CASE);
 * null when there is nothing to set.
 */
export function partialUpdateSql(m: MergeContext, range?: IdxRange, unchanged?: string): string | null {
  if (unchanged !== undefined && !/^[01]*$/.test(unchanged))
    throw new Error(`bad unchanged bitmap ${unchanged}`);
  const keys = new Set(m.schema.primaryKey);
  const sets = m.schema.columns
    .map((c, i) => ({ c, i }))
    .filter(({ c, i }) => !keys.has(c.name) && (unchanged === undefined || unchanged[i] !== '1'))
    .map(({ c, i }) =>
      unchanged === undefined
        ? `${ident(c.name)} = CASE WHEN ${isUnchanged(i)} THEN ${T}.${ident(c.name)} ELSE ${m.valueExpr(i)} END`
        : `${ident(c.name)} = ${m.valueExpr(i)}`,
    );
  if (m.mode === 'soft-delete') sets.push(`${META.deletedAt} = NULL`);
  if (sets.length === 0) return null;
  const which = unchanged === undefined ? 'IS NOT NULL' : `= '${unchanged}'`;
  return (
    `UPDATE ${qualified(m.schema)} AS ${T} SET ${sets.join(', ')} FROM ${m.staging} AS ${S} ` +
    `WHERE ${S}.${META.op} = 'u' AND ${S}.${META.unchanged} ${which}${inRange(range)} AND ${keyMatch(m)}`
  );
}

const APPEND_META = [META.op, META.lsn, META.seq, META.commitTime];

/**
 * append mode. `partial` rows (unknown TOAST columns) take them from the latest stored row of
 * their key; they run before the complete rows so that lookup never sees this round's rows.
 */
export function appendSql(m: MergeContext, partial: boolean, range?: IdxRange): string {
  const target = qualified(m.schema);
  const cols = [...m.schema.columns.map((c) => ident(c.name)), ...APPEND_META];
  const exprs = m.schema.columns.map((c, i) => {
    if (!partial || m.schema.primaryKey.length === 0) return m.valueExpr(i);
    const latest = `(SELECT ${T}.${ident(c.name)} FROM ${target} AS ${T} WHERE ${keyMatch(m)} ORDER BY ${T}.${META.lsn} DESC, ${T}.${META.seq} DESC LIMIT 1)`;
    return `CASE WHEN ${isUnchanged(i)} THEN ${latest} ELSE ${m.valueExpr(i)} END`;
  });
  exprs.push(...APPEND_META.map((c) => `${S}.${c}`));
  const which = partial ? 'IS NOT NULL' : 'IS NULL';
  return `INSERT INTO ${target} (${cols.join(', ')}) SELECT ${exprs.join(', ')} FROM ${m.staging} AS ${S} WHERE ${S}.${META.unchanged} ${which}${inRange(range)} ORDER BY ${S}.${META.idx}`;
}
