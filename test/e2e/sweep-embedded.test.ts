import { DuckDBInstance } from '@duckdb/node-api';
import { Client } from 'pg';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { killAllTidemarks, runCli } from '../support/tidemark-process';
import { tableDigestOf } from './support/cut-history';
import { embeddedPipeline } from './support/embedded-pipeline';
import { duckdbNoteDigest, waitForSlot } from './support/shop-mirror';

const LINE = `concat_ws('|', id::text, md5(note))`;

async function duckdb(path: string, sql: string): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    await c.run(sql);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

/**
 * `tidemark sweep` in embedded mode with the DuckDB warehouse, which one process at a time may
 * open: tidemark is stopped, the sweep finds the rows only the warehouse holds and writes its
 * request into the WAL, and the source applies it when tidemark starts again. A row the source
 * holds is never swept, and neither is a key inserted after the sweep; keys of text, timestamps
 * (to the microsecond), numerics and uuids are looked up exactly.
 */
describe('embedded mode: a sweep while tidemark is stopped', () => {
  let db: TestDatabase;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
  });

  it('deletes the rows only the warehouse holds once tidemark starts again', async () => {
    db = await createTestDatabase('e2e_sweepemb');
    await psql(
      db.url,
      `CREATE TABLE big (id int PRIMARY KEY, note text);
       INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
       CREATE TABLE sales (region text, at timestamptz, amount numeric(12,2), id uuid, qty int,
                           PRIMARY KEY (region, at, amount, id));
       INSERT INTO sales SELECT 'eu ' || (g % 3), timestamptz '2026-01-01 10:00:00.123456+00' + g * interval '1 hour',
                                g * 1.25, md5(g::text)::uuid, g FROM generate_series(1, 50) g`,
    );
    const { dir, config, env, start } = await embeddedPipeline(db, {
      tables: '"public.big", "public.sales"',
      prefix: 'tm-sweepemb',
      sinks: (d) => `  warehouse: { kind: duckdb, path: ${d}/warehouse.duckdb }`,
    });
    let proc = start();
    await proc.ready(90_000);
    await waitForSlot(db.url, `tidemark_${db.name}`, 90_000);
    expect(await proc.terminate()).toBe(0);
    // GIVEN rows the warehouse holds and the source does not (as lost deletes would leave them)
    await duckdb(
      `${dir}/warehouse.duckdb`,
      `INSERT INTO public.big SELECT g, 'stale ' || g FROM range(5001, 5011) t(g)`,
    );
    expect((await duckdbNoteDigest(`${dir}/warehouse.duckdb`)).rows).toBe(1010);
    // AND rows of a table keyed on text, a timestamp, a numeric and a uuid: one whose every key
    // column but the uuid matches a source row, one a microsecond off another
    await duckdb(
      `${dir}/warehouse.duckdb`,
      `INSERT INTO public.sales VALUES
         ('eu 1', TIMESTAMPTZ '2026-01-01 11:00:00.123456+00', 1.25, '00000000-0000-0000-0000-000000000001', 0),
         ('eu 2', TIMESTAMPTZ '2026-01-01 12:00:00.123457+00', 2.50, md5('2')::UUID, 0)`,
    );

    // WHEN the operator sweeps the table while tidemark is stopped, and a transaction writing the
    // table holds its lock for 2.5 s meanwhile (the sweep gives way and tries again)
    const writer = new Client({ connectionString: db.url });
    await writer.connect();
    await writer.query(`BEGIN; UPDATE big SET note = note WHERE id = 1`);
    const released = new Promise((r) => setTimeout(r, 2500)).then(() => writer.query('COMMIT'));
    const swept = await runCli(['sweep', '--config', config, '--table', 'big', '--json'], env);
    await released;
    await writer.end();
    expect(swept.code).toBe(0);
    expect(JSON.parse(swept.stdout)).toMatchObject({ read: { warehouse: 1010 }, found: 10, requested: 10 });
    const sales = await runCli(['sweep', '--config', config, '--table', 'sales', '--json'], env);
    expect(JSON.parse(sales.stdout)).toMatchObject({ read: { warehouse: 52 }, found: 2, requested: 2 });
    // AND a key it swept is inserted in the source before tidemark starts again
    await psql(db.url, `INSERT INTO big VALUES (5005, 'back')`);
    proc = start();
    await proc.ready(90_000);
    await waitForSlot(db.url, `tidemark_${db.name}`, 90_000);
    expect(await proc.terminate()).toBe(0);

    // THEN the warehouse equals the source: the stale rows gone, the one inserted again there
    const expected = await tableDigestOf(db.url, 'big', LINE);
    expect(expected.rows).toBe(1001);
    expect(await duckdbNoteDigest(`${dir}/warehouse.duckdb`)).toEqual(expected);
    const salesLine = `concat_ws('|', region, epoch_us("at"), amount, id, qty)`;
    expect(await duckdbNoteDigest(`${dir}/warehouse.duckdb`, salesLine, 'sales')).toEqual(
      await tableDigestOf(
        db.url,
        'sales',
        `concat_ws('|', region, (extract(epoch FROM at) * 1000000)::bigint, amount, id, qty)`,
      ),
    );
    expect(proc.stderr()).toMatch(/sweep: keys the source does not hold deleted/);
  }, 300_000);
});
