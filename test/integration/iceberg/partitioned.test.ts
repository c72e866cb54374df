import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import { byId, del, readWithJava, readWithPyIceberg, upsert } from './iceberg-fixtures';

const schema: TableSchema = {
  schema: 'public',
  table: 'events',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'at', attnum: 2, type: { kind: 'timestamptz' }, pgType: 'timestamptz', nullable: true },
    { name: 'name', attnum: 3, type: { kind: 'text' }, pgType: 'text', nullable: true },
    { name: 'region', attnum: 4, type: { kind: 'int32' }, pgType: 'integer', nullable: true },
    { name: 'd', attnum: 5, type: { kind: 'date' }, pgType: 'date', nullable: true },
  ],
};
const DAY = 86_400_000_000n;
const ev = (id: number, day: number, name: string | null, region: number | null) => ({
  id: BigInt(id),
  at: BigInt(day) * DAY + 3_600_000_000n,
  name,
  region,
  d: 19000 + day * 40,
});
const plain = (r: ReturnType<typeof ev>) => ({
  id: Number(r.id),
  at: { tstz: String(r.at) },
  name: r.name,
  region: r.region,
  d: { date: r.d },
});

describe('partitioned Iceberg table (bucket, day, truncate, identity, month)', () => {
  let dir: string;
  let catalog: SqlCatalog;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-part-'));
    catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
  });
  afterAll(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('data and delete files per partition read back equal, and partition pruning finds every row', async () => {
    // GIVEN a table partitioned by bucket[4](id), day(at), truncate[2](name), identity(region), month(d)
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` });
    await lake.createTable(schema, {
      partition: [
        { column: 'id', transform: 'bucket[4]' },
        { column: 'at', transform: 'day' },
        { column: 'name', transform: 'truncate[2]' },
        { column: 'region', transform: 'identity' },
        { column: 'd', transform: 'month' },
      ],
    });
    const rows = [
      ev(1, 0, 'alpha', 1),
      ev(2, 1, 'beta', 2),
      ev(3, -3, 'alps', 1),
      ev(4, 5, null, null),
      ev(5, 1, 'ünïcode', 3),
      ev(6, 2, 'be', 2),
    ];
    await lake.commit(
      [await lake.stage(schema, { truncatedAt: null, changes: rows.map((r, i) => upsert(schema, r, i)) })],
      { properties: {} },
    );
    // WHEN one row moves partition, one is deleted, and one is rewritten in place (a replay)
    const moved = ev(2, 9, 'zeta', 9);
    await lake.commit(
      [
        await lake.stage(schema, {
          truncatedAt: null,
          changes: [upsert(schema, moved, 10), del(schema, { id: 3n }, 11), upsert(schema, rows[0]!, 12)],
        }),
      ],
      { properties: {} },
    );

    // THEN both readers read the expected rows
    const expected = [rows[0]!, moved, rows[3]!, rows[4]!, rows[5]!].map(plain);
    const uri = `sqlite:///${join(dir, 'catalog.db')}`;
    expect(byId((await readWithPyIceberg(uri, 'public.events')).rows)).toEqual(expected);
    expect(
      byId((await readWithJava(`jdbc:sqlite:${join(dir, 'catalog.db')}`, '', '', 'public.events')).rows),
    ).toEqual(expected);
    // AND filters PyIceberg projects through each transform still find each row (our partition values are right)
    for (const r of [rows[0]!, moved, rows[4]!, rows[5]!]) {
      const got = await readWithPyIceberg(
        uri,
        'public.events',
        undefined,
        `id == ${r.id} and name == '${r.name}' and region == ${r.region}`,
      );
      expect(got.rows).toEqual([plain(r)]);
    }
    expect(
      (await readWithPyIceberg(uri, 'public.events', undefined, `at >= '1970-01-10T00:00:00+00:00'`)).rows,
    ).toEqual([plain(moved)]);
  });
});
