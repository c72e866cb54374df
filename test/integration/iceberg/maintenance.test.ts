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

  it('--only-small rewrites the small files and those with many deleted rows, keeps big files as they are and merges their position deletes', async () => {
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

    const onlySmall = async () =>
      JSON.parse(
        (
          await cli(
            'compact',
            '--table',
            'public.small',
            '--target-file-rows',
            '40',
            '--only-small',
            '--json',
          )
        ).stdout,
      );
    const deleteFiles = async () => {
      const m = await lake.metadata(small);
      return (await planScan(new LocalFileIO(), m, 'public.small')).deleteFiles.map((e) => e.file.filePath);
    };

    // WHEN two rows of the big file are deleted by two commits (two position-delete files, 5% of it)
    for (const id of [5, 6]) {
      await commit([del(small, { id: BigInt(id) }, seq++)]);
      expected.delete(id);
      await recordCurrent(small, want());
    }
    expect(await deleteFiles()).toHaveLength(2);
    // AND a change of a row of the big file staged by the writer, not committed yet
    const late = await lake.stage(small, {
      truncatedAt: null,
      changes: [upsert(small, row(7, 'late'), seq++)],
    });
    // THEN --only-small keeps the big file and merges its deletes into one file
    expect(await onlySmall()).toEqual([{ table: 'public.small', rewrittenFiles: 2, newFiles: 1 }]);
    await recordCurrent(small, want());
    expect(await liveFiles()).toContain(big);
    expect(await deleteFiles()).toHaveLength(1);
    expect(await bothReaders('public.small')).toEqual([want(), want()]);
    // AND a pass with nothing to gain does nothing
    expect(await onlySmall()).toEqual([{ table: 'public.small', rewrittenFiles: 0, newFiles: 0 }]);
    // AND the change staged before the merge lands on it (no row moved), its old image deleted
    await lake.commit([late], { properties: {} });
    expected.set(7, 'late');
    await recordCurrent(small, want());
    expect(await deleteFiles()).toHaveLength(2);
    expect(await bothReaders('public.small')).toEqual([want(), want()]);

    // WHEN over 30% of the big file is deleted THEN the next --only-small rewrites it with the
    // small one, and no delete file is left
    await commit([10, 11, 12, 13, 14, 15, 16, 17, 18, 19].map((id) => del(small, { id: BigInt(id) }, seq++)));
    for (let id = 10; id < 20; id++) expected.delete(id);
    await recordCurrent(small, want());
    const again = await onlySmall();
    // the big file, the two small ones (compacted before, and the late change's), three delete files
    expect(again[0].rewrittenFiles).toBe(6);
    await recordCurrent(small, want());
    expect(await liveFiles()).not.toContain(big);
    expect(await liveFiles()).toHaveLength(1);
    const m = await lake.metadata(small);
    expect(
      m.snapshots.find((x) => x['snapshot-id'] === m['current-snapshot-id'])!.summary['total-delete-files'],
    ).toBe('0');
    expect(await bothReaders('public.small')).toEqual([want(), want()]);
  });

  it("the writer's key index follows the rows a compaction moved: the next round reads no data file, and its updates and deletes land on the rewritten rows", async () => {
    // GIVEN a writer whose file reads are counted, on a table of many small files
    const counted = new LocalFileIO();
    const dataReads: string[] = [];
    const read = counted.read.bind(counted);
    counted.read = async (location: string) => {
      if (/\/data\/[^/]*\.parquet$/.test(location) && !location.endsWith('-deletes.parquet'))
        dataReads.push(location);
      return read(location);
    };
    const writer = new Lakehouse({
      catalog: suite.catalog,
      io: counted,
      warehouse: `file://${suite.dir}/lake`,
      targetFileRows: 4,
    });
    const moved: TableSchema = { ...schema, table: 'moved' };
    await writer.createTable(moved);
    let seq = 5000;
    const expected = new Map<number, string>();
    const want = () => [...expected].map(([id, v]) => plain(id, v)).sort((a, b) => a.id - b.id);
    const commit = async (changes: ReturnType<typeof upsert>[]) =>
      writer.commit([await writer.stage(moved, { truncatedAt: null, changes })], { properties: {} });
    for (let r = 0; r < 4; r++) {
      await commit(
        Array.from({ length: 6 }, (_, i) => {
          expected.set(r * 6 + i, `r${r}`);
          return upsert(moved, row(r * 6 + i, `r${r}`), seq++);
        }),
      );
    }
    await commit([del(moved, { id: 3n }, seq++), upsert(moved, row(4, 'u'), seq++)]);
    expected.delete(3);
    expected.set(4, 'u');

    // WHEN the writer compacts the table into one file
    const done = await writer.compact(moved, 100, 'all');
    expect(done.newFiles).toBe(1);
    const plan = await planScan(new LocalFileIO(), await writer.metadata(moved), 'public.moved');
    expect(plan.dataFiles).toHaveLength(1);
    expect(plan.deleteFiles).toHaveLength(0);

    // AND then commits updates and deletes of rows that moved
    dataReads.length = 0;
    await commit([
      upsert(moved, row(1, 'after'), seq++),
      upsert(moved, row(4, 'after'), seq++),
      del(moved, { id: 20n }, seq++),
      upsert(moved, row(99, 'new'), seq++),
    ]);
    expected.set(1, 'after');
    expected.set(4, 'after');
    expected.delete(20);
    expected.set(99, 'new');

    // THEN that round read no data file (no index rebuild), and both readers read exactly the
    // expected rows: no old image of a moved row is left visible
    expect(dataReads).toEqual([]);
    expect(await bothReaders('public.moved')).toEqual([want(), want()]);
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

  it('expires by count beyond maxSnapshots whatever the age, reading each manifest once', async () => {
    const { catalog } = suite;
    // GIVEN a table of eight young snapshots, each adding a file next to the earlier ones
    const counted: TableSchema = { ...schema, table: 'counted' };
    await lake.createTable(counted);
    let seq = 9000;
    const expected = new Map<number, string>();
    const want = () => [...expected].map(([id, v]) => plain(id, v)).sort((a, b) => a.id - b.id);
    const committed: number[] = [];
    for (let r = 0; r < 8; r++) {
      expected.set(r, `c${r}`);
      const c = await lake.commit(
        [
          await lake.stage(counted, {
            truncatedAt: null,
            changes: [upsert(counted, row(r, `c${r}`), seq++)],
          }),
        ],
        { properties: {} },
      );
      committed.push(c.snapshots.get('public.counted')!);
      rowsAt.set(committed[committed.length - 1]!, want());
    }
    // WHEN expiry keeps two by count and everything younger than a day, but at most three
    const io = new LocalFileIO();
    const reads = new Map<string, number>();
    const read = io.read.bind(io);
    io.read = async (location: string) => {
      reads.set(location, (reads.get(location) ?? 0) + 1);
      return read(location);
    };
    const st = await loadTableState(catalog, io, { namespace: 'public', name: 'counted' });
    reads.clear();
    const r = await expireSnapshots(catalog, io, st, {
      keepLast: 2,
      olderThanMs: 86_400_000,
      maxSnapshots: 3,
    });
    // THEN the five oldest are expired, the newest three stay
    expect(r.expired).toBe(5);
    const after = (await loadTableState(catalog, new LocalFileIO(), st.ident)).metadata;
    expect(after.snapshots.map((x) => x['snapshot-id']).sort()).toEqual(committed.slice(5).sort());
    // AND each manifest was read once, though every snapshot lists the earlier ones' manifests
    const manifestReads = [...reads].filter(([l]) => /-m[01]\.avro$/.test(l));
    expect(manifestReads.length).toBeGreaterThan(5);
    expect(manifestReads.filter(([, n]) => n > 1)).toEqual([]);
    // AND the current and the oldest kept snapshot read as they were committed
    expect(await bothReaders('public.counted')).toEqual([want(), want()]);
    const oldest = committed[5]!;
    expect(await bothReaders('public.counted', oldest)).toEqual([rowsAt.get(oldest), rowsAt.get(oldest)]);
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
    const r = (
      JSON.parse(out.stdout) as Array<{
        table: string;
        expired: number;
        deletedFiles: number;
        orphans: number;
      }>
    ).find((x) => x.table === 'public.kept');

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

  it('a compaction that finds a data file missing names the table and the file, and commits nothing', async () => {
    // GIVEN a table of two small files, one of them lost from storage
    const lost: TableSchema = { ...schema, table: 'lost' };
    await lake.createTable(lost);
    for (const id of [1, 2])
      await lake.commit(
        [await lake.stage(lost, { truncatedAt: null, changes: [upsert(lost, row(id, 'x'), id)] })],
        {
          properties: {},
        },
      );
    const before = await lake.metadata(lost);
    const files = (await planScan(new LocalFileIO(), before, 'public.lost')).dataFiles.map(
      (e) => e.file.filePath,
    );
    expect(files).toHaveLength(2);
    await new LocalFileIO().delete(files[0]!);
    // WHEN it is compacted THEN the error says which file of which table could not be read
    await expect(lake.compact(lost, 10, 'small')).rejects.toThrow(
      `table public.lost: data file ${files[0]} cannot be read`,
    );
    // AND the table is as it was
    expect((await lake.metadata(lost))['current-snapshot-id']).toBe(before['current-snapshot-id']);
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
