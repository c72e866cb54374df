import * as arrow from 'apache-arrow';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { IcebergField, IcebergType } from './iceberg-types';
import { decimalOf } from './iceberg-types';
import {
  bytesToUuid,
  decimalToUnscaled,
  unscaledToDecimal,
  unscaledToWords,
  uuidToBytes,
  wordsToUnscaled,
} from './value-codec';

/** Arrow field metadata key that parquet writers (arrow-rs, parquet-wasm) turn into the Parquet field_id. */
export const FIELD_ID_KEY = 'PARQUET:field_id';

export function arrowTypeOf(t: IcebergType): arrow.DataType {
  if (typeof t !== 'string')
    return new arrow.List(
      new arrow.Field('element', arrowTypeOf(t.element), !t['element-required'], idMeta(t['element-id'])),
    );
  const dec = decimalOf(t);
  if (dec) return new arrow.Decimal(dec.scale, dec.precision, 128);
  switch (t) {
    case 'boolean':
      return new arrow.Bool();
    case 'int':
      return new arrow.Int32();
    case 'long':
      return new arrow.Int64();
    case 'float':
      return new arrow.Float32();
    case 'double':
      return new arrow.Float64();
    case 'string':
      return new arrow.Utf8();
    case 'binary':
      return new arrow.Binary();
    case 'uuid':
      return new arrow.FixedSizeBinary(16);
    case 'date':
      return new arrow.DateDay();
    case 'time':
      return new arrow.TimeMicrosecond();
    case 'timestamp':
      return new arrow.Timestamp(arrow.TimeUnit.MICROSECOND);
    case 'timestamptz':
      return new arrow.Timestamp(arrow.TimeUnit.MICROSECOND, 'UTC');
    default:
      throw new TidemarkError('unsupported_type', `no Arrow type for Iceberg type ${String(t)}`);
  }
}

function idMeta(id: number): Map<string, string> {
  return new Map([[FIELD_ID_KEY, String(id)]]);
}

export function arrowFieldOf(f: IcebergField): arrow.Field {
  return new arrow.Field(f.name, arrowTypeOf(f.type), !f.required, idMeta(f.id));
}

/** Builds the Arrow column of `values` (canonical values, see core/column-type) for Iceberg type `t`. */
export function buildColumn(t: IcebergType, values: readonly Value[], where: string): arrow.Data {
  const type = arrowTypeOf(t);
  const n = values.length;
  const validity = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (values[i] === null || values[i] === undefined) nullCount++;
    else validity[i >> 3]! |= 1 << (i & 7);
  }
  const nullBitmap = nullCount > 0 ? validity : undefined;
  const base = { type, length: n, nullCount, nullBitmap } as const;
  const bad = (i: number): never => {
    throw new TidemarkError(
      'unsupported_value',
      `${where}: value ${String(values[i])} does not fit Iceberg type ${JSON.stringify(t)}`,
    );
  };
  if (typeof t !== 'string') {
    const offsets = new Int32Array(n + 1);
    const flat: Value[] = [];
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v !== null && v !== undefined) {
        if (!Array.isArray(v)) bad(i);
        for (const e of v as Value[]) flat.push(e);
      }
      offsets[i + 1] = flat.length;
    }
    const child = buildColumn(t.element, flat, `${where}[]`);
    return arrow.makeData({ ...base, type: type as arrow.List, valueOffsets: offsets, child } as never);
  }
  const dec = decimalOf(t);
  if (dec) {
    const words = new Uint32Array(n * 4);
    for (let i = 0; i < n; i++)
      if (values[i] != null)
        unscaledToWords(decimalToUnscaled(String(values[i]), dec.scale, where), words, i * 4);
    return arrow.makeData({ ...base, type: type as arrow.Decimal, data: words });
  }
  switch (t) {
    case 'boolean': {
      const bits = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) if (values[i] === true) bits[i >> 3]! |= 1 << (i & 7);
      return arrow.makeData({ ...base, type: type as arrow.Bool, data: bits });
    }
    case 'int':
    case 'date': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v != null) {
          if (typeof v !== 'number' || !Number.isInteger(v)) bad(i);
          a[i] = v as number;
        }
      }
      return arrow.makeData({ ...base, type: type as arrow.Int32, data: a });
    }
    case 'long':
    case 'time':
    case 'timestamp':
    case 'timestamptz': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v != null) {
          if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isInteger(v))) bad(i);
          a[i] = BigInt(v as bigint);
        }
      }
      return arrow.makeData({ ...base, type: type as arrow.Int64, data: a });
    }
    case 'float':
    case 'double': {
      const a = t === 'float' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v != null) {
          if (typeof v !== 'number') bad(i);
          a[i] = v as number;
        }
      }
      return arrow.makeData({ ...base, type: type as arrow.Float64, data: a as Float64Array });
    }
    case 'uuid': {
      const a = new Uint8Array(n * 16);
      for (let i = 0; i < n; i++) if (values[i] != null) a.set(uuidToBytes(String(values[i]), where), i * 16);
      return arrow.makeData({ ...base, type: type as arrow.FixedSizeBinary, data: a });
    }
    case 'string':
    case 'binary': {
      const parts: Uint8Array[] = [];
      const offsets = new Int32Array(n + 1);
      let total = 0;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v != null) {
          let b: Uint8Array;
          if (t === 'string') {
            if (typeof v !== 'string') bad(i);
            b = Buffer.from(v as string, 'utf8');
          } else {
            if (!(v instanceof Uint8Array)) bad(i);
            b = v as Uint8Array;
          }
          parts.push(b);
          total += b.length;
        }
        offsets[i + 1] = total;
      }
      const data = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        data.set(p, at);
        at += p.length;
      }
      return arrow.makeData({ ...base, type: type as arrow.Utf8, valueOffsets: offsets, data });
    }
    default:
      throw new TidemarkError('unsupported_type', `${where}: no Arrow builder for Iceberg type ${String(t)}`);
  }
}

