import type { ChangeEvent, Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import { encodeKey } from '../../core/row-key';
import type { TableSchema } from '../../core/table-schema';
import { META } from '../meta-columns';

/**
 * The rows an append-mode ("bronze") Iceberg table gains from one table's changes of a round
 * (position order): one row per change, in order, never a delete or an update of an earlier row.
 * Each holds the source columns and `_tidemark_op` (c, r, u, d, t), `_tidemark_lsn`,
 * `_tidemark_seq` and `_tidemark_commit_time`, as the warehouse's append tables do
 * (warehouse/staged-rows.ts): a delete row holds the old image the source sent (the key, or the
 * whole row under REPLICA IDENTITY FULL), a truncate row no source value at all.
 *
 * TOAST-unchanged columns (an update that did not send a large value) take the value of an
 * earlier image of the same row in the round: the same key, or for the insert that a key change
 * becomes, the old key (named in its `before`). What is still unknown then is where the
 * warehouse looks up the latest stored row of the key; an append table has no key index (it
 * would cost the memory of every key ever seen) and finding that row means scanning the table's
 * history, so Iceberg writes null and names those columns in `_tidemark_unchanged` (a list, in
 * column order; null when every value was sent): a reader knows the value was not sent and
 * takes it from the key's earlier rows. Never a placeholder: null with that list says "same as
 * before", null without it is a null.
 *
 * Replays need nothing here: a round only holds changes above the sink's token, and the token
 * moves in the same snapshot as the rows (iceberg-target.ts), so a change committed once is
 * never appended twice.
 */
export function appendRows(schema: TableSchema, events: readonly ChangeEvent[]): Row[] {
  const where = `${schema.schema}.${schema.table}`;
  const key = schema.primaryKey;
  const keyOf = (image: Row | null): string | null =>
    key.length > 0 && image && key.every((k) => k in image && image[k] !== null)
      ? encodeKey(image, key)
      : null;
  // Last image per key in this round. A delete does not remove it: the insert of a key change
  // follows its delete and fills from it; any other change after a delete is a full insert.
  const lastImage = new Map<string, Row>();
  const rows: Row[] = [];
  for (const ev of events) {
    const meta: Row = {
      [META.op]: ev.op,
      [META.lsn]: ev.position.lsn,
      [META.seq]: BigInt(ev.position.seq),
      [META.commitTime]: BigInt(ev.commitTimeMs) * 1000n,
      [META.unchanged]: null,
    };
    if (ev.op === 't') {
      lastImage.clear();
      rows.push({ ...nulls(schema), ...meta });
      continue;
    }
    const image = ev.op === 'd' ? ev.before : ev.after;
    if (!image) throw new TidemarkError('malformed_event', `change ${ev.op} on ${where} has no row image`);
    const row: Row = { ...nulls(schema), ...image };
    const own = keyOf(image);
    const unchanged = ev.op === 'd' ? [] : ev.unchanged;
    const still: string[] = [];
    if (unchanged.length > 0) {
      const from = ev.op === 'c' && ev.before ? keyOf(ev.before) : own;
      const prior = from === null ? undefined : lastImage.get(from);
      for (const c of unchanged) {
        if (prior && c in prior) row[c] = prior[c]!;
        else still.push(c);
      }
    }
    if (own !== null && ev.op !== 'd') {
      const known: Row = { ...row };
      for (const c of still) delete known[c];
      lastImage.set(own, known);
    }
    if (still.length > 0) {
      const set = new Set(still);
      meta[META.unchanged] = schema.columns.filter((c) => set.has(c.name)).map((c) => c.name) as Value;
    }
    rows.push({ ...row, ...meta });
  }
  return rows;
}

function nulls(schema: TableSchema): Row {
  const r: Row = {};
  for (const c of schema.columns) r[c.name] = null;
  return r;
}
