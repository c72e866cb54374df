import { TimestampText } from '../core/clock-text';
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

/** `where` and `column` name the value in errors; joined only when there is one. */
export function decodeValue(t: ColumnType, j: JsonValue, where: string, column?: string): Value {
  if (j === null) return null;
  switch (t.kind) {
    case 'bool':
      if (typeof j !== 'boolean') throw badValue(t, j, where, column);
      return j;
    case 'int16':
    case 'int32':
    case 'date':
      if (typeof j !== 'number' || !Number.isInteger(j)) throw badValue(t, j, where, column);
      return j;
    case 'int64':
    case 'time':
    case 'timestamp': {
      const v = jsonToBig(j);
      if (v === null) throw badValue(t, j, where, column);
      return v;
    }
    case 'timestamptz': {
      const v = typeof j === 'string' ? isoToMicrosOrNull(j) : null;
      if (v === null) throw badValue(t, j, where, column);
      return v;
    }
    case 'float32':
    case 'float64':
      if (typeof j === 'number') return j;
      if (j === 'NaN' || j === 'Infinity' || j === '-Infinity') return Number(j);
      throw badValue(t, j, where, column);
    case 'bytes':
      if (typeof j !== 'string') throw badValue(t, j, where, column);
      return new Uint8Array(Buffer.from(j, 'base64'));
    case 'list':
      if (!Array.isArray(j)) throw badValue(t, j, where, column);
      return j.map((e) => decodeValue(t.element, e, where, column));
    default:
      if (typeof j !== 'string') throw badValue(t, j, where, column);
      return j;
  }
}

// Module level rather than a closure per call: decodeValue runs for every value the sinks read.
function badValue(t: ColumnType, j: JsonValue, where: string, column: string | undefined): TidemarkError {
  const name = column === undefined ? where : `${where}.${column}`;
  return new TidemarkError(
    'malformed_event',
    `${name}: ${JSON.stringify(j).slice(0, 80)} is not a valid ${t.kind} value`,
  );
}

function bigToJson(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v.toString();
}

function jsonToBig(j: JsonValue): bigint | null {
  if (typeof j === 'number' && Number.isSafeInteger(j)) return BigInt(j);
  if (typeof j === 'string' && /^-?\d+$/.test(j)) return BigInt(j);
  return null;
}

const MS_PER_DAY = 86_400_000;
const FAST = new TimestampText((day) => new Date(day * MS_PER_DAY).toISOString().slice(0, 10), 'T', 'Z');

/** Micros since the epoch → "2024-05-01T12:00:00.123456Z" (expanded ±YYYYYY years outside 0000–9999). */
export function microsToIso(micros: bigint): string {
  const fast = FAST.format(micros);
  if (fast !== null) return fast;
  const ms = micros >= 0n ? micros / 1000n : -((-micros + 999n) / 1000n);
  const sub = Number(micros - ms * 1000n);
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, -1)}${String(sub).padStart(3, '0')}Z`;
}

export function isoToMicros(text: string): bigint {
  const v = isoToMicrosOrNull(text);
  if (v === null) throw new RangeError(`bad timestamp "${text}"`);
  return v;
}

/** "YYYY-MM-DD" → its midnight in ms, for the last day parsed (see microsToIso). */
let lastParsedDay = '';
let lastParsedDayMs = 0;

function isoToMicrosOrNull(text: string): bigint | null {
  // The form microsToIso writes for years 1685–2254: "YYYY-MM-DDTHH:MM:SS.ffffffZ", parsed by
  // position; anything else (other widths, expanded years, out-of-range clock fields) below.
  if (text.length === 27 && text.charCodeAt(10) === 84 /* T */ && text.charCodeAt(26) === 90 /* Z */) {
    const h = twoDigits(text, 11);
    const m = twoDigits(text, 14);
    const s = twoDigits(text, 17);
    const f = sixDigits(text, 20);
    if (
      h < 24 &&
      m < 60 &&
      s < 60 &&
      f >= 0 &&
      text.charCodeAt(13) === 58 &&
      text.charCodeAt(16) === 58 &&
      text.charCodeAt(19) === 46
    ) {
      const date = text.slice(0, 10);
      if (date !== lastParsedDay) {
        const ms = /^\d{4}-\d\d-\d\d$/.test(date) ? Date.parse(`${date}T00:00:00Z`) : Number.NaN;
        if (Number.isNaN(ms)) return slowIsoToMicros(text);
        lastParsedDay = date;
        lastParsedDayMs = ms;
      }
      const micros = (lastParsedDayMs + h * 3_600_000 + m * 60_000 + s * 1000) * 1000 + f;
      if (Number.isSafeInteger(micros)) return BigInt(micros);
    }
  }
  return slowIsoToMicros(text);
}

/** Two ASCII digits at `i` as a number; 100 or more when either is not a digit. */
function twoDigits(t: string, i: number): number {
  const a = t.charCodeAt(i) - 48;
  const b = t.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : 100;
}

/** Six ASCII digits at `i` as a number; -1 when one is not a digit. */
function sixDigits(t: string, i: number): number {
  let v = 0;
  for (let k = i; k < i + 6; k++) {
    const d = t.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function slowIsoToMicros(text: string): bigint | null {
  const m = /^([+-]\d{6}|\d{4})(-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(text);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[2]}Z`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1000n + BigInt((m[3] ?? '').padEnd(6, '0') || '0');
}
