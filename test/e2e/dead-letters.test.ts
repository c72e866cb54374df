import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { readToEnd } from '../../src/log/read-to-end';
import { deadLetterTopic, tableTopic } from '../../src/log/topics';
import { createTestDatabase, kafkaBrokers, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, startTidemark, writeConfig } from '../support/tidemark-process';
import {
  ITEMS_DDL,
  itemsWorkload,
  pgSmallTables,
  pgWarehouseLines,
  sourceLines,
  waitForSlot,
} from './support/shop-mirror';

/**
 * Bad events on the Kafka path: under the default policy they go, untouched and with the reason,
 * to the dead-letter topic, are counted, and the tables go on; under `onError: stop` the sink
 * stops at the bad event with a message naming it. Small buffer bounds make the sink pause and
 * resume fetching on the way (bounded memory), without changing the result.
 */
describe('dead letters and bounded buffers on the Kafka path', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const configFor = (extra: string) =>
    writeConfig(
      dir,
      `tidemark-${Math.random().toString(36).slice(2)}.yaml`,
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.*"], heartbeatIntervalMs: 500, watermarkIntervalMs: 200 }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 300
  batchMaxRows: 300
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
${extra}`,
    );
  const start = async (config: string) => {
    const port = await freePort();
    return startTidemark(
      ['run', '--config', config],
      { SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
  };
  const inject = async (table: string, values: string[]) => {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: tableTopic(src.name, { schema: 'public', table }),
      messages: values.map((value) => ({ key: 'bad', value, partition: 0 })),
    });
    await producer.disconnect();
  };

  beforeAll(async () => {
    src = await createTestDatabase('e2e_dlsrc');
    wh = await createTestDatabase('e2e_dlwh');
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-dl-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('sends bad events to the dead-letter topic and goes on; stops at one under onError: stop', async () => {
    // GIVEN the pipeline running with small buffers, and bad events in the items topic
    const proc = await start(configFor(''));
    await proc.ready(90_000);
    await inject('items', ['not json at all', JSON.stringify({ payload: { op: 'c' } })]);
    const load = itemsWorkload(src.url);
    await new Promise((r) => setTimeout(r, 3000));
    await load.stop();
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // THEN every good change still lands
    const expected = await sourceLines(src.url);
    const until = Date.now() + 60_000;
    while (
      JSON.stringify(await pgWarehouseLines(wh.url)) !== JSON.stringify(expected) &&
      Date.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(await pgWarehouseLines(wh.url)).toEqual(expected);
    // AND both bad events are on the dead-letter topic, untouched, with the reason and origin
    const dead: Array<{ value: string; headers: Record<string, string> }> = [];
    await readToEnd(kafka, [deadLetterTopic(src.name)], ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      dead.push({ value: message.value!.toString(), headers });
    });
    expect(dead.map((d) => d.value)).toEqual(['not json at all', JSON.stringify({ payload: { op: 'c' } })]);
    for (const d of dead) {
      expect(d.headers['tidemark.error']).toBeTruthy();
      expect(d.headers['tidemark.source.topic']).toBe(
        tableTopic(src.name, { schema: 'public', table: 'items' }),
      );
      expect(d.headers['tidemark.source.partition']).toBe('0');
    }
    // AND they are counted, and the small bound made the sink pause on the way
    const metrics = await (await fetch(`http://127.0.0.1:${proc.port}/metrics`)).text();
    expect(metrics).toMatch(/tidemark_sink_dead_letters_total\{[^}]*table="public.items"[^}]*\} 2/);
    expect(proc.stderr()).toMatch(/buffers full: pausing consumption/);
    expect(await proc.terminate()).toBe(0);

    // WHEN carts is set to stop on bad events and one arrives
    const strict = await start(configFor('tables:\n  public.carts: { onError: stop }\n'));
    await strict.ready(90_000);
    await inject('carts', ['{"broken":']);
    // THEN the sink stops with a message naming the event, and exits with the data problem's code
    const code = await strict.exited;
    expect(code).toBe(7);
    expect(strict.stderr()).toMatch(/stopping on a bad event at .*public\.carts\/0@\d+/);
    // AND what it committed is still a consistent state of the other tables
    expect((await pgSmallTables(wh.url)).accounts.length).toBe(20);
  }, 300_000);
});
