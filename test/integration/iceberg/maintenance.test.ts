import { execFile } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { expireSnapshots } from '../../../src/sink/iceberg/table-maintenance';
import { planScan } from '../../../src/sink/iceberg/table-scan';
import { loadTableState, SQL_CATALOG_KINDS, sqlCatalogSuite } from '../../support/iceberg-catalogs';
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
 * used, and orphan removal deletes old unreferenced files only. Older snapshots kept read back
 * exactly as they were committed (time travel), after compaction and after expiry.
 */
describe.each(SQL_CATALOG_KINDS)('Iceberg maintenance on a %s catalog: compact and expire', (kind) => {
  const suite = sqlCatalogSuite(kind, 'iceberg-maint-');
  let lake: Lakehouse;
  let config: string;
  const uri = () => suite.cat.pyUri;
  const java = (ident: string, snapshotId?: number) =>
    readWithJava(suite.cat.jdbc.url, suite.cat.jdbc.user, suite.cat.jdbc.password, ident, snapshotId);
  /** [PyIceberg's rows, Iceberg Java's rows] of a table (at a snapshot), read side by side. */
  const bothReaders = async (ident: string, snapshotId?: number) => {
    const [py, jv] = await Promise.all([
      readWithPyIceberg(uri(), ident, snapshotId),
      java(ident, snapshotId),
    ]);
    return [byId(py.rows), byId(jv.rows)];
  };
  /** The rows each snapshot must read, by snapshot id, as the test committed them. */
  const rowsAt = new Map<number, ReturnType<typeof plain>[]>();
  const recordCurrent = async (t: TableSchema, rows: ReturnType<typeof plain>[]) => {
    const m = await lake.metadata(t);
    rowsAt.set(m['current-snapshot-id']!, rows);
  };
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'tidemark'), ...args, '--config', config], {
      cwd: ROOT,
      // the catalog URL may hold a password, which the config takes from the environment only
      env: { ...process.env, MAINT_CATALOG_URL: suite.cat.configUrl },
    });

  beforeAll(() => {
    const { dir, catalog } = suite;
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
  iceberg: { catalog: { kind: sql, url: "\${MAINT_CATALOG_URL}" }, location: ${dir}/lake }
`,
    );
  });

  it('compacts without changing a row, and a change staged before it is staged again', async () => {
    const { dir } = suite;
    // GIVEN a table written by many small commits with updates and deletes (many data and delete files)
    await lake.createTable(schema);
    let seq = 0;
    const expected = new Map<number, string>();
    const want = () => [...expected].map(([id, v]) => plain(id, v)).sort((a, b) => a.id - b.id);
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
      const c = await lake.commit([await lake.stage(schema, { truncatedAt: null, changes })], {
        properties: { 'tidemark.token': `t${round}` },
      });
      rowsAt.set(c.snapshots.get('public.kept')!, want());
    }
    expect(byId((await readWithPyIceberg(uri(), 'public.kept')).rows)).toEqual(want());
    const preCompaction = (await lake.metadata(schema))['current-snapshot-id']!;
    const rowsBeforeCompaction = want();
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
    // AND the snapshot before the compaction still reads exactly as it was (time travel onto the
    // data and delete files the compaction replaced)
    const [now, then] = await Promise.all([
      bothReaders('public.kept'),
      bothReaders('public.kept', preCompaction),
    ]);
    expect(now).toEqual([want(), want()]);
    expect(then).toEqual([rowsBeforeCompaction, rowsBeforeCompaction]);
    const meta = await lake.metadata(schema);
    const current = meta.snapshots.find((s) => s['snapshot-id'] === meta['current-snapshot-id'])!;
    expect(current.summary.operation).toBe('replace');
    expect(current.summary['total-delete-files']).toBe('0');
    expect(current.summary['tidemark.token']).toBe('t5'); // the sink's token survives compaction
    rowsAt.set(current['snapshot-id'], want());

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
    const c = await lake.commit([again], { properties: { 'tidemark.token': 'late' } });
    expected.set(7, 'late');
    expected.delete(8);
    rowsAt.set(c.snapshots.get('public.kept')!, want());
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
    const want = () => [...expected].map(([id, v]) => plain(id, v)).sort((a, b) => a.id - b.id);
    await commit(Array.from({ length: 40 }, (_, id) => put(id, 'big')));
    await recordCurrent(small, want());
    await cli('compact', '--table', 'public.small', '--target-file-rows', '40');
    await recordCurrent(small, want());
    const liveFiles = async () => {
      const m = await lake.metadata(small);
      return (await planScan(new LocalFileIO(), m, 'public.small')).dataFiles.map((e) => e.file.filePath);
    };
    const [big] = await liveFiles();
    expect(await liveFiles()).toHaveLength(1);
    // GIVEN three small commits that leave the big file alone
    for (let r = 0; r < 3; r++) {
      await commit([100 + 2 * r, 101 + 2 * r].map((id) => put(id, 'new')));
      await recordCurrent(small, want());
    }

    // WHEN only the small files are compacted THEN they become one file, next to the untouched big one
    const out = JSON.parse(
      (await cli('compact', '--table', 'public.small', '--target-file-rows', '40', '--only-small', '--json'))
        .stdout,
    );
    expect(out).toEqual([{ table: 'public.small', rewrittenFiles: 3, newFiles: 1 }]);
    await recordCurrent(small, want());
    const after = await liveFiles();
    expect(after).toHaveLength(2);
    expect(after).toContain(big);
    expect(byId((await readWithPyIceberg(uri(), 'public.small')).rows)).toEqual(want());

    // WHEN a row of the big file is deleted THEN the next --only-small rewrites it too and drops the delete file
    await commit([del(small, { id: 5n }, seq++)]);
    expected.delete(5);
    await recordCurrent(small, want());
    const again = JSON.parse(
      (await cli('compact', '--table', 'public.small', '--target-file-rows', '40', '--only-small', '--json'))
        .stdout,
    );
    expect(again[0].rewrittenFiles).toBe(3); // the big file, the small compacted one, the delete file
    await recordCurrent(small, want());
    expect(await liveFiles()).not.toContain(big);
    const m = await lake.metadata(small);
    expect(
      m.snapshots.find((x) => x['snapshot-id'] === m['current-snapshot-id'])!.summary['total-delete-files'],
    ).toBe('0');
    expect(await bothReaders('public.small')).toEqual([want(), want()]);
  });

  it('expires by age only what is older than T: keepLast 1 with a large olderThanMs expires nothing; a cutoff between snapshots expires those before it', async () => {
    const { catalog } = suite;
    // GIVEN the kept table's snapshots, all younger than a day
    const before = (await lake.metadata(schema)).snapshots.map((s) => s['snapshot-id']);
    expect(before.length).toBeGreaterThan(3);

    // WHEN expiry keeps one snapshot but only expires those older than a day
    const none = await lake.expire(schema, {
      keepLast: 1,
      olderThanMs: 86_400_000,
      orphansOlderThanMs: 86_400_000,
    });
    // THEN nothing is expired or deleted
    expect(none).toEqual({ expired: 0, deletedFiles: 0, orphans: 0 });
    expect((await lake.metadata(schema)).snapshots.map((s) => s['snapshot-id'])).toEqual(before);

    // WHEN the clock stands so that the cutoff falls between two snapshots of the small table
    const st = await loadTableState(catalog, new LocalFileIO(), { namespace: 'public', name: 'small' });
    const snaps = [...st.metadata.snapshots].sort((a, b) => a['timestamp-ms'] - b['timestamp-ms']);
    const k = snaps.findIndex((s, i) => i >= 2 && s['timestamp-ms'] > snaps[i - 1]!['timestamp-ms']);
    expect(k).toBeGreaterThan(0);
    const cutoff = snaps[k]!['timestamp-ms'];
    const r = await expireSnapshots(catalog, new LocalFileIO(), st, {
      keepLast: 1,
      olderThanMs: 3_600_000,
      nowMs: cutoff + 3_600_000,
    });
    // THEN exactly the snapshots older than the cutoff are gone
    expect(r.expired).toBe(k);
    const after = (await loadTableState(catalog, new LocalFileIO(), st.ident)).metadata;
    expect(after.snapshots.map((s) => s['snapshot-id']).sort()).toEqual(
      snaps
        .slice(k)
        .map((s) => s['snapshot-id'])
        .sort(),
    );
    // AND the oldest snapshot kept reads exactly as it was committed, in both readers
    const oldest = snaps[k]!['snapshot-id'];
    expect(rowsAt.has(oldest)).toBe(true);
    expect(await bothReaders('public.small', oldest)).toEqual([rowsAt.get(oldest), rowsAt.get(oldest)]);
  });

  it('expires old snapshots and their files, and removes old orphan files only', async () => {
    const { dir, catalog } = suite;
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
    // AND the kept older snapshot reads exactly as it was committed (time travel within what is kept)
    const keptOlder = after.snapshots.find((s) => s['snapshot-id'] !== after['current-snapshot-id'])!;
    const then = rowsAt.get(keptOlder['snapshot-id']);
    expect(then).toBeDefined();
    expect(then).not.toEqual(rowsBefore); // the older snapshot differs from the current one
    const [now, older] = await Promise.all([
      bothReaders('public.kept'),
      bothReaders('public.kept', keptOlder['snapshot-id']),
    ]);
    expect(now).toEqual([rowsBefore, rowsBefore]);
    expect(older).toEqual([then, then]);
  });

  // (the CLI refuses the option before it opens any catalog: once is enough)
  if (kind === 'sqlite')
    it('refuses a duration it cannot read, naming the option', async () => {
      await expect(cli('expire', '--older-than', 'soon')).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--older-than must be a duration like 7d/),
      });
    });
});
