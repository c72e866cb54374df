import { DuckDBInstance } from '@duckdb/node-api';
import { Kafka, logLevel } from 'kafkajs';
import { parseLsn } from '../../src/core/lsn';
import { readToEnd } from '../../src/log/read-to-end';
import { schemaTopic } from '../../src/log/topics';
import { kafkaBrokers, psql } from '../support/services';
import { startTidemark } from '../support/tidemark-process';
import {
  icebergSnapshots,
  type Mode,
  type SnapshotSchemas,
  schemaChangeStack,
} from './support/schema-change-stack';
import { waitForSlot } from './support/shop-mirror';

/**
 * Schema changes made while writes go on, through the real CLI in embedded and Kafka mode: add columns
 * (one with a DEFAULT that existing rows take), widen int→bigint, real→double precision, varchar(20)→varchar(50)→
 * text, rename a column, drop a column. Afterwards the warehouse (DuckDB, PostgreSQL) and the Iceberg table
 * (read by PyIceberg) equal the source, PyIceberg reads every snapshot, and the snapshots
 * committed before a change are read with the schema from before it.
 */
const DDL = `CREATE TABLE gadgets (id int PRIMARY KEY, name varchar(20) NOT NULL, qty int, price real, legacy text);
INSERT INTO gadgets SELECT g, 'g' || g, g, g / 4.0, 'old ' || g FROM generate_series(1, 300) g;`;

/** The final columns, in a form every reader prints alike. */
interface Gadget {
  id: number;
  name: string;
  qty: string | null;
  price: number | null;
  color: string | null;
  size: number | null;
}

async function sourceRows(url: string): Promise<Gadget[]> {
  const rows = await psql<Gadget>(
    url,
    'SELECT id, name, qty::text AS qty, price, color, size FROM gadgets ORDER BY id',
  );
  return rows.map((r) => ({ ...r, price: r.price === null ? null : Number(r.price) }));
}

async function duckdbRows(path: string): Promise<Gadget[]> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    const r = await c.runAndReadAll(
      'SELECT id, name, qty::VARCHAR AS qty, price, color, size FROM public.gadgets ORDER BY id',
    );
    return r.getRowObjectsJS().map((x) => ({
      id: Number(x.id),
      name: x.name as string,
      qty: x.qty as string | null,
      price: x.price === null ? null : Number(x.price),
      color: x.color as string | null,
      size: x.size === null ? null : Number(x.size),
    }));
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

async function pgWarehouseRows(url: string): Promise<Gadget[]> {
  const rows = await psql<Gadget>(
    url,
    'SELECT id, name, qty::text AS qty, price, color, size FROM public.gadgets ORDER BY id',
  );
  return rows.map((r) => ({ ...r, price: r.price === null ? null : Number(r.price) }));
}

function icebergRows(current: SnapshotSchemas['current']): Gadget[] {
  return current.map((r) => ({
    id: r.id as number,
    name: r.name as string,
    qty: r.qty === null ? null : String(r.qty),
    price: r.price as number | null,
    color: r.color as string | null,
    size: r.size as number | null,
  }));
}

async function lsnNow(url: string): Promise<bigint> {
  return parseLsn((await psql<{ l: string }>(url, 'SELECT pg_current_wal_insert_lsn()::text AS l'))[0]!.l);
}

