import { DuckDBInstance } from '@duckdb/node-api';
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
 * holds is never swept, and neither is a key inserted after the sweep.
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
       INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 1000) g`,
    );
    const { dir, config, env, start } = await embeddedPipeline(db, {
      tables: '"public.big"',
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

    // WHEN the operator sweeps the table while tidemark is stopped
    const swept = await runCli(['sweep', '--config', config, '--table', 'big', '--json'], env);
    expect(swept.code).toBe(0);
    expect(JSON.parse(swept.stdout)).toMatchObject({ read: { warehouse: 1010 }, found: 10, requested: 10 });
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
    expect(proc.stderr()).toMatch(/sweep: keys the source does not hold deleted/);
  }, 300_000);
});
