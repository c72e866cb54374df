import { readFileSync } from 'node:fs';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { killAllTidemarks, metricSum, metricsOf, runCli } from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';
import { embeddedPipeline } from './support/embedded-pipeline';
import { duckdbNoteDigest, waitForSlot } from './support/shop-mirror';

const LINE = `concat_ws('|', id::text, md5(note))`;
const ROWS = 120_000;

/** Chunks of `table` recorded durable in the embedded pipeline's offsets file ("0-3,5" → 5). */
function doneChunks(offsetsFile: string, slot: string, table: string): number {
  let text: string;
  try {
    text = readFileSync(offsetsFile, 'utf8');
  } catch {
    return 0;
  }
  const raw = (JSON.parse(text) as { state: Record<string, string> }).state[
    `source:${slot}:snapshot:done:${table}`
  ];
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
describe('embedded mode: an initial snapshot interrupted by kill -9', () => {
  let db: TestDatabase;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
  });

  it('resumes at the first chunk not yet durable and ends equal in both sinks', async () => {
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
    const until = Date.now() + 180_000;
    while (doneChunks(offsets, slot, 'public.big') < 4) {
      if (Date.now() > until || proc.child.exitCode !== null)
        throw new Error(`no chunk recorded durable:\n${proc.stderr().slice(-5000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
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
});
