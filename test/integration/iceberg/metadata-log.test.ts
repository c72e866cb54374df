import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TableSchema } from '../../../src/core/table-schema';
import type { Catalog } from '../../../src/sink/iceberg/catalog';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import {
  DELETE_AFTER_COMMIT_PROPERTY,
  PREVIOUS_VERSIONS_MAX_PROPERTY,
  type TableMetadata,
} from '../../../src/sink/iceberg/table-metadata';
import { readWithPyIceberg, upsert } from './iceberg-fixtures';

/**
 * The metadata log is capped at write.metadata.previous-versions-max entries (default 100, as in
 * Iceberg), and with write.metadata.delete-after-commit.enabled (set on the tables tidemark
 * creates) the files it drops are deleted once the commit landed; independent readers still read
 * the table and travel back to kept snapshots.
 */
const schemaOf = (table: string): TableSchema => ({
  schema: 'public',
  table,
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'v', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
  ],
});

describe('Iceberg metadata log', () => {
  let dir: string;
  let catalog: SqlCatalog;
  let lake: Lakehouse;
  const io = new LocalFileIO();
  let uri: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-metadata-log-'));
    catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
    uri = `sqlite:///${join(dir, 'catalog.db')}`;
    lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/warehouse` });
  });
  afterAll(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `n` commits of one new row each (ids from+1 … from+n) on `writer`; the snapshot id of each. */
  async function commitRows(writer: Lakehouse, schema: TableSchema, from: number, n: number) {
    const snapshots: number[] = [];
    for (let id = from + 1; id <= from + n; id++) {
      const staged = await writer.stage(schema, {
        truncatedAt: null,
        changes: [upsert(schema, { id: BigInt(id), v: `v${id}` }, id)],
      });
      const c = await writer.commit([staged], { properties: { 'tidemark.token': String(id) } });
      snapshots.push(c.snapshots.get(`public.${schema.table}`)!);
    }
    return snapshots;
  }

  const metadataFiles = (table: string) =>
    readdirSync(join(dir, 'warehouse', 'public', table, 'metadata')).filter((f) =>
      f.endsWith('.metadata.json'),
    );
  const ids = (rows: unknown[]) => rows.map((r) => Number((r as { id: number }).id)).sort((a, b) => a - b);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const current = async (schema: TableSchema) => {
    const location = (await catalog.currentLocation({ namespace: 'public', name: schema.table }))!;
    return { location, metadata: await lake.metadata(schema) };
  };

  test('130 commits with the default cap keep 100 log entries and 101 metadata files; PyIceberg reads now and at an early snapshot', async () => {
    // GIVEN a table tidemark created (delete-after-commit on, the default cap)
    const schema = schemaOf('busy');
    await lake.createTable(schema);
    expect((await lake.metadata(schema)).properties[DELETE_AFTER_COMMIT_PROPERTY]).toBe('true');

    // WHEN 130 commits land
    const snapshots = await commitRows(lake, schema, 0, 130);

    // THEN the log holds the newest 100 metadata files, each still there, and nothing older is
    const { location, metadata } = await current(schema);
    const log = metadata['metadata-log'];
    expect(log).toHaveLength(100);
    for (const l of log) expect(await io.exists(l['metadata-file'])).toBe(true);
    expect(metadataFiles('busy').sort()).toEqual(
      [location, ...log.map((l) => l['metadata-file'])].map((f) => f.split('/').pop()).sort(),
    );
    // AND every snapshot is kept (the log is not the snapshot history): readers travel back
    expect(metadata.snapshots).toHaveLength(130);
    expect(ids((await readWithPyIceberg(uri, 'public.busy')).rows)).toEqual(range(130));
    expect(ids((await readWithPyIceberg(uri, 'public.busy', snapshots[9])).rows)).toEqual(range(10));
  });

  test('a cap of 5 keeps 5 log entries and 6 metadata files; orphan removal keeps the current file and the logged ones', async () => {
    // GIVEN a table whose cap is 5
    const schema = schemaOf('capped');
    await lake.createTable(schema, { properties: { [PREVIOUS_VERSIONS_MAX_PROPERTY]: '5' } });

    // WHEN 20 commits land
    const snapshots = await commitRows(lake, schema, 0, 20);

    // THEN the log is the 5 newest and the folder holds those and the current file only
    const { location, metadata } = await current(schema);
    expect(metadata['metadata-log']).toHaveLength(5);
    expect(metadataFiles('capped')).toHaveLength(6);
    // AND orphan removal of every unreferenced file, however young, deletes none of them
    await lake.expire(schema, { keepLast: 1000, olderThanMs: 1e12, orphansOlderThanMs: 0 });
    expect(await io.exists(location)).toBe(true);
    expect(metadataFiles('capped')).toHaveLength(6);
    expect(ids((await readWithPyIceberg(uri, 'public.capped')).rows)).toEqual(range(20));
    expect(ids((await readWithPyIceberg(uri, 'public.capped', snapshots[2])).rows)).toEqual(range(3));
  });

  test('with delete-after-commit off the log is capped but its dropped files stay, until orphan removal', async () => {
    // GIVEN a table as Iceberg's default has it: dropped metadata files are not deleted
    const schema = schemaOf('keeping');
    await lake.createTable(schema, {
      properties: { [PREVIOUS_VERSIONS_MAX_PROPERTY]: '5', [DELETE_AFTER_COMMIT_PROPERTY]: 'false' },
    });

    // WHEN 12 commits land
    await commitRows(lake, schema, 0, 12);

    // THEN the log holds 5, the folder all 13 files
    const { location, metadata } = await current(schema);
    expect(metadata['metadata-log']).toHaveLength(5);
    expect(metadataFiles('keeping')).toHaveLength(13);
    // AND orphan removal takes the 7 no log references, never the current one or a logged one
    await lake.expire(schema, { keepLast: 1000, olderThanMs: 1e12, orphansOlderThanMs: 0 });
    expect(metadataFiles('keeping').sort()).toEqual(
      [location, ...metadata['metadata-log'].map((l) => l['metadata-file'])]
        .map((f) => f.split('/').pop())
        .sort(),
    );
    expect(ids((await readWithPyIceberg(uri, 'public.keeping')).rows)).toEqual(range(12));
  });

  test('a commit whose outcome was unknown deletes nothing, even once found landed', async () => {
    // GIVEN a capped table whose log is full, and a writer whose catalog reports one landed swap as unknown
    const schema = schemaOf('unknown_outcome');
    await lake.createTable(schema, { properties: { [PREVIOUS_VERSIONS_MAX_PROPERTY]: '3' } });
    await commitRows(lake, schema, 0, 5);
    const before: TableMetadata = await lake.metadata(schema);
    const oldest = before['metadata-log'][0]!['metadata-file'];
    let reportUnknown = true;
    const lying: Catalog = {
      name: catalog.name,
      ensureNamespace: (n) => catalog.ensureNamespace(n),
      currentLocation: (t) => catalog.currentLocation(t),
      listTables: (n) => catalog.listTables(n),
      dropTable: (t) => catalog.dropTable(t),
      close: async () => undefined,
      swap: async (swaps) => {
        const out = await catalog.swap(swaps);
        if (out.kind !== 'committed' || !reportUnknown) return out;
        reportUnknown = false;
        return { kind: 'unknown', cause: new Error('connection lost during COMMIT (injected)') };
      },
    };
    const writer = new Lakehouse({ catalog: lying, io, warehouse: `file://${dir}/warehouse` });

    // WHEN it commits (found landed by its commit id)
    await commitRows(writer, schema, 5, 1);

    // THEN the log dropped the oldest file, but the file is still there
    const after = await lake.metadata(schema);
    expect(after['metadata-log'].map((l) => l['metadata-file'])).not.toContain(oldest);
    expect(await io.exists(oldest)).toBe(true);
    // AND the next commit that lands deletes what it drops, not that one (orphan removal's)
    const next = after['metadata-log'][0]!['metadata-file'];
    await commitRows(writer, schema, 6, 1);
    expect(await io.exists(next)).toBe(false);
    expect(ids((await readWithPyIceberg(uri, 'public.unknown_outcome')).rows)).toEqual(range(7));
  });
});
