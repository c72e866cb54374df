import type { ChangeEvent, Op, Row } from '../../../src/core/change-event';
import { encodeKey } from '../../../src/core/row-key';
import type { TableSchema } from '../../../src/core/table-schema';
import { collapseByKey } from '../../../src/sink/collapse';
import { appendRows } from '../../../src/sink/iceberg/append-rows';
import { initialSchema } from '../../../src/sink/iceberg/iceberg-types';
import { attnumProperty, evolveSchema } from '../../../src/sink/iceberg/schema-evolution';
import { softDeleteBatch } from '../../../src/sink/iceberg/soft-delete';
import { checkModeColumns, withModeFields } from '../../../src/sink/iceberg/table-mode';

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
const key = (id: number) => encodeKey({ id }, ['id']);

/** A row as appendRows writes it: source columns, then op, lsn, seq, commit time (µs), unchanged. */
const appended = (values: Row, op: Op, s: number, unchanged: string[] | null = null): Row => ({
  id: null,
  a: null,
  big: null,
  ...values,
  _tidemark_op: op,
  _tidemark_lsn: 0x10n,
  _tidemark_seq: BigInt(s),
  _tidemark_commit_time: BigInt(1000 + s + 1) * 1000n,
  _tidemark_unchanged: unchanged,
});

describe('appendRows (Iceberg append mode)', () => {
  beforeEach(() => {
    seq = 0;
  });

  test('every change is one row with op, LSN, seq and commit time; a truncate row has no source value', () => {
    const rows = appendRows(schema, [
      ev('r', null, { id: 1, a: 'x', big: 'B' }),
      ev('u', { id: 1 }, { id: 1, a: 'y', big: 'B2' }),
      ev('d', { id: 1 }, null),
      ev('t', null, null),
    ]);
    expect(rows).toEqual([
      appended({ id: 1, a: 'x', big: 'B' }, 'r', 0),
      appended({ id: 1, a: 'y', big: 'B2' }, 'u', 1),
      appended({ id: 1 }, 'd', 2),
      appended({}, 't', 3),
    ]);
  });

  test('TOAST-unchanged columns come from the same key earlier in the round, else null and named', () => {
    const rows = appendRows(schema, [
      ev('u', { id: 1 }, { id: 1, a: 'p' }, ['big']), // nothing earlier: unknown
      ev('c', null, { id: 2, a: 'x', big: 'B' }),
      ev('u', { id: 2 }, { id: 2, a: 'y' }, ['big']), // filled from the insert
      ev('u', { id: 1 }, { id: 1, a: 'q' }, ['big']), // still unknown: the earlier row did not know it
    ]);
    expect(rows.map((r) => [r.id, r.a, r.big, r._tidemark_unchanged])).toEqual([
      [1, 'p', null, ['big']],
      [2, 'x', 'B', null],
      [2, 'y', 'B', null],
      [1, 'q', null, ['big']],
    ]);
  });

  test('a key change fills the new key from the old key’s image; a truncate forgets every image', () => {
    const rows = appendRows(schema, [
      ev('c', null, { id: 3, a: 'x', big: 'B3' }),
      ev('d', { id: 3 }, null),
      ev('c', { id: 3 }, { id: 30, a: 'x' }, ['big']),
      ev('t', null, null),
      ev('u', { id: 30 }, { id: 30, a: 'z' }, ['big']),
    ]);
    expect(rows.map((r) => [r._tidemark_op, r.id, r.big, r._tidemark_unchanged])).toEqual([
      ['c', 3, 'B3', null],
      ['d', 3, null, null],
      ['c', 30, 'B3', null],
      ['t', null, null, null],
      ['u', 30, null, ['big']],
    ]);
  });

  test('a table without a key is appended too; its unknown TOAST columns are named', () => {
    const keyless = { ...schema, primaryKey: [] };
    const rows = appendRows(keyless, [
      ev('c', null, { id: 1, a: 'x', big: 'B' }),
      ev('u', null, { id: 1, a: 'y' }, ['big']),
    ]);
    expect(rows.map((r) => [r.a, r.big, r._tidemark_unchanged])).toEqual([
      ['x', 'B', null],
      ['y', null, ['big']],
    ]);
  });
});

