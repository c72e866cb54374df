import { Client } from 'pg';
import { type Config, parseConfig } from '../../../src/config/load';
import type { ChangeEvent, Row } from '../../../src/core/change-event';
import { type Lsn, parseLsn } from '../../../src/core/lsn';
import { comparePositions, formatPosition } from '../../../src/core/position';
import { collapseByKey } from '../../../src/sink/collapse';

export function sourceConfig(url: string, pipeline: string, lines = ''): Config {
  return parseConfig(
    `pipeline: ${pipeline}
source:
  url: \${SRC}
${lines.includes('tables:') ? '' : '  tables: ["public.*"]\n'}  heartbeatIntervalMs: 300
  watermarkIntervalMs: 100
${lines}
log: { kind: kafka, brokers: "127.0.0.1:1" }
offsets: { kind: file, path: /tmp/unused }
`,
    { SRC: url },
  );
}

export async function query<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new Client({ connectionString: url, options: '-c TimeZone=UTC' });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export async function slotConfirmed(url: string, slot: string): Promise<Lsn> {
  const [row] = await query<{ l: string | null }>(
    url,
    'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return row?.l ? parseLsn(row.l) : 0n;
}

/**
 * The end of every WAL record inserted so far, so every transaction committed before this call
 * is below it. Not pg_current_wal_lsn(): that is the WAL *write* position, and with
 * synchronous_commit=off (the test server's setting) commits are written up to wal_writer_delay
 * later, so a slot confirmed up to it may still be missing the last commits.
 */
export async function currentLsn(url: string): Promise<Lsn> {
  const [row] = await query<{ l: string }>(url, 'SELECT pg_current_wal_insert_lsn()::text AS l');
  return parseLsn(row!.l);
}

/** Polls a database condition (the event we wait on lives in Postgres, not in this process). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Applies events the way a mirror sink does: dedupe by position, order, collapse per key. */
export function mirror(events: readonly ChangeEvent[], table: string, key: string[]): Map<string, Row> {
  const unique = new Map<string, ChangeEvent>();
  for (const e of events)
    if (`${e.table.schema}.${e.table.table}` === table) unique.set(formatPosition(e.position), e);
  const ordered = [...unique.values()].sort((a, b) => comparePositions(a.position, b.position));
  const out = new Map<string, Row>();
  for (const ch of collapseByKey(ordered, key).changes) {
    if (ch.kind === 'upsert') out.set(JSON.stringify(key.map((k) => String(ch.row[k]))), ch.row);
  }
  return out;
}
