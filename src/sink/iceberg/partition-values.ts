import type { Value } from '../../core/column-type';
import { comparator } from './column-stats';
import { decimalOf, type IcebergPrimitive } from './iceberg-types';
import type { ManifestFileRecord } from './manifests';
import { serializeSingleValue } from './single-value';
import { decimalToUnscaled, unscaledToDecimal } from './value-codec';

/**
 * Partition values in manifests (spec, "Avro" type table): what each partition result type is in
 * Avro, and the form a tuple holds it in (what avsc writes and reads back, so a tuple decoded
 * from a manifest equals the one computed from a row). Longs beyond 2^53 are bigints
 * (avro-container.ts reads and writes them exact); binary is a Buffer; decimal(P,S) is Avro fixed
 * of the bytes P needs, holding the unscaled value big-endian in two's complement, as Iceberg
 * writes them. A uuid is no partition value (avroOfPartition: null): a manifest's partition
 * summary must bound its values, and engines disagree on the order of UUIDs (hasSafeBounds).
 */
const AVRO_OF: Partial<Record<IcebergPrimitive, unknown>> = {
  boolean: 'boolean',
  int: 'int',
  long: 'long',
  float: 'float',
  double: 'double',
  string: 'string',
  binary: 'bytes',
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

/** A transform's result (a canonical value) as a tuple holds it. */
export function tupleValue(type: IcebergPrimitive, v: Value): unknown {
  if (v === null) return null;
  const dec = decimalOf(type);
  if (dec)
    return fixedOfUnscaled(decimalToUnscaled(String(v), dec.scale, 'partition'), decimalBytes(dec.precision));
  if (v instanceof Uint8Array) return Buffer.from(v);
  return typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

/** The canonical value a tuple value stands for. */
function canonicalOf(type: IcebergPrimitive, v: unknown): Value {
  const dec = decimalOf(type);
  if (dec) return unscaledToDecimal(unscaledOfFixed(v as Uint8Array), dec.scale);
  if (type === 'long' || type.startsWith('time')) return BigInt(v as number | bigint);
  return v as Value;
}

/** A manifest's partition summary of one field (manifest list field 507), from its tuples' values. */
export function partitionSummary(
  type: IcebergPrimitive,
  values: readonly unknown[],
): NonNullable<ManifestFileRecord['partitions']>[number] {
  const present = values.filter((v) => v !== null && v !== undefined).map((v) => canonicalOf(type, v));
  const nan = (v: Value) => typeof v === 'number' && Number.isNaN(v);
  const ordered = present.filter((v) => !nan(v)).sort(comparator(type));
  let lo = ordered[0];
  let hi = ordered[ordered.length - 1];
  // -0 and 0 compare equal; the spec orders -0 before 0 (as column-stats.ts does)
  if (Object.is(lo, 0) && ordered.some((v) => Object.is(v, -0))) lo = -0;
  if (Object.is(hi, -0) && ordered.some((v) => Object.is(v, 0))) hi = 0;
  const bytes = (v: Value | undefined) =>
    v === undefined ? null : Buffer.from(serializeSingleValue(type, v));
  return {
    contains_null: present.length < values.length,
    contains_nan: present.some(nan),
    lower_bound: bytes(lo),
    upper_bound: bytes(hi),
  };
}

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
