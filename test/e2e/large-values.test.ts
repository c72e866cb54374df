import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { tableTopic } from '../../src/log/topics';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, kafkaBrokers, psql, type TestDatabase } from '../support/services';
import { settled } from '../support/settled';
import { kafkaPipelineYaml, killAllTidemarks, runPipeline, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * Rows far larger than Kafka's 1 MiB default message size (a multi-MiB text and bytea of random,
 * so barely compressible, content) on the Kafka path: in the snapshot, inserted and updated while
 * streaming, they land whole in Iceberg (read by PyIceberg) and in the warehouse. A row above the
 * topic's limit stops the source with a message naming the table and the setting, and lands
 * once the limit is raised: nothing was acknowledged past it.
 */
const RANDOM_HEX = (mib: number) =>
  `(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, ${mib * 32768}) g)`;

const md5 = (v: string | Buffer | null) => (v === null ? null : createHash('md5').update(v).digest('hex'));
/** bytea from Postgres is a Buffer; PyIceberg's reader (test/python/read_table.py) gives { hex }. */
type Blob = { id: number; doc: string | null; bin: Buffer | { hex: string } | null };
const bytesOf = (b: Buffer | { hex: string }) => (Buffer.isBuffer(b) ? b : Buffer.from(b.hex, 'hex'));
const lines = (rows: Blob[]) =>
  rows.map((r) => `${r.id}|${md5(r.doc)}|${r.bin === null ? null : md5(bytesOf(r.bin))}`).sort();

describe('values larger than a Kafka message', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  // Each test its own pipeline: the topics' limit is set when they are created.
  beforeEach(async () => {
    src = await createTestDatabase('e2e_bigsrc');
    wh = await createTestDatabase('e2e_bigwh');
    await psql(
      src.url,
      `CREATE TABLE blobs (id int PRIMARY KEY, doc text, bin bytea);
       INSERT INTO blobs VALUES (1, ${RANDOM_HEX(3)}, decode(${RANDOM_HEX(4)}, 'hex')), (2, 'small', NULL);`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-big-'));
    env = { SRC_URL: src.url, WH_URL: wh.url };
  });
  afterEach(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  /** The warehouse's rows once they equal `expected`, or as they are after 90 s. */
  const warehouseLines = (expected: string[]) =>
    settled(
      async () => lines(await psql<Blob>(wh.url, 'SELECT id, doc, bin FROM public.blobs').catch(() => [])),
      expected,
    );

  it('mirrors multi-MiB rows into both sinks, from the snapshot and from the stream', async () => {
    // GIVEN a pipeline on the Kafka path, started on a table holding a 3 MiB text and a 2 MiB bytea
    const config = writeConfig(dir, 'tidemark.yaml', kafkaPipelineYaml(src.name, dir, '"public.blobs"'));
    const proc = await runPipeline(config, env);
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // WHEN large rows are inserted and updated while it streams, two in one transaction
    await psql(
      src.url,
      `INSERT INTO blobs VALUES (3, ${RANDOM_HEX(5)}, NULL);
       BEGIN;
       UPDATE blobs SET doc = ${RANDOM_HEX(2)}, bin = decode(${RANDOM_HEX(2)}, 'hex') WHERE id = 2;
       INSERT INTO blobs VALUES (4, 'small too', decode(${RANDOM_HEX(3)}, 'hex'));
       COMMIT;`,
    );
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const expected = lines(await psql<Blob>(src.url, 'SELECT id, doc, bin FROM blobs'));

    // THEN both sinks hold every row whole
    expect(await warehouseLines(expected)).toEqual(expected);
    expect(await proc.terminate()).toBe(0);
    const ice = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.blobs');
    expect(lines(ice.rows as Blob[])).toEqual(expected);
  }, 300_000);

  it('stops at a row above the topic limit, names it, and mirrors it once the limit is raised', async () => {
    // GIVEN only small rows, and the pipeline's topics created with the smallest limit, 1 MiB
    await psql(src.url, "UPDATE blobs SET doc = 'was big', bin = NULL WHERE id = 1");
    const config = writeConfig(
      dir,
      'small.yaml',
      kafkaPipelineYaml(src.name, dir, '"public.blobs"').replace(
        'partitions: 2 }',
        'partitions: 2, maxMessageBytes: 1048576 }',
      ),
    );
    const start = (file: string) => runPipeline(file, env);
    const small = await start(config);
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // WHEN a row whose change is well above 1 MiB even compressed is written
    await psql(src.url, `INSERT INTO blobs VALUES (5, ${RANDOM_HEX(4)}, NULL)`);
    // THEN the source stops, naming the table, the sizes and the setting
    const timeout = new Promise((r) => setTimeout(() => r('still running after 60 s'), 60_000).unref());
    expect(await Promise.race([small.exited, timeout])).toBe(2); // a config error: restarting cannot help
    expect(small.stderr()).toMatch(/largest change in the request \(\S*public\.blobs\) is \d+ bytes/);
    expect(small.stderr()).toContain('log.maxMessageBytes');
    expect(small.stderr()).toContain('--add-config max.message.bytes=');

    // WHEN restarted with the default limit on the topics created with the small one
    const again = await start(
      writeConfig(dir, 'default.yaml', kafkaPipelineYaml(src.name, dir, '"public.blobs"')),
    );
    // THEN it says which topic takes less, and how to raise it
    expect(again.stderr()).toMatch(
      /topic takes changes up to 1048576 bytes only.*--add-config max\.message\.bytes=33554432/,
    );
    await again.kill9();

    // WHEN the operator raises the topic's limit and restarts
    const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: tableTopic(src.name, { schema: 'public', table: 'blobs' }),
          configEntries: [{ name: 'max.message.bytes', value: String(32 * 1024 * 1024) }],
        },
      ],
    });
    await admin.disconnect();
    const fixed = await start(config.replace('small.yaml', 'default.yaml'));
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // THEN the row that stopped it lands in both sinks: the slot had not passed it
    const expected = lines(await psql<Blob>(src.url, 'SELECT id, doc, bin FROM blobs'));
    expect(expected).toHaveLength(3);
    expect(await warehouseLines(expected)).toEqual(expected);
    expect(await fixed.terminate()).toBe(0);
    const ice = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.blobs');
    expect(lines(ice.rows as Blob[])).toEqual(expected);
  }, 300_000);
});
