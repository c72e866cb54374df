import { tableKey } from '../core/table-schema';
import type { ChannelTake } from './round-builder';

/**
 * What a committed round held, for the commit metrics: counted as its changes are taken (a parted
 * round's parts leave memory long before the commit).
 */
export interface RoundSummary {
  rows: number;
  /** "table\top" -> changes. */
  readonly changes: Map<string, number>;
  bytes: number;
  /** Source transaction -> its commit time (ms), streamed changes only. */
  readonly commitTimes: Map<number, number>;
  newestCommitMs: number;
}

export const emptyRoundSummary = (): RoundSummary => ({
  rows: 0,
  changes: new Map(),
  bytes: 0,
  commitTimes: new Map(),
  newestCommitMs: 0,
});

export function addToSummary(s: RoundSummary, takes: readonly ChannelTake[]): void {
  for (const t of takes) {
    for (const { event, bytes } of t.changes) {
      const k = `${tableKey(event.table)}\t${event.op}`;
      s.changes.set(k, (s.changes.get(k) ?? 0) + 1);
      s.rows++;
      s.bytes += bytes;
      if (event.snapshot) continue;
      s.commitTimes.set(event.txId, event.commitTimeMs);
      if (event.commitTimeMs > s.newestCommitMs) s.newestCommitMs = event.commitTimeMs;
    }
  }
}
