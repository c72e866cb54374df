import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countRows, createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  kafkaPipelineYaml,
  killAllTidemarks,
  metricSum,
  metricsOf,
  startTidemark,
  writeConfig,
} from '../support/tidemark-process';
import { icebergTableDigest } from './support/cut-history';

const TXNS = 60;
const ROWS_PER_TXN = 1000;
const BOUND = 3000;

/**
 * A sink that starts far behind the source (a backlog of 60 transactions in Kafka, the newest
 * watermark at its end) commits in cuts its buffer bound can hold, each just below the last
 * transaction every channel has read, instead of reading the whole backlog towards the newest
 * watermark in one round (which held the whole backlog in memory and blocked the event loop
 * long enough to lose the consumer group and the committer lease). Full buffers are committed at
 * once, not at the next commit interval.
 */
describe('a sink far behind the source commits within its buffer bound', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    src = await createTestDatabase('e2e_blsrc');
    wh = await createTestDatabase('e2e_blwh');
    await psql(
      src.url,
      `CREATE TABLE wide (id int PRIMARY KEY, txn int NOT NULL, payload text NOT NULL);
       CREATE TABLE items (id int PRIMARY KEY, name text);
       CREATE PROCEDURE fill_items(n int, per int) LANGUAGE plpgsql AS $$
       BEGIN
         FOR t IN 0 .. n / per - 1 LOOP
           INSERT INTO items SELECT g, 'item ' || g FROM generate_series(t * per + 1, (t + 1) * per) g;
           COMMIT;
         END LOOP;
       END $$;`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-backlog-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('catches up through several bounded cuts and ends equal to the source', async () => {
    // Uncompressed ~1 KiB changes: a Kafka fetch (1 MiB per partition) then brings ~1,000 of
    // them, so a cut is bounded by the buffer bound plus one fetch per partition.
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.wide"], heartbeatIntervalMs: 500, watermarkIntervalMs: 200 }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2, compression: none }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 200
  batchMaxRows: ${BOUND}
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
    const env = (port: number) => ({ SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(port) });
    // GIVEN the source alone, and a backlog of transactions written into Kafka
    const sourcePort = await freePort();
    const source = startTidemark(
      ['run', '--config', config, '--role', 'source'],
      env(sourcePort),
      sourcePort,
    );
    await source.ready(90_000);
    for (let t = 0; t < TXNS; t++) {
      await psql(
        src.url,
        `INSERT INTO wide SELECT g, ${t}, repeat(md5(g::text), 30) FROM generate_series(${t * ROWS_PER_TXN + 1}, ${(t + 1) * ROWS_PER_TXN}) g`,
      );
    }
    // (the slot is confirmed only once the sinks commit: wait for the log to hold every change)
    const produced = async () =>
      metricSum(await metricsOf(sourcePort), 'tidemark_log_produced_messages_total');
    const writtenBy = Date.now() + 120_000;
    while ((await produced()) < TXNS * ROWS_PER_TXN && Date.now() < writtenBy)
      await new Promise((r) => setTimeout(r, 300));
    expect(await produced()).toBe(TXNS * ROWS_PER_TXN);
    await new Promise((r) => setTimeout(r, 1000)); // the watermark after the last transaction

    // WHEN the sink starts with a buffer bound of a twentieth of the backlog
    const sinkPort = await freePort();
    const sink = startTidemark(['run', '--config', config, '--role', 'sink'], env(sinkPort), sinkPort);
    await sink.ready(90_000);
    const until = Date.now() + 120_000;
    let rows = 0;
    while (Date.now() < until) {
      rows = Number(
        (
          await psql<{ n: string }>(wh.url, 'SELECT count(*) AS n FROM public.wide').catch(() => [{ n: '0' }])
        )[0]!.n,
      );
      if (rows === TXNS * ROWS_PER_TXN) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    // THEN the warehouse equals the source, reached through several cuts, none of them more
    // than the bound and one fetch per partition (1,000 changes each) above it
    expect(rows).toBe(TXNS * ROWS_PER_TXN);
    const digest = `SELECT count(*)::text AS n, sum(hashtext(id::text || txn::text || payload))::text AS h FROM public.wide`;
    expect(await psql(wh.url, digest)).toEqual(await psql(src.url, digest));
    const metrics = await metricsOf(sinkPort);
    const cuts = metricSum(metrics, 'tidemark_sink_cut_changes_count');
    const bucket = /^tidemark_sink_cut_changes_bucket\{[^}]*le="10000"[^}]*\} (\S+)$/m.exec(metrics);
    expect(cuts).toBeGreaterThanOrEqual((TXNS * ROWS_PER_TXN) / (BOUND + 2 * ROWS_PER_TXN));
    expect(Number(bucket?.[1])).toBe(cuts);
    expect(sink.stderr()).not.toMatch(/needs more than the buffer bound/);
    expect(await sink.terminate()).toBe(0);
    expect(await source.terminate()).toBe(0);
  }, 300_000);

  it('commits when the buffers fill, long before the commit interval, and everything at SIGTERM', async () => {
    const ROWS = 4000;
    const bound = 500;
    // A pipeline of its own, whose commit interval (ten minutes) is far beyond this test: every
    // commit before the SIGTERM is one the full buffers asked for.
    const config = writeConfig(
      dir,
      'full.yaml',
      kafkaPipelineYaml(`${src.name}_full`, dir, '"public.items"').replace(
        'commitIntervalMs: 300',
        `commitIntervalMs: 600000\n  batchMaxRows: ${bound}`,
      ),
    );
    const ports = { source: await freePort(), sink: await freePort() };
    const start = (role: 'source' | 'sink') =>
      startTidemark(
        ['run', '--config', config, '--role', role],
        { SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(ports[role]) },
        ports[role],
      );
    const stored = () => countRows(wh.url, 'public.items').catch(() => 0); // 0 until created

    // GIVEN the source has put a backlog of 40 transactions, eight times the bound, into Kafka
    const source = start('source');
    await source.ready(90_000);
    await psql(src.url, `CALL fill_items(${ROWS}, 100)`);

    // WHEN the sink reads it
    const sink = start('sink');
    await sink.ready(90_000);

    // THEN full buffers are committed at once, to both sinks: all but the last buffer's worth is
    // visible within a minute
    const until = Date.now() + 60_000;
    while ((await stored()) < ROWS - bound && Date.now() < until)
      await new Promise((r) => setTimeout(r, 250));
    expect(await stored()).toBeGreaterThanOrEqual(ROWS - bound);

    // AND a SIGTERM commits the rest: both sinks hold every row
    expect(await sink.terminate()).toBe(0);
    expect(await stored()).toBe(ROWS);
    expect((await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.items')).rows).toBe(ROWS);
    expect(await source.terminate()).toBe(0);
  }, 300_000);
});
