import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ColumnType } from '../../../src/core/column-type';
import { isTidemarkError } from '../../../src/core/errors';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO, toPath } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SQL_CATALOG_KINDS, sqlCatalogSuite } from '../../support/iceberg-catalogs';
import { byId, readWithJava, readWithPyIceberg, upsert } from './iceberg-fixtures';

const col = (name: string, attnum: number, type: ColumnType) => ({
  name,
  attnum,
  type,
  pgType: JSON.stringify(type),
  nullable: name !== 'id',
});
const v1: TableSchema = {
  schema: 'public',
  table: 'evolving',
  version: 1,
  primaryKey: ['id'],
  columns: [
    col('id', 1, { kind: 'int64' }),
    col('a', 2, { kind: 'int32' }),
    col('b', 3, { kind: 'float32' }),
    col('c', 4, { kind: 'decimal', precision: 10, scale: 2 }),
    col('d', 5, { kind: 'text' }),
    col('x', 7, { kind: 'text' }),
  ],
};
const v2: TableSchema = {
  ...v1,
  version: 2,
  columns: [
    col('id', 1, { kind: 'int64' }),
    col('a', 2, { kind: 'int64' }),
    col('b', 3, { kind: 'float64' }),
    col('c', 4, { kind: 'decimal', precision: 12, scale: 2 }),
    col('d2', 5, { kind: 'text' }),
    col('e', 6, { kind: 'text' }),
  ],
};

describe.each(SQL_CATALOG_KINDS)('Iceberg schema evolution and bad input on a %s catalog', (kind) => {
  const suite = sqlCatalogSuite(kind, 'iceberg-evo-');
  let lake: Lakehouse;
  const fresh = () =>
    new Lakehouse({
      catalog: suite.catalog,
      io: new LocalFileIO(),
      warehouse: `file://${suite.dir}/warehouse`,
    });

  beforeAll(() => {
    lake = fresh();
  });

  test('add, drop, rename and promote by field id: old and new rows read back by PyIceberg and Java', async () => {
    const { cat } = suite;
    // GIVEN a row written with the first schema
    await lake.createTable(v1);
    await lake.commit(
      [
        await lake.stage(v1, {
          truncatedAt: null,
          changes: [upsert(v1, { id: 1n, a: 7, b: 1.5, c: '12.34', d: 'one', x: 'gone' }, 1)],
        }),
      ],
      { properties: {} },
    );
    // WHEN the schema evolves (promotions, rename of d, add e, drop x) and a row is written with it
    expect(await lake.evolve(v2)).toBe(true);
    expect(await lake.evolve(v2)).toBe(false);
    await lake.commit(
      [
        await lake.stage(v2, {
          truncatedAt: null,
          changes: [upsert(v2, { id: 2n, a: 2n ** 40n, b: 0.1, c: '1234567890.12', d2: 'two', e: 'new' }, 2)],
        }),
      ],
      { properties: {} },
    );
    // THEN both readers see both rows under the new schema
    const expected = [
      { id: 1, a: 7, b: 1.5, c: { decimal: '12.34' }, d2: 'one', e: null },
      { id: 2, a: 2 ** 40, b: 0.1, c: { decimal: '1234567890.12' }, d2: 'two', e: 'new' },
    ];
    expect(byId((await readWithPyIceberg(cat.pyUri, 'public.evolving')).rows)).toEqual(expected);
    const { url, user, password } = cat.jdbc;
    expect(byId((await readWithJava(url, user, password, 'public.evolving')).rows)).toEqual(expected);
  });

  test('a type change Iceberg cannot express is a clear error and leaves the table as it was', async () => {
    const { catalog } = suite;
    const before = await catalog.currentLocation({ namespace: 'public', name: 'evolving' });
    const bad: TableSchema = {
      ...v2,
      columns: v2.columns.map((c) => (c.name === 'a' ? col('a', 2, { kind: 'text' }) : c)),
    };
    const err = await lake.evolve(bad).catch((e) => e);
    expect(isTidemarkError(err, 'schema_incompatible')).toBe(true);
    expect(String(err.message)).toContain('public.evolving');
    expect(String(err.message)).toContain('"a"');
    expect(await catalog.currentLocation({ namespace: 'public', name: 'evolving' })).toBe(before);
  });

  test('an unmappable type is a clear error naming table and column; no table is created', async () => {
    const { catalog } = suite;
    const weird: TableSchema = {
      ...v1,
      table: 'weird',
      columns: [col('id', 1, { kind: 'int64' }), col('w', 2, { kind: 'geometry' } as never)],
    };
    const err = await lake.createTable(weird).catch((e) => e);
    expect(isTidemarkError(err, 'unsupported_type')).toBe(true);
    expect(String(err.message)).toMatch(/public\.weird.*"w"/);
    expect(await catalog.currentLocation({ namespace: 'public', name: 'weird' })).toBeNull();
  });

  test('a missing data file and a corrupt metadata file are clear errors naming table and file', async () => {
    const { dir, catalog } = suite;
    // GIVEN a second table with one committed data file
    const t: TableSchema = { ...v1, table: 'fragile' };
    await lake.createTable(t);
    await lake.commit(
      [
        await lake.stage(t, {
          truncatedAt: null,
          changes: [upsert(t, { id: 1n, a: 1, b: 1, c: '1.00', d: 'd', x: 'x' }, 1)],
        }),
      ],
      { properties: {} },
    );
    const location = (await catalog.currentLocation({ namespace: 'public', name: 'fragile' }))!;
    const dataDir = join(dir, 'warehouse', 'public', 'fragile', 'data');
    const file = readdirSync(dataDir)[0]!;
    // WHEN the data file disappears
    unlinkSync(join(dataDir, file));
    const missing = await fresh()
      .scan(t)
      .catch((e) => e);
    expect(isTidemarkError(missing, 'corrupt_state')).toBe(true);
    expect(String(missing.message)).toContain('public.fragile');
    expect(String(missing.message)).toContain(file);
    expect(String(missing.message)).toContain('it does not exist');
    // AND a write to the damaged table (its key index is rebuilt from the data files) fails the
    // same way, writing nothing and leaving the table as it was
    const metaDir = join(dir, 'warehouse', 'public', 'fragile', 'metadata');
    const filesBefore = [readdirSync(dataDir).sort(), readdirSync(metaDir).sort()];
    const write = await (async () => {
      const w = fresh();
      await w.commit(
        [
          await w.stage(t, {
            truncatedAt: null,
            changes: [upsert(t, { id: 1n, a: 2, b: 2, c: '2.00', d: 'e', x: 'y' }, 2)],
          }),
        ],
        { properties: {} },
      );
    })().catch((e) => e);
    expect(isTidemarkError(write, 'corrupt_state')).toBe(true);
    expect(String(write.message)).toContain(file);
    expect(String(write.message)).toContain('it does not exist');
    expect([readdirSync(dataDir).sort(), readdirSync(metaDir).sort()]).toEqual(filesBefore);
    expect(await catalog.currentLocation({ namespace: 'public', name: 'fragile' })).toBe(location);
    // WHEN its metadata file is corrupt
    writeFileSync(toPath(location), '{"format-version": 2, "trunc');
    const corrupt = await fresh()
      .scan(t)
      .catch((e) => e);
    expect(isTidemarkError(corrupt, 'corrupt_state')).toBe(true);
    expect(String(corrupt.message)).toContain('public.fragile');
    expect(String(corrupt.message)).toContain(location);
    // THEN the catalog pointer did not move
    expect(await catalog.currentLocation({ namespace: 'public', name: 'fragile' })).toBe(location);
  });
});
