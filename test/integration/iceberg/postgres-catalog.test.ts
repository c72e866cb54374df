import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTidemarkError } from '../../../src/core/errors';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import { createTestDatabase, type TestDatabase } from '../../support/services';
import {
  allTypesRow,
  allTypesSchema,
  byId,
  del,
  readWithJava,
  readWithPyIceberg,
  toPlain,
  upsert,
} from './iceberg-fixtures';

const itemsSchema: TableSchema = {
  schema: 'shop',
  table: 'items',
  version: 1,
  primaryKey: ['sku', 'region'],
  columns: [
    { name: 'sku', attnum: 1, type: { kind: 'text' }, pgType: 'text', nullable: false },
    { name: 'region', attnum: 2, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
    { name: 'qty', attnum: 3, type: { kind: 'int64' }, pgType: 'bigint', nullable: true },
  ],
};
const item = (sku: string, region: number, qty: bigint) => ({ sku, region, qty });

describe('Iceberg writer on a PostgreSQL catalog', () => {
  const base = new URL(process.env.TIDEMARK_PG_URL!);
  let db: TestDatabase;
  let dbUrl: string;
  let pyUri: string;
  const java = (ident: string, snap?: number) =>
    readWithJava(`jdbc:postgresql://${base.host}/${db.name}`, base.username, base.password, ident, snap);
  let dir: string;
  let catalog: SqlCatalog;
  let lake: Lakehouse;
  const orders = allTypesSchema('orders');

  beforeAll(async () => {
    db = await createTestDatabase('iceberg_pg');
    dbUrl = db.url;
    pyUri = `postgresql+psycopg2://${base.username}:${base.password}@${base.host}/${db.name}`;
    dir = mkdtempSync(join(tmpdir(), 'iceberg-pg-'));
    catalog = await SqlCatalog.postgres(dbUrl);
    lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` });
    await lake.createTable(orders);
    await lake.createTable(itemsSchema);
  });
  afterAll(async () => {
    // every step runs even if one throws: the database must not outlive the test
    await catalog?.close().catch(() => undefined);
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a multi-table commit is read back equal by PyIceberg and Iceberg Java, also at the older snapshot', async () => {
    // GIVEN both tables changed in one commit
    const a1 = await lake.stage(orders, {
      truncatedAt: null,
      changes: [1, 2, 3].map((n) => upsert(orders, allTypesRow(n), n)),
    });
    const b1 = await lake.stage(itemsSchema, {
      truncatedAt: null,
      changes: [upsert(itemsSchema, item('a', 1, 5n), 1), upsert(itemsSchema, item('a', 2, 6n), 2)],
    });
    const c1 = await lake.commit([a1, b1], { properties: { 'tidemark.cut-lsn': '0/10' } });
    // WHEN a second commit updates and deletes in both
    const a2 = await lake.stage(orders, {
      truncatedAt: null,
      changes: [del(orders, { id: 2n }, 4), upsert(orders, { ...allTypesRow(3), txt: 'x' }, 5)],
    });
    const b2 = await lake.stage(itemsSchema, {
      truncatedAt: null,
      changes: [upsert(itemsSchema, item('a', 1, 7n), 3)],
    });
    await lake.commit([a2, b2], { properties: { 'tidemark.cut-lsn': '0/20' } });

    // THEN both readers agree with the expected rows, now and at the first snapshot
    const ordersNow = byId([allTypesRow(1), { ...allTypesRow(3), txt: 'x' }].map((r) => toPlain(r, orders)));
    expect(byId((await readWithPyIceberg(pyUri, 'public.orders')).rows)).toEqual(ordersNow);
    expect(byId((await java('public.orders')).rows)).toEqual(ordersNow);
    const snap1 = c1.snapshots.get('public.orders')!;
    const ordersThen = [1, 2, 3].map((n) => toPlain(allTypesRow(n), orders));
    expect(byId((await readWithPyIceberg(pyUri, 'public.orders', snap1)).rows)).toEqual(ordersThen);
    expect(byId((await java('public.orders', snap1)).rows)).toEqual(ordersThen);
    const itemsNow = [
      { sku: 'a', region: 1, qty: 7 },
      { sku: 'a', region: 2, qty: 6 },
    ];
    const sortItems = (rs: unknown[]) =>
      [...rs].sort((x, y) => (x as { region: number }).region - (y as { region: number }).region);
    expect(sortItems((await readWithPyIceberg(pyUri, 'shop.items')).rows)).toEqual(itemsNow);
    expect(sortItems((await java('shop.items')).rows)).toEqual(itemsNow);
    expect((await lake.readSummary(itemsSchema))?.['tidemark.cut-lsn']).toBe('0/20');
  });

  test('a fenced multi-table commit moves neither table', async () => {
    // GIVEN another writer committed to items, moving its token
    const otherCatalog = await SqlCatalog.postgres(dbUrl);
    const other = new Lakehouse({
      catalog: otherCatalog,
      io: new LocalFileIO(),
      warehouse: `file://${dir}/warehouse`,
    });
    const a = await lake.stage(orders, { truncatedAt: null, changes: [upsert(orders, allTypesRow(9), 9)] });
    const b = await lake.stage(itemsSchema, {
      truncatedAt: null,
      changes: [upsert(itemsSchema, item('z', 9, 1n), 9)],
    });
    const theirs = await other.stage(itemsSchema, {
      truncatedAt: null,
      changes: [upsert(itemsSchema, item('y', 8, 1n), 9)],
    });
    await other.commit([theirs], { properties: { 'tidemark.token': 'theirs' } });
    const before = await catalog.currentLocation({ namespace: 'public', name: 'orders' });

    // WHEN our commit of both tables expects the token it started from
    const err = await lake
      .commit([a, b], {
        properties: { 'tidemark.token': 'ours' },
        expected: (_t, s) => s?.['tidemark.token'] !== 'theirs',
      })
      .catch((e) => e);

    // THEN it is fenced and orders did not move either
    expect(isTidemarkError(err, 'fenced')).toBe(true);
    expect(await catalog.currentLocation({ namespace: 'public', name: 'orders' })).toBe(before);
    expect(
      (await readWithPyIceberg(pyUri, 'public.orders')).rows.some((r) => (r as { id: number }).id === 9),
    ).toBe(false);
    await lake.discard([a, b]);
    await otherCatalog.close();
  });

  test('two writers committing to the same table concurrently lose no commit', async () => {
    // GIVEN two independent writers (own catalog connections) on one table
    const secondCatalog = await SqlCatalog.postgres(dbUrl);
    const writers = [
      lake,
      new Lakehouse({ catalog: secondCatalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` }),
    ];
    // WHEN each commits five rounds of its own keys at the same time
    await Promise.all(
      writers.map(async (w, wi) => {
        for (let round = 0; round < 5; round++) {
          const s = await w.stage(itemsSchema, {
            truncatedAt: null,
            changes: [upsert(itemsSchema, item(`w${wi}`, round, BigInt(round)), round)],
          });
          await w.commit([s], { properties: { [`tidemark.writer-${wi}`]: String(round) } });
        }
      }),
    );
    // THEN every round of both writers is there, and the metadata reads cleanly in both readers
    const rows = (await readWithPyIceberg(pyUri, 'shop.items')).rows as { sku: string; region: number }[];
    for (const wi of [0, 1])
      for (let r = 0; r < 5; r++)
        expect(rows.filter((x) => x.sku === `w${wi}` && x.region === r)).toHaveLength(1);
    expect((await java('shop.items')).rows).toHaveLength(rows.length);
    await secondCatalog.close();
  });
});
