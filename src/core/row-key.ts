import type { Row } from './change-event';
import type { Value } from './column-type';

/**
 * An exact, order-preserving-enough text encoding of a row's key values, used to collapse
 * changes per key and as the Kafka message key's identity. Distinct keys never collide:
 * each component is type-tagged and length-prefixed.
 */
export function encodeKey(row: Row, keyColumns: readonly string[]): string {
  let out = '';
  for (const col of keyColumns) {
    if (!(col in row)) throw new RangeError(`key column "${col}" missing from row`);
    const part = encodeValue(row[col]!);
    out += `${part.length}:${part}`;
  }
  return out;
}

function encodeValue(v: Value): string {
  if (v === null) return 'n';
  switch (typeof v) {
    case 'boolean':
      return v ? 'bt' : 'bf';
    case 'number':
      return `f${Object.is(v, -0) ? '-0' : String(v)}`;
    case 'bigint':
      return `i${v.toString()}`;
    case 'string':
      return `s${v}`;
    default:
      if (v instanceof Uint8Array) return `x${Buffer.from(v).toString('hex')}`;
      return `a[${(v as Value[])
        .map((e) => {
          const p = encodeValue(e);
          return `${p.length}:${p}`;
        })
        .join('')}]`;
  }
}
