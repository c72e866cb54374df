import type { ColumnType } from '../../../src/core/column-type';
import type { TableSchema } from '../../../src/core/table-schema';
import { diffSchemas, isWidening } from '../../../src/sink/warehouse/schema-diff';

function table(cols: [string, number, ColumnType][], key = ['id']): TableSchema {
  return {
    schema: 'public',
    table: 't',
    version: 1,
    primaryKey: key,
    columns: cols.map(([name, attnum, type]) => ({ name, attnum, type, pgType: '', nullable: true })),
  };
}
const int32: ColumnType = { kind: 'int32' };

describe('diffSchemas', () => {
  test('matches columns by attnum: rename, add, widen, drop (kept or dropped by policy)', () => {
    const from = table([
      ['id', 1, int32],
      ['a', 2, { kind: 'int16' }],
      ['b', 3, { kind: 'text' }],
    ]);
    const to = table([
      ['id', 1, int32],
      ['a2', 2, { kind: 'int64' }],
      ['c', 4, { kind: 'text' }],
    ]);
    expect(diffSchemas(from, to, { droppedColumns: 'keep' })).toEqual([
      { kind: 'rename', from: 'a', to: 'a2' },
      { kind: 'widen', column: to.columns[1] },
      { kind: 'add', column: to.columns[2] },
      { kind: 'keep', column: 'b' },
    ]);
    expect(diffSchemas(from, to, { droppedColumns: 'drop' }).at(-1)).toEqual({ kind: 'drop', column: 'b' });
  });

  test('a narrowing or a kind change is schema_incompatible naming the column; so is a key change', () => {
    const from = table([
      ['id', 1, int32],
      ['a', 2, { kind: 'int64' }],
    ]);
    expect(() =>
      diffSchemas(
        from,
        table([
          ['id', 1, int32],
          ['a', 2, { kind: 'int32' }],
        ]),
        { droppedColumns: 'keep' },
      ),
    ).toThrow(/"a" changed type from int64 to int32/);
    expect(() =>
      diffSchemas(
        from,
        table(
          [
            ['id', 1, int32],
            ['a', 2, { kind: 'int64' }],
          ],
          ['id', 'a'],
        ),
        { droppedColumns: 'keep' },
      ),
    ).toThrow(/key changed/);
  });

  test('widenings that keep every value', () => {
    expect(isWidening({ kind: 'float32' }, { kind: 'float64' })).toBe(true);
    expect(isWidening({ kind: 'text', maxLength: 5 }, { kind: 'text', maxLength: 10 })).toBe(true);
    expect(isWidening({ kind: 'text', maxLength: 10 }, { kind: 'text', maxLength: 5 })).toBe(false);
    expect(
      isWidening({ kind: 'decimal', precision: 10, scale: 2 }, { kind: 'decimal', precision: 12, scale: 2 }),
    ).toBe(true);
    expect(
      isWidening({ kind: 'decimal', precision: 10, scale: 2 }, { kind: 'decimal', precision: 10, scale: 3 }),
    ).toBe(false);
    expect(isWidening({ kind: 'decimal', precision: 10, scale: 2 }, { kind: 'numeric' })).toBe(true);
    expect(isWidening({ kind: 'numeric' }, { kind: 'float64' })).toBe(false);
  });
});
