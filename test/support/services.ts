import { randomUUID } from 'node:crypto';
import { Client } from 'pg';

/** A short random name for per-test isolation of databases, slots, topics and Redis keys. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

/** A fresh database on the test Postgres; drop() also removes slots left in it. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const admin = process.env.TIDEMARK_PG_URL!;
  const name = uniqueName(prefix);
  await psql(admin, `CREATE DATABASE ${name}`);
  return {
    name,
    url: withDatabase(admin, name),
    async drop() {
      await psql(admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
      await psql(admin, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${name}' AND NOT active`);
      await psql(admin, `DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

export async function psql<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}
