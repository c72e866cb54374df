import type { Row } from '../core/change-event';
import { type ColumnOfRow, keyText, rowHash, rowTexts } from './canonical-text';
import type { KeyRanges } from './key-ranges';

export interface Side {
  readonly name: string;
  /** Every row; called once per pass, and must give the same rows each time. */
  readonly rows: () => AsyncIterable<readonly Row[]>;
}

export interface KeyDifference {
  readonly key: string;
  readonly side: string;
  readonly what: string;
}

export interface RangeCounts {
  readonly range: string;
  readonly rows: Record<string, number>;
}

export interface TableComparison {
  readonly rows: Record<string, number>;
  /** Order-independent checksum per side: the sum of its rows' 64-bit digests, mod 2^64, in hex. */
  readonly checksums: Record<string, string>;
  readonly agree: boolean;
  /** The key ranges that differ (row count or checksum), in key order. */
  readonly differingRanges: readonly RangeCounts[];
  /** The first differing keys (at most `show`), in key order; the first side is the reference. */
  readonly differences: readonly KeyDifference[];
}

const MASK = (1n << 64n) - 1n;
/** Ranges whose rows are looked at one by one to name the differing keys. */
const RANGES_TO_EXPLAIN = 8;

/**
 * Compares sides (the first is the reference: the source) row by row without holding a table
 * in memory: one pass counts rows and sums row digests per key range; only when a range
 * differs does a second pass keep the rows of the first few differing ranges to name the keys
 * and columns that differ.
 */
export async function compareTable(
  columns: readonly ColumnOfRow[],
  key: readonly string[],
  ranges: KeyRanges,
  sides: readonly Side[],
  show: number,
): Promise<TableComparison> {
  const keyAt = key.map((k) => columns.findIndex((c) => c.name === k));
  const keyOf = (texts: readonly (string | null)[]) => keyAt.map((i) => texts[i]!);
  const sums = new Map<string, { n: number[]; sum: bigint[] }>();
  for (const side of sides) {
    const n = new Array<number>(ranges.count).fill(0);
    const sum = new Array<bigint>(ranges.count).fill(0n);
    for await (const batch of side.rows()) {
      for (const row of batch) {
        const texts = rowTexts(row, columns);
        const r = ranges.rangeOf(keyOf(texts));
        n[r]!++;
        sum[r] = (sum[r]! + rowHash(texts)) & MASK;
      }
    }
    sums.set(side.name, { n, sum });
  }
  const ref = sums.get(sides[0]!.name)!;
  const differing: number[] = [];
  for (let r = 0; r < ranges.count; r++) {
    if (sides.some((s) => sums.get(s.name)!.n[r] !== ref.n[r] || sums.get(s.name)!.sum[r] !== ref.sum[r]))
      differing.push(r);
  }
  const total = (name: string) => sums.get(name)!.n.reduce((a, b) => a + b, 0);
  const checksum = (name: string) =>
    (sums.get(name)!.sum.reduce((a, b) => (a + b) & MASK, 0n) as bigint).toString(16).padStart(16, '0');
  return {
    rows: Object.fromEntries(sides.map((s) => [s.name, total(s.name)])),
    checksums: Object.fromEntries(sides.map((s) => [s.name, checksum(s.name)])),
    agree: differing.length === 0,
    differingRanges: differing.map((r) => ({
      range: ranges.describe(r),
      rows: Object.fromEntries(sides.map((s) => [s.name, sums.get(s.name)!.n[r]!])),
    })),
    differences:
      differing.length === 0
        ? []
        : await explain(
            columns,
            key,
            keyOf,
            ranges,
            sides,
            new Set(differing.slice(0, RANGES_TO_EXPLAIN)),
            show,
          ),
  };
}

interface Held {
  texts: (string | null)[];
  times: number;
}

async function explain(
  columns: readonly ColumnOfRow[],
  key: readonly string[],
  keyOf: (texts: readonly (string | null)[]) => (string | null)[],
  ranges: KeyRanges,
  sides: readonly Side[],
  only: ReadonlySet<number>,
  show: number,
): Promise<KeyDifference[]> {
  const held = new Map<string, Map<string, Held>>();
  const keys = new Map<string, (string | null)[]>();
  for (const side of sides) {
    const m = new Map<string, Held>();
    for await (const batch of side.rows()) {
      for (const row of batch) {
        const texts = rowTexts(row, columns);
        const k = keyOf(texts);
        if (!only.has(ranges.rangeOf(k))) continue;
        const id = JSON.stringify(k);
        keys.set(id, k);
        const h = m.get(id);
        if (h) h.times++;
        else m.set(id, { texts, times: 1 });
      }
    }
    held.set(side.name, m);
  }
  const out: KeyDifference[] = [];
  const ref = held.get(sides[0]!.name)!;
  for (const k of [...keys.values()].sort(ranges.compare)) {
    const id = JSON.stringify(k);
    const want = ref.get(id);
    for (const side of sides.slice(1)) {
      const got = held.get(side.name)!.get(id);
      const what = describe(columns, want, got, sides[0]!.name);
      if (what) out.push({ key: keyText(k, key), side: side.name, what });
    }
    if (out.length >= show) break;
  }
  return out.slice(0, show);
}

function describe(
  columns: readonly ColumnOfRow[],
  want: Held | undefined,
  got: Held | undefined,
  refName: string,
): string | null {
  if (!want && !got) return null;
  if (!got) return `missing (the ${refName} has it)`;
  if (!want) return `extra (not in the ${refName})`;
  const parts: string[] = [];
  if (got.times > 1) parts.push(`held ${got.times} times`);
  columns.forEach((c, i) => {
    if (got.texts[i] !== want.texts[i])
      parts.push(`${c.name} = ${shown(got.texts[i]!)} (${refName}: ${shown(want.texts[i]!)})`);
  });
  return parts.length > 0 ? parts.join('; ') : null;
}

function shown(text: string | null): string {
  if (text === null) return 'NULL';
  return text.length > 60 ? `${JSON.stringify(text.slice(0, 57))}…` : JSON.stringify(text);
}
