import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { pgUrl, psql, uniqueName, withDatabase } from '../support/services';
import { startTidemark } from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';

/**
 * The README's first command, `tidemark demo`, as a newcomer runs it: a shop database seeded and
 * written to while it is mirrored in embedded mode; Ctrl-C (SIGINT) stops it cleanly. Afterwards
 * the source, the DuckDB file and the Iceberg tables (read by PyIceberg) hold the same rows.
 */
// The digest line of cut_states.py: text as md5, decimals as text, timestamps as epoch micros.
const ORDERS_LINE = `concat_ws('|', id::text, customer_id::text, md5(status::text), total::text, coalesce(md5(note), 'null'),
  (extract(epoch FROM created_at) * 1000000)::bigint::text, (extract(epoch FROM updated_at) * 1000000)::bigint::text)`;
const CUSTOMERS_LINE = `concat_ws('|', id::text, md5(email), md5(name), md5(country::text), (extract(epoch FROM created_at) * 1000000)::bigint::text)`;
const DUCK_ORDERS_LINE = `concat_ws('|', id::VARCHAR, customer_id::VARCHAR, md5(status::VARCHAR), total::VARCHAR, coalesce(md5(note), 'null'),
  epoch_us(created_at)::VARCHAR, epoch_us(updated_at)::VARCHAR)`;

async function duckdb(path: string, sql: string): Promise<Record<string, unknown>> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJS()[0] as Record<string, unknown>;
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

describe('tidemark demo', () => {
  const database = uniqueName('demo');
  const dir = join(mkdtempSync(join(tmpdir(), 'tm-demo-')), 'out');
  afterAll(async () => {
    await psql(pgUrl(), `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  it('mirrors a live shop until Ctrl-C, then prints equal counts and where to look', async () => {
    // GIVEN the demo running on a small shop with a live workload
    const proc = startTidemark([
      'demo',
      '--dir',
      dir,
      '--database',
      database,
      '--scale',
      '0.2',
      '--rate',
      '80',
    ]);
    const deadline = Date.now() + 120_000;
    // WHEN it has streamed for a while after its snapshot (the non-TTY display prints every 5 s)
    while (!/snapshot done[\s\S]*snapshot done/.test(proc.stdout())) {
      if (Date.now() > deadline) throw new Error(`no progress shown:\n${proc.stdout()}\n${proc.stderr()}`);
      if (proc.child.exitCode !== null)
        throw new Error(`demo exited early:\n${proc.stdout()}\n${proc.stderr()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    proc.child.kill('SIGINT');
    // THEN it stops cleanly and says the mirror equals the source
    expect(await proc.exited).toBe(0);
    const out = proc.stdout();
    expect(out).toMatch(
      /snapshot public\.orders +[█░]+ [\d,]+\/[\d,]+ rows|snapshot done: [\d,]+ rows of 4 tables/,
    );
    expect(out).toMatch(/[\d,]+ changes\/s into both sinks/);
    expect(out).toMatch(/last cut [0-9A-F]+\/[0-9A-F]+ committed/);
    expect(out).toContain(`Iceberg tables: ${dir}/lake`);
    expect(out).toContain(`DuckDB file:    ${dir}/warehouse.duckdb`);
    const summary = out.slice(out.indexOf('rows after the last cut'));
    for (const t of ['customers', 'products', 'orders', 'order_items']) {
      const m = new RegExp(`${t} +(\\d+) +(\\d+) +(\\d+)`).exec(summary);
      expect(m).not.toBeNull();
      expect([m![2], m![3]]).toEqual([m![1], m![1]]);
    }

    // AND independent readers agree with the source: DuckDB on its file, PyIceberg on the tables
    const src = withDatabase(pgUrl(), database);
    const workload = await psql<{ n: string }>(
      src,
      `SELECT count(*)::text AS n FROM orders WHERE created_at > now() - interval '10 minutes' AND id > ${0.2 * 40_000}`,
    );
    expect(Number(workload[0]!.n)).toBeGreaterThan(0); // the live workload added orders
    const catalog = `sqlite:///${dir}/catalog.db`;
    const orders = await tableDigestOf(src, 'orders', ORDERS_LINE);
    expect(await icebergTableDigest(catalog, 'public.orders')).toEqual(orders);
    expect(await icebergTableDigest(catalog, 'public.customers')).toEqual(
      await tableDigestOf(src, 'customers', CUSTOMERS_LINE),
    );
    const duck = await duckdb(
      `${dir}/warehouse.duckdb`,
      `SELECT count(*)::VARCHAR AS rows, md5(coalesce(string_agg(${DUCK_ORDERS_LINE}, chr(10) ORDER BY id), '')) AS digest FROM public.orders`,
    );
    expect({ rows: Number(duck.rows), digest: duck.digest }).toEqual(orders);
    // AND the demo dropped its slot, so it retains no WAL on the server
    expect(await psql(pgUrl(), `SELECT 1 FROM pg_replication_slots WHERE database = '${database}'`)).toEqual(
      [],
    );
  }, 240_000);

  it('refuses to empty a folder it did not make', async () => {
    const foreign = mkdtempSync(join(tmpdir(), 'tm-demo-foreign-'));
    mkdirSync(join(foreign, 'precious'));
    writeFileSync(join(foreign, 'precious', 'data.txt'), 'keep me');
    const proc = startTidemark(['demo', '--dir', foreign, '--database', database]);
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toMatch(/not empty and was not made by the demo.*fix: pass --dir/s);
  });
});
