import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { Client } from 'pg';
import { parseLsn } from '../../../src/core/lsn';
import { PYTHON, readWithPyIceberg } from '../../integration/iceberg/iceberg-fixtures';
import { psql } from '../../support/services';
import { cutDifferences, digestsOf, digestsOn, type TableDigests, TICKS_DDL } from './cut-history';

/**
 * The e2e workload table and its readers. Every reader turns one row into the same line
 * "id|qty|price|md5(note)|updated_at micros", so the source, PyIceberg's view of the Iceberg
 * table and each warehouse compare as sorted lists of lines.
 */
export const ITEMS_DDL = `
  CREATE TABLE items (
    id bigint PRIMARY KEY,
    qty int NOT NULL,
    price numeric(12,2),
    note text,
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  INSERT INTO items SELECT g, g % 100, g * 1.25, CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 300) ELSE 'n' || g END,
    '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 second'
  FROM generate_series(1, 3000) g;
  CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(14,2) NOT NULL);
  INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 20) g;
  CREATE TABLE carts (id int PRIMARY KEY, item_id bigint, note text);
  ${TICKS_DDL}`;

/** The accounts start with 20 × 1000 and transfers only move money: every committed state sums to this. */
export const ACCOUNTS_TOTAL = '20000.00';

const md5 = (s: string | null) => (s === null ? 'null' : createHash('md5').update(s, 'utf8').digest('hex'));
const line = (id: unknown, qty: unknown, price: unknown, note: string | null, micros: unknown) =>
  `${id}|${qty}|${price ?? 'null'}|${md5(note)}|${micros}`;

export async function sourceLines(url: string): Promise<string[]> {
  const rows = await psql<{ id: string; qty: number; price: string | null; note: string | null; us: string }>(
    url,
    `SELECT id, qty, price::text AS price, note, (extract(epoch FROM updated_at) * 1000000)::bigint::text AS us FROM items ORDER BY id`,
  );
  return rows.map((r) => line(r.id, r.qty, r.price, r.note, r.us));
}

export async function icebergLines(catalogUri: string): Promise<string[]> {
  const { rows } = await readWithPyIceberg(catalogUri, 'public.items');
  return (rows as Array<Record<string, unknown>>)
    .map((r) =>
      line(
        r.id,
        r.qty,
        (r.price as { decimal: string } | null)?.decimal ?? null,
        r.note as string | null,
        (r.updated_at as { tstz: string }).tstz,
      ),
    )
    .sort(byId);
}

export async function duckdbLines(path: string): Promise<string[]> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    const reader = await c.runAndReadAll(
      `SELECT id::VARCHAR AS id, qty, price::VARCHAR AS price, note, epoch_us(updated_at)::VARCHAR AS us FROM public.items`,
    );
    return reader
      .getRowObjects()
      .map((r) => line(r.id, r.qty, r.price, r.note as string | null, r.us))
      .sort(byId);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

export async function pgWarehouseLines(url: string): Promise<string[]> {
  return sourceLines(url);
}

/** The small tables as "id|…" lines: accounts (id|balance) and carts (id|item_id|note). */
export async function pgSmallTables(url: string): Promise<{ accounts: string[]; carts: string[] }> {
  const accounts = await psql<{ l: string }>(
    url,
    `SELECT id || '|' || balance::text AS l FROM accounts ORDER BY id`,
  );
  const carts = await psql<{ l: string }>(
    url,
    `SELECT id || '|' || coalesce(item_id::text, 'null') || '|' || coalesce(note, 'null') AS l FROM carts ORDER BY id`,
  );
  return { accounts: accounts.map((r) => r.l), carts: carts.map((r) => r.l) };
}

export async function duckdbSmallTables(path: string): Promise<{ accounts: string[]; carts: string[] }> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    const read = async (sql: string) => (await c.runAndReadAll(sql)).getRowObjects().map((r) => String(r.l));
    return {
      accounts: await read(
        `SELECT id::VARCHAR || '|' || balance::VARCHAR AS l FROM public.accounts ORDER BY id`,
      ),
      carts: await read(
        `SELECT id::VARCHAR || '|' || coalesce(item_id::VARCHAR, 'null') || '|' || coalesce(note, 'null') AS l FROM public.carts ORDER BY id`,
      ),
    };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

