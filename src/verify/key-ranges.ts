import { createHash } from 'node:crypto';

/**
 * How `verify` splits a table's keys into ranges, each compared by row count and checksum, so
 * that a difference is narrowed to a range before rows are looked at. A single integer key is
 * cut into contiguous ranges of its values ("id 1..15625"), the form an operator can query;
 * any other key goes by a hash of its text, which spreads every key type evenly.
 */
export interface KeyRanges {
  readonly count: number;
  /** The range of a key, given as the canonical texts of its columns. */
  rangeOf(key: readonly (string | null)[]): number;
  describe(range: number): string;
  /** Orders differing keys for display. */
  compare(a: readonly (string | null)[], b: readonly (string | null)[]): number;
}

export function integerRanges(column: string, min: bigint, max: bigint, wanted: number): KeyRanges {
  const span = max - min + 1n;
  const count = Number(span < BigInt(wanted) ? span : BigInt(wanted));
  const width = (span + BigInt(count) - 1n) / BigInt(count);
  const value = (k: readonly (string | null)[]) => (k[0] === null ? min : BigInt(k[0]!));
  return {
    count,
    rangeOf(k) {
      const i = (value(k) - min) / width;
      return i < 0n ? 0 : i >= BigInt(count) ? count - 1 : Number(i);
    },
    describe(i) {
      const lo = min + BigInt(i) * width;
      const hi = lo + width - 1n > max ? max : lo + width - 1n;
      // The outer ranges also hold any key a sink has below the source's lowest or above its highest.
      return `${column} ${lo}..${hi}`;
    },
    compare: (a, b) => {
      const x = value(a);
      const y = value(b);
      return x < y ? -1 : x > y ? 1 : 0;
    },
  };
}

export function hashRanges(count: number): KeyRanges {
  return {
    count,
    rangeOf: (k) => createHash('md5').update(JSON.stringify(k)).digest().readUInt32BE(0) % count,
    describe: (i) => `key hash range ${i + 1}/${count}`,
    compare: (a, b) => {
      const x = JSON.stringify(a);
      const y = JSON.stringify(b);
      return x < y ? -1 : x > y ? 1 : 0;
    },
  };
}
