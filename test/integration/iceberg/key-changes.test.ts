import { join } from 'node:path';
import type { TableSchema } from '../../../src/core/table-schema';
import type { KeyedChange } from '../../../src/sink/collapse';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { sqlCatalogSuite } from '../../support/iceberg-catalogs';
import { del, readWithJava, readWithPyIceberg, upsert } from './iceberg-fixtures';

const schema: TableSchema = {
  schema: 'shop',
  table: 'stock',
  version: 1,
  primaryKey: ['sku', 'region'],
  columns: (
    [
      ['sku', { kind: 'text' }, 'text'],
      ['region', { kind: 'int32' }, 'integer'],
      ['qty', { kind: 'int64' }, 'bigint'],
    ] as const
  ).map(([name, type, pgType], i) => ({ name, attnum: i + 1, type, pgType, nullable: name === 'qty' })),
};
type Stock = { sku: string; region: number; qty: number };
const sorted = (rows: unknown[]) =>
  [...(rows as Stock[])].sort((a, b) => a.sku.localeCompare(b.sku) || a.region - b.region);

/**
 * An update that changes the primary key arrives as a delete of the old key plus an insert
 * under the new one (DESIGN, "Replica identity"): in one round, or split across rounds, back to
 * a key deleted before, and moving a row onto the key another row just left. Both independent
 * readers (Iceberg Java applies the position deletes itself) must see each row once, under its
 * new key only, now and at the older snapshot.
 */
describe('Iceberg key changes read back by Iceberg Java and PyIceberg', () => {
  const suite = sqlCatalogSuite('sqlite', 'iceberg-keys-');

  test('delete of the old key plus insert under the new one, in one round and across rounds', async () => {
    const { dir, catalog } = suite;
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` });
    await lake.createTable(schema);
    const state = new Map<string, Stock>();
    let seq = 0;
    const ins = (sku: string, region: number, qty: number): KeyedChange => {
      state.set(`${sku}/${region}`, { sku, region, qty });
      return upsert(schema, { sku, region, qty: BigInt(qty) }, seq++);
    };
    const gone = (sku: string, region: number): KeyedChange => {
      state.delete(`${sku}/${region}`);
      return del(schema, { sku, region }, seq++);
    };
    const round = async (changes: KeyedChange[]) => {
      const c = await lake.commit([await lake.stage(schema, { truncatedAt: null, changes })], {
        properties: {},
      });
      return { snapshot: c.snapshots.get('shop.stock')!, rows: sorted([...state.values()]) };
    };

    // GIVEN four rows
    await round([ins('a', 1, 10), ins('b', 1, 20), ins('c', 1, 30), ins('d', 1, 40)]);
    // WHEN, in one round, a moves to region 2, c's row moves to key (d, 2) and d's row onto the
    // key (c, 1) that c just left: collapsed per key, (c, 1)'s delete and insert are one upsert
    const r2 = await round([gone('a', 1), ins('a', 2, 10), ins('d', 2, 30), ins('c', 1, 40), gone('d', 1)]);
    // AND across rounds: b's key change is a delete in one round and the insert in the next;
    // a moves back to its first key (deleted two rounds ago)
    await round([gone('b', 1), gone('a', 2), ins('a', 1, 11)]);
    const r4 = await round([ins('b', 5, 20)]);

    // THEN Iceberg Java and PyIceberg read each row once, under its new key, now and at round 2
    const uri = `sqlite:///${join(dir, 'catalog.db')}`;
    const jdbc = `jdbc:sqlite:${join(dir, 'catalog.db')}`;
    expect(r4.rows).toEqual([
      { sku: 'a', region: 1, qty: 11 },
      { sku: 'b', region: 5, qty: 20 },
      { sku: 'c', region: 1, qty: 40 },
      { sku: 'd', region: 2, qty: 30 },
    ]);
    const [javaNow, pyNow, javaThen, pyThen] = await Promise.all([
      readWithJava(jdbc, '', '', 'shop.stock'),
      readWithPyIceberg(uri, 'shop.stock'),
      readWithJava(jdbc, '', '', 'shop.stock', r2.snapshot),
      readWithPyIceberg(uri, 'shop.stock', r2.snapshot),
    ]);
    expect(sorted(javaNow.rows)).toEqual(r4.rows);
    expect(sorted(pyNow.rows)).toEqual(r4.rows);
    expect(sorted(javaThen.rows)).toEqual(r2.rows);
    expect(sorted(pyThen.rows)).toEqual(r2.rows);
  });
});
