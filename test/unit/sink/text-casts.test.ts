import type { ChangeEvent } from '../../../src/core/change-event';
import type { ColumnType } from '../../../src/core/column-type';
import type { ColumnSchema, TableSchema } from '../../../src/core/table-schema';
import { initialSchema } from '../../../src/sink/iceberg/iceberg-types';
import { attnumProperty, evolveSchema } from '../../../src/sink/iceberg/schema-evolution';
import { projectEvent } from '../../../src/sink/schema-projection';
import { castText, followedInPlace, sinkSchema } from '../../../src/sink/text-casts';
import { diffSchemas } from '../../../src/sink/warehouse/schema-diff';

const col = (name: string, attnum: number, type: ColumnType, castToText?: true): ColumnSchema => ({
  name,
  attnum,
  type,
  pgType: type.kind,
  nullable: attnum > 1,
  ...(castToText ? { castToText } : {}),
});
const table = (version: number, columns: ColumnSchema[]): TableSchema => ({
  schema: 'public',
  table: 't',
  version,
  primaryKey: ['id'],
  columns,
});
const INT: ColumnType = { kind: 'int32' };
const TEXT: ColumnType = { kind: 'text' };

// v1: qty int, code text; v2: qty → text (cast), code → int (cast)
const v1 = table(1, [
  col('id', 1, INT),
  col('qty', 2, INT),
  col('code', 3, TEXT),
  col('ok', 4, { kind: 'bool' }),
]);
const v2 = table(2, [
  col('id', 1, INT),
  col('qty', 2, TEXT, true),
  col('code', 3, INT, true),
  col('ok', 4, { kind: 'bool' }),
]);

function insert(version: number, after: Record<string, unknown>): ChangeEvent {
  return {
    op: 'c',
    table: { schema: 'public', table: 't' },
    position: { lsn: 10n, seq: 0 },
    txId: 1,
    commitTimeMs: 0,
    schemaVersion: version,
    before: null,
    after: after as ChangeEvent['after'],
    unchanged: [],
    snapshot: false,
  };
}

describe('which type changes the sinks follow in place', () => {
  it.each<[ColumnType, ColumnType, boolean]>([
    [INT, { kind: 'int64' }, true],
    [{ kind: 'float32' }, { kind: 'float64' }, true],
    [{ kind: 'text', maxLength: 10 }, TEXT, true],
    [{ kind: 'decimal', precision: 10, scale: 2 }, { kind: 'decimal', precision: 12, scale: 2 }, true],
    // the warehouse widens the scale, Iceberg cannot: not followed by both
    [{ kind: 'decimal', precision: 10, scale: 2 }, { kind: 'decimal', precision: 12, scale: 3 }, false],
    [INT, TEXT, false],
    [TEXT, INT, false],
    [{ kind: 'int64' }, INT, false],
    [{ kind: 'bool' }, INT, false],
  ])('%j → %j: %s', (from, to, followed) => {
    expect(followedInPlace(from, to)).toBe(followed);
  });
});

describe('a column cast to text, as the sinks see it', () => {
  it('is text in the sink schema, other columns untouched', () => {
    expect(sinkSchema(v1)).toBe(v1);
    const s = sinkSchema(v2);
    expect(s.columns.map((c) => [c.name, c.type.kind])).toEqual([
      ['id', 'int32'],
      ['qty', 'text'],
      ['code', 'text'],
      ['ok', 'bool'],
    ]);
  });

  it("holds every value's text, from rows before and after the change", () => {
    // a row of v1 (qty an int, code text) and one of v2 (qty text, code an int)
    expect(projectEvent(insert(1, { id: 1, qty: 5, code: '07', ok: true }), v1, v2).after).toEqual({
      id: 1,
      qty: '5',
      code: '07',
      ok: true,
    });
    expect(projectEvent(insert(2, { id: 2, qty: 'q', code: 42, ok: null }), v2, v2).after).toEqual({
      id: 2,
      qty: 'q',
      code: '42',
      ok: null,
    });
  });

  it('writes values as their Postgres text', () => {
    expect(castText(true, { kind: 'bool' })).toBe('t');
    expect(castText(12n, { kind: 'int64' })).toBe('12');
    expect(castText(1_704_164_645_123_456n, { kind: 'timestamptz' })).toBe('2024-01-02 03:04:05.123456+00');
    expect(castText(null, INT)).toBeNull();
    expect(castText('12.50', { kind: 'decimal', precision: 4, scale: 2 })).toBe('12.50');
  });
});

describe('the sinks follow a cast', () => {
  it('Iceberg: a non-string field is replaced by a new string field; a string field stays', () => {
    const { schema: ice, lastColumnId } = initialSchema(v1);
    const attnums = JSON.parse(attnumProperty(v1, ice)) as Record<string, number>;
    const next = evolveSchema(sinkSchema(v2), ice, attnums, lastColumnId, 'public.t')!;
    const qtyOld = ice.fields.find((f) => f.name === 'qty')!;
    const qtyNew = next.schema.fields.find((f) => f.name === 'qty')!;
    expect(qtyNew).toEqual({ id: lastColumnId + 1, name: 'qty', required: false, type: 'string' });
    expect(next.casts).toEqual([{ from: qtyOld, to: qtyNew }]);
    expect(next.schema.fields.find((f) => f.name === 'code')).toEqual(
      ice.fields.find((f) => f.name === 'code'),
    );
    expect(next.attnums['2']).toBe(qtyNew.id);
  });

  it('Iceberg: without the flag the same change is refused', () => {
    const { schema: ice, lastColumnId } = initialSchema(v1);
    const attnums = JSON.parse(attnumProperty(v1, ice)) as Record<string, number>;
    const plain = table(2, [
      col('id', 1, INT),
      col('qty', 2, TEXT),
      col('code', 3, TEXT),
      col('ok', 4, { kind: 'bool' }),
    ]);
    expect(() => evolveSchema(plain, ice, attnums, lastColumnId, 'public.t')).toThrow(/cannot change type/);
  });

  it('the warehouse alters the column to text from its old type; an already-text column needs nothing', () => {
    expect(diffSchemas(v1, sinkSchema(v2), { droppedColumns: 'keep' })).toEqual([
      { kind: 'cast', column: sinkSchema(v2).columns[1], from: INT },
    ]);
  });
});
