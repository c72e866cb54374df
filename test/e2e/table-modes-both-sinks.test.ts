import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Client } from 'pg';
import type { VerifyReport } from '../../src/verify/run-verify';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, runCli, startTidemark, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * `tables.<t>.mode` in both sinks, embedded mode through the real CLI: an append table (the
 * change history) and a soft-delete table, under a small workload in phases (snapshot; TOAST-
 * unchanged updates, deletes, key changes; a truncate and a re-insert; a mixed load). The
 * Iceberg tables (read by PyIceberg) and the DuckDB tables hold the same rows, and both agree
 * with the source: the history folded per key is the source table, the soft-delete table's live
 * rows are the source rows. `tidemark verify` says what it compared.
 */
const DDL = `
CREATE TABLE events_log (id int PRIMARY KEY, kind text NOT NULL, payload text, amount numeric(10,2));
ALTER TABLE events_log ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE TABLE accounts_sd (id int PRIMARY KEY, owner text, balance numeric(12,2), doc text);
ALTER TABLE accounts_sd ALTER COLUMN doc SET STORAGE EXTERNAL;
INSERT INTO events_log SELECT g, 'k' || (g % 3), CASE WHEN g <= 5 THEN repeat('p' || g, 2000) ELSE 'small-' || g END, g * 1.25
  FROM generate_series(1, 40) g;
INSERT INTO accounts_sd SELECT g, 'o' || g, g * 10, CASE WHEN g <= 3 THEN repeat('d' || g, 2000) ELSE 'doc-' || g END
  FROM generate_series(1, 30) g;
`;

type Line = Record<string, string | null>;
const EVENT_COLS = ['id', 'kind', 'payload', 'amount'] as const;
const ACCOUNT_COLS = ['id', 'owner', 'balance', 'doc'] as const;

/** A tagged PyIceberg value as text (ints, decimals, timestamps as their micros). */
function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return String(o.decimal ?? o.tstz ?? JSON.stringify(v));
  }
  return String(v);
}

async function duckRows(path: string, sql: string): Promise<Line[]> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const c = await instance.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjects().map((r) => {
      const out: Line = {};
      for (const [k, v] of Object.entries(r)) out[k] = v === null ? null : String(v);
      return out;
    });
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

const byPosition = (a: Line, b: Line) =>
  BigInt(a.lsn!) === BigInt(b.lsn!)
    ? Number(a.seq) - Number(b.seq)
    : BigInt(a.lsn!) < BigInt(b.lsn!)
      ? -1
      : 1;
const byId = (a: Line, b: Line) => Number(a.id) - Number(b.id);

/** A tiny deterministic PRNG for the mixed load. */
function prng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

