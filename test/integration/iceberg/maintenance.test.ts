import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import { planScan } from '../../../src/sink/iceberg/table-scan';
import { byId, del, readWithJava, readWithPyIceberg, upsert } from './iceberg-fixtures';

const ROOT = join(__dirname, '..', '..', '..');

const schema: TableSchema = {
  schema: 'public',
  table: 'kept',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'v', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
  ],
};
const row = (id: number, v: string) => ({ id: BigInt(id), v });
const plain = (id: number, v: string) => ({ id: id, v });

function filesUnder(dir: string, ext: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(ext));
}

/**
 * Iceberg maintenance through the CLI (`tidemark compact`, `tidemark expire`) on a table the
 * writer keeps committing to: compaction leaves the rows as they were (PyIceberg and Iceberg
 * Java read the same), a change staged before it is staged again rather than rebased onto
 * rewritten files (its position deletes would miss), expiry deletes what only expired snapshots
 * used, and orphan removal deletes old unreferenced files only.
 */
describe('Iceberg maintenance: compact and expire', () => {
  let dir: string;
  let catalog: SqlCatalog;
  let lake: Lakehouse;
  let config: string;
  const uri = () => `sqlite:///${join(dir, 'catalog.db')}`;
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'tidemark'), ...args, '--config', config], {
      cwd: ROOT,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-maint-'));
    catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
    lake = new Lakehouse({
      catalog,
      io: new LocalFileIO(),
      warehouse: `file://${dir}/lake`,
      targetFileRows: 4,
    });
    config = join(dir, 'tidemark.yaml');
    writeFileSync(
      config,
      `pipeline: maint
source: { url: "postgres://unused@127.0.0.1/none", tables: ["public.*"] }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  iceberg: { catalog: { kind: sql, url: "sqlite://${join(dir, 'catalog.db')}" }, location: ${dir}/lake }
`,
    );
  });
  afterAll(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('compacts without changing a row, and a change staged before it is staged again', async () => {
    // GIVEN a table written by many small commits with updates and deletes (many data and delete files)
    await lake.createTable(schema);
    let seq = 0;
    const expected = new Map<number, string>();
    for (let round = 0; round < 6; round++) {
      const changes = [];
      for (let i = 0; i < 10; i++) {
        const id = round * 5 + i;
        changes.push(upsert(schema, row(id, `r${round}`), seq++));
        expected.set(id, `r${round}`);
      }
      if (round > 0) {
        // a row of the previous round only (one change per key per staged batch)
        changes.push(del(schema, { id: BigInt(5 * round - 2) }, seq++));
        expected.delete(5 * round - 2);
      }
      await lake.commit([await lake.stage(schema, { truncatedAt: null, changes })], {
        properties: { 'tidemark.token': `t${round}` },
      });
    }
    const want = () => [...expected].map(([id, v]) => plain(id, v)).sort((a, b) => a.id - b.id);
    expect(byId((await readWithPyIceberg(uri(), 'public.kept')).rows)).toEqual(want());
    const before = filesUnder(join(dir, 'lake'), '.parquet').length;
    // AND a change staged by the writer, not committed yet
    const late = await lake.stage(schema, {
      truncatedAt: null,
      changes: [upsert(schema, row(7, 'late'), seq++), del(schema, { id: 8n }, seq++)],
    });

    // WHEN `tidemark compact` runs
    const out = await cli('compact', '--json');
    const result = JSON.parse(out.stdout) as Array<{
      table: string;
      rewrittenFiles: number;
      newFiles: number;
    }>;
    expect(result).toEqual([
      { table: 'public.kept', rewrittenFiles: expect.any(Number), newFiles: expect.any(Number) },
    ]);
    expect(result[0]!.rewrittenFiles).toBeGreaterThan(result[0]!.newFiles);

    // THEN both independent readers read the same rows, from one data file and no delete file
    expect(byId((await readWithPyIceberg(uri(), 'public.kept')).rows)).toEqual(want());
    expect(
      byId((await readWithJava(`jdbc:sqlite:${join(dir, 'catalog.db')}`, '', '', 'public.kept')).rows),
    ).toEqual(want());
    const meta = await lake.metadata(schema);
    const current = meta.snapshots.find((s) => s['snapshot-id'] === meta['current-snapshot-id'])!;
    expect(current.summary.operation).toBe('replace');
    expect(current.summary['total-delete-files']).toBe('0');
    expect(current.summary['tidemark.token']).toBe('t5'); // the sink's token survives compaction

    // AND the change staged before it cannot be rebased onto the rewritten files...
    await expect(lake.commit([late], { properties: { 'tidemark.token': 'late' } })).rejects.toThrow(
      /rewritten by another writer.*must be staged again/,
    );
    await lake.discard([late]);
    // ...and staged again it lands right: no deleted row comes back
    const again = await lake.stage(schema, {
      truncatedAt: null,
      changes: [upsert(schema, row(7, 'late'), seq++), del(schema, { id: 8n }, seq++)],
    });
    await lake.commit([again], { properties: { 'tidemark.token': 'late' } });
    expected.set(7, 'late');
    expected.delete(8);
    expect(byId((await readWithPyIceberg(uri(), 'public.kept')).rows)).toEqual(want());
    expect(filesUnder(join(dir, 'lake'), '.parquet').length).toBeGreaterThan(before); // nothing deleted yet
  });

  it('--only-small rewrites the small files and those with deletes, and keeps big clean files as they are', async () => {
    const small: TableSchema = { ...schema, table: 'small' };
    await lake.createTable(small);
    let seq = 1000;
    const expected = new Map<number, string>();
    const commit = async (changes: ReturnType<typeof upsert>[]) =>
      lake.commit([await lake.stage(small, { truncatedAt: null, changes })], { properties: {} });
    const put = (id: number, v: string) => {
      expected.set(id, v);
      return upsert(small, row(id, v), seq++);
    };
    await commit(Array.from({ length: 40 }, (_, id) => put(id, 'big')));
    await cli('compact', '--table', 'public.small', '--target-file-rows', '40');
    const liveFiles = async () => {
      const m = await lake.metadata(small);
      return (await planScan(new LocalFileIO(), m, 'public.small')).dataFiles.map((e) => e.file.filePath);
    };
    const [big] = await liveFiles();
    expect(await liveFiles()).toHaveLength(1);
    // GIVEN three small commits that leave the big file alone
    for (let r = 0; r < 3; r++) await commit([100 + 2 * r, 101 + 2 * r].map((id) => put(id, 'new')));
    const want = () => [...expected].map(([id, v]) => plain(id, v)).sort((a, b) => a.id - b.id);

    // WHEN only the small files are compacted THEN they become one file, next to the untouched big one
    const out = JSON.parse(
      (await cli('compact', '--table', 'public.small', '--target-file-rows', '40', '--only-small', '--json'))
        .stdout,
    );
    expect(out).toEqual([{ table: 'public.small', rewrittenFiles: 3, newFiles: 1 }]);
    const after = await liveFiles();
    expect(after).toHaveLength(2);
    expect(after).toContain(big);
    expect(byId((await readWithPyIceberg(uri(), 'public.small')).rows)).toEqual(want());

    // WHEN a row of the big file is deleted THEN the next --only-small rewrites it too and drops the delete file
    await commit([del(small, { id: 5n }, seq++)]);
    expected.delete(5);
    const again = JSON.parse(
      (await cli('compact', '--table', 'public.small', '--target-file-rows', '40', '--only-small', '--json'))
        .stdout,
    );
    expect(again[0].rewrittenFiles).toBe(3); // the big file, the small compacted one, the delete file
    expect(await liveFiles()).not.toContain(big);
    const m = await lake.metadata(small);
    expect(
      m.snapshots.find((x) => x['snapshot-id'] === m['current-snapshot-id'])!.summary['total-delete-files'],
    ).toBe('0');
    expect(byId((await readWithPyIceberg(uri(), 'public.small')).rows)).toEqual(want());
    expect(
      byId((await readWithJava(`jdbc:sqlite:${join(dir, 'catalog.db')}`, '', '', 'public.small')).rows),
    ).toEqual(want());
  });

  it('expires old snapshots and their files, and removes old orphan files only', async () => {
    const meta = await lake.metadata(schema);
    const oldest = meta.snapshots[0]!['snapshot-id'];
    const dataDir = join(dir, 'lake', 'public', 'kept', 'data');
    const oldOrphan = join(dataDir, 'crashed-writer.parquet');
    const youngOrphan = join(dataDir, 'in-flight.parquet');
    writeFileSync(oldOrphan, 'x');
    writeFileSync(youngOrphan, 'x');
    const twoDaysAgo = (Date.now() - 2 * 86_400_000) / 1000;
    utimesSync(oldOrphan, twoDaysAgo, twoDaysAgo);
    const parquetBefore = filesUnder(join(dir, 'lake'), '.parquet').length;
    const rowsBefore = byId((await readWithPyIceberg(uri(), 'public.kept')).rows);

    // WHEN `tidemark expire` keeps only the newest two snapshots
    const out = await cli('expire', '--older-than', '0s', '--keep-last', '2', '--json');
    const [r] = JSON.parse(out.stdout) as Array<{ expired: number; deletedFiles: number; orphans: number }>;

    // THEN the older snapshots are gone, with the files only they used; the table reads the same
    expect(r!.expired).toBe(meta.snapshots.length - 2);
    expect(r!.deletedFiles).toBeGreaterThan(0);
    expect(r!.orphans).toBe(1);
    expect(existsSync(oldOrphan)).toBe(false);
    expect(existsSync(youngOrphan)).toBe(true);
    expect(filesUnder(join(dir, 'lake'), '.parquet').length).toBeLessThan(parquetBefore);
    // (a fresh reader: the CLI committed in another process)
    const reader = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/lake` });
    const after = await reader.metadata(schema);
    expect(after.snapshots.map((s) => s['snapshot-id'])).not.toContain(oldest);
    expect(byId((await readWithPyIceberg(uri(), 'public.kept')).rows)).toEqual(rowsBefore);
    expect(
      byId((await readWithJava(`jdbc:sqlite:${join(dir, 'catalog.db')}`, '', '', 'public.kept')).rows),
    ).toEqual(rowsBefore);
    // AND the kept older snapshot still reads (time travel within what is kept)
    const keptOlder = after.snapshots.find((s) => s['snapshot-id'] !== after['current-snapshot-id'])!;
    expect(
      (await readWithPyIceberg(uri(), 'public.kept', keptOlder['snapshot-id'])).rows.length,
    ).toBeGreaterThan(0);
  });

  it('refuses a duration it cannot read, naming the option', async () => {
    await expect(cli('expire', '--older-than', 'soon')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--older-than must be a duration like 7d/),
    });
  });
});
