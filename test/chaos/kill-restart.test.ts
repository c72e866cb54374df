import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { cutDifferences, icebergCutDigests, type TableDigests } from '../e2e/support/cut-history';
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
} from '../e2e/support/shop-mirror';
import { createTestDatabase, psql, redisUrl, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';

/**
 * Chaos on the Kafka path: while the workload runs (with bulk transactions larger than the sink's
 * buffers, written in parts), SIGKILL the source or the sink (the committer) at random moments, CHAOS_KILLS times (20 in the test command; scripts/chaos runs more), restart
 * the Kafka broker once and wipe the pipeline's Redis keys once. After catch-up, the source, the
 * Iceberg tables (PyIceberg) and the PostgreSQL warehouse are equal, no committed state ever
 * showed a transfer half done, and every committed cut seen in either sink equals the source as
 * of that cut (per-cut digests against the workload's history, see cut-history.ts).
 */
const KILLS = Number(process.env.CHAOS_KILLS ?? 20);
/**
 * The sink's buffer bound, below the workload's bulk transactions (3,000 changes every 140th
 * transaction), and small fetches (64 KiB per partition, a few hundred changes): the bulk ones
 * are written in parts, and the kills land between parts too; every fifth one also truncates a
 * table (the workload's every 25th), in one of its parts.
 */
const BOUND = 2000;
const BULK_EVERY = 140;
const ROOT = join(__dirname, '..', '..');

describe('chaos: kill -9 of source and committer, a broker restart, a Redis wipe', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  let pyCatalog: string;
  /** Every sink process started, for their logs. */
  const sinks: TidemarkProcess[] = [];
  const start = async (role: 'source' | 'sink') => {
    const port = await freePort();
    const p = startTidemark(
      ['run', '--config', config, '--role', role],
      { SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
    if (role === 'sink') sinks.push(p);
    return p;
  };

  beforeAll(async () => {
    src = await createTestDatabase('chaos_src');
    wh = await createTestDatabase('chaos_wh');
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-chaos-'));
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
  commitIntervalMs: 250
  batchMaxRows: ${BOUND}
  fetchBytesPerPartition: 65536
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

  it(
    `converges to the source after ${KILLS} kills, a broker restart and a Redis wipe`,
    async () => {
      const procs: Record<'source' | 'sink', TidemarkProcess> = {
        source: await start('source'),
        sink: await start('sink'),
      };
      await procs.source.ready(90_000);
      await procs.sink.ready(90_000);
      const history = new Map<number, TableDigests>();
      const load = itemsWorkload(src.url, history, BULK_EVERY);
      const watch = watchWarehouseCuts(wh.url, history);
      // the watcher must end even when an expectation below fails, or jest never exits
      afterWatch = async () => {
        await watch.stop();
      };
      // a process that exited by itself (e.g. it lost its lease when Redis was wiped) is restarted like Kubernetes would
      const ensure = async (role: 'source' | 'sink') => {
        if (procs[role].child.exitCode !== null || procs[role].child.signalCode !== null) {
          procs[role] = await start(role);
          await procs[role].ready(120_000);
        }
      };
      for (let k = 0; k < KILLS; k++) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1500));
        if (k === Math.floor(KILLS / 3)) {
          await promisify(execFile)('bash', [join(ROOT, 'scripts', 'services'), 'restart', 'kafka']);
        }
        if (k === Math.floor((2 * KILLS) / 3)) {
          const redis = new Redis(redisUrl());
          const keys = await redis.keys(`tidemark:{${src.name}}:*`);
          if (keys.length > 0) await redis.del(...keys);
          await redis.quit();
        }
        const role = Math.random() < 0.5 ? 'source' : 'sink';
        await procs[role].kill9();
        procs[role] = await start(role);
        await procs[role].ready(120_000);
        await ensure(role === 'source' ? 'sink' : 'source');
      }
      await load.stop();
      await ensure('source');
      await ensure('sink');
      await waitForSlot(src.url, `tidemark_${src.name}`, 180_000);

      const expected = await sourceLines(src.url);
      const small = await pgSmallTables(src.url);
      const until = Date.now() + 180_000;
      for (;;) {
        await ensure('sink');
        const same =
          JSON.stringify(await pgWarehouseLines(wh.url)) === JSON.stringify(expected) &&
          JSON.stringify(await pgSmallTables(wh.url)) === JSON.stringify(small);
        if (same || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const seen = await watch.stop();
      expect(await pgWarehouseLines(wh.url)).toEqual(expected);
      expect(await pgSmallTables(wh.url)).toEqual(small);
      expect(seen.unbalanced).toEqual([]);
      expect(await procs.sink.terminate()).toBe(0);
      expect(await procs.source.terminate()).toBe(0);
      expect(await icebergLines(pyCatalog)).toEqual(expected);
      expect(await icebergSmallTables(pyCatalog)).toEqual(small);
      const totals = await icebergAccountTotals(pyCatalog);
      expect(totals.filter((t) => t.sum !== ACCOUNTS_TOTAL || t.rows !== 20)).toEqual([]);
      const cuts = await icebergCutDigests(pyCatalog);
      const cutErrors = [...seen.cutErrors];
      for (const c of cuts)
        cutErrors.push(...cutDifferences(history, c).map((e) => `iceberg cut ${c.cut} ${e}`));
      expect(cutErrors).toEqual([]);
      // the checks above saw real workload states, not only the pre-workload one
      expect(cuts.filter((c) => (c.tick ?? 0) >= 1).length).toBeGreaterThan(2);
      expect(seen.ticksSeen).toBeGreaterThan(2);
      // and bulk transactions went through rounds in parts (some of them killed half way)
      const sinkLogs = sinks.map((p) => p.stderr()).join('');
      expect(sinkLogs).toMatch(/round in parts committed/);
    },
    KILLS * 20_000 + 300_000,
  );
});
