import type { TableSchema } from '../../../src/core/table-schema';
import { describeSchemaChange } from '../../../src/log/schema-change';

const col = (name: string, attnum: number, pgType: string) => ({
  name,
  attnum,
  type: { kind: 'text' as const },
  pgType,
  nullable: true,
});
const v1: TableSchema = {
  schema: 'public',
  table: 't',
  version: 1,
  primaryKey: ['id'],
  columns: [col('id', 1, 'integer'), col('a', 2, 'text'), col('b', 3, 'integer'), col('c', 4, 'text')],
};

describe('describeSchemaChange', () => {
  it('tells a rename (same attnum) from a drop and an add, and names retyped columns and key changes', () => {
    const v2: TableSchema = {
      ...v1,
      version: 2,
      primaryKey: ['id', 'b'],
      columns: [
        col('id', 1, 'integer'),
        col('renamed_a', 2, 'text'),
        col('b', 3, 'bigint'),
        col('c', 5, 'text'),
      ],
    };
    expect(describeSchemaChange(v1, v2, 0x16b3748n)).toEqual({
      fromVersion: 1,
      atLsn: '0/16B3748',
      added: ['c'],
      dropped: ['c'],
      renamed: [{ from: 'a', to: 'renamed_a' }],
      retyped: [{ column: 'b', from: 'integer', to: 'bigint' }],
      key: { from: ['id'], to: ['id', 'b'] },
    });
    expect(describeSchemaChange(v1, { ...v1, version: 2 }, null)).toMatchObject({ atLsn: null, key: null });
  });
});
