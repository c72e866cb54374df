import { join } from 'node:path';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { sqlCatalogSuite } from '../../support/iceberg-catalogs';
import { inspectWithJava, inspectWithPyIceberg } from '../../support/iceberg-inspect';
import { byId, upsert } from './iceberg-fixtures';

const schema: TableSchema = {
  schema: 'public',
  table: 'big_keys',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'n', attnum: 2, type: { kind: 'int64' }, pgType: 'bigint', nullable: true },
  ],
};

/**
 * A bigint column partitioned by identity or truncate[W] holds values beyond 2^53 (snowflake-style
 * ids are ~2^60): the partition value must be the exact long, or staging fails / engines prune the
 * file that holds the row.
 */
describe('Iceberg partition values of longs beyond 2^53', () => {
  const suite = sqlCatalogSuite('sqlite', 'iceberg-bigpart-');

  test('identity(id) and truncate[10](n) of values past 2^53 are exact; PyIceberg and Java prune to the row', async () => {
    const { dir, catalog } = suite;
    // GIVEN a table partitioned by identity(id) and truncate[10](n)
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` });
    await lake.createTable(schema, {
      partition: [
        { column: 'id', transform: 'identity' },
        { column: 'n', transform: 'truncate[10]' },
      ],
    });
    // WHEN rows with ids and values past 2^53 are committed
    const big = 4611686018427387911n; // 2^62 + 7
    const rows = [
      { id: big, n: big },
      { id: 1n, n: -big },
    ];
    await lake.commit(
      [await lake.stage(schema, { truncatedAt: null, changes: rows.map((r, i) => upsert(schema, r, i)) })],
      { properties: {} },
    );

    // THEN the partition tuples are the exact longs, and filters on them find the rows
    const uri = `sqlite:///${join(dir, 'catalog.db')}`;
    const jdbc = { url: `jdbc:sqlite:${join(dir, 'catalog.db')}`, user: '', password: '' };
    const [py, java] = await Promise.all([
      inspectWithPyIceberg(uri, 'public.big_keys', [`id == ${big}`, `n == ${-big}`]),
      inspectWithJava(jdbc, 'public.big_keys', [
        `{"type": "eq", "term": "id", "value": ${big}}`,
        `{"type": "eq", "term": "n", "value": ${-big}}`,
        true,
      ]),
    ]);
    const tagged = (r: { id: bigint; n: bigint }) => ({ id: r.id === 1n ? 1 : String(r.id), n: String(r.n) });
    expect(py.scans.map((s) => s.rows)).toEqual([[tagged(rows[0]!)], [tagged(rows[1]!)]]);
    expect(java.scans.slice(0, 2).map((s) => s.rows)).toEqual([[tagged(rows[0]!)], [tagged(rows[1]!)]]);
    expect(byId(java.scans[2]!.rows)).toEqual(byId(rows.map(tagged)));
    expect(py.files.map((f) => f.partition).sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual(
      [
        { id: 1, n_trunc: String(-big - 9n) },
        { id: String(big), n_trunc: String(big - 1n) },
      ],
    );
    for (const f of py.files) expect(f.rowPartitions).toEqual([f.partition]);

    // AND a fresh writer (key index and file partitions read back from the manifests) replaces
    // the big row: its position delete lands in the data file's exact partition
    const fresh = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` });
    await fresh.createTable(schema);
    const moved = { id: big, n: big + 1n };
    await fresh.commit(
      [await fresh.stage(schema, { truncatedAt: null, changes: [upsert(schema, moved, 9)] })],
      {
        properties: {},
      },
    );
    // (Iceberg Java applies a position delete only within its data file's partition)
    const [pyAfter, javaAfter] = await Promise.all([
      inspectWithPyIceberg(uri, 'public.big_keys', [`id == ${big}`]),
      inspectWithJava(jdbc, 'public.big_keys', [`{"type": "eq", "term": "id", "value": ${big}}`]),
    ]);
    expect(pyAfter.scans[0]!.rows).toEqual([tagged(moved)]);
    expect(javaAfter.scans[0]!.rows).toEqual([tagged(moved)]);
  });
});
