import {
  dateText,
  parseIsoInterval,
  timestampText,
  timeText,
} from '../../../src/sink/warehouse/datetime-text';
import { copyField } from '../../../src/sink/warehouse/pg-copy-text';

describe('PostgreSQL COPY text fields', () => {
  test('NULL, escapes, floats, bytes', () => {
    expect(copyField(null, { kind: 'text' })).toBe('\\N');
    expect(copyField('a\tb\nc\\d\re', { kind: 'text' })).toBe('a\\tb\\nc\\\\d\\re');
    expect(copyField(Number.NaN, { kind: 'float64' })).toBe('NaN');
    expect(copyField(-Infinity, { kind: 'float32' })).toBe('-Infinity');
    expect(copyField(-0, { kind: 'float64' })).toBe('-0');
    expect(copyField(new Uint8Array([0, 255]), { kind: 'bytes' })).toBe('\\\\x00ff');
    expect(copyField(true, { kind: 'bool' })).toBe('t');
  });

  test('arrays quote every element, NULL bare, nested lists nest', () => {
    expect(copyField(['a,b', 'c"d', null, 'e\\f'], { kind: 'list', element: { kind: 'text' } })).toBe(
      '{"a,b","c\\\\"d",NULL,"e\\\\\\\\f"}',
    );
    expect(
      copyField(
        [
          [1, 2],
          [3, null],
        ],
        { kind: 'list', element: { kind: 'list', element: { kind: 'int32' } } },
      ),
    ).toBe('{{"1","2"},{"3",NULL}}');
  });

  test('dates and timestamps, including BC and before the epoch', () => {
    expect(dateText(0)).toBe('1970-01-01');
    expect(dateText(-719162)).toBe('0001-01-01');
    expect(dateText(-719163)).toBe('0001-12-31 BC');
    expect(timeText(45_296_000_001n)).toBe('12:34:56.000001');
    expect(timestampText(-1n)).toBe('1969-12-31 23:59:59.999999');
    expect(timestampText(1_700_000_000_123_456n)).toBe('2023-11-14 22:13:20.123456');
    expect(timestampText(-62_135_596_800_000_000n)).toBe('0001-01-01 00:00:00.000000');
    expect(timestampText(-62_135_596_800_000_001n)).toBe('0001-12-31 23:59:59.999999 BC');
    expect(timestampText(253_402_300_800_000_000n)).toBe('10000-01-01 00:00:00.000000');
    expect(copyField(0n, { kind: 'timestamptz' })).toBe('1970-01-01 00:00:00.000000+00');
  });

  test('ISO 8601 intervals as Postgres prints them parse into months, days and micros', () => {
    expect(parseIsoInterval('P1Y2M3DT4H5M6.5S')).toEqual({ months: 14, days: 3, micros: 14_706_500_000n });
    expect(parseIsoInterval('P-1Y-2M3DT-4H-5M-6.000001S')).toEqual({
      months: -14,
      days: 3,
      micros: -14_706_000_001n,
    });
    expect(parseIsoInterval('PT0S')).toEqual({ months: 0, days: 0, micros: 0n });
    expect(() => parseIsoInterval('1 day')).toThrow(RangeError);
  });
});
