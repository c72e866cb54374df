import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RedisOffsetStore } from '../../src/offsets/redis-offset-store';
import type { PipelineStatus } from '../../src/ops/pipeline-status';
import { createTestDatabase, psql, redisUrl, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import { cutDifferences, icebergCutDigests, type TableDigests } from './support/cut-history';
import {
  ACCOUNTS_TOTAL,
  ITEMS_DDL,
  icebergAccountTotals,
  icebergLines,
  icebergSmallTables,
  itemsWorkload,
  pgSmallTables,
  pgWarehouseLines,
  sourceLines,
  waitForSlot,
  watchWarehouseCuts,
} from './support/shop-mirror';

/**
 * The production path through the real CLI, one process per role: Postgres → tidemark
 * --role source → Kafka (3 partitions) → tidemark --role sink → Iceberg (Postgres catalog, read
 * by PyIceberg) + a PostgreSQL warehouse, offsets in Redis; both roles killed with SIGKILL during
 * a live load. Both mirrors must end equal to the source.
 */
describe('Kafka mode: source and sink processes, exactly once into both sinks', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
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
    src = await createTestDatabase('e2e_ksrc');
    wh = await createTestDatabase('e2e_kwh');
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-kafka-'));
    ports.source = await freePort();
    ports.sink = await freePort();
    const u = new URL(wh.url);
    pyCatalog = `postgresql+psycopg2://${u.username}:${u.password}@${u.host}${u.pathname}`;
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source:
  url: \${SRC_URL}
  tables: ["public.*"]
  heartbeatIntervalMs: 500
  watermarkIntervalMs: 200
  snapshotChunkRows: 1000
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 3 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: \${WH_URL} }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
  });
  let afterWatch = async () => {};
  afterAll(async () => {
    await killAllTidemarks();
    await afterWatch();
    await src.drop();
    await wh.drop();
  });

  it('ends with both sinks equal to the source after kill -9 of the sink and of the source', async () => {
    // GIVEN both roles running and a live workload
    let source: TidemarkProcess = start('source');
    await source.ready(90_000);
    let sink: TidemarkProcess = start('sink');
    await sink.ready(90_000);
    const history = new Map<number, TableDigests>();
    const load = itemsWorkload(src.url, history);
    // every warehouse state a reader can see is a committed cut: the transfers always balance,
    // and the whole state equals the source as of the cut's last transaction
    const watch = watchWarehouseCuts(wh.url, history);
    // the watcher must end even when an expectation below fails, or jest never exits
    afterWatch = async () => {
      await watch.stop();
    };

    // WHEN the sink, then the source, then the sink again are killed with SIGKILL and restarted
    const pause = () => new Promise((r) => setTimeout(r, 1500 + Math.random() * 1500));
    await pause();
    await sink.kill9();
    sink = start('sink');
    await sink.ready(90_000);
    await pause();
    await source.kill9();
    source = start('source');
    await source.ready(90_000);
    await pause();
    await sink.kill9();
    sink = start('sink');
    await sink.ready(90_000);
    expect(await load.stop()).toBeGreaterThan(20);
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // THEN the warehouse converges to the source (polled: the sink commits every 300 ms)
    const expected = await sourceLines(src.url);
    const until = Date.now() + 90_000;
    let got = await pgWarehouseLines(wh.url);
    while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      got = await pgWarehouseLines(wh.url);
    }
    expect(got).toEqual(expected);
    const small = await pgSmallTables(src.url);
    for (let i = 0; i < 100 && JSON.stringify(await pgSmallTables(wh.url)) !== JSON.stringify(small); i++)
      await new Promise((r) => setTimeout(r, 300));
    expect(await pgSmallTables(wh.url)).toEqual(small);
    const seen = await watch.stop();
    expect(seen.unbalanced).toEqual([]);
    // AND the sink's metrics tell the end-to-end latency, the cut sizes, each sink's last LSN and the lag
    const metrics = await (await fetch(`http://127.0.0.1:${sink.port}/metrics`)).text();
    expect(
      Number(/^tidemark_sink_end_to_end_seconds_count\{[^}]*\} (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThan(0);
    expect(Number(/^tidemark_sink_cut_changes_count\{[^}]*\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    for (const s of ['iceberg', 'warehouse'])
      expect(metrics).toMatch(
        new RegExp(`^tidemark_sink_last_committed_lsn\\{[^}]*sink="${s}[^"]*"[^}]*\\} [1-9]`, 'm'),
      );
    expect(metrics).toMatch(
      /^tidemark_sink_consumer_lag_messages\{[^}]*topic="[^"]+\.public\.items"[^}]*\} 0$/m,
    );
    expect(await sink.terminate()).toBe(0);
    expect(await source.terminate()).toBe(0);
    // AND PyIceberg reads the same rows from the lakehouse
    expect(await icebergLines(pyCatalog)).toEqual(expected);
    expect(await icebergSmallTables(pyCatalog)).toEqual(small);
    const totals = await icebergAccountTotals(pyCatalog);
    expect(totals.length).toBeGreaterThan(1);
    expect(totals.filter((t) => t.sum !== ACCOUNTS_TOTAL || t.rows !== 20)).toEqual([]);
    // AND every committed cut, in either sink, equals the source as of that cut
    const cuts = await icebergCutDigests(pyCatalog);
    const cutErrors = [...seen.cutErrors];
    for (const c of cuts)
      cutErrors.push(...cutDifferences(history, c).map((e) => `iceberg cut ${c.cut} ${e}`));
    expect(cutErrors).toEqual([]);
    expect(cuts.filter((c) => (c.tick ?? 0) >= 1).length).toBeGreaterThan(1);
    expect(seen.ticksSeen).toBeGreaterThan(1);
    // AND Redis holds a token for each of the 3 channels, equal to the warehouse's own
    const store = new RedisOffsetStore(redisUrl(), src.name);
    const tokens = await store.readTokens();
    await store.close();
    const inWarehouse = await psql<{ channel: string; token: string }>(
      wh.url,
      'SELECT channel, token FROM _tidemark_offsets',
    );
    expect(tokens.size).toBe(10); // 3 tables × 3 partitions, and ticks (one key) on one partition
    expect(new Map(inWarehouse.map((r) => [r.channel, r.token]))).toEqual(tokens);

    // AND `tidemark status` shows the same token in Redis and in both sinks, and no consumer lag
    const env = { ...process.env, SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: '0' };
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(__dirname, '..', '..', 'bin', 'tidemark'), 'status', '--config', config, '--json'],
      { env },
    );
    const status = JSON.parse(stdout) as PipelineStatus;
    expect(status.slot.exists).toBe(true);
    expect(status.sinks.map((k) => [k.sink, k.error ?? null, k.lastCutLsn !== null])).toEqual([
      ['iceberg', null, true],
      ['warehouse', null, true],
    ]);
    expect(status.channels).toHaveLength(12); // every partition, with or without a token
    for (const ch of status.channels) {
      expect(ch.tokens.store).toBe(tokens.get(ch.channel) ?? null);
      expect(ch.tokens.iceberg).toBe(ch.tokens.store);
      expect(ch.tokens.warehouse).toBe(ch.tokens.store);
      expect(ch.consumerLag).toBe(0);
    }
    const human = await promisify(execFile)(
      process.execPath,
      [join(__dirname, '..', '..', 'bin', 'tidemark'), 'status', '--config', config],
      { env },
    );
    expect(human.stdout).toMatch(/sink iceberg: last cut [0-9A-F]+\/[0-9A-F]+ at/);
    expect(human.stdout).toMatch(/token in store\s+token in iceberg\s+token in warehouse\s+consumer lag/);
  }, 300_000);
});
