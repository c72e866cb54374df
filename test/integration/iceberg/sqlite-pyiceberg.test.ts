import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import {
  allTypesRow,
  allTypesSchema,
  byId,
  del,
  nullRow,
  readWithJava,
  readWithPyIceberg,
  toPlain,
  upsert,
} from './iceberg-fixtures';

describe('Iceberg writer on a SQLite catalog, read back by PyIceberg and Iceberg Java', () => {
  let dir: string;
  let catalog: SqlCatalog;
  let lake: Lakehouse;
  const schema = allTypesSchema('all_types');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-sqlite-'));
    catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
    lake = new Lakehouse({
      catalog,
      io: new LocalFileIO(),
      warehouse: `file://${dir}/warehouse`,
      targetFileRows: 3,
    });
  });
  afterAll(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('inserts, updates, deletes and replays of every type equal the expected rows, also at an older snapshot', async () => {
    // GIVEN a new table with a column of every type
    await lake.createTable(schema);
    const uri = `sqlite:///${join(dir, 'catalog.db')}`;

    // WHEN five rows (one all-null) are inserted
    const first = [1, 2, 3, 4].map(allTypesRow).concat([nullRow(5, schema)]);
    const s1 = await lake.stage(schema, {
      truncatedAt: null,
      changes: first.map((r, i) => upsert(schema, r, i)),
    });
    const c1 = await lake.commit([s1], { properties: { 'tidemark.token': 'a' } });
    const snap1 = c1.snapshots.get('public.all_types')!;

    // THEN PyIceberg reads exactly those rows
    const r1 = await readWithPyIceberg(uri, 'public.all_types');
    expect(byId(r1.rows)).toEqual(first.map((r) => toPlain(r, schema)));

    // WHEN row 2 is updated, row 3 deleted, row 6 inserted and row 1 re-inserted unchanged (a replay)
    const row2 = { ...allTypesRow(2), txt: 'updated', ints: [7] };
    const s2 = await lake.stage(schema, {
      truncatedAt: null,
      changes: [
        upsert(schema, row2, 10),
        del(schema, { id: 3n }, 11),
        upsert(schema, allTypesRow(6), 12),
        upsert(schema, allTypesRow(1), 13),
      ],
    });
    await lake.commit([s2], { properties: { 'tidemark.token': 'b' } });

    // THEN PyIceberg and our own scan read the new state, and the summary carries the token
    const expected = [allTypesRow(1), row2, allTypesRow(4), nullRow(5, schema), allTypesRow(6)].map((r) =>
      toPlain(r, schema),
    );
    expect(byId((await readWithPyIceberg(uri, 'public.all_types')).rows)).toEqual(expected);
    expect(
      byId((await readWithJava(`jdbc:sqlite:${join(dir, 'catalog.db')}`, '', '', 'public.all_types')).rows),
    ).toEqual(expected);
    expect(byId((await lake.scan(schema)).map((r) => toPlain(r, schema)))).toEqual(expected);
    expect((await lake.readSummary(schema))?.['tidemark.token']).toBe('b');

    // AND the first snapshot still reads as it was (time travel)
    expect(byId((await readWithPyIceberg(uri, 'public.all_types', snap1)).rows)).toEqual(
      first.map((r) => toPlain(r, schema)),
    );
    expect(
      byId(
        (await readWithJava(`jdbc:sqlite:${join(dir, 'catalog.db')}`, '', '', 'public.all_types', snap1))
          .rows,
      ),
    ).toEqual(first.map((r) => toPlain(r, schema)));
  });

  test('an update with TOAST-unchanged columns keeps the stored values', async () => {
    const partial = { ...allTypesRow(4), i32: 1 } as Record<string, unknown>;
    delete partial.txt;
    delete partial.js;
    const s = await lake.stage(schema, {
      truncatedAt: null,
      changes: [upsert(schema, partial as never, 20, ['txt', 'js'])],
    });
    await lake.commit([s], { properties: {} });
    const rows = await lake.lookupRows(schema, [{ id: 4n }]);
    const row = [...rows.values()][0]!;
    expect(row.txt).toBe(allTypesRow(4).txt);
    expect(row.js).toBe(allTypesRow(4).js);
    expect(row.i32).toBe(1);
  });
});
