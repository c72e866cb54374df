import type { ChangeEvent, Op, Row } from '../../../src/core/change-event';
import type { TableSchema } from '../../../src/core/table-schema';
import { rowRanges, type StagedRow, stageTable } from '../../../src/sink/warehouse/staged-rows';

const schema: TableSchema = {
  schema: 'public',
  table: 't',
  version: 1,
  primaryKey: ['id'],
  columns: ['id', 'a', 'big'].map((name, i) => ({
    name,
    attnum: i + 1,
    type: { kind: i === 0 ? 'int32' : 'text' } as never,
    pgType: '',
    nullable: true,
  })),
};
let seq = 0;
function ev(op: Op, before: Row | null, after: Row | null, unchanged: string[] = []): ChangeEvent {
  return {
    op,
    table: schema,
    position: { lsn: 0x10n, seq: seq++ },
    txId: 1,
    commitTimeMs: 1000 + seq,
    schemaVersion: 1,
    before,
    after,
    unchanged,
    snapshot: false,
  };
}

describe('stageTable', () => {
  beforeEach(() => {
    seq = 0;
  });

  test('mirror: one net row per key, unchanged columns as a bitmap, key change as delete + upsert', () => {
    const st = stageTable(schema, 'mirror', [
      ev('u', { id: 1 }, { id: 1, a: 'x' }, ['big']),
      ev('u', { id: 1 }, { id: 1, a: 'y' }, ['big']),
      ev('d', { id: 2 }, null),
      ev('c', null, { id: 3, a: 'z', big: 'b' }),
    ]);
    expect(st.rows.map((r) => [r.op, r.values, r.unchanged])).toEqual([
      ['u', [1, 'y', null], '001'],
      ['d', [2, null, null], null],
      ['u', [3, 'z', 'b'], null],
    ]);
    expect(st.anyUnchanged).toBe(true);
    expect(st.truncatedAtMs).toBeNull();
  });

  test('mirror: a truncate is reported with its commit time and drops earlier changes', () => {
    const st = stageTable(schema, 'mirror', [
      ev('c', null, { id: 1, a: 'x', big: 'b' }),
      ev('t', null, null),
      ev('c', null, { id: 2, a: 'y', big: 'c' }),
    ]);
    expect(st.truncatedAtMs).toBe(1002);
    expect(st.rows.map((r) => r.values[0])).toEqual([2]);
  });

  test('append: every change kept in order, TOAST columns filled from an earlier image in the batch', () => {
    const st = stageTable(schema, 'append', [
      ev('c', null, { id: 1, a: 'x', big: 'B' }),
      ev('u', { id: 1 }, { id: 1, a: 'y' }, ['big']),
      ev('u', { id: 2 }, { id: 2, a: 'q' }, ['big']),
      ev('d', { id: 1 }, null),
      ev('t', null, null),
    ]);
    expect(st.rows.map((r) => [r.op, r.values, r.unchanged, r.seq])).toEqual([
      ['c', [1, 'x', 'B'], null, 0],
      ['u', [1, 'y', 'B'], null, 1],
      ['u', [2, 'q', null], '001', 2],
      ['d', [1, null, null], null, 3],
      ['t', [null, null, null], null, 4],
    ]);
  });

  test('mirror without a key is a source_setup error naming the table', () => {
    expect(() => stageTable({ ...schema, primaryKey: [] }, 'mirror', [])).toThrow(/public\.t has no key/);
  });
});

describe('rowRanges', () => {
  const row = (note: string): StagedRow => ({
    op: 'u',
    values: [1, note],
    unchanged: null,
    lsn: 1n,
    seq: 0,
    commitTimeMs: 0,
  });

  it('cuts consecutive ranges of about the given size that cover every row once', () => {
    // each row weighs 64 + (16 + 8) + (16 + 1000) = 1,104 bytes
    const rows = Array.from({ length: 10 }, () => row('x'.repeat(1000)));
    expect(rowRanges(rows, 3_500)).toEqual([
      [0, 3],
      [3, 6],
      [6, 9],
      [9, 10],
    ]);
  });

  it('gives a row larger than the size a range of its own, and no range to no rows', () => {
    const rows = [row('a'), row('x'.repeat(10_000)), row('b')];
    expect(rowRanges(rows, 2_000)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    expect(rowRanges([], 2_000)).toEqual([]);
  });
});
