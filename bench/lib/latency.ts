import { Client } from 'pg';

export interface LatencyFigures {
  readonly targetChangesPerSecond: number;
  readonly achievedChangesPerSecond: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly transactions: number;
}

const ROWS_PER_TX = 10;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * Source commit → visible in both sinks, measured from outside: one client commits transactions
 * of 10 new rows at the target rate and notes when each COMMIT returned; another polls the
 * warehouse every 20 ms for the highest id. Ids grow in commit order and cuts are prefixes of
 * the commit order, so a transaction is visible once the highest id reaches its last row. The
 * Iceberg commit of a cut precedes its warehouse commit, so visible there means visible in both.
 */
export async function measureLatency(
  srcUrl: string,
  whUrl: string,
  changesPerSecond: number,
  seconds: number,
  firstId: number,
): Promise<LatencyFigures> {
  const writer = new Client({ connectionString: srcUrl });
  const poller = new Client({ connectionString: whUrl });
  await writer.connect();
  await poller.connect();
  const commits: Array<{ lastId: number; at: number }> = [];
  const seen: Array<{ at: number; max: number }> = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const r = await poller.query(
        'SELECT coalesce(max(id), 0)::bigint AS m FROM public.bench_rows WHERE id >= $1',
        [firstId],
      );
      seen.push({ at: performance.now(), max: Number(r.rows[0].m) });
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  try {
    const txPerSecond = changesPerSecond / ROWS_PER_TX;
    const start = performance.now();
    let next = firstId;
    for (let i = 0; performance.now() - start < seconds * 1000; i++) {
      const due = start + (i * 1000) / txPerSecond;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const ids = Array.from({ length: ROWS_PER_TX }, (_, k) => next + k);
      next += ROWS_PER_TX;
      await writer.query(
        `INSERT INTO bench_rows SELECT g, 1, 1.5, 'open', 'lat-' || g, NULL, now(), '{}', true, 1 FROM unnest($1::bigint[]) g`,
        [ids],
      );
      commits.push({ lastId: ids.at(-1)!, at: performance.now() });
    }
    const elapsed = (performance.now() - start) / 1000;
    const last = commits.at(-1)!.lastId;
    const until = Date.now() + 120_000;
    while ((seen.at(-1)?.max ?? 0) < last && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    polling = false;
    await poll;
    const latencies: number[] = [];
    let j = 0;
    for (const c of commits) {
      while (j < seen.length && (seen[j]!.max < c.lastId || seen[j]!.at < c.at)) j++;
      if (j < seen.length) latencies.push(seen[j]!.at - c.at);
    }
    latencies.sort((a, b) => a - b);
    return {
      targetChangesPerSecond: changesPerSecond,
      achievedChangesPerSecond: Math.round((commits.length * ROWS_PER_TX) / elapsed),
      p50Ms: Math.round(percentile(latencies, 50)),
      p95Ms: Math.round(percentile(latencies, 95)),
      p99Ms: Math.round(percentile(latencies, 99)),
      maxMs: Math.round(latencies.at(-1) ?? Number.NaN),
      transactions: commits.length,
    };
  } finally {
    polling = false;
    await poll.catch(() => {});
    await writer.end();
    await poller.end();
  }
}
