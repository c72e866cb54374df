import type { ChangeEvent, Row } from '../../src/core/change-event';

/** An insert into public.t at (lsn, seq): the shape the sink's unit tests buffer and commit. */
export function insertEvent(
  lsn: bigint,
  seq: number,
  after: Row = { id: seq },
  snapshot = false,
): ChangeEvent {
  return {
    op: 'c',
    table: { schema: 'public', table: 't' },
    position: { lsn, seq },
    txId: 1,
    commitTimeMs: 0,
    schemaVersion: 1,
    before: null,
    after,
    unchanged: [],
    snapshot,
  };
}
