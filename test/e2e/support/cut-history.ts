import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from 'pg';
import { PYTHON } from '../../integration/iceberg/iceberg-fixtures';
import { psql } from '../../support/services';

/**
 * Per-cut equality (issue 5): the workload bumps `ticks.tx` in every transaction it commits and
 * records, just before COMMIT, a digest of every mirrored table as that transaction leaves it.
 * A cut that holds tick k must then equal the source exactly as of transaction k: the workload
 * is the only writer and commits one transaction at a time, so k fixes the whole source state.
 */
export const TICKS_DDL =
  'CREATE TABLE ticks (id int PRIMARY KEY, tx int NOT NULL); INSERT INTO ticks VALUES (1, 0);';

export const DIGEST_TABLES = ['items', 'accounts', 'carts'] as const;
export type TableDigests = Record<(typeof DIGEST_TABLES)[number], string>;

/**
 * One line per row in key order, "v1|v2|…": text as its md5, numbers and decimals as text,
 * timestamps as epoch microseconds, NULL as "null"; the digest is md5 over the lines joined by
 * newlines. test/python/cut_states.py computes the same from PyIceberg's rows.
 */
const LINE: Record<(typeof DIGEST_TABLES)[number], string> = {
  items: `concat_ws('|', id::text, qty::text, coalesce(price::text, 'null'), coalesce(md5(note), 'null'), (extract(epoch FROM updated_at) * 1000000)::bigint::text)`,
  accounts: `concat_ws('|', id::text, balance::text)`,
  carts: `concat_ws('|', id::text, coalesce(item_id::text, 'null'), coalesce(md5(note), 'null'))`,
};

const DIGEST_SQL = `SELECT ${DIGEST_TABLES.map(
  (t) => `(SELECT md5(coalesce(string_agg(${LINE[t]}, E'\\n' ORDER BY id), '')) FROM ${t}) AS ${t}`,
).join(', ')}, (SELECT tx FROM ticks WHERE id = 1) AS tick`;

export type Digests = TableDigests & { tick: number | null };

/** The digests as the given connection sees them (inside the workload's open transaction). */
export async function digestsOn(c: Client): Promise<Digests> {
  return (await c.query(DIGEST_SQL)).rows[0] as Digests;
}

/** The digests of a PostgreSQL database (the warehouse) in one consistent read. */
export async function digestsOf(url: string): Promise<Digests> {
  const rows = await psql<Digests>(url, DIGEST_SQL);
  return rows[0]!;
}

/** Tables whose digest differs from the source's state after the cut's tick; [] when equal. */
export function cutDifferences(history: ReadonlyMap<number, TableDigests>, d: Digests): string[] {
  if (d.tick === null || d.tick < 1) return []; // before the first streamed transaction: not a workload state
  const want = history.get(d.tick);
  if (!want) return [`tick ${d.tick}: no source state recorded`];
  return DIGEST_TABLES.filter((t) => want[t] !== d[t]).map((t) => `tick ${d.tick}: ${t} differs`);
}

/**
 * Every committed Iceberg cut (the tidemark.cut-lsn of the tables' snapshots; at most `maxCuts`,
 * spread evenly, always the last), read by PyIceberg: per cut the tick and each table's digest.
 */
export async function icebergCutDigests(
  catalogUri: string,
  maxCuts = 40,
): Promise<Array<Digests & { cut: string }>> {
  const script = join(__dirname, '..', '..', 'python', 'cut_states.py');
  const { stdout } = await promisify(execFile)(
    PYTHON,
    [script, catalogUri, 'tidemark', DIGEST_TABLES.join(','), String(maxCuts)],
    { maxBuffer: 1 << 26 },
  );
  return JSON.parse(stdout) as Array<Digests & { cut: string }>;
}

/** Row count and digest (the lines of `lineExpr`, in id order) of one table of a PostgreSQL database. */
export async function tableDigestOf(
  url: string,
  table: string,
  lineExpr: string,
): Promise<{ rows: number; digest: string }> {
  const r = await psql<{ rows: string; digest: string }>(
    url,
    `SELECT count(*)::text AS rows, md5(coalesce(string_agg(${lineExpr}, E'\\n' ORDER BY id), '')) AS digest FROM ${table}`,
  );
  return { rows: Number(r[0]!.rows), digest: r[0]!.digest };
}

/** The same for an Iceberg table, read by PyIceberg (test/python/table_digest.py). */
export async function icebergTableDigest(
  catalogUri: string,
  ident: string,
): Promise<{ rows: number; digest: string }> {
  const script = join(__dirname, '..', '..', 'python', 'table_digest.py');
  const { stdout } = await promisify(execFile)(PYTHON, [script, catalogUri, 'tidemark', ident], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout) as { rows: number; digest: string };
}
