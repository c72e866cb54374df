import { comparePositions, formatPosition, type Position, parsePosition } from './position';

/**
 * A channel is one Kafka partition of one topic as seen by one sink ("shop.public.orders/3"),
 * or one table in embedded mode. Its offset token is the highest position durably committed
 * in that sink, and the log offset after it. Tokens only move forward.
 */
export interface OffsetToken {
  readonly position: Position;
  /** The next log offset to read on this channel (Kafka offset + 1); -1 when not applicable. */
  readonly nextOffset: number;
}

/** Stored text form: "<position>@<nextOffset>", e.g. "16/B374D848#5@1234". */
export function formatToken(t: OffsetToken): string {
  return `${formatPosition(t.position)}@${t.nextOffset}`;
}

export function parseToken(text: string): OffsetToken {
  const at = text.lastIndexOf('@');
  if (at < 0) throw new RangeError(`not an offset token: "${text}" (expected "X/Y#seq@offset")`);
  const nextOffset = Number(text.slice(at + 1));
  if (!Number.isInteger(nextOffset) || nextOffset < -1)
    throw new RangeError(`bad log offset in token "${text}"`);
  return { position: parsePosition(text.slice(0, at)), nextOffset };
}

export function compareTokens(a: OffsetToken, b: OffsetToken): number {
  return comparePositions(a.position, b.position) || a.nextOffset - b.nextOffset;
}

/** Token movement within one atomic sink commit: valid only if the stored token is still `expected`. */
export interface TokenUpdate {
  readonly channel: string;
  /** The token the round started from; null when the channel has none yet. */
  readonly expected: string | null;
  readonly next: string;
}
