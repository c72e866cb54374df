import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { waitUntil } from '../support/settled';
import { killAllTidemarks, runCli } from '../support/tidemark-process';
import { icebergTableDigest } from './support/cut-history';
import { embeddedPipeline } from './support/embedded-pipeline';
import { duckdbRows, waitForSlot } from './support/shop-mirror';

async function duckdbIds(path: string, table: string): Promise<number[]> {
  return (await duckdbRows(path, `SELECT id FROM public.${table} ORDER BY id`)).map((r) => Number(r.id));
}

/**
 * `tables.<t>.snapshot: never`: that table is streamed only. Its rows from before the pipeline
 * started (or before it joined) are not copied, while the other tables are; its changes reach
 * both sinks. The same for a table that joins the running pipeline.
 */
describe('a table with snapshot: never', () => {
  let db: TestDatabase;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
  });

  it('is not copied, at start or when it joins, and its changes are mirrored', async () => {
    db = await createTestDatabase('e2e_snapnever');
    await psql(
      db.url,
      `CREATE TABLE orders (id int PRIMARY KEY, note text);
       INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 100) g;
       CREATE TABLE events (id int PRIMARY KEY, note text);
       INSERT INTO events SELECT g, 'old ' || g FROM generate_series(1, 500) g;`,
    );
    const { dir, config, env, start } = await embeddedPipeline(db, {
      tables: '"public.*"',
      prefix: 'tm-snapnever',
      source: 'discoverEveryMs: 1000',
      sinks: (
        d,
      ) => `  iceberg: { catalog: { kind: sql, url: "sqlite://${d}/catalog.db" }, location: ${d}/lake }
  warehouse: { kind: duckdb, path: ${d}/warehouse.duckdb }
tables:
  public.events: { snapshot: never }
  public.late: { snapshot: never }`,
    });
    const slot = `tidemark_${db.name}`;
    const proc = start();
    await proc.ready(90_000);
    await waitForSlot(db.url, slot);

    // WHEN events changes (an update and a delete of rows from before, new rows) and a table
    // with snapshot never joins with rows, then gets more
    await psql(
      db.url,
      `INSERT INTO events SELECT g, 'new ' || g FROM generate_series(1001, 1007) g;
       UPDATE events SET note = 'changed' WHERE id = 1;
       DELETE FROM events WHERE id = 2;
       CREATE TABLE late (id int PRIMARY KEY, note text);
       INSERT INTO late SELECT g, 'before ' || g FROM generate_series(1, 10) g;`,
    );
    await waitUntil(
      'late joined',
      async () => /new table joined the pipeline, streamed only/.test(proc.stderr()),
      60_000,
      { proc, everyMs: 100 },
    );
    await psql(db.url, `INSERT INTO late SELECT g, 'after ' || g FROM generate_series(11, 15) g`);
    await waitForSlot(db.url, slot);
    expect(await proc.terminate()).toBe(0);

    // THEN orders was copied; events and late hold only what changed since they were mirrored
    const eventIds = [1, 1001, 1002, 1003, 1004, 1005, 1006, 1007];
    const lateIds = [11, 12, 13, 14, 15];
    const warehouse = `${dir}/warehouse.duckdb`;
    expect((await duckdbIds(warehouse, 'orders')).length).toBe(100);
    expect(await duckdbIds(warehouse, 'events')).toEqual(eventIds);
    expect(await duckdbIds(warehouse, 'late')).toEqual(lateIds);
    const catalog = `sqlite:///${dir}/catalog.db`;
    expect((await icebergTableDigest(catalog, 'public.orders')).rows).toBe(100);
    expect((await icebergTableDigest(catalog, 'public.events')).rows).toBe(eventIds.length);
    expect((await icebergTableDigest(catalog, 'public.late')).rows).toBe(lateIds.length);
    expect(proc.stderr()).not.toMatch(/copying it|snapshot of table done.*public\.events/);
    // AND verify compares such a table's two sinks with each other, not with the source
    const verify = await runCli(['verify', '--config', config, '--json'], env);
    const report = JSON.parse(verify.stdout) as {
      agree: boolean;
      tables: Array<{ table: string; agree: boolean; notes: string[] }>;
    };
    expect(verify.code).toBe(0);
    expect(report.agree).toBe(true);
    const events = report.tables.find((t) => t.table === 'public.events');
    expect(events?.notes.join(' ')).toMatch(/snapshot never: .*compared with each other/);
  }, 300_000);
});
