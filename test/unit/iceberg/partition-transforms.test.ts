import { bucketHash, parseTransform } from '../../../src/sink/iceberg/partition-transforms';

describe('Iceberg partition transforms', () => {
  test('bucket hashes match the spec appendix B examples', () => {
    expect(bucketHash('int', 34)).toBe(2017239379);
    expect(bucketHash('long', 34n)).toBe(2017239379);
    expect(bucketHash('decimal(4, 2)', '14.20')).toBe(-500754589);
    expect(bucketHash('date', 17486)).toBe(-653330422);
    expect(bucketHash('time', 81068000000n)).toBe(-662762989);
    expect(bucketHash('timestamp', 1510871468000000n)).toBe(-2047944441);
    expect(bucketHash('timestamptz', 1510871468000000n)).toBe(-2047944441);
    expect(bucketHash('string', 'iceberg')).toBe(1210000089);
    expect(bucketHash('uuid', 'f79c3e09-677c-4bbd-a479-3f349cb785e7')).toBe(1488055340);
    expect(bucketHash('binary', Uint8Array.of(0, 1, 2, 3))).toBe(-188683207);
  });

  test('truncate and temporal transforms', () => {
    expect(parseTransform('truncate[10]', 'int', 't').apply(-1)).toBe(-10);
    expect(parseTransform('truncate[10]', 'long', 't').apply(19n)).toBe(10n);
    expect(parseTransform('truncate[3]', 'string', 't').apply('🌊abcd')).toBe('🌊ab');
    expect(parseTransform('truncate[50]', 'decimal(9, 2)', 't').apply('10.65')).toBe('10.50');
    expect(parseTransform('day', 'timestamptz', 't').apply(-1n)).toBe(-1);
    expect(parseTransform('hour', 'timestamp', 't').apply(3_600_000_000n * 5n + 1n)).toBe(5);
    expect(parseTransform('month', 'date', 't').apply(31)).toBe(1);
    expect(parseTransform('year', 'date', 't').apply(-1)).toBe(-1);
    expect(parseTransform('bucket[16]', 'int', 't').apply(34)).toBe(2017239379 % 16);
    expect(() => parseTransform('bucket[4]', 'double', 'table t column "f"')).toThrow(
      /table t column "f".*cannot apply to double/,
    );
  });
});
