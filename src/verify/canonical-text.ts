import { createHash } from 'node:crypto';
import type { ColumnType, Value } from '../core/column-type';
import { decimalToUnscaled, unscaledToDecimal } from '../sink/iceberg/value-codec';
import { parseIsoInterval } from '../sink/warehouse/datetime-text';

/**
 * One text per value, whatever system it was read from: `verify` compares these. Each reader
 * first turns its system's values into canonical values (core/column-type.ts); this then
 * removes the differences that are representation only (a float4 read as a double, "1.5" vs
 * "1.50" in a decimal(p,2), an interval as ISO text vs three fields), so equal values give
 * equal texts and any real difference remains.
 */
export function canonicalText(v: Value, t: ColumnType): string | null {
  if (v === null) return null;
  switch (t.kind) {
    case 'bool':
      return v ? 't' : 'f';
    case 'int16':
    case 'int32':
    case 'int64':
      return BigInt(v as number | bigint).toString();
    case 'float32':
      return floatText(Math.fround(Number(v)));
    case 'float64':
      return floatText(Number(v));
    case 'decimal':
      return decimalText(String(v), t.scale);
    case 'uuid':
      return String(v).toLowerCase();
    case 'bytes':
      return Buffer.from(v as Uint8Array).toString('hex');
    case 'date':
      return String(v);
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return BigInt(v as bigint).toString();
    case 'timetz':
      return typeof v === 'string' ? timetzText(v) : String(v);
    case 'interval':
      return typeof v === 'string' ? intervalText(v) : String(v);
    case 'list':
      return JSON.stringify((v as Value[]).map((e) => canonicalText(e, t.element)));
    default:
      // numeric, text, json, enum: the text itself is the value.
      return String(v);
  }
}

function floatText(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

/** "1.5" and "1.50" in a decimal(p,2) are one value; anything that would round stays as given. */
function decimalText(text: string, scale: number): string {
  try {
    return unscaledToDecimal(decimalToUnscaled(text, scale, ''), scale);
  } catch {
    return text;
  }
}

/** An interval's three Postgres fields (months, days, µs): what every sink stores. */
export function intervalText(text: string): string {
  try {
    const i = parseIsoInterval(text);
    return intervalFields(i.months, i.days, i.micros);
  } catch {
    return text;
  }
}

export function intervalFields(months: number, days: number, micros: bigint): string {
  return `${months}mon ${days}d ${micros}us`;
}

const TIMETZ = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/** "12:00:00.5+02:30" → µs since midnight and the offset east of UTC in seconds. */
export function timetzText(text: string): string {
  const m = TIMETZ.exec(text);
  if (!m) return text;
  const micros =
    BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1_000_000n +
    BigInt((m[4] ?? '').padEnd(6, '0') || '0');
  const offset = (m[5] === '-' ? -1 : 1) * (Number(m[6]) * 3600 + Number(m[7] ?? 0) * 60 + Number(m[8] ?? 0));
  return timetzFields(micros, offset);
}

export function timetzFields(micros: bigint, offsetSeconds: number): string {
  return `${micros}us ${offsetSeconds >= 0 ? '+' : ''}${offsetSeconds}s`;
}

export interface ColumnOfRow {
  readonly name: string;
  readonly type: ColumnType;
}

/** The canonical texts of a row's columns, in column order (a column the row lacks reads null). */
export function rowTexts(
  row: Readonly<Record<string, Value>>,
  columns: readonly ColumnOfRow[],
): (string | null)[] {
  return columns.map((c) => canonicalText(row[c.name] ?? null, c.type));
}

/** A key's identity and display form: "id=42" or "a=x, b=7". */
export function keyText(texts: readonly (string | null)[], keyColumns: readonly string[]): string {
  return keyColumns.map((k, i) => `${k}=${texts[i] ?? 'NULL'}`).join(', ');
}

/** 64 bits of a row's digest; summed over rows it gives an order-independent checksum. */
export function rowHash(texts: readonly (string | null)[]): bigint {
  return createHash('md5').update(JSON.stringify(texts)).digest().readBigUInt64BE(0);
}
