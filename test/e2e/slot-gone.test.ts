import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countRows, createTestDatabase, psql, type TestDatabase } from '../support/services';
import { waitUntil } from '../support/settled';
import {
  exitCodeWithin,
  freePort,
  killAllTidemarks,
  startTidemark,
  writeConfig,
} from '../support/tidemark-process';

const count = (url: string) => countRows(url, 'public.items');

/**
 * A replication slot the pipeline streamed from, gone (dropped by hand, or a failover to a
 * server that never had it): the changes since its last confirmation are in no slot. Without an
 * initial snapshot to copy the tables again, a new slot would silently skip them; the source
 * stops instead and says how to go on.
 */
describe('a replication slot gone while the pipeline was stopped (source.snapshot never)', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    src = await createTestDatabase('e2e_slotsrc');
    wh = await createTestDatabase('e2e_slotwh');
    await psql(src.url, 'CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL)');
    dir = mkdtempSync(join(tmpdir(), 'tm-slot-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('stops the source naming the lost slot; the slot created by hand as its fix says, it goes on', async () => {
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.items"], snapshot: never, heartbeatIntervalMs: 500 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 200
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
    const start = async () => {
      const port = await freePort();
      return startTidemark(
        ['run', '--config', config],
        { SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(port) },
        port,
      );
    };
    const slot = `tidemark_${src.name}`;
    // GIVEN a pipeline that mirrored 10 rows, then stopped
    const first = await start();
    await first.ready(90_000);
    await psql(src.url, `INSERT INTO items SELECT g, 'before' FROM generate_series(1, 10) g`);
    await waitUntil(
      'the first rows in the warehouse',
      async () => (await count(wh.url).catch(() => 0)) === 10,
    );
    expect(await first.terminate()).toBe(0);
    // AND its slot dropped while it was stopped, with changes written meanwhile
    await waitUntil('the slot released', async () =>
      (
        await psql<{ active: boolean }>(
          src.url,
          `SELECT active FROM pg_replication_slots WHERE slot_name = '${slot}'`,
        )
      ).every((r) => !r.active),
    );
    await psql(src.url, `SELECT pg_drop_replication_slot('${slot}')`);
    await psql(src.url, `INSERT INTO items SELECT g, 'lost' FROM generate_series(11, 15) g`);

    // WHEN it starts again
    const again = await start();
    const code = await exitCodeWithin(again, 60_000);

    // THEN the source stops (exit 3: the source is not set up), naming the slot and the fix,
    // and creates no slot of its own
    expect(code).toBe(3);
    expect(again.stderr()).toMatch(
      new RegExp(`replication slot ${slot} is gone though this pipeline streamed from it`),
    );
    expect(again.stderr()).toMatch(/pg_create_logical_replication_slot/);
    expect(await psql(src.url, `SELECT 1 FROM pg_replication_slots WHERE slot_name = '${slot}'`)).toEqual([]);

    // WHEN the operator accepts the loss by creating the slot by hand, as the fix says
    await psql(src.url, `SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
    const resumed = await start();
    await resumed.ready(90_000);
    await psql(src.url, `INSERT INTO items SELECT g, 'after' FROM generate_series(16, 20) g`);
    // THEN the changes after the new slot arrive, and the lost ones stay lost
    await waitUntil('the rows after the new slot', async () => (await count(wh.url)) === 15);
    expect(
      await psql(wh.url, `SELECT v, count(*)::int AS n FROM public.items GROUP BY v ORDER BY v`),
    ).toEqual([
      { v: 'after', n: 5 },
      { v: 'before', n: 10 },
    ]);
    expect(await resumed.terminate()).toBe(0);
  }, 240_000);
});
