import type { ChangeEvent, Row } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import type { Position } from '../core/position';
import { encodeKey } from '../core/row-key';

/** The net effect of a batch on one key: last change wins. */
export type KeyedChange =
  | {
      readonly kind: 'upsert';
      readonly key: string;
      readonly row: Row;
      /** Columns still unknown after merging the batch (TOAST): keep the stored value. */
      readonly unchanged: readonly string[];
      /**
       * The row came by a key change (the source's delete of the old key and insert of this one):
       * the stored row `unchanged` is filled from is the old key's, not this key's. Absent otherwise,
       * and once nothing is left unchanged.
       */
      readonly fillFrom?: { readonly key: string; readonly keyRow: Row };
      readonly position: Position;
      readonly commitTimeMs: number;
    }
  | {
      readonly kind: 'delete';
      readonly key: string;
      /** The key columns of the deleted row. */
      readonly keyRow: Row;
      readonly position: Position;
      readonly commitTimeMs: number;
    };

export interface CollapsedBatch {
  /** A truncate in the batch: every row stored before it must be removed before `changes` apply. */
  readonly truncatedAt: Position | null;
  /** The truncate's commit time (ms since the epoch), when there is one (soft-delete marks rows with it). */
  readonly truncatedAtMs?: number;
  /** One entry per key, ordered by the position of its last change. */
  readonly changes: readonly KeyedChange[];
}

/**
 * The collapse of each table's changes of a round, kept while they are: the sinks of a round share
 * those changes (round-builder.ts tablesForSinks), and each collapses them. Read only, as the
 * events they come from.
 */
const collapsedOf = new WeakMap<readonly ChangeEvent[], { keys: string; batch: CollapsedBatch }>();

/**
 * Collapses one table's changes (in position order) per key. An update whose TOASTed
 * columns are unchanged takes their values from an earlier image of the same key in this
 * batch; what cannot be filled here stays in `unchanged` for the sink to fill from storage.
 * The same changes collapsed again give the same batch, not a copy: it must not be changed.
 */
export function collapseByKey(
  changes: readonly ChangeEvent[],
  keyColumns: readonly string[],
): CollapsedBatch {
  const keys = keyColumns.join('\u0000');
  const known = collapsedOf.get(changes);
  if (known?.keys === keys) return known.batch;
  const batch = collapse(changes, keyColumns);
  collapsedOf.set(changes, { keys, batch });
  return batch;
}

function collapse(changes: readonly ChangeEvent[], keyColumns: readonly string[]): CollapsedBatch {
  if (keyColumns.length === 0)
    throw new TidemarkError('source_setup', 'cannot collapse changes of a table without a key');
  let truncatedAt: Position | null = null;
  let truncatedAtMs = 0;
  const byKey = new Map<string, KeyedChange>();
  // The last upsert of each key this batch deleted: a key change's insert takes its TOAST values.
  const deletedImages = new Map<string, KeyedChange & { kind: 'upsert' }>();
  for (const ev of changes) {
    if (ev.op === 't') {
      truncatedAt = ev.position;
      truncatedAtMs = ev.commitTimeMs;
      byKey.clear();
      deletedImages.clear();
      continue;
    }
    if (ev.op === 'd') {
      const keyRow = pickKey(ev.before, keyColumns, ev);
      const key = encodeKey(keyRow, keyColumns);
      const prior = byKey.get(key);
      if (prior?.kind === 'upsert') deletedImages.set(key, prior);
      byKey.delete(key);
      byKey.set(key, { kind: 'delete', key, keyRow, position: ev.position, commitTimeMs: ev.commitTimeMs });
      continue;
    }
    if (!ev.after) throw malformed(ev, 'has no after image');
    const key = encodeKey(pickKey(ev.after, keyColumns, ev), keyColumns);
    let prior = byKey.get(key);
    // Where the stored values of what stays unchanged are: this key's row, unless this is an
    // insert naming an older key (a key change), whose row holds them.
    let fillFrom: { key: string; keyRow: Row } | undefined;
    if (ev.unchanged.length > 0 && ev.before && prior?.kind !== 'upsert') {
      const keyRow = pickKey(ev.before, keyColumns, ev);
      const old = encodeKey(keyRow, keyColumns);
      if (old !== key) {
        fillFrom = { key: old, keyRow };
        const image = deletedImages.get(old) ?? byKey.get(old);
        if (image?.kind === 'upsert') prior = image;
      }
    }
    let row = ev.after;
    let unchanged = ev.unchanged;
    if (unchanged.length > 0 && prior?.kind === 'upsert') {
      row = { ...ev.after };
      const still: string[] = [];
      for (const col of unchanged) {
        if (col in prior.row) row[col] = prior.row[col]!;
        else still.push(col);
      }
      unchanged = still;
      // what the earlier image lacked comes from where that image would have taken it
      fillFrom = prior.fillFrom ?? (prior.key === key ? undefined : fillFrom);
    }
    byKey.delete(key); // re-insert so Map order follows the last change's position
    byKey.set(key, {
      kind: 'upsert',
      key,
      row,
      unchanged,
      ...(unchanged.length > 0 && fillFrom ? { fillFrom } : {}),
      position: ev.position,
      commitTimeMs: ev.commitTimeMs,
    });
  }
  return truncatedAt
    ? { truncatedAt, truncatedAtMs, changes: [...byKey.values()] }
    : { truncatedAt, changes: [...byKey.values()] };
}

function pickKey(image: Row | null, keyColumns: readonly string[], ev: ChangeEvent): Row {
  if (!image) throw malformed(ev, 'has no image holding its key');
  const out: Row = {};
  for (const c of keyColumns) {
    if (!(c in image) || image[c] === null) throw malformed(ev, `lacks key column "${c}"`);
    out[c] = image[c]!;
  }
  return out;
}

function malformed(ev: ChangeEvent, what: string): TidemarkError {
  return new TidemarkError(
    'malformed_event',
    `change ${ev.op} on ${ev.table.schema}.${ev.table.table} ${what}`,
  );
}
