import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { killAllTidemarks } from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';
import { embeddedPipeline } from './support/embedded-pipeline';
import { duckdbNoteDigest, waitForSlot } from './support/shop-mirror';

const LINE = `concat_ws('|', id::text, md5(note))`;

const pipeline = (db: TestDatabase, tables = '"public.big"') =>
  embeddedPipeline(db, {
    tables,
    prefix: 'tm-embparts',
    sinks: (dir) => `  batchMaxRows: 2000
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: duckdb, path: ${dir}/warehouse.duckdb }`,
  });

/**
 * Embedded mode with one transaction fifteen times the sinks' buffer bound: the buffers are
 * written to both sinks in parts while the source reads on (it waits for room, so memory stays
 * bounded), and the whole transaction becomes visible in one commit. A kill -9 while the parts
 * are written leaves nothing of it visible; the restart replays it from the slot.
 */
describe('embedded mode: a transaction larger than the sink buffers', () => {
  let db: TestDatabase;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
  });

  it('is written in parts, shows nothing before its commit, and ends whole after a kill -9', async () => {
    db = await createTestDatabase('e2e_embparts');
    await psql(
      db.url,
      `CREATE TABLE big (id int PRIMARY KEY, note text);
       INSERT INTO big SELECT g, 'first ' || g FROM generate_series(1, 100) g`,
    );
    const { dir, start } = await pipeline(db);
    let proc = start();
    await proc.ready(90_000);
    await waitForSlot(db.url, `tidemark_${db.name}`, 90_000);
    const first = await tableDigestOf(db.url, 'big', LINE);

    // WHEN one transaction writes 30,000 rows and changes rows of its own and older ones
    await psql(
      db.url,
      `BEGIN;
       INSERT INTO big SELECT g, 'row ' || g FROM generate_series(101, 30100) g;
       UPDATE big SET note = note || ' +' WHERE id % 3 = 0;
       DELETE FROM big WHERE id % 7 = 0;
       COMMIT;`,
    );
    // AND the process is killed once a few parts are written
    const until = Date.now() + 120_000;
    while ((proc.stderr().match(/part written to the sinks/g)?.length ?? 0) < 3) {
      if (Date.now() > until || proc.child.exitCode !== null)
        throw new Error(`no parts written:\n${proc.stderr().slice(-5000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(proc.stderr()).not.toMatch(/round in parts committed/);
    await proc.kill9();
    // THEN neither sink shows any of the transaction
    expect(await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.big')).toEqual(first);
    expect(await duckdbNoteDigest(`${dir}/warehouse.duckdb`)).toEqual(first);

    // WHEN it starts again
    proc = start();
    await proc.ready(90_000);
    await waitForSlot(db.url, `tidemark_${db.name}`, 120_000);
    expect(await proc.terminate()).toBe(0);
    // THEN it wrote the transaction in parts again and both sinks equal the source
    expect(proc.stderr()).toMatch(/part written to the sinks/);
    expect(proc.stderr()).toMatch(/round in parts committed/);
    const expected = await tableDigestOf(db.url, 'big', LINE);
    expect(expected.rows).toBe(30100 - Math.floor(30100 / 7));
    expect(await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.big')).toEqual(expected);
    expect(await duckdbNoteDigest(`${dir}/warehouse.duckdb`)).toEqual(expected);
  }, 400_000);

  /** A fresh table `big` of 100 rows, a fresh slot, and the pipeline started on them. */
  const freshStart = async (tables?: string) => {
    await psql(db.url, `DROP TABLE big; CREATE TABLE big (id int PRIMARY KEY, note text)`);
    await psql(db.url, `SELECT pg_drop_replication_slot('tidemark_${db.name}')`);
    await psql(db.url, `INSERT INTO big SELECT g, 'first ' || g FROM generate_series(1, 100) g`);
    const { dir, start } = await pipeline(db, tables);
    const proc = start();
    await proc.ready(90_000);
    await waitForSlot(db.url, `tidemark_${db.name}`, 90_000);
    return { dir, start, proc, first: await tableDigestOf(db.url, 'big', LINE) };
  };
  /** `lakeLine`: the source's line of every column the Iceberg table has, when it has more than id and note. */
  const expectBothSinksEqualSource = async (dir: string, rows: number, lakeLine = LINE) => {
    const expected = await tableDigestOf(db.url, 'big', LINE);
    expect(expected.rows).toBe(rows);
    expect(await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.big')).toEqual(
      await tableDigestOf(db.url, 'big', lakeLine),
    );
    expect(await duckdbNoteDigest(`${dir}/warehouse.duckdb`)).toEqual(expected);
  };

  it('writes in parts a transaction that truncates the table and loads it again', async () => {
    const { dir, proc } = await freshStart();
    // WHEN one transaction writes rows, truncates the table, then loads 15 times the bound and changes some
    await psql(
      db.url,
      `BEGIN;
       INSERT INTO big SELECT g, 'gone ' || g FROM generate_series(101, 8000) g;
       TRUNCATE big;
       INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 30000) g;
       UPDATE big SET note = note || ' +' WHERE id % 3 = 0;
       COMMIT;`,
    );
    await waitForSlot(db.url, `tidemark_${db.name}`, 120_000);
    const metrics = await (await fetch(`http://127.0.0.1:${proc.port}/metrics`)).text();
    const parts = Number(/^tidemark_sink_round_parts_total(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1]);
    expect(parts).toBeGreaterThan(1);
    expect(await proc.terminate()).toBe(0);
    // THEN it was written in parts (the truncate in one of them, not held whole) and both sinks equal the source
    expect(proc.stderr()).toMatch(/part written to the sinks/);
    expect(proc.stderr()).toMatch(/round in parts committed/);
    expect(proc.stderr()).not.toMatch(/held whole in memory/);
    await expectBothSinksEqualSource(dir, 30000);
  }, 300_000);

  it('takes a schema change into the round: DuckDB alters a copy of the table the round changed', async () => {
    const { dir, proc } = await freshStart();
    // WHEN one transaction writes 15 times the bound, then adds a column with a default and writes on
    await psql(
      db.url,
      `BEGIN;
       INSERT INTO big SELECT g, 'row ' || g FROM generate_series(101, 30000) g;
       ALTER TABLE big ADD COLUMN extra int DEFAULT 3;
       UPDATE big SET note = note || ' +', extra = 1 WHERE id % 5 = 0;
       COMMIT;`,
    );
    await waitForSlot(db.url, `tidemark_${db.name}`, 120_000);
    expect(await proc.terminate()).toBe(0);
    // THEN it was written in parts, the ALTER inside the round, and both sinks equal the source
    expect(proc.stderr()).toMatch(/part written to the sinks/);
    expect(proc.stderr()).toMatch(
      /a schema change inside a transaction written in parts: taken into its round/,
    );
    expect(proc.stderr()).toMatch(/round in parts committed/);
    expect(proc.stderr()).not.toMatch(/held whole in memory|was given up/);
    const withExtra = `concat_ws('|', id::text, md5(note), coalesce(extra::text, 'null'))`;
    await expectBothSinksEqualSource(dir, 30000, withExtra);
    expect(
      await duckdbNoteDigest(
        `${dir}/warehouse.duckdb`,
        `concat_ws('|', id::VARCHAR, md5(note), coalesce(extra::VARCHAR, 'null'))`,
      ),
    ).toEqual(await tableDigestOf(db.url, 'big', withExtra));
  }, 300_000);

  it('writes in parts a transaction whose later parts change keys of rows with TOAST-unchanged notes', async () => {
    const { dir, proc } = await freshStart();
    // GIVEN notes stored out of line (an update leaving them alone sends them unchanged), rows 1-100 among them
    await psql(
      db.url,
      `ALTER TABLE big ALTER note SET STORAGE EXTERNAL; UPDATE big SET note = repeat('n', 3000) || id`,
    );
    await waitForSlot(db.url, `tidemark_${db.name}`, 120_000);
    // WHEN one transaction writes 15 times the bound (every 50th row with an out-of-line note), then
    // changes the keys of rows from before it and of rows it wrote, some of them twice
    await psql(
      db.url,
      `BEGIN;
       INSERT INTO big SELECT g, CASE WHEN g % 50 = 0 THEN repeat('m', 3000) || g ELSE 'row ' || g END
         FROM generate_series(101, 30000) g;
       UPDATE big SET id = id + 100000 WHERE id <= 100 OR id % 50 = 0;
       UPDATE big SET id = id + 100000 WHERE id > 100000 AND id % 3 = 0;
       COMMIT;`,
    );
    await waitForSlot(db.url, `tidemark_${db.name}`, 120_000);
    expect(await proc.terminate()).toBe(0);
    // THEN it was written in parts, each key change's halves in one part, and both sinks equal the
    // source: the new keys carry the notes the WAL did not send
    expect(proc.stderr()).toMatch(/part written to the sinks/);
    expect(proc.stderr()).toMatch(/round in parts committed/);
    expect(proc.stderr()).not.toMatch(/held whole in memory|was given up/);
    const moved = await psql<{ n: string }>(
      db.url,
      `SELECT count(*)::text AS n FROM big WHERE id > 100000 AND length(note) > 3000`,
    );
    expect(Number(moved[0]!.n)).toBe(100 + 598); // rows 1-100 and every 50th row it wrote
    await expectBothSinksEqualSource(dir, 30000);
  }, 300_000);

  it('creates in its round a table first met inside a transaction written in parts', async () => {
    // GIVEN a publication of all tables (made by an administrator) and the pipeline on public.*
    await psql(
      db.url,
      `DROP PUBLICATION IF EXISTS tidemark_${db.name}; CREATE PUBLICATION tidemark_${db.name} FOR ALL TABLES`,
    );
    const { dir, proc } = await freshStart('"public.*"');
    // WHEN one transaction writes 15 times the bound, then creates a table and loads it
    await psql(
      db.url,
      `BEGIN;
       INSERT INTO big SELECT g, 'row ' || g FROM generate_series(101, 30000) g;
       CREATE TABLE fresh (id int PRIMARY KEY, label text);
       INSERT INTO fresh SELECT g, 'label ' || g FROM generate_series(1, 5000) g;
       UPDATE big SET note = note || ' +' WHERE id % 3 = 0;
       COMMIT;`,
    );
    await waitForSlot(db.url, `tidemark_${db.name}`, 120_000);
    expect(await proc.terminate()).toBe(0);
    // THEN the new table was taken into the open round, not held whole, and both sinks equal the source
    expect(proc.stderr()).toMatch(/part written to the sinks/);
    expect(proc.stderr()).toMatch(
      /taken into its round.*"new":\["public\.fresh"\]|"new":\["public\.fresh"\].*taken into its round/,
    );
    expect(proc.stderr()).toMatch(/round in parts committed/);
    expect(proc.stderr()).not.toMatch(/held whole in memory|was given up/);
    await expectBothSinksEqualSource(dir, 30000);
    const line = `concat_ws('|', id::text, md5(label))`;
    const fresh = await tableDigestOf(db.url, 'fresh', line);
    expect(fresh.rows).toBe(5000);
    expect(await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.fresh')).toEqual(fresh);
    expect(
      await duckdbNoteDigest(`${dir}/warehouse.duckdb`, `concat_ws('|', id::VARCHAR, md5(label))`, 'fresh'),
    ).toEqual(fresh);
  }, 300_000);
});
