import type { Value } from './column-type';

/** Memory a value holds, roughly: a string's length, a byte array's size, 8 for a scalar. */
export function valueBytes(v: Value): number {
  if (typeof v === 'string') return v.length;
  if (v instanceof Uint8Array) return v.byteLength;
  if (Array.isArray(v)) return v.reduce<number>((n, x) => n + 8 + valueBytes(x), 0);
  return 8;
}
