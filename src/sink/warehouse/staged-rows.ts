import type { ChangeEvent, Op, Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import { encodeKey } from '../../core/row-key';
import type { TableSchema } from '../../core/table-schema';
import { valueBytes } from '../../core/value-bytes';
import { collapseByKey } from '../collapse';
import type { TableMode } from './warehouse';

/** One row of a staging table: the source columns by index plus what the merge needs. */
export interface StagedRow {
  /** mirror/soft-delete: 'u' (upsert) or 'd'; append: the change's own op. */
  readonly op: Op;
  /** One value per schema column, in column order (null when absent). */
  readonly values: Value[];
  /** '0'/'1' per column, '1' = TOAST-unchanged: keep the stored value. Null when none is. */
  readonly unchanged: string | null;
  readonly lsn: bigint;
  readonly seq: number;
  readonly commitTimeMs: number;
}

export interface StagedTable {
  readonly schema: TableSchema;
  readonly mode: TableMode;
  /** A truncate in the round (mirror/soft-delete): applies before `rows`; its commit time. */
  readonly truncatedAtMs: number | null;
  readonly rows: StagedRow[];
  /** True when some row has unchanged columns (the merge then needs its CASE path). */
  readonly anyUnchanged: boolean;
  /**
   * Key changes whose unchanged columns are stored under the old key (collapse.ts: fillFrom):
   * the stored row moves to the new key before the merge. Key values in key-column order.
   */
  readonly carries: ReadonlyArray<{ readonly from: Value[]; readonly to: Value[] }>;
}

/**
 * Turns one table's changes (position order) into staging rows. mirror and soft-delete:
 * one net change per key (collapseByKey), a truncate empties what was stored before it.
 * append: every change, TOAST-unchanged columns filled from an earlier image of the same key
 * in the round; what stays unknown is filled from the latest stored row by the merge.
 */
export function stageTable(
  schema: TableSchema,
  mode: TableMode,
  events: readonly ChangeEvent[],
): StagedTable {
  if (mode === 'append') return stageAppend(schema, events);
  if (schema.primaryKey.length === 0) {
    throw new TidemarkError(
      'source_setup',
      `table ${schema.schema}.${schema.table} has no key: ${mode} mode needs one`,
      {
        fix: 'give the table a primary key, configure source.keys for it, or use mode "append"',
      },
    );
  }
  const collapsed = collapseByKey(events, schema.primaryKey);
  let truncatedAtMs: number | null = null;
  if (collapsed.truncatedAt) {
    const t = events.find(
      (e) =>
        e.op === 't' &&
        e.position.lsn === collapsed.truncatedAt!.lsn &&
        e.position.seq === collapsed.truncatedAt!.seq,
    );
    truncatedAtMs = t?.commitTimeMs ?? 0;
  }
  let anyUnchanged = false;
  const keyOf = (row: Row) => schema.primaryKey.map((k) => row[k] ?? null);
  const carries = collapsed.changes.flatMap((ch) =>
    ch.kind === 'upsert' && ch.fillFrom ? [{ from: keyOf(ch.fillFrom.keyRow), to: keyOf(ch.row) }] : [],
  );
  const rows: StagedRow[] = collapsed.changes.map((ch) => {
    if (ch.kind === 'delete') {
      return {
        op: 'd',
        values: valuesOf(schema, ch.keyRow),
        unchanged: null,
        lsn: ch.position.lsn,
        seq: ch.position.seq,
        commitTimeMs: ch.commitTimeMs,
      };
    }
    const unchanged = bitmap(schema, ch.unchanged);
    if (unchanged) anyUnchanged = true;
    return {
      op: 'u',
      values: valuesOf(schema, ch.row),
      unchanged,
      lsn: ch.position.lsn,
      seq: ch.position.seq,
      commitTimeMs: ch.commitTimeMs,
    };
  });
  return { schema, mode, truncatedAtMs, rows, anyUnchanged, carries };
}

function stageAppend(schema: TableSchema, events: readonly ChangeEvent[]): StagedTable {
  const keyed = schema.primaryKey.length > 0;
  const lastImage = new Map<string, Row>();
  let anyUnchanged = false;
  const rows: StagedRow[] = [];
  for (const ev of events) {
    const base = { op: ev.op, lsn: ev.position.lsn, seq: ev.position.seq, commitTimeMs: ev.commitTimeMs };
    if (ev.op === 't') {
      lastImage.clear();
      rows.push({ ...base, values: schema.columns.map(() => null), unchanged: null });
      continue;
    }
    const image = ev.op === 'd' ? ev.before : ev.after;
    if (!image)
      throw new TidemarkError(
        'malformed_event',
        `change ${ev.op} on ${schema.schema}.${schema.table} has no row image`,
      );
    let row = image;
    let still: readonly string[] = ev.op === 'd' ? [] : ev.unchanged;
    const key =
      keyed && schema.primaryKey.every((k) => k in image) ? encodeKey(image, schema.primaryKey) : null;
    if (still.length > 0 && key !== null) {
      const prior = lastImage.get(key);
      if (prior) {
        row = { ...image };
        const left: string[] = [];
        for (const c of still)
          if (c in prior) row[c] = prior[c]!;
          else left.push(c);
        still = left;
      }
    }
    if (still.length > 0 && !keyed) {
      throw new TidemarkError(
        'unsupported_value',
        `${schema.schema}.${schema.table}: an unchanged (TOAST) column in a table without a key cannot be filled`,
      );
    }
    if (key !== null) {
      if (ev.op === 'd') lastImage.delete(key);
      else lastImage.set(key, row);
    }
    const unchanged = bitmap(schema, still);
    if (unchanged) anyUnchanged = true;
    rows.push({ ...base, values: valuesOf(schema, row), unchanged });
  }
  return { schema, mode: 'append', truncatedAtMs: null, rows, anyUnchanged, carries: [] };
}

function valuesOf(schema: TableSchema, row: Row): Value[] {
  return schema.columns.map((c) => (c.name in row ? row[c.name]! : null));
}

function bitmap(schema: TableSchema, unchanged: readonly string[]): string | null {
  if (unchanged.length === 0) return null;
  const set = new Set(unchanged);
  return schema.columns.map((c) => (set.has(c.name) ? '1' : '0')).join('');
}

/** Splits staged rows into consecutive [from, to) ranges of about `maxBytes` each (at least one row each). */
export function rowRanges(rows: readonly StagedRow[], maxBytes: number): Array<[number, number]> {
  if (rows.length === 0) return [];
  const ranges: Array<[number, number]> = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    let n = 64;
    for (const v of rows[i]!.values) n += 16 + (v === null ? 0 : valueBytes(v));
    if (i > from && bytes + n > maxBytes) {
      ranges.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += n;
  }
  ranges.push([from, rows.length]);
  return ranges;
}