describe.each<Mode>(['embedded', 'kafka'])('schema changes while streaming (%s mode, both sinks)', (mode) => {
  let stack: Awaited<ReturnType<typeof schemaChangeStack>> | undefined;
  afterAll(async () => {
    await stack?.drop();
  });

  it('follows add, widen, rename and drop in both sinks at the right position', async () => {
    // GIVEN a mirrored table and a workload writing the columns that survive every change
    stack = await schemaChangeStack(mode, 'e2e_ddl', DDL);
    const { db, wh, dir, config, env, port, catalogUri } = stack;
    const proc = startTidemark(['run', '--config', config], env, port);
    await proc.ready(90_000);
    let writing = true;
    let writes = 0;
    const workload = (async () => {
      while (writing) {
        // ids 7..320: rows 1..6 are the ones the changes below set explicitly
        const id = 7 + Math.floor(Math.random() * 314);
        await psql(
          db.url,
          `INSERT INTO gadgets (id, name, qty, price) VALUES ($1::int, 'w' || $1::int, $2, $3)
           ON CONFLICT (id) DO UPDATE SET qty = gadgets.qty + 1, price = EXCLUDED.price`,
          [id, writes, (writes % 97) / 8],
        );
        if (writes % 9 === 0) await psql(db.url, 'DELETE FROM gadgets WHERE id = $1', [327 - id]);
        writes++;
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    const pause = () => new Promise((r) => setTimeout(r, 700));

    // WHEN the table changes under it, each change followed by writes that use it
    await pause();
    const beforeAdd = await lsnNow(db.url);
    await psql(db.url, 'ALTER TABLE gadgets ADD COLUMN color text');
    await psql(db.url, `UPDATE gadgets SET color = 'blue' WHERE id % 10 = 0`);
    const afterAdd = await lsnNow(db.url);
    await pause();
    // a constant DEFAULT: Postgres gives it to every existing row without a change in the stream
    await psql(db.url, 'ALTER TABLE gadgets ADD COLUMN size int DEFAULT 7');
    await psql(db.url, `UPDATE gadgets SET size = 9 WHERE id % 10 = 1`);
    await pause();
    await psql(db.url, 'ALTER TABLE gadgets ALTER COLUMN qty TYPE bigint');
    await psql(db.url, 'UPDATE gadgets SET qty = 5000000000 WHERE id = 1');
    await pause();
    await psql(db.url, 'ALTER TABLE gadgets ALTER COLUMN price TYPE double precision');
    await psql(db.url, 'UPDATE gadgets SET price = 1e300 WHERE id = 2');
    await pause();
    await psql(db.url, 'ALTER TABLE gadgets ALTER COLUMN name TYPE varchar(50)');
    await psql(db.url, `UPDATE gadgets SET name = repeat('x', 45) WHERE id = 3`);
    await psql(db.url, 'ALTER TABLE gadgets ALTER COLUMN name TYPE text');
    await psql(db.url, `UPDATE gadgets SET name = repeat('y', 400) WHERE id = 4`);
    await pause();
    await psql(db.url, 'ALTER TABLE gadgets RENAME COLUMN legacy TO notes');
    await psql(db.url, `UPDATE gadgets SET notes = 'renamed' WHERE id = 5`);
    await pause();
    await psql(db.url, 'ALTER TABLE gadgets DROP COLUMN notes');
    await psql(db.url, `UPDATE gadgets SET color = 'after drop' WHERE id = 6`);
    await pause();
    writing = false;
    await workload;
    expect(writes).toBeGreaterThan(50);
    // the source counted every change (two ADDs, three type changes, a rename, a drop... eight versions)
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^tidemark_source_schema_changes_total\{[^}]*table="public\.gadgets"[^}]*\} 8$/m);
    const expected = await sourceRows(db.url);
    expect(BigInt(expected.find((r) => r.id === 1)?.qty ?? 0)).toBeGreaterThanOrEqual(5_000_000_000n);
    if (mode === 'embedded') {
      // the slot is confirmed only once both sinks committed
      await waitForSlot(db.url, `tidemark_${db.name}`, 60_000).catch((e: Error) => {
        throw new Error(`${e.message}\n${proc.stderr().slice(-6000)}`);
      });
      expect(await proc.terminate()).toBe(0);
      expect(await duckdbRows(`${dir}/warehouse.duckdb`)).toEqual(expected);
    } else {
      // Kafka in the path: wait until the warehouse equals the source (Iceberg commits each cut first)
      const until = Date.now() + 90_000;
      let rows = await pgWarehouseRows(wh!.url).catch(() => []);
      while (JSON.stringify(rows) !== JSON.stringify(expected) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 300));
        rows = await pgWarehouseRows(wh!.url);
      }
      if (JSON.stringify(rows) !== JSON.stringify(expected)) console.log(proc.stderr().slice(-6000));
      expect(rows).toEqual(expected);
      expect(await proc.terminate()).toBe(0);
      // AND every version's record on the schema topic says what it changed, and from where
      const records: Array<{ version: number; change?: Record<string, unknown> }> = [];
      const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
      await readToEnd(kafka, [schemaTopic(db.name)], ({ message }) => {
        const r = JSON.parse(message.value!.toString());
        if (r.table === 'gadgets') records.push(r);
      });
      const changes = records.filter((r) => r.change).map((r) => r.change!);
      expect(changes.length).toBe(8);
      for (const r of records.filter((x) => x.change))
        expect(r.change).toMatchObject({
          fromVersion: r.version - 1,
          atLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
        });
      const summary = changes.map((c) => ({
        added: c.added,
        dropped: c.dropped,
        renamed: c.renamed,
        retyped: (c.retyped as Array<{ column: string; to: string }>).map((x) => `${x.column}:${x.to}`),
      }));
      expect(summary).toEqual([
        { added: ['color'], dropped: [], renamed: [], retyped: [] },
        { added: ['size'], dropped: [], renamed: [], retyped: [] },
        { added: [], dropped: [], renamed: [], retyped: ['qty:bigint'] },
        { added: [], dropped: [], renamed: [], retyped: ['price:double precision'] },
        { added: [], dropped: [], renamed: [], retyped: ['name:varchar(50)'] },
        { added: [], dropped: [], renamed: [], retyped: ['name:text'] },
        { added: [], dropped: [], renamed: [{ from: 'legacy', to: 'notes' }], retyped: [] },
        { added: [], dropped: ['notes'], renamed: [], retyped: [] },
      ]);
    }
    // THEN the Iceberg table equals the source too
    const ice = await icebergSnapshots(catalogUri, 'public.gadgets');
    expect(icebergRows(ice.current)).toEqual(expected);
    // AND PyIceberg read every snapshot; those committed before the ALTER use the old schema,
    // those after the first write that used the new column use the new one
    expect(ice.snapshots.length).toBeGreaterThan(3);
    const cut = (s: { cut: string | null }) => BigInt(s.cut ?? '0');
    const before = ice.snapshots.filter((s) => s.cut !== null && cut(s) < beforeAdd);
    const after = ice.snapshots.filter((s) => s.cut !== null && cut(s) >= afterAdd);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(before.filter((s) => s.columns.includes('color'))).toEqual([]);
    expect(after.filter((s) => !s.columns.includes('color'))).toEqual([]);
    expect(ice.snapshots.at(-1)!.columns).toEqual(['id', 'name', 'qty', 'price', 'color', 'size']);
  }, 300_000);
});
