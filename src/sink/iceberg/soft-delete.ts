import type { Row } from '../../core/change-event';
import type { CollapsedBatch, KeyedChange } from '../collapse';
import { META } from '../meta-columns';

/**
 * A soft-delete table's batch turned into the upserts that a mirror table's staging writes
 * (table-stager.ts: position delete of the stored row + the new row), with the warehouse's
 * meanings (warehouse/merge-sql.ts):
 * - an upsert is written as it is: its row has no `_tidemark_deleted_at`, so it is written null
 *   (a re-inserted key is live again);
 * - a delete rewrites the stored row with `_tidemark_deleted_at` = the delete's commit time; a
 *   key not stored (inserted and deleted within the round) or already deleted is left as it is;
 * - a truncate marks every stored row not yet deleted with the truncate's commit time, before
 *   the round's later changes apply (so a delete after it keeps the truncate's time).
 * `stored` holds the stored rows (every column, by encoded key) of the deleted keys, or of every
 * live key when the batch has a truncate. The result has no truncate and no delete.
 */
export function softDeleteBatch(batch: CollapsedBatch, stored: ReadonlyMap<string, Row>): CollapsedBatch {
  const out = new Map<string, KeyedChange>();
  const mark = (key: string, row: Row, position: KeyedChange['position'], atMs: number): void => {
    out.delete(key);
    out.set(key, {
      kind: 'upsert',
      key,
      row: { ...row, [META.deletedAt]: BigInt(atMs) * 1000n },
      unchanged: [],
      position,
      commitTimeMs: atMs,
    });
  };
  if (batch.truncatedAt) {
    const atMs = batch.truncatedAtMs ?? 0;
    for (const [key, row] of stored) if (isLive(row)) mark(key, row, batch.truncatedAt, atMs);
  }
  for (const c of batch.changes) {
    if (c.kind === 'upsert') {
      out.delete(c.key);
      out.set(c.key, c);
      continue;
    }
    // After a truncate every stored row is already marked (or was deleted before): keep that.
    if (batch.truncatedAt) continue;
    const row = stored.get(c.key);
    if (row && isLive(row)) mark(c.key, row, c.position, c.commitTimeMs);
  }
  return { truncatedAt: null, changes: [...out.values()] };
}

function isLive(row: Row): boolean {
  return (row[META.deletedAt] ?? null) === null;
}
