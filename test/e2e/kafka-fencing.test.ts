import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { createTestDatabase, psql, redisUrl, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import {
  ITEMS_DDL,
  icebergLines,
  itemsWorkload,
  pgWarehouseLines,
  sourceLines,
  waitForSlot,
} from './support/shop-mirror';

/** The exit code, or 'still running' after `ms` (the timer never outlives the answer). */
async function exitWithin(p: TidemarkProcess, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)));
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Zombies and lost state on the Kafka path: a sink frozen with SIGSTOP loses the committer lease
 * to a second sink and, once resumed, cannot commit; Redis flushed under a running sink costs a
 * restart, after which the tokens come back from the sinks. The mirrors still end equal.
 */
describe('Kafka mode: fencing a frozen committer, recovering a flushed Redis', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  let pyCatalog: string;
  const start = async (role: 'source' | 'sink') => {
    const port = await freePort();
    return startTidemark(
      ['run', '--config', config, '--role', role],
      { SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
  };

  beforeAll(async () => {
    src = await createTestDatabase('e2e_fsrc');
    wh = await createTestDatabase('e2e_fwh');
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-fence-'));
    const u = new URL(wh.url);
    pyCatalog = `postgresql+psycopg2://${u.username}:${u.password}@${u.host}${u.pathname}`;
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.items"], heartbeatIntervalMs: 500, watermarkIntervalMs: 200 }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 300
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

  it('a resumed zombie cannot commit, and a flushed Redis is rebuilt from the sinks', async () => {
    const source = await start('source');
    await source.ready(90_000);
    const zombie = await start('sink');
    await zombie.ready(90_000);
    const load = itemsWorkload(src.url);
    await new Promise((r) => setTimeout(r, 2000));

    // WHEN the committing sink is frozen and a second sink takes over once its lease expired
    zombie.child.kill('SIGSTOP');
    let successor: TidemarkProcess = await start('sink');
    await successor.ready(90_000);
    await new Promise((r) => setTimeout(r, 3000));
    // AND the frozen one wakes up
    zombie.child.kill('SIGCONT');
    // THEN it notices the lost lease and exits without committing anything more
    const code = await exitWithin(zombie, 30_000);
    expect(code).not.toBe(0);
    expect(code).not.toBe('still running');
    expect(zombie.stderr()).toMatch(/committer lease lost|fenced|tokens moved/);

    // WHEN Redis loses the pipeline's keys under the running successor
    const redis = new Redis(redisUrl());
    const keys = await redis.keys(`tidemark:{${src.name}}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
    await redis.quit();
    // THEN it stops (its lease is gone), and a restart recovers the tokens from the sinks
    const lost = await exitWithin(successor, 30_000);
    expect(lost).not.toBe('still running');
    successor = await start('sink');
    await successor.ready(90_000);

    await load.stop();
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const expected = await sourceLines(src.url);
    const until = Date.now() + 90_000;
    let got = await pgWarehouseLines(wh.url);
    while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      got = await pgWarehouseLines(wh.url);
    }
    expect(got).toEqual(expected);
    expect(await successor.terminate()).toBe(0);
    expect(await source.terminate()).toBe(0);
    expect(await icebergLines(pyCatalog)).toEqual(expected);
    expect(successor.stderr()).toMatch(/repaired offset store tokens from the sinks/);
  }, 300_000);
});
