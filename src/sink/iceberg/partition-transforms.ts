import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { IcebergPrimitive, IcebergType } from './iceberg-types';
import { decimalOf } from './iceberg-types';
import { murmur3x86 } from './murmur3';
import { decimalToUnscaled, unscaledToDecimal, unscaledToMinimalBytes, uuidToBytes } from './value-codec';

/**
 * Iceberg partition transforms (spec, "Partition Transforms"): identity, bucket[N],
 * truncate[W], year, month, day, hour. Values are canonical (core/column-type).
 */
export interface Transform {
  readonly text: string;
  /** The partition field's Iceberg type. */
  resultType(source: IcebergType): IcebergPrimitive;
  apply(v: Value): Value;
  /** Suffix of the partition field name ("id_bucket"); identity keeps the column name. */
  readonly suffix: string;
}

const MICROS_PER_HOUR = 3_600_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

export function parseTransform(text: string, source: IcebergType, where: string): Transform {
  const prim = typeof source === 'string' ? source : null;
  const bad = (why: string): never => {
    throw new TidemarkError('config', `${where}: partition transform ${text} ${why}`);
  };
  if (!prim) bad('cannot apply to a list column');
  const t = prim as IcebergPrimitive;
  const temporal = t === 'date' || t === 'timestamp' || t === 'timestamptz';
  const m = /^(bucket|truncate)\[(\d+)\]$/.exec(text);
  if (m) {
    const n = Number(m[2]);
    if (n <= 0) bad('needs a positive width');
    if (m[1] === 'bucket') {
      if (['boolean', 'float', 'double'].includes(t)) bad(`cannot apply to ${t}`);
      return {
        text,
        suffix: 'bucket',
        resultType: () => 'int',
        apply: (v) => (v === null ? null : (bucketHash(t, v) & 0x7fffffff) % n),
      };
    }
    if (!['int', 'long', 'string', 'binary'].includes(t) && !decimalOf(t)) bad(`cannot apply to ${t}`);
    return {
      text,
      suffix: 'trunc',
      resultType: (s) => s as IcebergPrimitive,
      apply: (v) => (v === null ? null : truncate(t, n, v)),
    };
  }
  switch (text) {
    case 'identity':
      return { text, suffix: '', resultType: (s) => s as IcebergPrimitive, apply: (v) => v };
    case 'year':
    case 'month':
    case 'day':
    case 'hour':
      if (!temporal || (text === 'hour' && t === 'date')) bad(`cannot apply to ${t}`);
      return {
        text,
        suffix: text,
        resultType: () => (text === 'day' ? 'date' : 'int'),
        apply: (v) => (v === null ? null : temporalPart(text, t, v)),
      };
    default:
      return bad('is unknown (identity, bucket[N], truncate[W], year, month, day, hour)');
  }
}

const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));

function temporalPart(unit: string, t: IcebergPrimitive, v: Value): number {
  const micros = t === 'date' ? BigInt(v as number) * MICROS_PER_DAY : BigInt(v as bigint);
  if (unit === 'hour') return Number(floorDiv(micros, MICROS_PER_HOUR));
  const days = Number(floorDiv(micros, MICROS_PER_DAY));
  if (unit === 'day') return days;
  const d = new Date(days * 86_400_000);
  const years = d.getUTCFullYear() - 1970;
  return unit === 'year' ? years : years * 12 + d.getUTCMonth();
}

function truncate(t: IcebergPrimitive, w: number, v: Value): Value {
  if (t === 'int') return (v as number) - ((((v as number) % w) + w) % w);
  if (t === 'long') {
    const x = BigInt(v as bigint);
    const W = BigInt(w);
    return x - (((x % W) + W) % W);
  }
  if (t === 'string') return [...(v as string)].slice(0, w).join('');
  if (t === 'binary') return (v as Uint8Array).subarray(0, w);
  const dec = decimalOf(t)!;
  const x = decimalToUnscaled(v as string, dec.scale, 'partition');
  const W = BigInt(w);
  return unscaledToDecimal(x - (((x % W) + W) % W), dec.scale);
}

/** The bytes the bucket transform hashes (spec, appendix B): ints as 8-byte little-endian longs. */
export function bucketHash(t: IcebergPrimitive, v: Value): number {
  const dec = decimalOf(t);
  if (dec) return murmur3x86(unscaledToMinimalBytes(decimalToUnscaled(v as string, dec.scale, 'partition')));
  switch (t) {
    case 'int':
    case 'long':
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz': {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v as number | bigint));
      return murmur3x86(b);
    }
    case 'string':
      return murmur3x86(Buffer.from(v as string, 'utf8'));
    case 'uuid':
      return murmur3x86(uuidToBytes(v as string, 'partition'));
    case 'binary':
      return murmur3x86(v as Uint8Array);
    default:
      throw new TidemarkError('unsupported_type', `bucket transform cannot hash ${t}`);
  }
}
