import { formatLsn, type Lsn, parseLsn } from './lsn';

/**
 * The position of one change: the LSN of its transaction's commit record and its 0-based
 * index inside that transaction. Snapshot rows get (consistentPointLsn, seq) and sort before
 * every streamed change of that table. Positions are deterministic: replaying the slot from
 * an earlier point yields the same position for the same change, which is what lets sinks
 * drop replays by comparing against their offset token.
 */
export interface Position {
  readonly lsn: Lsn;
  readonly seq: number;
}

export const ORIGIN: Position = Object.freeze({ lsn: 0n, seq: -1 });

export function comparePositions(a: Position, b: Position): number {
  if (a.lsn !== b.lsn) return a.lsn < b.lsn ? -1 : 1;
  return a.seq - b.seq;
}

export function isAfter(a: Position, b: Position): boolean {
  return comparePositions(a, b) > 0;
}

/** Text form used in Kafka headers, Redis and sink metadata: "16/B374D848#5". */
export function formatPosition(p: Position): string {
  return `${formatLsn(p.lsn)}#${p.seq}`;
}

export function parsePosition(text: string): Position {
  const hash = text.lastIndexOf('#');
  if (hash < 0) throw new RangeError(`not a tidemark position: "${text}" (expected "X/Y#seq")`);
  const seq = Number(text.slice(hash + 1));
  if (!Number.isInteger(seq) || seq < -1) throw new RangeError(`bad sequence in position "${text}"`);
  return { lsn: parseLsn(text.slice(0, hash)), seq };
}
