import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  peakRssMiB,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';
import { waitForSlot } from './support/shop-mirror';

const ROWS = Number(process.env.TIDEMARK_BIG_TX_ROWS ?? 1_000_000);

/** One line per order, as cut_states.py canonicalises PyIceberg's rows (text as md5, timestamps in µs). */
const ORDER_LINE = `concat_ws('|', id::text, customer_id::text, amount::text, coalesce(md5(note), 'null'), (extract(epoch FROM created_at) * 1000000)::bigint::text)`;

/**
 * A million-row transaction on the production path (Postgres → source → Kafka → sink → Iceberg +
 * PostgreSQL warehouse), between tables linked by a foreign key, followed by updates and deletes
 * of some of its rows: both mirrors end equal to the source (row count and a digest over every
 * column, the lakehouse read by PyIceberg). The sink writes it in parts (sinks.batchMaxRows is
 * 200,000): memory bounded by its buffers. Peak memory of each role is printed, not asserted
 * (the bound is a benchmark goal).
 */
describe('a million-row transaction through Kafka into both sinks', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let config: string;
  let pyCatalog: string;
  const ports = { source: 0, sink: 0 };
  const start = (role: 'source' | 'sink') =>
    startTidemark(
      ['run', '--config', config, '--role', role],
      { SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(ports[role]) },
      ports[role],
    );

  beforeAll(async () => {
    src = await createTestDatabase('e2e_bigsrc');
    wh = await createTestDatabase('e2e_bigwh');
    await psql(
      src.url,
      `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
       CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
         amount numeric(12,2) NOT NULL, note text, created_at timestamptz NOT NULL);
       INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 100) g;
       INSERT INTO orders SELECT g, 1 + g % 100, g * 0.01, 'before ' || g, '2026-01-01'::timestamptz + g * interval '1 ms'
         FROM generate_series(1, 1000) g;`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'tm-big-'));
    ports.source = await freePort();
    ports.sink = await freePort();
    const u = new URL(wh.url);
    pyCatalog = `postgresql+psycopg2://${u.username}:${u.password}@${u.host}${u.pathname}`;
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.*"], heartbeatIntervalMs: 500, watermarkIntervalMs: 200 }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 3 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 500
  iceberg: { catalog: { kind: sql, url: \${WH_URL} }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it(`mirrors a ${ROWS}-row transaction and the changes after it`, async () => {
    const source: TidemarkProcess = start('source');
    await source.ready(90_000);
    const sink: TidemarkProcess = start('sink');
    await sink.ready(90_000);
    const began = Date.now();
    // WHEN one transaction inserts the customers and a million orders that reference them
    await psql(
      src.url,
      `BEGIN;
       INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(101, 200) g;
       INSERT INTO orders SELECT g, 1 + g % 200, (g % 100000) * 0.01, 'order ' || g || repeat('x', g % 40),
         '2026-02-01'::timestamptz + g * interval '1 ms' FROM generate_series(1001, ${1000 + ROWS}) g;
       COMMIT;`,
    );
    // AND later transactions update and delete some of its rows
    await psql(src.url, `UPDATE orders SET amount = amount + 1, note = NULL WHERE id % 1000 = 7`);
    await psql(src.url, `DELETE FROM orders WHERE id % 1000 = 9`);
    await waitForSlot(src.url, `tidemark_${src.name}`, 600_000);
    const slotMs = Date.now() - began;

    // THEN the warehouse converges to the source
    const want = await tableDigestOf(src.url, 'orders', ORDER_LINE);
    const customers = await tableDigestOf(src.url, 'customers', `concat_ws('|', id::text, md5(name))`);
    const until = Date.now() + 600_000;
    let got = await tableDigestOf(wh.url, 'orders', ORDER_LINE);
    while (got.digest !== want.digest && Date.now() < until) {
      if (sink.child.exitCode !== null)
        throw new Error(`the sink exited (${sink.child.exitCode}):\n${sink.stderr().slice(-6000)}`);
      await new Promise((r) => setTimeout(r, 1000));
      got = await tableDigestOf(wh.url, 'orders', ORDER_LINE);
    }
    const mirroredMs = Date.now() - began;
    expect(got).toEqual(want);
    expect(want.rows).toBe(1000 + ROWS - Math.floor((1000 + ROWS) / 1000));
    expect(await tableDigestOf(wh.url, 'customers', `concat_ws('|', id::text, md5(name))`)).toEqual(
      customers,
    );
    // AND the sink wrote it in parts (it is five times its buffer bound), visible in one commit
    const parted = /"parts":(\d+),"changes":(\d+),"msg":"round in parts committed"/.exec(sink.stderr());
    expect(Number(parted?.[2])).toBeGreaterThanOrEqual(ROWS);
    const rss = { source: peakRssMiB(source.child.pid!), sink: peakRssMiB(sink.child.pid!) };
    expect(await sink.terminate()).toBe(0);
    expect(await source.terminate()).toBe(0);
    // AND PyIceberg reads the same orders from the lakehouse
    expect(await icebergTableDigest(pyCatalog, 'public.orders')).toEqual(want);
    console.log(
      `${ROWS}-row transaction: source confirmed in ${slotMs} ms, warehouse equal after ${mirroredMs} ms (${parted?.[1]} parts); peak RSS source ${rss.source} MiB, sink ${rss.sink} MiB`,
    );
  }, 900_000);
});
