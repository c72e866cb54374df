import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SQL_CATALOG_KINDS, type SqlCatalogUnderTest, sqlCatalogSuite } from '../../support/iceberg-catalogs';
import { inspectWithJava } from '../../support/iceberg-inspect';
import { keyValueSchema, startLakeWriter } from '../../support/lake-writer-process';
import { byId, del, PYTHON, readWithPyIceberg, upsert } from './iceberg-fixtures';

/** One statement (or several, unparameterised) on the PostgreSQL catalog's database. */
async function catalogQuery(cat: SqlCatalogUnderTest, sql: string): Promise<void> {
  const c = new Client({ connectionString: cat.configUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * test/python/pointer_pairs.py in its own process: polls both tables' pointers in one SQL
 * statement until stop(), which resolves with the commit-id pairs it saw.
 */
function startPointerReader(pyUri: string, tableA: string, tableB: string, dir: string) {
  const stopFile = join(dir, `stop-${tableA}`);
  const script = join(__dirname, '..', '..', 'python', 'pointer_pairs.py');
  const child = spawn(PYTHON, [script, pyUri, 'tidemark', 'public', tableA, tableB, stopFile]);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) resolve();
    });
    void exited.then(() => reject(new Error(`pointer reader exited before it was ready: ${err}`)));
  });
  return {
    ready,
    async stop(): Promise<{ reads: number; pairs: [string | null, string | null][] }> {
      writeFileSync(stopFile, '');
      if ((await exited) !== 0) throw new Error(`pointer reader failed: ${err}`);
      return JSON.parse(out.slice('ready\n'.length));
    },
    kill: () => child.kill('SIGKILL'),
  };
}

describe.each(SQL_CATALOG_KINDS)('Iceberg writers racing on a %s catalog', (kind) => {
  const suite = sqlCatalogSuite(kind, 'iceberg-race-');

  test('a reader polling both tables in one statement (another process) never sees one table of a two-table commit without the other', async () => {
    const { dir, cat, catalog } = suite;
    // GIVEN two tables, and on PostgreSQL a trigger that sleeps after each pointer update: a
    // writer that swapped the tables in two transactions would certainly be seen half-way
    const [a, b] = [keyValueSchema('pair_a'), keyValueSchema('pair_b')];
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` });
    await lake.createTable(a);
    await lake.createTable(b);
    if (kind === 'postgres') {
      await catalogQuery(
        cat,
        `CREATE FUNCTION slow_swap() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$;
         CREATE TRIGGER slow_swap AFTER UPDATE ON iceberg_tables FOR EACH ROW EXECUTE FUNCTION slow_swap()`,
      );
    }
    // (SQLite cannot widen the window: more commits make a torn read likely enough to be seen)
    const commits = kind === 'postgres' ? 15 : 40;
    const reader = startPointerReader(cat.pyUri, 'pair_a', 'pair_b', dir);
    let seen: [string | null, string | null][];
    let reads: number;
    try {
      await reader.ready;
      // WHEN a writer makes repeated commits of both tables while the reader reads both pointers
      for (let i = 0; i < commits; i++) {
        const changes = (t: TableSchema) => [upsert(t, { id: BigInt(i), v: `c${i}` }, i)];
        await lake.commit(
          [
            await lake.stage(a, { truncatedAt: null, changes: changes(a) }),
            await lake.stage(b, { truncatedAt: null, changes: changes(b) }),
          ],
          { properties: {}, commitId: `commit-${i}` },
        );
      }
      ({ pairs: seen, reads } = await reader.stop());
    } finally {
      reader.kill();
      if (kind === 'postgres') await catalogQuery(cat, 'DROP TRIGGER slow_swap ON iceberg_tables');
    }

    // THEN every read saw both tables at the same commit, and the reads spanned many commits
    const torn = seen.filter(([x, y]) => x !== y);
    expect(torn).toEqual([]);
    // (the reads interleaved with the commits: they saw several of them land, over many reads)
    expect(new Set(seen.map(([x]) => x)).size).toBeGreaterThan(3);
    expect(reads).toBeGreaterThan(seen.length);
    expect(seen[seen.length - 1]).toEqual([`commit-${commits - 1}`, `commit-${commits - 1}`]);
  });

  test('two writers that both staged on the same base: one retries, no commit is lost, PyIceberg and Java read every row', async () => {
    const { dir, cat, catalog } = suite;
    // GIVEN a table, a writer here and a second writer in another process (its own connection)
    const t = keyValueSchema('shared');
    const io = new LocalFileIO();
    const lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/warehouse` });
    await lake.createTable(t);
    const other = startLakeWriter(cat.configUrl, `file://${dir}/warehouse`, t);
    const expected = new Map<number, string>();
    const ids: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        // WHEN both stage (inserts; an update and a delete of their own earlier rows) before either commits
        const mine = [upsert(t, { id: BigInt(round), v: `mine ${round}` }, round * 3)];
        const theirs: [number, string][] = [[1000 + round, `theirs ${round}`]];
        const theirDeletes: number[] = [];
        if (round > 0) {
          mine.push(upsert(t, { id: BigInt(round - 1), v: `mine ${round - 1} again` }, round * 3 + 1));
          theirs.push([1000 + round - 1, `theirs ${round - 1} again`]);
        }
        if (round === 2) {
          mine.push(del(t, { id: 0n }, round * 3 + 2));
          theirDeletes.push(1000);
        }
        await lake.metadata(t); // reloads: both stage on the table as it is now (the other writer reloads too)
        const [staged] = await Promise.all([
          lake.stage(t, { truncatedAt: null, changes: mine }),
          other.stage(theirs, theirDeletes),
        ]);
        // AND both commit at once
        const [ours, their] = await Promise.all([
          lake.commit([staged], { properties: {}, commitId: `mine-${round}` }),
          other.commit(`theirs-${round}`),
        ]);
        ids.push(`mine-${round}`, `theirs-${round}`);
        for (const c of mine) {
          if (c.kind === 'upsert') expected.set(Number(c.row.id), String(c.row.v));
          else expected.delete(Number(c.keyRow.id));
        }
        for (const [id, v] of theirs) expected.set(id, v);
        for (const id of theirDeletes) expected.delete(id);
        // THEN exactly one of them met the other's commit and committed on a later attempt
        expect([ours.attempts, their.attempts].sort()).toEqual([1, 2]);
      }
    } finally {
      await other.exit();
    }

    // AND every commit is in the current snapshot's lineage, in both writers' order of landing
    const m = await lake.metadata(t);
    const byId_ = new Map(m.snapshots.map((s) => [s['snapshot-id'], s]));
    const lineage: string[] = [];
    for (let s = byId_.get(m['current-snapshot-id']!); s; s = byId_.get(s['parent-snapshot-id']!))
      lineage.push(s.summary['tidemark.commit-id']!);
    expect([...lineage].sort()).toEqual([...ids].sort());
    // AND both independent readers read every row of both writers, each key once
    const want = [...expected].map(([id, v]) => ({ id, v })).sort((x, y) => x.id - y.id);
    expect(byId((await readWithPyIceberg(cat.pyUri, 'public.shared')).rows)).toEqual(want);
    expect(byId((await inspectWithJava(cat.jdbc, 'public.shared', [true])).scans[0]!.rows)).toEqual(want);
  });
});
