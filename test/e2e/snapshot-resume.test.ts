import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { createTestDatabase, psql, redisUrl, type TestDatabase } from '../support/services';
import { waitUntil } from '../support/settled';
import {
  freePort,
  kafkaPipelineYaml,
  killAllTidemarks,
  metricSum,
  metricsOf,
  runCli,
  startTidemark,
  writeConfig,
} from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';
import { embeddedPipeline } from './support/embedded-pipeline';
import { duckdbNoteDigest, waitForSlot } from './support/shop-mirror';

const LINE = `concat_ws('|', id::text, md5(note))`;
const ROWS = 120_000;
const KAFKA_ROWS = 200_000;

/** Chunks of `table` recorded durable in the embedded pipeline's offsets file. */
function doneChunks(offsetsFile: string, slot: string, table: string): number {
  let text: string;
  try {
    text = readFileSync(offsetsFile, 'utf8');
  } catch {
    return 0;
  }
  return countDone(
    (JSON.parse(text) as { state: Record<string, string> }).state[`source:${slot}:snapshot:done:${table}`],
  );
}

/** The number of chunks in a stored `…:snapshot:done:<table>` value ("0-3,5" → 5). */
function countDone(raw: string | null | undefined): number {
  if (!raw) return 0;
  const ranges = (JSON.parse(raw) as { done: string }).done;
  return ranges
    .split(',')
    .filter(Boolean)
    .reduce((n, r) => {
      const [lo, hi] = r.split('-').map(Number);
      return n + (hi === undefined ? 1 : hi - lo! + 1);
    }, 0);
}

/**
 * The initial snapshot of a large table, killed (-9) part-way: the restart copies only the
 * chunks not yet committed to the sinks, not the whole table again, and both sinks end equal to
 * the source, changes made while it was down included.
 */
