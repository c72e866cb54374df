import type { Value } from '../../core/column-type';
import type { IcebergField, IcebergPrimitive, IcebergType } from './iceberg-types';
import { decimalOf } from './iceberg-types';
import { serializeSingleValue } from './single-value';
import { decimalToUnscaled } from './value-codec';

/** Per-file column metrics as manifests record them (spec, "Manifests": data_file fields 109-128). */
export interface FileMetrics {
  readonly valueCounts: Map<number, bigint>;
  readonly nullValueCounts: Map<number, bigint>;
  readonly nanValueCounts: Map<number, bigint>;
  readonly lowerBounds: Map<number, Uint8Array>;
  readonly upperBounds: Map<number, Uint8Array>;
}

/** Strings longer than this (in UTF-8 bytes) get a truncated lower bound and no upper bound. */
const STRING_BOUND_BYTES = 64;

export function collectMetrics(
  fields: readonly IcebergField[],
  columns: readonly (readonly Value[])[],
): FileMetrics {
  const m: FileMetrics = {
    valueCounts: new Map(),
    nullValueCounts: new Map(),
    nanValueCounts: new Map(),
    lowerBounds: new Map(),
    upperBounds: new Map(),
  };
  fields.forEach((f, i) => {
    addColumn(m, f.id, f.type, columns[i]!);
  });
  return m;
}

function addColumn(m: FileMetrics, id: number, t: IcebergType, values: readonly Value[]): void {
  if (typeof t !== 'string') {
    // Metrics of list elements: counts only (bounds of repeated fields are optional).
    const flat: Value[] = [];
    for (const v of values) if (Array.isArray(v)) flat.push(...v);
    addCounts(m, t['element-id'], flat);
    return;
  }
  addCounts(m, id, values);
  if (t === 'float' || t === 'double') {
    m.nanValueCounts.set(id, BigInt(values.filter((v) => typeof v === 'number' && Number.isNaN(v)).length));
  }
  if (!hasSafeBounds(t)) return;
  let min: Value = null;
  let max: Value = null;
  const dec = decimalOf(t);
  if (dec) {
    // Unscaled once per value, not once per comparison.
    let lo = 0n;
    let hi = 0n;
    for (const v of values) {
      if (v === null || v === undefined) continue;
      const u = decimalToUnscaled(String(v), dec.scale, 'bound');
      if (min === null || u < lo) [min, lo] = [v, u];
      if (max === null || u > hi) [max, hi] = [v, u];
    }
  } else if (t === 'string') {
    [min, max] = stringBounds(values);
  } else {
    const cmp = comparator(t);
    for (const v of values) {
      if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) continue;
      if (min === null || cmp(v, min) < 0) min = v;
      if (max === null || cmp(v, max) > 0) max = v;
    }
  }
  if (min === null || max === null) return;
  if (t === 'string') {
    const lo = Buffer.from(min as string, 'utf8');
    m.lowerBounds.set(id, lo.length <= STRING_BOUND_BYTES ? lo : truncateUtf8(lo, STRING_BOUND_BYTES));
    const hi = Buffer.from(max as string, 'utf8');
    if (hi.length <= STRING_BOUND_BYTES) m.upperBounds.set(id, hi);
    return;
  }
  if (t === 'binary') {
    const lo = min as Uint8Array;
    m.lowerBounds.set(id, lo.length <= STRING_BOUND_BYTES ? lo : lo.subarray(0, STRING_BOUND_BYTES));
    if ((max as Uint8Array).length <= STRING_BOUND_BYTES) m.upperBounds.set(id, max as Uint8Array);
    return;
  }
  if (t === 'float' || t === 'double') {
    // -0 and 0 compare equal; the spec orders -0 before 0.
    if (Object.is(min, 0)) min = -0;
    if (Object.is(max, -0)) max = 0;
  }
  m.lowerBounds.set(id, serializeSingleValue(t, min));
  m.upperBounds.set(id, serializeSingleValue(t, max));
}

function addCounts(m: FileMetrics, id: number, values: readonly Value[]): void {
  m.valueCounts.set(id, BigInt(values.length));
  let nulls = 0;
  for (const v of values) if (v === null || v === undefined) nulls++;
  m.nullValueCounts.set(id, BigInt(nulls));
}

/** Cuts UTF-8 bytes to at most `max`, never inside a code point: a prefix is a valid lower bound. */
function truncateUtf8(b: Buffer, max: number): Buffer {
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

/**
 * Orders strings as their UTF-8 bytes would, without encoding them: UTF-16 code units order
 * like code points except that surrogates (code points above U+FFFF) sort below U+E000–U+FFFF;
 * lifting surrogates above that range at the first difference restores code point order.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Code units from U+D800 up: only between two of them do UTF-16 order and UTF-8 order part. */
const WIDE_UNITS = /[\uD800-\uFFFF]/;

/**
 * The least and greatest string in UTF-8 byte order. Strings without wide units (nearly all) are
 * compared natively, which orders them the same; compareUtf8's loop (2-3% of the sink's CPU in
 * `npm run bench`'s streaming runs) runs only where a wide unit may decide.
 */
function stringBounds(values: readonly Value[]): [string | null, string | null] {
  let min: string | null = null;
  let max: string | null = null;
  let minWide = false;
  let maxWide = false;
  for (const v of values) {
    if (typeof v !== 'string') continue;
    const wide = WIDE_UNITS.test(v);
    if (min === null || max === null) {
      [min, max, minWide, maxWide] = [v, v, wide, wide];
      continue;
    }
    if (wide || minWide ? compareUtf8(v, min) < 0 : v < min) [min, minWide] = [v, wide];
    if (wide || maxWide ? compareUtf8(v, max) > 0 : v > max) [max, maxWide] = [v, wide];
  }
  return [min, max];
}

/**
 * Whether tidemark writes lower/upper bounds of type `t`. Not for uuid: engines disagree on the
 * order (Iceberg Java through 1.10 compares UUIDs as signed longs, apache/iceberg#14216; PyIceberg
 * and the RFC unsigned), and a bound written in one order makes the other skip files that hold
 * matching rows. Without bounds every engine reads the file; it only cannot prune on the column.
 */
export function hasSafeBounds(t: IcebergPrimitive): boolean {
  return t !== 'uuid';
}

/** Iceberg's order of two (non-null, non-NaN) canonical values of type `t`. */
export function comparator(t: IcebergPrimitive): (a: Value, b: Value) => number {
  const dec = decimalOf(t);
  if (dec)
    return (a, b) => {
      const x = decimalToUnscaled(String(a), dec.scale, 'bound');
      const y = decimalToUnscaled(String(b), dec.scale, 'bound');
      return x < y ? -1 : x > y ? 1 : 0;
    };
  switch (t) {
    // Strings compare as UTF-8 bytes (unsigned), as Iceberg does; not as UTF-16 code units.
    case 'string':
      return (a, b) => compareUtf8(a as string, b as string);
    case 'binary':
      return (a, b) => Buffer.compare(a as Uint8Array, b as Uint8Array);
    case 'boolean':
      return (a, b) => Number(a) - Number(b);
    case 'uuid':
      return (a, b) => ((a as string) < (b as string) ? -1 : a === b ? 0 : 1);
    default:
      return (a, b) => ((a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0);
  }
}
