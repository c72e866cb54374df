import type { Value } from '../../core/column-type';
import type { IcebergPrimitive } from './iceberg-types';
import { decimalOf } from './iceberg-types';
import { decimalToUnscaled, unscaledToMinimalBytes, uuidToBytes } from './value-codec';

/**
 * Iceberg's binary single-value serialization (spec, appendix D), used for lower/upper
 * bounds in manifests and partition summaries. Integers little-endian, uuid big-endian
 * 16 bytes, decimal the minimal two's-complement big-endian unscaled value.
 */
export function serializeSingleValue(t: IcebergPrimitive, v: Value): Uint8Array {
  const dec = decimalOf(t);
  if (dec) return unscaledToMinimalBytes(decimalToUnscaled(String(v), dec.scale, 'bound'));
  const buf = (n: number) => Buffer.alloc(n);
  switch (t) {
    case 'boolean':
      return Uint8Array.of(v ? 1 : 0);
    case 'int':
    case 'date': {
      const b = buf(4);
      b.writeInt32LE(v as number);
      return b;
    }
    case 'long':
    case 'time':
    case 'timestamp':
    case 'timestamptz': {
      const b = buf(8);
      b.writeBigInt64LE(BigInt(v as bigint));
      return b;
    }
    case 'float': {
      const b = buf(4);
      b.writeFloatLE(v as number);
      return b;
    }
    case 'double': {
      const b = buf(8);
      b.writeDoubleLE(v as number);
      return b;
    }
    case 'string':
      return Buffer.from(v as string, 'utf8');
    case 'binary':
      return Uint8Array.from(v as Uint8Array);
    case 'uuid':
      return uuidToBytes(v as string, 'bound');
    default:
      throw new RangeError(`no single-value serialization for ${t}`);
  }
}
