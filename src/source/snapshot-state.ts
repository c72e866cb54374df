import { formatLsn, type Lsn, parseLsn } from '../core/lsn';
import type { SourceStateStore } from './state-store';

/**
 * Progress of the initial snapshot, kept in the state store. Written before the slot is ever
 * confirmed past the consistent point, so a restart knows which tables still need copying.
 */
export interface SnapshotState {
  readonly consistentPoint: Lsn;
  /** Incremented at every (re)start of the snapshot: it keeps the positions of each attempt apart. */
  readonly attempt: number;
  readonly doneTables: readonly string[];
  readonly complete: boolean;
}

/**
 * The state written just before the slot is created: no consistent point yet (0/0). Found on a
 * restart next to an existing slot, it means the slot's snapshot never started.
 */
export const slotPendingState: SnapshotState = Object.freeze({
  consistentPoint: 0n,
  attempt: 0,
  doneTables: [],
  complete: false,
});

export async function readSnapshotState(
  state: SourceStateStore,
  slot: string,
): Promise<SnapshotState | null> {
  const text = await state.get(`source:${slot}:snapshot`);
  if (!text) return null;
  const o = JSON.parse(text) as {
    consistentPoint: string;
    attempt: number;
    doneTables: string[];
    complete: boolean;
  };
  return { ...o, consistentPoint: parseLsn(o.consistentPoint) };
}

export async function writeSnapshotState(
  state: SourceStateStore,
  slot: string,
  s: SnapshotState,
): Promise<void> {
  await state.set(
    `source:${slot}:snapshot`,
    JSON.stringify({ ...s, consistentPoint: formatLsn(s.consistentPoint) }),
  );
}

/**
 * Positions of snapshot rows: (consistent point − 1, attempt · 2^40 + n). One below the
 * consistent point, because a transaction committing right at the consistent point is streamed
 * and must sort after every snapshot row; the attempt keeps a redone snapshot's rows above the
 * rows of an interrupted one, which sinks may already hold.
 */
export function snapshotPosition(cp: Lsn, attempt: number, n: number): { lsn: Lsn; seq: number } {
  return { lsn: cp - 1n, seq: attempt * 2 ** 40 + n };
}
