import { DuckDBInstance } from '@duckdb/node-api';
import { psql } from '../support/services';
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
 * `onIncompatibleSchema: cast-to-string`, through the real CLI in embedded mode (DuckDB warehouse)
 * and Kafka mode (PostgreSQL warehouse), while another table streams: int → text (Iceberg has no
 * promotion to string: a new string field, the live rows rewritten into it in the same commit;
 * the warehouse column altered to text) and text → int (the sinks' column is already text and
 * stays text: the new ints arrive as their text). Afterwards both sinks hold the source's values
 * as text, row for row, PyIceberg reads every snapshot, `verify` agrees, and nothing stopped.
 */
const DDL = `CREATE TABLE readings (id int PRIMARY KEY, code text NOT NULL, qty int, note text);
INSERT INTO readings SELECT g, (g * 7)::text, g, 'n' || g FROM generate_series(1, 300) g;
CREATE TABLE steady (id int PRIMARY KEY, v int);
INSERT INTO steady SELECT g, g FROM generate_series(1, 50) g;`;

const SOURCE_ROWS = 'SELECT id, code::text AS code, qty::text AS qty, note FROM readings ORDER BY id';

interface Reading {
  id: number;
  code: string;
  qty: string | null;
  note: string | null;
}

async function duckdbRows(path: string): Promise<{ rows: Reading[]; types: string[] }> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    const rows = (
      await c.runAndReadAll('SELECT id, code, qty, note FROM public.readings ORDER BY id')
    ).getRowObjectsJS() as unknown as Reading[];
    const types = (
      await c.runAndReadAll(
        `SELECT data_type FROM information_schema.columns WHERE table_name = 'readings' AND column_name IN ('code', 'qty') ORDER BY column_name`,
      )
    ).getRowObjectsJS() as Array<{ data_type: string }>;
    return { rows: rows.map((r) => ({ ...r, id: Number(r.id) })), types: types.map((t) => t.data_type) };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

async function pgRows(url: string): Promise<{ rows: Reading[]; types: string[] }> {
  const rows = await psql<Reading>(url, 'SELECT id, code, qty, note FROM public.readings ORDER BY id');
  const types = await psql<{ data_type: string }>(
    url,
    `SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'readings' AND column_name IN ('code', 'qty') ORDER BY column_name`,
  );
  return { rows, types: types.map((t) => t.data_type) };
}

describe.each<Mode>(['embedded', 'kafka'])('cast-to-string (%s mode, both sinks)', (mode) => {
  let stack: Awaited<ReturnType<typeof schemaChangeStack>> | undefined;
  afterAll(async () => {
    await stack?.drop();
  });

  it('mirrors a column whose type changed incompatibly as text, in both sinks, and stops nothing', async () => {
    // GIVEN a table with the policy, and another with the default (stop), both mirrored
    stack = await schemaChangeStack(
      mode,
      'e2e_cast',
      DDL,
      'tables:\n  public.readings: { onIncompatibleSchema: cast-to-string }',
    );
    const { db, wh, dir, catalogUri } = stack;
    const { proc, slot } = await startStackPipeline(stack);
    const steady = steadyWrites(db.url);
    await psql(db.url, `UPDATE readings SET qty = qty * 2 WHERE id <= 10`);
    await waitForSlot(db.url, slot);

    // WHEN qty goes int → text (stored rows must become text) and code text → int
    await psql(db.url, 'ALTER TABLE readings ALTER COLUMN qty TYPE text USING qty::text');
    await psql(db.url, `UPDATE readings SET qty = 'q' || id WHERE id % 10 = 0`);
    await psql(db.url, `UPDATE readings SET note = 'touched' WHERE id % 25 = 1`);
    await new Promise((r) => setTimeout(r, 700));
    await psql(db.url, 'ALTER TABLE readings ALTER COLUMN code TYPE int USING code::int');
    await psql(db.url, 'UPDATE readings SET code = code + 1 WHERE id % 7 = 0');
    await psql(db.url, `INSERT INTO readings VALUES (400, 12345, 'new', NULL), (401, -5, NULL, 'x')`);
    await psql(db.url, 'DELETE FROM readings WHERE id = 3');
    expect(await steady.stop()).toBeGreaterThan(10);
    await waitForSlot(db.url, slot, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.stderr().slice(-6000)}`);
    });
    const expected = await psql<Reading>(db.url, SOURCE_ROWS);
    expect(expected.find((r) => r.id === 14)).toEqual({ id: 14, code: '99', qty: '14', note: 'n14' });

    // THEN the warehouse holds both columns as text, equal to the source's values
    let warehouse: { rows: Reading[]; types: string[] };
    if (mode === 'kafka') {
      const until = Date.now() + 90_000;
      warehouse = await pgRows(wh!.url);
      while (JSON.stringify(warehouse.rows) !== JSON.stringify(expected) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 300));
        warehouse = await pgRows(wh!.url);
      }
      expect(warehouse.types).toEqual(['text', 'text']);
    } else {
      expect(await proc.terminate()).toBe(0);
      warehouse = await duckdbRows(`${dir}/warehouse.duckdb`);
      expect(warehouse.types).toEqual(['VARCHAR', 'VARCHAR']);
    }
    expect(warehouse.rows).toEqual(expected);

    // AND Iceberg too (PyIceberg reads every snapshot; the current rows hold strings)
    const ice = await icebergSnapshots(catalogUri, 'public.readings');
    expect(ice.snapshots.length).toBeGreaterThan(2);
    for (const s of ice.snapshots) expect(s.rows).toBeGreaterThan(0);
    expect(
      ice.current.map((r) => ({ id: r.id, code: r.code, qty: r.qty ?? null, note: r.note ?? null })),
    ).toEqual(expected);

    // AND verify agrees (it compares the cast columns as the sinks hold them), the table never stopped
    expect(await verifiedTables(stack)).toEqual([
      ['public.readings', true],
      ['public.steady', true],
    ]);
    expect(proc.stderr()).toMatch(/mirrored as text from now on \(cast-to-string\)/);
    expect(proc.stderr()).not.toMatch(/table stopped/);
    if (mode === 'kafka') expect(await proc.terminate()).toBe(0);
  }, 300_000);
});