/** Reads one Arrow column back into canonical values (the inverse of buildColumn). */
export function readColumn(t: IcebergType, data: arrow.Data): Value[] {
  const out: Value[] = new Array(data.length);
  const valid = (i: number): boolean => {
    const bm = data.nullBitmap;
    if (!bm || bm.length === 0 || data.nullCount === 0) return true;
    const j = data.offset + i;
    return (bm[j >> 3]! & (1 << (j & 7))) !== 0;
  };
  const off = data.offset;
  if (typeof t !== 'string') {
    const offsets = data.valueOffsets as Int32Array;
    const child = readColumn(t.element, data.children[0]!);
    for (let i = 0; i < data.length; i++)
      out[i] = valid(i) ? child.slice(offsets[off + i]!, offsets[off + i + 1]!) : null;
    return out;
  }
  const dec = decimalOf(t);
  for (let i = 0; i < data.length; i++) {
    if (!valid(i)) {
      out[i] = null;
      continue;
    }
    const j = off + i;
    const values = data.values as ArrayLike<number | bigint> & Uint8Array;
    if (dec) {
      out[i] = unscaledToDecimal(wordsToUnscaled(data.values as Uint32Array, j * 4), dec.scale);
      continue;
    }
    switch (t) {
      case 'boolean':
        out[i] = (values[j >> 3]! & (1 << (j & 7))) !== 0;
        break;
      case 'int':
      case 'date':
      case 'float':
      case 'double':
        out[i] = Number(values[j]);
        break;
      case 'long':
      case 'time':
      case 'timestamp':
      case 'timestamptz':
        out[i] = BigInt(values[j]!);
        break;
      case 'uuid':
        out[i] = bytesToUuid((data.values as Uint8Array).subarray(j * 16, j * 16 + 16));
        break;
      case 'string':
      case 'binary': {
        const o = data.valueOffsets as Int32Array;
        const b = (data.values as Uint8Array).subarray(o[j]!, o[j + 1]!);
        out[i] = t === 'string' ? Buffer.from(b).toString('utf8') : Uint8Array.from(b);
        break;
      }
      default:
        throw new TidemarkError('unsupported_type', `cannot read Iceberg type ${String(t)}`);
    }
  }
  return out;
}
