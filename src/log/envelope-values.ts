import type { ColumnType, Value } from '../core/column-type';
import { TidemarkError } from '../core/errors';

/**
 * Column values in the JSON envelope, following Debezium's PostgreSQL connector with
 * decimal.handling.mode=string, binary.handling.mode=base64, interval.handling.mode=string and
 * time.precision.mode=adaptive_time_microseconds, so existing consumers can read the topics.
 * Where a JSON number would lose precision (int64 or micros beyond 2^53) the value is written
 * as a decimal string instead; the decoder accepts both.
 */
export type JsonValue = null | boolean | number | string | JsonValue[];

export function encodeValue(t: ColumnType, v: Value): JsonValue {
  if (v === null) return null;
  switch (t.kind) {
    case 'int64':
    case 'time':
    case 'timestamp':
      return bigToJson(v as bigint);
    case 'timestamptz':
      return microsToIso(v as bigint);
    case 'float32':
    case 'float64':
      return Number.isFinite(v as number) ? (v as number) : String(v);
    case 'bytes':
      return Buffer.from(v as Uint8Array).toString('base64');
    case 'list':
      return (v as Value[]).map((e) => encodeValue(t.element, e));
    default:
      return v as boolean | number | string;
  }
}

export function decodeValue(t: ColumnType, j: JsonValue, where: string): Value {
  if (j === null) return null;
  const bad = (): TidemarkError =>
    new TidemarkError(
      'malformed_event',
      `${where}: ${JSON.stringify(j).slice(0, 80)} is not a valid ${t.kind} value`,
    );
  switch (t.kind) {
    case 'bool':
      if (typeof j !== 'boolean') throw bad();
      return j;
    case 'int16':
    case 'int32':
    case 'date':
      if (typeof j !== 'number' || !Number.isInteger(j)) throw bad();
      return j;
    case 'int64':
    case 'time':
    case 'timestamp':
      return jsonToBig(j, bad);
    case 'timestamptz':
      if (typeof j !== 'string') throw bad();
      return isoToMicros(j, bad);
    case 'float32':
    case 'float64':
      if (typeof j === 'number') return j;
      if (j === 'NaN' || j === 'Infinity' || j === '-Infinity') return Number(j);
      throw bad();
    case 'bytes':
      if (typeof j !== 'string') throw bad();
      return new Uint8Array(Buffer.from(j, 'base64'));
    case 'list':
      if (!Array.isArray(j)) throw bad();
      return j.map((e) => decodeValue(t.element, e, where));
    default:
      if (typeof j !== 'string') throw bad();
      return j;
  }
}

function bigToJson(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v.toString();
}

function jsonToBig(j: JsonValue, bad: () => Error): bigint {
  if (typeof j === 'number' && Number.isSafeInteger(j)) return BigInt(j);
  if (typeof j === 'string' && /^-?\d+$/.test(j)) return BigInt(j);
  throw bad();
}

/** Micros since the epoch → "2024-05-01T12:00:00.123456Z" (expanded ±YYYYYY years outside 0000–9999). */
export function microsToIso(micros: bigint): string {
  const ms = micros >= 0n ? micros / 1000n : -((-micros + 999n) / 1000n);
  const sub = Number(micros - ms * 1000n);
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, -1)}${String(sub).padStart(3, '0')}Z`;
}

export function isoToMicros(
  text: string,
  bad: () => Error = () => new RangeError(`bad timestamp "${text}"`),
): bigint {
  const m = /^([+-]\d{6}|\d{4})(-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(text);
  if (!m) throw bad();
  const ms = Date.parse(`${m[1]}${m[2]}Z`);
  if (Number.isNaN(ms)) throw bad();
  return BigInt(ms) * 1000n + BigInt((m[3] ?? '').padEnd(6, '0') || '0');
}
