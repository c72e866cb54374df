import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { tableTopic } from '../../src/log/topics';
import { countRows, createTestDatabase, kafkaBrokers, psql, type TestDatabase } from '../support/services';
import { settled, waitUntil } from '../support/settled';
import {
  exitCodeWithin,
  freePort,
  killAllTidemarks,
  metricSum,
  metricsOf,
  runCli,
  startTidemark,
  writeConfig,
} from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';

const count = (url: string) => countRows(url, 'public.items');

/**
 * Kafka deletes a topic's oldest messages by retention whether or not anyone read them, and its
 * consumer, finding the offset it was told to read gone, goes on from the oldest one left. A sink
 * that was down longer than the retention would so skip the deleted changes without a word. It
 * stops instead, naming the hole, and commits nothing after it.
 */
describe('changes Kafka deleted before the sink read them', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    src = await createTestDatabase('e2e_gapsrc');
    wh = await createTestDatabase('e2e_gapwh');
    await psql(src.url, 'CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)');
    dir = mkdtempSync(join(tmpdir(), 'tm-gap-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('stops the sink with an error naming the lost offsets and commits nothing after them; moving the channels past them, copying the table again and sweeping it makes the sinks equal', async () => {
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.items"], heartbeatIntervalMs: 500, watermarkIntervalMs: 200 }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 1, compression: none }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 200
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
    const env = (port: number) => ({ SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(port) });
    const sourcePort = await freePort();
    const source = startTidemark(
      ['run', '--config', config, '--role', 'source'],
      env(sourcePort),
      sourcePort,
    );
    await source.ready(90_000);
    const startSink = async () => {
      const port = await freePort();
      return startTidemark(['run', '--config', config, '--role', 'sink'], env(port), port);
    };
    const produced = (n: number) =>
      waitUntil(
        `the source producing ${n} changes`,
        async () => metricSum(await metricsOf(sourcePort), 'tidemark_log_produced_messages_total') >= n,
        60_000,
      );

    // GIVEN a sink that committed the first 100 changes (offsets 0-99), then stopped
    await psql(src.url, `INSERT INTO items SELECT g, 'first' FROM generate_series(1, 100) g`);
    const sink = await startSink();
    await sink.ready(90_000);
    await waitUntil(
      'the first 100 rows in the warehouse',
      async () => (await count(wh.url).catch(() => 0)) >= 100,
      60_000,
    );
    expect(await count(wh.url)).toBe(100);
    expect(await sink.terminate()).toBe(0);
    // AND 50 changes more in the log (offsets 100-149: 20 deletes, then 30 inserts), of which
    // Kafka deletes the first 20, as retention does with messages nobody read in time
    await psql(src.url, `DELETE FROM items WHERE id <= 20`);
    await psql(src.url, `INSERT INTO items SELECT g, 'second' FROM generate_series(101, 130) g`);
    await produced(150);
    const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topic = tableTopic(src.name, { schema: 'public', table: 'items' });
    try {
      await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs finds the partition leader from it
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '120' }] });
      expect((await admin.fetchTopicOffsets(topic))[0]).toMatchObject({ low: '120', high: '150' });
    } finally {
      await admin.disconnect();
    }

    // WHEN the sink starts again
    const again = await startSink();
    const code = await exitCodeWithin(again, 60_000);

    // THEN it stops (exit 5: state an operator must look at), naming the topic and the lost offsets
    expect(code).toBe(5);
    expect(again.stderr()).toMatch(
      new RegExp(`Kafka no longer holds offsets 100 to 119 of ${topic.replace(/\./g, '\\.')} partition 0`),
    );
    expect(again.stderr()).toMatch(/retention/);
    // AND the warehouse holds what it held: nothing read after the hole was committed
    expect(await count(wh.url)).toBe(100);

    // WHEN the operator moves the table's channels back to the oldest offset Kafka holds and
    // copies the table again (docs/OPERATIONS.md, "Kafka deleted changes the sinks had not read")
    const reset = await runCli(
      [
        'offsets',
        'reset',
        '--config',
        config,
        '--to-lsn',
        '0/0',
        '--table',
        'public.items',
        '--force',
        '--apply',
      ],
      env(0),
    );
    expect(reset.code).toBe(0);
    const recovered = await startSink();
    await recovered.ready(90_000);
    expect(
      (await runCli(['snapshot', '--config', config, '--table', 'public.items', '--wait'], env(0))).code,
    ).toBe(0);
    // THEN the sinks hold every row of the source again, and the 20 rows the lost changes deleted
    await waitUntil('the copy in the warehouse', async () => (await count(wh.url)) === 130, 60_000);
    expect(await count(src.url)).toBe(110);
    // WHEN the operator sweeps the table: first counting, then for real
    const dry = await runCli(
      ['sweep', '--config', config, '--table', 'items', '--dry-run', '--json'],
      env(0),
    );
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ table: 'public.items', found: 20, requested: 0 });
    const swept = await runCli(['sweep', '--config', config, '--table', 'items'], env(0));
    expect(swept.code).toBe(0);
    expect(swept.stdout).toMatch(/public\.items: 20 key\(s\) in the sinks that the source does not hold/);
    // THEN the warehouse and the Iceberg table (read by PyIceberg) equal the source again
    const digest = `SELECT count(*)::text AS n, sum(hashtext(id::text || v))::text AS h FROM public.items`;
    expect(await settled(() => psql(wh.url, digest), await psql(src.url, digest))).toEqual(
      await psql(src.url, digest),
    );
    const line = `concat_ws('|', id::text, md5(v))`;
    const expected = await tableDigestOf(src.url, 'items', line);
    expect(
      await settled(() => icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.items'), expected),
    ).toEqual(expected);
    // AND a second sweep finds nothing left
    const again2 = await runCli(['sweep', '--config', config, '--table', 'items', '--json'], env(0));
    expect(JSON.parse(again2.stdout)).toMatchObject({ found: 0, requested: 0, lsn: null });
    expect(await recovered.terminate()).toBe(0);
    expect(await source.terminate()).toBe(0);
  }, 300_000);
});
