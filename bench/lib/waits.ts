import { parseLsn } from '../../src/core/lsn';
import { withClient } from './bench-table';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until the slot is confirmed at or past `end`; returns the time it happened (ms, performance clock). */
export async function untilConfirmed(
  url: string,
  slot: string,
  end: string,
  timeoutMs: number,
): Promise<number> {
  const target = parseLsn(end);
  return withClient(url, async (c) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await c.query(
        'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      if (r.rows[0]?.l && parseLsn(r.rows[0].l) >= target) return performance.now();
      if (Date.now() > until)
        throw new Error(`slot ${slot} not confirmed past ${end} within ${timeoutMs} ms`);
      await sleep(50);
    }
  });
}

/** Until the warehouse holds the row with this id (the last one written). */
export async function untilRowVisible(whUrl: string, id: number, timeoutMs: number): Promise<number> {
  return withClient(whUrl, async (c) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await c.query('SELECT 1 FROM public.bench_rows WHERE id = $1', [id])).rowCount)
          return performance.now();
      } catch (e) {
        if (!/does not exist/.test((e as Error).message)) throw e;
      }
      if (Date.now() > until) throw new Error(`row ${id} not in the warehouse within ${timeoutMs} ms`);
      await sleep(50);
    }
  });
}

/** Until the warehouse table holds `n` rows. */
export async function untilRowCount(
  whUrl: string,
  n: number,
  timeoutMs: number,
  table = 'public.bench_rows',
): Promise<number> {
  return withClient(whUrl, async (c) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const r = await c.query(`SELECT count(*)::bigint AS n FROM ${table}`);
        if (Number(r.rows[0].n) >= n) return performance.now();
      } catch (e) {
        if (!/does not exist/.test((e as Error).message)) throw e;
      }
      if (Date.now() > until) throw new Error(`the warehouse did not reach ${n} rows within ${timeoutMs} ms`);
      await sleep(500);
    }
  });
}