export async function icebergSmallTables(
  catalogUri: string,
): Promise<{ accounts: string[]; carts: string[] }> {
  const accounts = (await readWithPyIceberg(catalogUri, 'public.accounts')).rows as Array<{
    id: number;
    balance: { decimal: string };
  }>;
  const carts = (await readWithPyIceberg(catalogUri, 'public.carts')).rows as Array<{
    id: number;
    item_id: number | null;
    note: string | null;
  }>;
  return {
    accounts: accounts.sort((a, b) => a.id - b.id).map((r) => `${r.id}|${r.balance.decimal}`),
    carts: carts.sort((a, b) => a.id - b.id).map((r) => `${r.id}|${r.item_id ?? 'null'}|${r.note ?? 'null'}`),
  };
}

function byId(a: string, b: string): number {
  return Number(a.slice(0, a.indexOf('|'))) - Number(b.slice(0, b.indexOf('|')));
}

/**
 * A live mixed workload on `items` until `stop()`: multi-row transactions of inserts, updates
 * that leave the large note untouched (TOAST-unchanged in the WAL), updates of the note,
 * deletes, and a rollback now and then (it must leave no trace). Every committed transaction
 * bumps `ticks.tx`; given `history`, it also records there the digests of the state it leaves
 * (see cut-history.ts), for per-cut equality checks.
 */
export function itemsWorkload(
  url: string,
  history?: Map<number, TableDigests>,
  /** Every this many transactions, one also updates the first 3,000 items (a bulk change; 0: never). */
  bulkEvery = 0,
): { stop: () => Promise<number> } {
  let stopping = false;
  const run = (async () => {
    const c = new Client({ connectionString: url });
    // A test that failed drops its database under a running load: that error is the test's
    // own, reported where it happened; the load's dead connection must not report a second
    // one (it used to be the only one visible in a cut log). stop() still rethrows it.
    c.on('error', () => {});
    await c.connect();
    let next = 100_000;
    let txns = 0;
    let committed = 0;
    try {
      if (history) history.set(0, await digestsOn(c));
      while (!stopping) {
        const base = 1 + ((txns * 37) % 3000);
        await c.query('BEGIN');
        await c.query(
          `INSERT INTO items (id, qty, price, note) VALUES ($1, 1, 9.99, $2), ($3, 2, NULL, NULL)`,
          [next, txns % 5 === 0 ? 'L'.repeat(5000) + txns : `new ${txns}`, next + 1],
        );
        await c.query('UPDATE items SET qty = qty + 1, updated_at = now() WHERE id = $1 OR id = $2', [
          base,
          next - 2,
        ]);
        if (txns % 3 === 0)
          await c.query(`UPDATE items SET note = 'edited ' || id WHERE id = $1`, [base + 1]);
        if (txns % 4 === 0) await c.query('DELETE FROM items WHERE id = $1 OR id = $2', [base + 2, next - 1]);
        // a primary-key change: the old key must disappear from the mirrors
        if (txns % 9 === 0) await c.query('UPDATE items SET id = id + 1000000 WHERE id = $1', [base + 3]);
        // money moves between two accounts in one transaction (a consistent cut never splits it)
        await c.query('UPDATE accounts SET balance = balance - $1 WHERE id = $2', [
          txns % 50,
          1 + (txns % 20),
        ]);
        await c.query('UPDATE accounts SET balance = balance + $1 WHERE id = $2', [
          txns % 50,
          1 + ((txns * 7 + 3) % 20),
        ]);
        await c.query(
          'INSERT INTO carts VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET note = excluded.note',
          [txns % 30, base, `cart ${txns}`],
        );
        if (bulkEvery > 0 && txns % bulkEvery === bulkEvery - 1)
          await c.query('UPDATE items SET qty = qty + 1 WHERE id <= 3000');
        if (txns % 25 === 24) await c.query('TRUNCATE carts');
        if (txns % 17 === 16) await c.query('ROLLBACK');
        else {
          await c.query('UPDATE ticks SET tx = $1 WHERE id = 1', [committed + 1]);
          const digests = history ? await digestsOn(c) : null;
          await c.query('COMMIT');
          committed++;
          if (digests) history!.set(committed, digests);
        }
        next += 2;
        txns++;
      }
    } finally {
      await c.end();
    }
    return txns;
  })();
  run.catch(() => {});
  return {
    stop: async () => {
      stopping = true;
      return run;
    },
  };
}

