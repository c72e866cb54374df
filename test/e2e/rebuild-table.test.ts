import { DuckDBInstance } from '@duckdb/node-api';
import { psql } from '../support/services';
import { runCli, waitForRefresh } from '../support/tidemark-process';
import {
  icebergSnapshots,
  type Mode,
  schemaChangeStack,
  startStackPipeline,
  steadyWrites,
  verifiedTables,
} from './support/schema-change-stack';
import { waitForSlot } from './support/shop-mirror';

/**
 * `onIncompatibleSchema: rebuild`, through the real CLI in embedded mode (DuckDB warehouse) and
 * Kafka mode (PostgreSQL warehouse), while another table streams: a column text → int, then the
 * key int → text, changes no sink can follow in place. Each time both sinks empty the table and
 * give it the new schema (Iceberg: fresh field ids, its history kept for time travel; warehouse:
 * dropped and created), the source copies it again while its changes stream (including updates
 * that leave a TOASTed column unchanged, of rows the copy has not brought yet), and afterwards
 * both sinks equal the source under the new types; PyIceberg reads every snapshot; verify agrees.
 */
const DDL = `CREATE TABLE parts (id int PRIMARY KEY, code text NOT NULL, big text);
ALTER TABLE parts ALTER COLUMN big SET STORAGE EXTERNAL; -- stored out of line: unchanged in updates
INSERT INTO parts SELECT g, (g * 3)::text, CASE WHEN g % 4 = 0 THEN repeat('big' || g, 2000) END FROM generate_series(1, 400) g;
CREATE TABLE steady (id int PRIMARY KEY, v int);
INSERT INTO steady SELECT g, g FROM generate_series(1, 50) g;`;

interface Part {
  id: string;
  code: number;
  big: string | null;
}

/** One order for every reader (databases sort text keys by their own collation). */
const sorted = <T extends { id: unknown }>(rows: T[]): T[] =>
  [...rows].sort((a, b) => (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0));

async function duckdb(path: string): Promise<{ rows: Part[]; types: string[] }> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    const rows = (
      await c.runAndReadAll('SELECT id, code, md5(big) AS big FROM public.parts ORDER BY id')
    ).getRowObjectsJS() as unknown as Part[];
    const types = (
      await c.runAndReadAll(
        `SELECT data_type FROM information_schema.columns WHERE table_name = 'parts' AND column_name IN ('code', 'id') ORDER BY column_name`,
      )
    ).getRowObjectsJS() as Array<{ data_type: string }>;
    return {
      rows: sorted(rows.map((r) => ({ ...r, code: Number(r.code) }))),
      types: types.map((t) => t.data_type),
    };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

async function pg(url: string): Promise<{ rows: Part[]; types: string[] }> {
  const rows = await psql<Part>(url, 'SELECT id, code, md5(big) AS big FROM public.parts ORDER BY id');
  const types = await psql<{ data_type: string }>(
    url,
    `SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'parts' AND column_name IN ('code', 'id') ORDER BY column_name`,
  );
  return { rows: sorted(rows), types: types.map((t) => t.data_type) };
}

describe.each<Mode>(['embedded', 'kafka'])('rebuild (%s mode, both sinks)', (mode) => {
  let stack: Awaited<ReturnType<typeof schemaChangeStack>> | undefined;
  afterAll(async () => {
    await stack?.drop();
  });

  it('rebuilds a table whose change no sink can follow, copies it again, and stops nothing', async () => {
    // GIVEN a table with the policy, and another with the default, both mirrored
    stack = await schemaChangeStack(
      mode,
      'e2e_rebuild',
      DDL,
      'tables:\n  public.parts: { onIncompatibleSchema: rebuild }',
    );
    const { db, wh, dir, config, env, catalogUri } = stack;
    const { proc, slot } = await startStackPipeline(stack);
    const steady = steadyWrites(db.url);
    await psql(db.url, `UPDATE parts SET code = code || '0' WHERE id <= 10`);
    await waitForSlot(db.url, slot);

    // WHEN code goes text → int, and changes go on (updates leaving `big` unchanged among them)
    const first = new Date().toISOString();
    await psql(db.url, 'ALTER TABLE parts ALTER COLUMN code TYPE int USING code::int');
    for (let i = 0; i < 5; i++) {
      await psql(db.url, 'UPDATE parts SET code = code + 1 WHERE id % 5 = $1', [i]);
      await psql(db.url, 'INSERT INTO parts VALUES ($1, $2, NULL)', [1000 + i, i]);
    }
    await psql(db.url, 'DELETE FROM parts WHERE id BETWEEN 20 AND 24');
    await waitForRefresh(config, env, 'public.parts', proc, 120_000, first);

    // AND then the key int → text
    const second = new Date().toISOString();
    await psql(db.url, 'ALTER TABLE parts ALTER COLUMN id TYPE text USING id::text');
    await psql(db.url, `UPDATE parts SET code = -code WHERE id LIKE '%7'`);
    await psql(db.url, `INSERT INTO parts VALUES ('k-new', 77, 'text key')`);
    await waitForRefresh(config, env, 'public.parts', proc, 120_000, second);
    expect(await steady.stop()).toBeGreaterThan(10);
    await waitForSlot(db.url, slot, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.stderr().slice(-6000)}`);
    });

    // THEN both sinks hold the source's rows under the new types
    const expected = sorted(await psql<Part>(db.url, 'SELECT id, code, md5(big) AS big FROM parts'));
    expect(expected.length).toBeGreaterThan(390);
    let warehouse: { rows: Part[]; types: string[] };
    if (mode === 'kafka') {
      const until = Date.now() + 90_000;
      warehouse = await pg(wh!.url);
      while (JSON.stringify(warehouse.rows) !== JSON.stringify(expected) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 300));
        warehouse = await pg(wh!.url);
      }
      expect(warehouse.types).toEqual(['integer', 'text']);
    } else {
      expect(await proc.terminate()).toBe(0);
      warehouse = await duckdb(`${dir}/warehouse.duckdb`);
      expect(warehouse.types).toEqual(['INTEGER', 'VARCHAR']);
    }
    expect(warehouse.rows).toEqual(expected);

    // AND Iceberg: the current rows equal the source; every snapshot reads, the emptied ones too
    const ice = await icebergSnapshots(catalogUri, 'public.parts');
    expect(ice.snapshots.filter((s) => s.rows === 0).length).toBe(2);
    const md5 = async (big: unknown) =>
      big === null || big === undefined
        ? null
        : (await psql<{ m: string }>(db.url, 'SELECT md5($1) AS m', [big]))[0]!.m;
    const current = await Promise.all(
      ice.current.map(async (r) => ({ id: r.id, code: r.code, big: await md5(r.big) })),
    );
    expect(sorted(current)).toEqual(expected);

    // AND verify agrees for both tables, and nothing was stopped
    expect(await verifiedTables(stack)).toEqual([
      ['public.parts', true],
      ['public.steady', true],
    ]);
    const status = await runCli(['status', '--config', config], env);
    expect(status.stdout).toMatch(
      /rebuilt public\.parts at schema version \d+ \(.*\) after a schema change its sinks could not follow: the source is copying it again/,
    );
    expect(proc.stderr()).toMatch(/table rebuilt: emptied and given the new schema/);
    expect(proc.stderr()).not.toMatch(/table stopped/);
    if (mode === 'kafka') expect(await proc.terminate()).toBe(0);
  }, 400_000);
});
