import type { Value } from '../../core/column-type';
import { decimalOf, type IcebergPrimitive } from './iceberg-types';
import { serializeSingleValue } from './single-value';
import { decimalToUnscaled, unscaledToDecimal } from './value-codec';

/**
 * Partition values in manifests (spec, "Avro" type table): what each partition result type is in
 * Avro, the form a tuple holds it in (what avsc writes and reads back, so a tuple decoded from a
 * manifest equals the one computed from a row), its order and its single-value bytes (partition
 * summaries). Longs beyond 2^53 are bigints (avro-container.ts reads and writes them exact);
 * decimal(P,S) is Avro `fixed` of the bytes P needs, holding the unscaled value big-endian in
 * two's complement, as Iceberg writes it. Binary values are not written (refused at start).
 */
const AVRO_OF: Partial<Record<IcebergPrimitive, unknown>> = {
  boolean: 'boolean',
  int: 'int',
  long: 'long',
  string: 'string',
  date: { type: 'int', logicalType: 'date' },
  time: { type: 'long', logicalType: 'time-micros' },
  timestamp: { type: 'long', logicalType: 'timestamp-micros', 'adjust-to-utc': false },
  timestamptz: { type: 'long', logicalType: 'timestamp-micros', 'adjust-to-utc': true },
};

/** The Avro type of a partition value of `type` (field `fieldId`: Avro names a fixed type), or null. */
export function avroOfPartition(type: IcebergPrimitive, fieldId: number): unknown {
  const dec = decimalOf(type);
  if (dec)
    return {
      type: 'fixed',
      name: `partition_${fieldId}`,
      size: decimalBytes(dec.precision),
      logicalType: 'decimal',
      precision: dec.precision,
      scale: dec.scale,
    };
  return AVRO_OF[type] ?? null;
}

/** A transform's result as a tuple holds it. */
export function tupleValue(type: IcebergPrimitive, v: Value): unknown {
  if (v === null) return null;
  const dec = decimalOf(type);
  if (dec)
    return fixedOfUnscaled(decimalToUnscaled(String(v), dec.scale, 'partition'), decimalBytes(dec.precision));
  return typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

/** Iceberg's order of two tuple values of `type` (strings by their UTF-8 bytes). */
export function compareTupleValues(type: IcebergPrimitive, a: unknown, b: unknown): number {
  if (decimalOf(type)) return cmp(unscaledOfFixed(a as Buffer), unscaledOfFixed(b as Buffer));
  if (typeof a === 'string') return Buffer.compare(Buffer.from(a), Buffer.from(b as string));
  return cmp(BigInt(a as number | bigint | boolean), BigInt(b as number | bigint | boolean));
}

/** The single-value bytes of a tuple value (partition summaries' bounds). */
export function tupleValueBytes(type: IcebergPrimitive, v: unknown): Uint8Array {
  const dec = decimalOf(type);
  if (dec) return serializeSingleValue(type, unscaledToDecimal(unscaledOfFixed(v as Buffer), dec.scale));
  if (type === 'long' || type.startsWith('time')) return serializeSingleValue(type, BigInt(v as number));
  return serializeSingleValue(type, v as Value);
}

const cmp = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);

/** Bytes of the smallest two's complement that holds every unscaled value of precision p. */
function decimalBytes(p: number): number {
  const max = 10n ** BigInt(p);
  let n = 1;
  while (2n ** BigInt(8 * n - 1) < max) n++;
  return n;
}

function fixedOfUnscaled(v: bigint, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = BigInt.asUintN(size * 8, v);
  for (let i = size - 1; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

function unscaledOfFixed(b: Uint8Array): bigint {
  let x = 0n;
  for (const byte of b) x = (x << 8n) | BigInt(byte);
  return BigInt.asIntN(b.length * 8, x);
}