describe('an initial snapshot interrupted by kill -9', () => {
  let db: TestDatabase;
  let src: TestDatabase;
  let wh: TestDatabase;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
    await src?.drop();
    await wh?.drop();
  });

  it('embedded: resumes at the first chunk not yet durable and ends equal in both sinks', async () => {
    db = await createTestDatabase('e2e_snapresume');
    await psql(
      db.url,
      `CREATE TABLE big (id int PRIMARY KEY, note text);
       INSERT INTO big SELECT g, 'row ' || g || repeat('.', 40) FROM generate_series(1, ${ROWS}) g;
       ANALYZE big;`,
    );
    const slot = `tidemark_${db.name}`;
    const { dir, config, env, start } = await embeddedPipeline(db, {
      tables: '"public.big"',
      prefix: 'tm-snapresume',
      source: 'snapshotChunkRows: 5000, snapshotParallelism: 2',
      sinks: (d) => `  batchMaxRows: 5000
  iceberg: { catalog: { kind: sql, url: "sqlite://${d}/catalog.db" }, location: ${d}/lake }
  warehouse: { kind: duckdb, path: ${d}/warehouse.duckdb }`,
    });
    const offsets = `${dir}/offsets.json`;

    // WHEN the snapshot has committed a few chunks and the process is killed
    let proc = start();
    await waitUntil(
      '4 chunks recorded durable',
      async () => doneChunks(offsets, slot, 'public.big') >= 4,
      180_000,
      {
        proc,
        everyMs: 20,
      },
    );
    await proc.kill9();
    const doneAtKill = doneChunks(offsets, slot, 'public.big');
    expect(proc.stderr()).not.toMatch(/snapshot of table done/);
    // AND status tells how far the table got
    const status = await runCli(['status', '--config', config, '--json'], env);
    expect(status.code).toBe(0);
    const snap = (JSON.parse(status.stdout) as { snapshot: { complete: boolean; inProgress: unknown[] } })
      .snapshot;
    expect(snap.complete).toBe(false);
    expect(snap.inProgress).toEqual([
      { table: 'public.big', chunks: expect.any(Number), chunksDone: doneAtKill },
    ]);
    expect((snap.inProgress[0] as { chunks: number }).chunks).toBeGreaterThan(doneAtKill);

    // AND the source changes while it is down
    await psql(
      db.url,
      `UPDATE big SET note = note || ' changed' WHERE id % 9 = 0;
       DELETE FROM big WHERE id % 13 = 0;
       INSERT INTO big SELECT g, 'late ' || g FROM generate_series(${ROWS + 1}, ${ROWS + 500}) g;`,
    );

    // AND it starts again and catches up
    proc = start();
    await proc.ready(180_000);
    await waitForSlot(db.url, slot, 240_000);
    // (the progress gauges count the chunks the first run made durable too)
    const metrics = await metricsOf(Number(env.TIDEMARK_METRICS_PORT));
    const chunks = metricSum(metrics, 'tidemark_source_snapshot_chunks');
    expect(chunks).toBeGreaterThan(doneAtKill);
    expect(metricSum(metrics, 'tidemark_source_snapshot_chunks_done')).toBe(chunks);
    expect(await proc.terminate()).toBe(0);

    // THEN it resumed from the recorded chunks and copied fewer rows than the table holds
    const resumed = /"done":(\d+)[^\n]*snapshot of table resumed/.exec(proc.stderr());
    expect(Number(resumed?.[1])).toBeGreaterThanOrEqual(doneAtKill);
    const copied = Number(/"rows":(\d+)[^\n]*snapshot of table done/.exec(proc.stderr())?.[1]);
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(ROWS - 4 * 4000);
    // AND both sinks equal the source
    const expected = await tableDigestOf(db.url, 'big', LINE);
    expect(expected.rows).toBe(ROWS + 500 - Math.floor(ROWS / 13));
    expect(await duckdbNoteDigest(`${dir}/warehouse.duckdb`)).toEqual(expected);
    expect(await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.big')).toEqual(expected);
    // AND the finished table's plan and progress were dropped from the state
    expect(doneChunks(offsets, slot, 'public.big')).toBe(0);
  }, 600_000);

  it("through Kafka: a source killed mid-snapshot resumes, and the sinks converge on both attempts' rows", async () => {
    src = await createTestDatabase('e2e_snapresk');
    wh = await createTestDatabase('e2e_snapreskwh');
    await psql(
      src.url,
      `CREATE TABLE big (id int PRIMARY KEY, note text);
       INSERT INTO big SELECT g, 'row ' || g || repeat('.', 40) FROM generate_series(1, ${KAFKA_ROWS}) g;
       ANALYZE big;`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'tm-snapresk-'));
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      kafkaPipelineYaml(src.name, dir, '"public.big"').replace(
        'watermarkIntervalMs: 200',
        'watermarkIntervalMs: 200, snapshotChunkRows: 10000, snapshotParallelism: 2',
      ),
    );
    const ports = { source: await freePort(), sink: await freePort() };
    const start = (role: 'source' | 'sink') =>
      startTidemark(
        ['run', '--config', config, '--role', role],
        { SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(ports[role]) },
        ports[role],
      );
    const slot = `tidemark_${src.name}`;
    const redis = new Redis(redisUrl());
    try {
      // WHEN the source alone (no sink yet) has a few chunks durable in Kafka and is killed
      let source = start('source');
      const stateKey = `tidemark:{${src.name}}:state`;
      await waitUntil(
        '4 chunks recorded durable',
        async () => countDone(await redis.hget(stateKey, `source:${slot}:snapshot:done:public.big`)) >= 4,
        180_000,
        { proc: source, everyMs: 20 },
      );
      await source.kill9();
      expect(source.stderr()).not.toMatch(/snapshot of table done/);
      await psql(
        src.url,
        `UPDATE big SET note = 'changed' WHERE id % 5 = 0; DELETE FROM big WHERE id % 17 = 0;`,
      );

      // AND it starts again, and the sink reads both attempts' rows
      source = start('source');
      await source.ready(180_000);
      const sink = start('sink');
      await sink.ready(180_000);
      await waitForSlot(src.url, slot, 240_000);
      const expected = await tableDigestOf(src.url, 'big', LINE);
      await waitUntil(
        'the warehouse equal to the source',
        async () => (await tableDigestOf(wh.url, 'big', LINE)).digest === expected.digest,
        240_000,
        { proc: sink, everyMs: 500 },
      );
      expect(await sink.terminate()).toBe(0);
      expect(await source.terminate()).toBe(0);

      // THEN the restart copied only the chunks not yet in Kafka
      expect(
        Number(/"done":(\d+)[^\n]*snapshot of table resumed/.exec(source.stderr())?.[1]),
      ).toBeGreaterThanOrEqual(4);
      const copied = Number(/"rows":(\d+)[^\n]*snapshot of table done/.exec(source.stderr())?.[1]);
      expect(copied).toBeGreaterThan(0);
      expect(copied).toBeLessThan(KAFKA_ROWS - 4 * 8000);
      // AND both sinks equal the source
      expect(await tableDigestOf(wh.url, 'big', LINE)).toEqual(expected);
      expect(await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.big')).toEqual(expected);
    } finally {
      await redis.quit();
    }
  }, 600_000);
});
