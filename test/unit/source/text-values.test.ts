import { isTidemarkError } from '../../../src/core/errors';
import { parseArrayLiteral } from '../../../src/source/types/array-literal';
import { daysFromCivil, parseTimestamp } from '../../../src/source/types/datetime';
import { decodeText } from '../../../src/source/types/text-values';

describe('text value decoding', () => {
  it('keeps numerics exact, however long', () => {
    const long = `-${'9'.repeat(1000)}.${'1'.repeat(50)}`;
    expect(decodeText({ kind: 'numeric' }, long, 'x')).toBe(long);
    expect(decodeText({ kind: 'decimal', precision: 4, scale: 2 }, '-0.01', 'x')).toBe('-0.01');
    expect(decodeText({ kind: 'int64' }, '9223372036854775807', 'x')).toBe(9223372036854775807n);
  });

  it('refuses values a sink cannot hold, naming table and column', () => {
    for (const [type, text] of [
      [{ kind: 'date' }, 'infinity'],
      [{ kind: 'timestamptz' }, '-infinity'],
      [{ kind: 'decimal', precision: 5, scale: 2 }, 'NaN'],
    ] as const) {
      try {
        decodeText(type, text, 'public.t.c');
        throw new Error('expected a failure');
      } catch (e) {
        expect(isTidemarkError(e, 'unsupported_value')).toBe(true);
        expect((e as Error).message).toMatch(/^public\.t\.c: value/);
      }
    }
  });

  it('converts dates and timestamps exactly, BC and before 1970 included', () => {
    expect(daysFromCivil(1970, 1, 1)).toBe(0);
    expect(daysFromCivil(2000, 3, 1)).toBe(Date.UTC(2000, 2, 1) / 86_400_000);
    const yearZero = new Date(0);
    yearZero.setUTCFullYear(0, 0, 1); // 1 BC is year 0 in the proleptic Gregorian calendar
    expect(decodeText({ kind: 'date' }, '0001-01-01 BC', 'x')).toBe(yearZero.getTime() / 86_400_000);
    expect(parseTimestamp('1900-01-01 00:00:00.000001')).toBe(BigInt(Date.UTC(1900, 0, 1)) * 1000n + 1n);
    expect(parseTimestamp('2024-06-01 00:00:00+05:30')).toBe(BigInt(Date.UTC(2024, 4, 31, 18, 30)) * 1000n);
    expect(parseTimestamp('0100-01-01 00:00:00 BC')).toBe(BigInt(daysFromCivil(-99, 1, 1)) * 86_400_000_000n);
  });

  it('timestamps are exact on both sides of the double-precision shortcut (years 1685–2255)', () => {
    const exact = (y: number, rest: string, frac: bigint) =>
      BigInt(Date.UTC(y, 0, 1)) * 1000n + BigInt(Number(rest)) * 1_000_000n + frac;
    for (const y of [1000, 1684, 1685, 1969, 1970, 2254, 2255, 2256, 9999]) {
      const text = `${String(y).padStart(4, '0')}-01-01 00:00:59.999999`;
      expect(parseTimestamp(text)).toBe(exact(y, '59', 999_999n));
      expect(parseTimestamp(`${text}+01`)).toBe(exact(y, '59', 999_999n) - 3_600_000_000n);
    }
    expect(parseTimestamp('294276-12-31 23:59:59.999999')).toBe(9_224_318_015_999_999_999n);
  });

  it('decodes bytea with zero bytes and arrays with quoting and NULLs', () => {
    expect(decodeText({ kind: 'bytes' }, '\\x00000a', 'x')).toEqual(new Uint8Array([0, 0, 10]));
    expect(parseArrayLiteral('{"a,b","c\\\\d",NULL,"NULL",e}')).toEqual(['a,b', 'c\\d', null, 'NULL', 'e']);
    expect(decodeText({ kind: 'list', element: { kind: 'int64' } }, '{1,NULL,-3}', 'x')).toEqual([
      1n,
      null,
      -3n,
    ]);
    expect(() => parseArrayLiteral('{{1,2},{3,4}}')).toThrow(/multi-dimensional/);
    expect(() => parseArrayLiteral('[0:1]={1,2}')).toThrow(/explicit bounds/);
  });

  it('keeps unicode text, floats with NaN and infinities, and times up to 24:00', () => {
    expect(decodeText({ kind: 'text' }, 'zażółć 🦀 \\ "q"', 'x')).toBe('zażółć 🦀 \\ "q"');
    expect(decodeText({ kind: 'float64' }, 'NaN', 'x')).toBeNaN();
    expect(decodeText({ kind: 'float32' }, '-Infinity', 'x')).toBe(Number.NEGATIVE_INFINITY);
    expect(decodeText({ kind: 'float64' }, '0.30000000000000004', 'x')).toBe(0.1 + 0.2);
    expect(decodeText({ kind: 'time' }, '24:00:00', 'x')).toBe(86_400_000_000n);
    expect(decodeText({ kind: 'time' }, '00:00:00.000001', 'x')).toBe(1n);
    expect(decodeText({ kind: 'list', element: { kind: 'text' } }, '{"\\\\u00e9","{x}",""}', 'x')).toEqual([
      '\\u00e9',
      '{x}',
      '',
    ]);
  });
});