describe('softDeleteBatch (Iceberg soft-delete mode)', () => {
  const stored = new Map<string, Row>([
    [key(1), { id: 1, a: 'one', big: 'B1', _tidemark_deleted_at: null }],
    [key(2), { id: 2, a: 'two', big: 'B2', _tidemark_deleted_at: 5000n }],
    [key(3), { id: 3, a: 'three', big: 'B3', _tidemark_deleted_at: null }],
  ]);
  beforeEach(() => {
    seq = 0;
  });

  test('a delete rewrites the stored row with its commit time; an already deleted or unknown key is left', () => {
    const batch = collapseByKey(
      [ev('d', { id: 1 }, null), ev('d', { id: 9 }, null), ev('c', null, { id: 4, a: 'four', big: 'B4' })],
      ['id'],
    );
    const out = softDeleteBatch(batch, new Map([...stored].filter(([k]) => k === key(1) || k === key(2))));
    expect(out.truncatedAt).toBeNull();
    expect(out.changes.map((c) => (c.kind === 'upsert' ? c.row : c.kind))).toEqual([
      { id: 1, a: 'one', big: 'B1', _tidemark_deleted_at: 1001000n },
      { id: 4, a: 'four', big: 'B4' },
    ]);
  });

  test('an insert of a deleted key is a plain upsert (its deleted_at is written null)', () => {
    const out = softDeleteBatch(
      collapseByKey([ev('c', null, { id: 2, a: 'back', big: 'x' })], ['id']),
      stored,
    );
    expect(out.changes).toHaveLength(1);
    expect(out.changes[0]).toMatchObject({ kind: 'upsert', row: { id: 2, a: 'back', big: 'x' } });
    expect('_tidemark_deleted_at' in (out.changes[0] as { row: Row }).row).toBe(false);
  });

  test('a truncate marks every live row with its time, then the later changes apply', () => {
    const batch = collapseByKey(
      [
        ev('u', { id: 3 }, { id: 3, a: 'gone anyway', big: 'x' }),
        ev('t', null, null), // commit time 1002
        ev('c', null, { id: 3, a: 'new three', big: 'n' }),
        ev('c', null, { id: 5, a: 'five', big: 'f' }),
        ev('d', { id: 5 }, null),
      ],
      ['id'],
    );
    const out = softDeleteBatch(batch, stored);
    expect(out.truncatedAt).toBeNull();
    expect(out.changes.map((c) => (c.kind === 'upsert' ? c.row : c.kind))).toEqual([
      { id: 1, a: 'one', big: 'B1', _tidemark_deleted_at: 1002000n },
      { id: 3, a: 'new three', big: 'n' },
    ]);
  });
});

describe('schemas of the modes', () => {
  test('metadata fields take ids after the source columns; a column added later gets a fresh id', () => {
    const withList: TableSchema = {
      ...schema,
      columns: [
        ...schema.columns,
        {
          name: 'tags',
          attnum: 4,
          type: { kind: 'list', element: { kind: 'text' } },
          pgType: 'text[]',
          nullable: true,
        },
      ],
    };
    for (const mode of ['append', 'soft-delete'] as const) {
      const { schema: ice, lastColumnId } = withModeFields(initialSchema(withList), mode);
      const attnums = JSON.parse(attnumProperty(withList, ice)) as Record<string, number>;
      const added: TableSchema = {
        ...withList,
        version: 2,
        columns: [
          ...withList.columns,
          {
            name: 'b',
            attnum: 5,
            type: { kind: 'list', element: { kind: 'int32' } },
            pgType: 'int[]',
            nullable: true,
          },
        ],
      };
      const next = evolveSchema(added, ice, attnums, lastColumnId, 'public.t', mode)!;
      const ids = (s: typeof ice) =>
        s.fields.flatMap((f) => [f.id, ...(typeof f.type === 'string' ? [] : [f.type['element-id']])]);
      expect(new Set(ids(next.schema)).size).toBe(ids(next.schema).length);
      expect(Math.max(...ids(next.schema))).toBe(next.lastColumnId);
      // every old field keeps its id; the new one comes after every id used before
      for (const f of ice.fields) expect(next.schema.fields.find((x) => x.name === f.name)?.id).toBe(f.id);
      expect(next.schema.fields.find((f) => f.name === 'b')!.id).toBeGreaterThan(lastColumnId);
      expect(next.schema.fields.slice(-2).map((f) => f.name)).toEqual(
        mode === 'append' ? ['_tidemark_commit_time', '_tidemark_unchanged'] : ['b', '_tidemark_deleted_at'],
      );
      expect(next.schema['identifier-field-ids']).toEqual(mode === 'append' ? [] : [1]);
    }
  });

  test('append: all source fields optional, no identifier fields; a key change is no schema error', () => {
    const { schema: ice, lastColumnId } = withModeFields(initialSchema(schema), 'append');
    expect(ice.fields.filter((f) => f.required).map((f) => f.name)).toEqual([
      '_tidemark_op',
      '_tidemark_lsn',
      '_tidemark_seq',
      '_tidemark_commit_time',
    ]);
    const attnums = JSON.parse(attnumProperty(schema, ice)) as Record<string, number>;
    expect(
      evolveSchema({ ...schema, primaryKey: ['a'] }, ice, attnums, lastColumnId, 'public.t', 'append'),
    ).toBeNull();
  });

  test('a source column may not take a metadata column’s name', () => {
    const clash = {
      ...schema,
      columns: [...schema.columns, { ...schema.columns[1]!, name: '_tidemark_op' }],
    };
    expect(() => checkModeColumns(clash, 'append', 'public.t')).toThrow(/metadata column/);
    expect(() => checkModeColumns(clash, 'soft-delete', 'public.t')).not.toThrow();
  });
});
