import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { withClient } from './bench-table';

const run = promisify(execFile);

/**
 * The pgbench-style multi-table load, from PostgreSQL's own pgbench: its TPC-B-like script
 * updates pgbench_accounts, pgbench_tellers and pgbench_branches and inserts a pgbench_history
 * row per transaction (four changes over four tables, all in one transaction).
 */
export async function initPgbench(pgBin: string, url: string, scale: number): Promise<void> {
  await run(`${pgBin}/pgbench`, ['-i', '-s', String(scale), '-q', url], { maxBuffer: 1 << 24 });
  // pgbench_history has no key: what tidemark asks of such a table (it is mirrored in append mode).
  await withClient(url, (c) => c.query('ALTER TABLE pgbench_history REPLICA IDENTITY FULL'));
}

/** Runs pgbench's default script as fast as it goes; returns the transactions it committed. */
export async function runPgbench(
  pgBin: string,
  url: string,
  clients: number,
  seconds: number,
): Promise<{ transactions: number; seconds: number }> {
  const before = await historyRows(url);
  const t0 = performance.now();
  await run(
    `${pgBin}/pgbench`,
    ['-n', '-c', String(clients), '-j', String(clients), '-T', String(seconds), url],
    {
      maxBuffer: 1 << 24,
    },
  );
  const elapsed = (performance.now() - t0) / 1000;
  return { transactions: (await historyRows(url)) - before, seconds: elapsed };
}

/** pgbench_history rows: one per committed pgbench transaction. */
export async function historyRows(url: string): Promise<number> {
  return withClient(url, async (c) =>
    Number((await c.query('SELECT count(*) AS n FROM pgbench_history')).rows[0].n),
  );
}