/**
 * Waits, on the slot and not on a clock, until it is confirmed past everything committed so far.
 * The insert position, not pg_current_wal_lsn(): with synchronous_commit=off the last commits
 * may not be written to the WAL yet, and the write position would end the wait before them.
 */
export async function waitForSlot(url: string, slot: string, timeoutMs = 120_000): Promise<void> {
  const end = parseLsn(
    (await psql<{ l: string }>(url, 'SELECT pg_current_wal_insert_lsn()::text AS l'))[0]!.l,
  );
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await psql<{ l: string | null }>(
      url,
      'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    if (r[0]?.l && parseLsn(r[0].l) >= end) return;
    if (Date.now() > until) throw new Error(`slot ${slot} not confirmed past ${end} within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Per Iceberg snapshot of public.accounts (every committed cut), the total balance, read by PyIceberg. */
export async function icebergAccountTotals(
  catalogUri: string,
): Promise<Array<{ snapshot: number; rows: number; sum: string }>> {
  const script = join(__dirname, '..', '..', 'python', 'snapshot_sums.py');
  const { stdout } = await promisify(execFile)(
    PYTHON,
    [script, catalogUri, 'tidemark', 'public.accounts', 'balance'],
    { maxBuffer: 1 << 26 },
  );
  return JSON.parse(stdout) as Array<{ snapshot: number; rows: number; sum: string }>;
}

/**
 * Polls a PostgreSQL warehouse while a test runs: every state a reader can see must be a committed
 * cut, so the transfers always balance and the whole state equals the source as of the cut's last
 * transaction (`history` from itemsWorkload). `stop` ends the polling and returns what it saw.
 */
export function watchWarehouseCuts(
  url: string,
  history: ReadonlyMap<number, TableDigests>,
  intervalMs = 150,
): { stop: () => Promise<{ unbalanced: string[]; cutErrors: string[]; ticksSeen: number }> } {
  const unbalanced: string[] = [];
  const cutErrors: string[] = [];
  const ticks = new Set<number>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const d = await digestsOf(url).catch(() => null);
      if (d?.tick) {
        ticks.add(d.tick);
        cutErrors.push(...cutDifferences(history, d).map((e) => `warehouse ${e}`));
      }
      const r = await psql<{ n: string; total: string | null }>(
        url,
        'SELECT count(*)::text AS n, sum(balance)::text AS total FROM accounts',
      ).catch(() => []);
      if (r[0] && r[0].n !== '0' && (r[0].total !== ACCOUNTS_TOTAL || r[0].n !== '20'))
        unbalanced.push(`${r[0].n} rows, ${r[0].total}`);
      await new Promise((res) => setTimeout(res, intervalMs));
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await watcher;
      return { unbalanced, cutErrors, ticksSeen: ticks.size };
    },
  };
}

/** `public.big` of a DuckDB warehouse as tableDigestOf's rows and digest (`line`: id|md5(note) unless given). */
/** The rows of one query on a DuckDB file (opened for it alone: one process at a time may). */
export async function duckdbRows(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

export async function duckdbNoteDigest(
  path: string,
  line = `concat_ws('|', id::VARCHAR, md5(note))`,
  table = 'big',
): Promise<{ rows: number; digest: string | null }> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    const r = (
      await c.runAndReadAll(
        `SELECT count(*)::VARCHAR AS rows, md5(string_agg(${line}, chr(10) ORDER BY id)) AS digest FROM public.${table}`,
      )
    ).getRowObjectsJS()[0]!;
    return { rows: Number(r.rows), digest: (r.digest as string | null) ?? null };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}
