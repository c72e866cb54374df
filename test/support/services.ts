import { randomUUID } from 'node:crypto';
import { Client } from 'pg';

/** A short random name for per-test isolation of databases, slots, topics and Redis keys. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
}

/** The test Redis, e.g. redis://127.0.0.1:26379 (from .services/env). */
export function redisUrl(): string {
  return requiredEnv('TIDEMARK_REDIS_URL');
}

/** The test Kafka brokers as host:port strings (from .services/env). */
export function kafkaBrokers(): string[] {
  return requiredEnv('TIDEMARK_KAFKA_BROKERS')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
}

/** The superuser URL of the test Postgres's `tidemark` database (from .services/env). */
export function pgUrl(): string {
  return requiredEnv('TIDEMARK_PG_URL');
}

function requiredEnv(key: string): string {
  const v = process.env[key];
  if (!v) throw new Error(`${key} is not set: run "scripts/services up" (npm test does it for you)`);
  return v;
}

/** The same server as `url`, another database. */
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
export async function createTestDatabase(prefix: string, encoding?: string): Promise<TestDatabase> {
  const admin = pgUrl();
  const name = uniqueName(prefix);
  await psql(
    admin,
    encoding
      ? `CREATE DATABASE ${name} ENCODING '${encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`
      : `CREATE DATABASE ${name}`,
  );
  return {
    name,
    url: withDatabase(admin, name),
    drop: () => dropTestDatabase(name),
  };
}

/** Drops a test database and the replication slots left in it (a slot would keep the server's WAL for ever). */
export async function dropTestDatabase(name: string): Promise<void> {
  const admin = pgUrl();
  await psql(
    admin,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`,
  );
  // A terminated walsender lets go of its slot a moment later; a slot left behind would keep
  // every later WAL segment of the test server (and DROP DATABASE refuses a database with one).
  for (let tries = 0; ; tries++) {
    const [left] = await psql<{ busy: string }>(
      admin,
      `SELECT count(pg_drop_replication_slot(slot_name)) FILTER (WHERE NOT active) AS dropped, count(*) FILTER (WHERE active) AS busy FROM pg_replication_slots WHERE database = '${name}'`,
    );
    if (Number(left!.busy) === 0 || tries >= 40) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await psql(admin, `DROP DATABASE IF EXISTS ${name}`);
}

/** One statement on a short-lived connection; returns its rows. */
export async function psql<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** How many rows `table` ("schema.table", not quoted) holds. */
export async function countRows(url: string, table: string): Promise<number> {
  return Number((await psql<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
}