describe('table modes append and soft-delete: Iceberg and the warehouse hold the same rows', () => {
  let db: TestDatabase;
  let dir: string;
  let config: string;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase('e2e_modes');
    await psql(db.url, DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-modes-'));
    port = await freePort();
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${db.name}
source: { url: \${SRC_URL}, tables: ["public.*"], heartbeatIntervalMs: 500 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 200
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: duckdb, path: ${dir}/warehouse.duckdb }
tables:
  public.events_log: { mode: append, partitionBy: ["day(_tidemark_commit_time)"] }
  public.accounts_sd: { mode: soft-delete }
observe: { port: ${port} }
`,
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await db.drop();
  });

  it('mirrors a workload in both modes into both sinks, equal to each other and to the source', async () => {
    // GIVEN tidemark running, the snapshot committed
    const proc = startTidemark(['run', '--config', config], { SRC_URL: db.url }, port);
    await proc.ready(60_000);
    const slot = `tidemark_${db.name}`;
    await waitForSlot(db.url, slot);
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      // WHEN TOAST-unchanged updates (of rows committed earlier, and of a row inserted in the same
      // transaction), deletes and key changes run
      await c.query('UPDATE events_log SET amount = amount + 1 WHERE id <= 3');
      await c.query(`UPDATE events_log SET kind = 'changed', payload = 'new-' || id WHERE id = 4`);
      await c.query('DELETE FROM events_log WHERE id IN (6, 7)');
      await c.query('UPDATE events_log SET id = 1010 WHERE id = 10');
      await c.query(
        `BEGIN; INSERT INTO events_log VALUES (100, 'fresh', repeat('q', 5000), 9.99); UPDATE events_log SET amount = 1 WHERE id = 100; COMMIT`,
      );
      await c.query('UPDATE accounts_sd SET balance = balance + 5 WHERE id = 1');
      await c.query('DELETE FROM accounts_sd WHERE id IN (2, 4)');
      await c.query('UPDATE accounts_sd SET id = 2000 WHERE id = 5');
      await waitForSlot(db.url, slot);
      // AND truncates, a re-insert of a soft-deleted key, a delete
      await c.query('TRUNCATE events_log');
      await c.query(`INSERT INTO events_log VALUES (200, 'after', 'x', 1)`);
      await c.query('TRUNCATE accounts_sd');
      await c.query(`INSERT INTO accounts_sd VALUES (4, 'o4-back', 44, 'doc-4b'), (6, 'o6', 6, 'doc-6')`);
      await c.query('DELETE FROM accounts_sd WHERE id = 6');
      await waitForSlot(db.url, slot);
      // AND a mixed load of inserts, updates and deletes on both tables
      const rnd = prng(7);
      const live = { events_log: new Set([200]), accounts_sd: new Set([4]) };
      for (let i = 0; i < 40; i++) {
        const table = i % 2 === 0 ? 'events_log' : 'accounts_sd';
        const ids = [...live[table]];
        const pick = ids[Math.floor(rnd() * ids.length)];
        const r = rnd();
        if (r < 0.5 || pick === undefined) {
          const id = 300 + i;
          await c.query(
            table === 'events_log'
              ? `INSERT INTO events_log VALUES (${id}, 'load', 'p${i}', ${i}.5)`
              : `INSERT INTO accounts_sd VALUES (${id}, 'load', ${i}, 'd${i}')`,
          );
          live[table].add(id);
        } else if (r < 0.8) {
          await c.query(
            table === 'events_log'
              ? `UPDATE events_log SET amount = amount + 1 WHERE id = ${pick}`
              : `UPDATE accounts_sd SET balance = balance - 1, owner = 'upd${i}' WHERE id = ${pick}`,
          );
        } else {
          await c.query(`DELETE FROM ${table} WHERE id = ${pick}`);
          live[table].delete(pick);
        }
      }
      await waitForSlot(db.url, slot);
    } finally {
      await c.end();
    }
    expect(await proc.terminate()).toBe(0);

    const catalog = `sqlite:///${dir}/catalog.db`;
    const warehouse = `${dir}/warehouse.duckdb`;

    // THEN the append table: Iceberg's history is the warehouse's, change for change, once each
    const iceEvents = (
      (await readWithPyIceberg(catalog, 'public.events_log')).rows as Record<string, unknown>[]
    )
      .map(
        (r): Line => ({
          ...Object.fromEntries(EVENT_COLS.map((k) => [k, text(r[k])])),
          op: text(r._tidemark_op),
          lsn: text(r._tidemark_lsn),
          seq: text(r._tidemark_seq),
          at: text(r._tidemark_commit_time),
          unchanged: r._tidemark_unchanged === null ? null : (r._tidemark_unchanged as string[]).join(','),
        }),
      )
      .sort(byPosition);
    const whEvents = (
      await duckRows(
        warehouse,
        `SELECT id::VARCHAR AS id, kind, payload, amount::VARCHAR AS amount, _tidemark_op AS op,
           _tidemark_lsn::VARCHAR AS lsn, _tidemark_seq::VARCHAR AS seq,
           epoch_us(_tidemark_commit_time)::VARCHAR AS at FROM public.events_log`,
      )
    ).sort(byPosition);
    expect(new Set(iceEvents.map((e) => `${e.lsn}#${e.seq}`)).size).toBe(iceEvents.length);
    expect(iceEvents.filter((e) => e.op === 'r')).toHaveLength(40);
    // a TOAST value not sent and not in the round is null in Iceberg and named; a reader takes
    // it from the key's earlier row, which is what the warehouse stored
    const unsent = iceEvents.filter((e) => e.unchanged !== null).sort(byId);
    expect(unsent.map((e) => [e.id, e.op, e.payload, e.unchanged])).toEqual([
      ['1', 'u', null, 'payload'],
      ['2', 'u', null, 'payload'],
      ['3', 'u', null, 'payload'],
    ]);
    const latest = new Map<string, Line>();
    const filled: Line[] = [];
    for (const e of iceEvents) {
      const { unchanged, ...row } = e;
      for (const col of unchanged?.split(',') ?? []) row[col] = latest.get(row.id!)?.[col] ?? null;
      if (row.op === 't') latest.clear();
      else if (row.op === 'd') latest.delete(row.id!);
      else latest.set(row.id!, row);
      filled.push(row);
    }
    expect(filled).toEqual(whEvents);
    // AND the history folded per key is the source table
    const source = await psql<Line>(
      db.url,
      'SELECT id::text, kind, payload, amount::text FROM events_log ORDER BY id',
    );
    expect(
      [...latest.values()].map((r) => Object.fromEntries(EVENT_COLS.map((k) => [k, r[k]]))).sort(byId),
    ).toEqual(source);

    // AND the soft-delete table: the same rows in both sinks, deleted ones with their time
    const iceAccounts = (
      (await readWithPyIceberg(catalog, 'public.accounts_sd')).rows as Record<string, unknown>[]
    )
      .map(
        (r): Line => ({
          ...Object.fromEntries(ACCOUNT_COLS.map((k) => [k, text(r[k])])),
          deleted_at: text(r._tidemark_deleted_at),
        }),
      )
      .sort(byId);
    const whAccounts = (
      await duckRows(
        warehouse,
        `SELECT id::VARCHAR AS id, owner, balance::VARCHAR AS balance, doc,
           epoch_us(_tidemark_deleted_at)::VARCHAR AS deleted_at FROM public.accounts_sd`,
      )
    ).sort(byId);
    expect(iceAccounts).toEqual(whAccounts);
    const sourceAccounts = await psql<Line>(
      db.url,
      'SELECT id::text, owner, balance::text, doc FROM accounts_sd ORDER BY id',
    );
    expect(iceAccounts.filter((r) => r.deleted_at === null).map(({ deleted_at: _, ...r }) => r)).toEqual(
      sourceAccounts,
    );
    // deleted before the truncate (2, 5: the key change), by the truncate (1: its TOAST value kept), after it (6)
    const deleted = new Map(iceAccounts.filter((r) => r.deleted_at !== null).map((r) => [r.id, r]));
    for (const id of ['1', '2', '5', '6', '2000']) expect(deleted.has(id)).toBe(true);
    expect(deleted.get('1')!.doc).toBe('d1'.repeat(2000));
    expect(deleted.get('2')!.deleted_at).not.toBe(deleted.get('1')!.deleted_at);

    // AND verify compares the soft-delete table's live rows and says the append table is not compared
    const v = await runCli(['verify', '--config', config, '--json', '--wait', '0'], { SRC_URL: db.url });
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout) as VerifyReport;
    expect(report.agree).toBe(true);
    const table = (name: string) => report.tables.find((t) => t.table === name)!;
    expect(Object.keys(table('public.accounts_sd').rows).sort()).toEqual(['iceberg', 'source', 'warehouse']);
    expect(table('public.accounts_sd').notes.join('\n')).toMatch(
      /iceberg: mode soft-delete.*\n.*warehouse: mode soft-delete/,
    );
    expect(Object.keys(table('public.events_log').rows)).toEqual(['source']);
    expect(table('public.events_log').notes).toEqual([
      'iceberg: mode append: the Iceberg table holds the change history, not the rows; not compared',
      'warehouse: mode append: the warehouse holds the change history, not the rows; not compared',
    ]);
  }, 120_000);
});
