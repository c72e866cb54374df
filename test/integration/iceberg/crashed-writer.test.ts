import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { removeOrphanFiles } from '../../../src/sink/iceberg/table-maintenance';
import { loadTableState, sqlCatalogSuite } from '../../support/iceberg-catalogs';
import { keyValueSchema, startLakeWriter } from '../../support/lake-writer-process';
import { byId, del, readWithJava, readWithPyIceberg, upsert } from './iceberg-fixtures';

const schema = keyValueSchema('crashy');
const HOUR = 3_600_000;

/** Every file under `dir`, as file:// locations. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => `file://${join(e.parentPath, e.name)}`)
    .sort();
}

/**
 * A writer killed (SIGKILL) after staging a change, before committing it, leaves data, delete
 * and manifest files no snapshot references. Orphan removal must delete exactly those once they
 * are older than its threshold, and nothing a snapshot or the metadata log references.
 */
describe('Iceberg: a writer crashed after staging', () => {
  const suite = sqlCatalogSuite('sqlite', 'iceberg-crash-');

  test('orphan removal with a shifted clock deletes exactly its staged files; PyIceberg and Java read the committed rows', async () => {
    const { dir, catalog } = suite;
    // GIVEN a table with two commits (inserts, then an update and a delete: a delete file)
    const io = new LocalFileIO();
    const lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/warehouse` });
    await lake.createTable(schema);
    const row = (id: number, v: string) => ({ id: BigInt(id), v });
    await lake.commit(
      [
        await lake.stage(schema, {
          truncatedAt: null,
          changes: [1, 2, 3, 4, 5].map((id) => upsert(schema, row(id, `v${id}`), id)),
        }),
      ],
      { properties: {} },
    );
    await lake.commit(
      [
        await lake.stage(schema, {
          truncatedAt: null,
          changes: [upsert(schema, row(2, 'two'), 10), del(schema, { id: 3n }, 11)],
        }),
      ],
      { properties: {} },
    );
    const committedRows = [
      { id: 1, v: 'v1' },
      { id: 2, v: 'two' },
      { id: 4, v: 'v4' },
      { id: 5, v: 'v5' },
    ];
    const tableDir = join(dir, 'warehouse', 'public', 'crashy');
    const before = filesUnder(tableDir);

    // WHEN another writer process stages an update, an insert and a delete, and is killed
    const writer = startLakeWriter(`sqlite://${join(dir, 'catalog.db')}`, `file://${dir}/warehouse`, schema);
    let staged: string[];
    try {
      staged = (
        await writer.stage(
          [
            [4, 'crash'],
            [6, 'new'],
          ],
          [1],
        )
      ).files.sort();
    } finally {
      await writer.kill9();
    }
    // (its files: a data file and a position-delete file, and their manifests)
    expect(staged.filter((f) => f.endsWith('.parquet'))).toHaveLength(2);
    expect(staged.filter((f) => f.endsWith('.avro')).length).toBeGreaterThanOrEqual(1);
    expect(filesUnder(tableDir)).toEqual([...before, ...staged].sort());

    // THEN orphan removal on the real clock spares them (young files may belong to a commit in flight)
    const st = await loadTableState(catalog, io, { namespace: 'public', name: 'crashy' });
    expect(await removeOrphanFiles(io, st, { olderThanMs: HOUR })).toEqual([]);
    // AND with the clock two hours on, it deletes exactly the crashed writer's files
    const removed = await removeOrphanFiles(io, st, { olderThanMs: HOUR, nowMs: Date.now() + 2 * HOUR });
    expect([...removed].sort()).toEqual(staged);
    expect(filesUnder(tableDir)).toEqual(before);
    // AND both independent readers read the committed rows
    const uri = `sqlite:///${join(dir, 'catalog.db')}`;
    expect(byId((await readWithPyIceberg(uri, 'public.crashy')).rows)).toEqual(committedRows);
    expect(
      byId((await readWithJava(`jdbc:sqlite:${join(dir, 'catalog.db')}`, '', '', 'public.crashy')).rows),
    ).toEqual(committedRows);
  });
});
