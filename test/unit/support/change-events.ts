import type { ChangeEvent, Op, Row } from '../../../src/core/change-event';

let seq = 0;

/**
 * A change of table public.t at a growing position: `row` is the new image, or the key for a
 * delete; `before` and `unchanged` as the source would set them.
 */
export function ev(op: Op, row: Row | null, opts: { before?: Row; unchanged?: string[] } = {}): ChangeEvent {
  return {
    op,
    table: { schema: 'public', table: 't' },
    position: { lsn: 100n, seq: seq++ },
    txId: 1,
    commitTimeMs: 0,
    schemaVersion: 1,
    before: op === 'd' ? row : (opts.before ?? null),
    after: op === 'd' || op === 't' ? null : row,
    unchanged: opts.unchanged ?? [],
    snapshot: op === 'r',
  };
}
