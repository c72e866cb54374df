import { Client } from 'pg';
import { TidemarkError } from '../core/errors';
import { type SeedSizes, SHOP_DDL, SHOP_TABLES, seedStatements } from './shop-schema';

/** The URL of database `db` on the same server as `url`. */
export function databaseUrl(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * A fresh demo database: a leftover one (and its replication slots) is dropped first, so every
 * demo starts from the same place. Returns the row count of every table after seeding.
 */
export async function createDemoDatabase(
  adminUrl: string,
  db: string,
  sizes: SeedSizes,
  say: (line: string) => void,
): Promise<Map<string, number>> {
  const admin = new Client({ connectionString: adminUrl, application_name: 'tidemark-demo' });
  try {
    await admin.connect();
  } catch (e) {
    throw new TidemarkError(
      'transient',
      `cannot connect to PostgreSQL at ${redact(adminUrl)}: ${(e as Error).message}`,
      {
        cause: e,
        fix: 'start it with `bash scripts/services up pg` (or pass --source-url)',
      },
    );
  }
  try {
    const wal = (await admin.query('SHOW wal_level')).rows[0].wal_level;
    if (wal !== 'logical') {
      throw new TidemarkError(
        'source_setup',
        `PostgreSQL at ${redact(adminUrl)} runs with wal_level=${wal}`,
        {
          fix: 'set wal_level = logical and restart it (scripts/services does this for its own cluster)',
        },
      );
    }
    await admin.query(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
      [db],
    );
    await admin.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`,
      [db],
    );
    await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${db}"`);
  } finally {
    await admin.end();
  }
  const c = new Client({ connectionString: databaseUrl(adminUrl, db) });
  await c.connect();
  try {
    await c.query(SHOP_DDL);
    await c.query('CREATE EXTENSION IF NOT EXISTS tsm_system_rows');
    say(
      `seeding the shop: ${sizes.customers.toLocaleString('en-US')} customers, ${sizes.products.toLocaleString('en-US')} products, ${sizes.orders.toLocaleString('en-US')} orders`,
    );
    for (const sql of seedStatements(sizes)) await c.query(sql);
    await c.query('ANALYZE');
    const counts = new Map<string, number>();
    for (const t of SHOP_TABLES) {
      counts.set(`public.${t}`, Number((await c.query(`SELECT count(*)::bigint AS n FROM ${t}`)).rows[0].n));
    }
    return counts;
  } finally {
    await c.end();
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the given URL';
  }
}
