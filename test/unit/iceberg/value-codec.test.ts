import { collectMetrics } from '../../../src/sink/iceberg/column-stats';
import { serializeSingleValue } from '../../../src/sink/iceberg/single-value';
import {
  decimalToUnscaled,
  unscaledToDecimal,
  unscaledToMinimalBytes,
  unscaledToWords,
  wordsToUnscaled,
} from '../../../src/sink/iceberg/value-codec';

describe('Iceberg value codecs', () => {
  test('decimal text ↔ unscaled integer is exact in both directions', () => {
    expect(decimalToUnscaled('-12.50', 2, 't')).toBe(-1250n);
    expect(decimalToUnscaled('7', 3, 't')).toBe(7000n);
    expect(decimalToUnscaled('1.500', 1, 't')).toBe(15n);
    expect(() => decimalToUnscaled('1.55', 1, 'table t')).toThrow(/table t.*more than 1 fraction digits/);
    expect(() => decimalToUnscaled('NaN', 2, 'table t')).toThrow(/not a decimal/);
    expect(unscaledToDecimal(-1250n, 2)).toBe('-12.50');
    expect(unscaledToDecimal(5n, 3)).toBe('0.005');
    const big = 10n ** 37n - 1n;
    const words = new Uint32Array(4);
    unscaledToWords(-big, words, 0);
    expect(wordsToUnscaled(words, 0)).toBe(-big);
  });

  test('single-value serialization follows the spec appendix D', () => {
    expect([...unscaledToMinimalBytes(1234n)]).toEqual([0x04, 0xd2]);
    expect([...unscaledToMinimalBytes(-1n)]).toEqual([0xff]);
    expect([...unscaledToMinimalBytes(128n)]).toEqual([0x00, 0x80]);
    expect([...serializeSingleValue('int', 1)]).toEqual([1, 0, 0, 0]);
    expect([...serializeSingleValue('long', -2n)]).toEqual([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect([...serializeSingleValue('decimal(9, 2)', '12.34')]).toEqual([0x04, 0xd2]);
    expect(
      Buffer.from(serializeSingleValue('uuid', 'f79c3e09-677c-4bbd-a479-3f349cb785e7')).toString('hex'),
    ).toBe('f79c3e09677c4bbda4793f349cb785e7');
    expect([...serializeSingleValue('boolean', true)]).toEqual([1]);
  });

  test('metrics: counts, NaN excluded from bounds, strings compared as UTF-8 bytes', () => {
    const m = collectMetrics(
      [
        { id: 1, name: 'f', required: false, type: 'double' },
        { id: 2, name: 's', required: false, type: 'string' },
      ],
      [
        [1.5, Number.NaN, null, -3],
        ['\uffff', '😀', null, 'a'],
      ],
    );
    expect(m.valueCounts.get(1)).toBe(4n);
    expect(m.nullValueCounts.get(1)).toBe(1n);
    expect(m.nanValueCounts.get(1)).toBe(1n);
    expect(Buffer.from(m.lowerBounds.get(1)!).readDoubleLE()).toBe(-3);
    expect(Buffer.from(m.upperBounds.get(1)!).readDoubleLE()).toBe(1.5);
    // U+FFFF (ef bf bf) sorts before U+1F600 (f0 9f 98 80) in UTF-8, though not in UTF-16.
    expect(Buffer.from(m.upperBounds.get(2)!).toString('utf8')).toBe('😀');
    expect(Buffer.from(m.lowerBounds.get(2)!).toString('utf8')).toBe('a');
  });
});
