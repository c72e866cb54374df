import type { ColumnType, Value } from '../../core/column-type';
import { dateText, timestampText, timeText } from './datetime-text';

/**
 * Canonical values as fields of PostgreSQL's COPY text format
 * (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2): NULL is \N and
 * backslash, newline, carriage return and tab are backslash-escaped.
 */
export function copyField(v: Value, t: ColumnType): string {
  if (v === null) return '\\N';
  return escapeCopy(valueText(v, t));
}

export function escapeCopy(s: string): string {
  if (!/[\\\n\r\t]/.test(s)) return s;
  return s.replace(/[\\\n\r\t]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t',
  );
}

/** The PostgreSQL input text of a non-null value. */
export function valueText(v: Exclude<Value, null>, t: ColumnType): string {
  switch (t.kind) {
    case 'bool':
      return v ? 't' : 'f';
    case 'float32':
    case 'float64': {
      const n = v as number;
      if (Number.isNaN(n)) return 'NaN';
      if (n === Infinity) return 'Infinity';
      if (n === -Infinity) return '-Infinity';
      return Object.is(n, -0) ? '-0' : String(n);
    }
    case 'bytes':
      return `\\x${Buffer.from(v as Uint8Array).toString('hex')}`;
    case 'date':
      return dateText(v as number);
    case 'time':
      return timeText(BigInt(v as bigint));
    case 'timestamp':
      return timestampText(BigInt(v as bigint));
    case 'timestamptz': {
      const text = timestampText(BigInt(v as bigint));
      return text.endsWith(' BC') ? `${text.slice(0, -3)}+00 BC` : `${text}+00`;
    }
    case 'list':
      return arrayLiteral(v as Value[], t.element);
    default:
      return String(v);
  }
}

/** A PostgreSQL array literal: every element double-quoted, NULL bare; nested lists nest. */
function arrayLiteral(items: Value[], element: ColumnType): string {
  const parts = items.map((e) => {
    if (e === null) return 'NULL';
    if (element.kind === 'list') return arrayLiteral(e as Value[], element.element);
    return `"${valueText(e, element).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  });
  return `{${parts.join(',')}}`;
}
