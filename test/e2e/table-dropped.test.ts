import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  pipelineStatus,
  pipelineYaml,
  startTidemark,
  type TidemarkProcess,
  waitForRefresh,
  writeConfig,
} from '../support/tidemark-process';
import { ITEMS_DDL, itemsWorkload, pgWarehouseLines, sourceLines, waitForSlot } from './support/shop-mirror';

/** Polls `probe` until it returns a value (not undefined), or fails with `what` after `ms`. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const lines = (rows: unknown[]) =>
  (rows as Array<{ id: number; note: string }>).map((r) => `${r.id}|${r.note}`).sort();

/**
 * A mirrored table dropped in the source while the others stream: both sinks keep its rows and
 * mark it (Iceberg table property, warehouse _tidemark_tables.source_dropped_at), `status` lists
 * it, the other tables go on. Created again under the same name, it is emptied in the sinks,
 * copied afresh and unmarked: no row of the old table survives beside the new ones.
 */
describe.each(['embedded', 'kafka'] as const)('a table dropped in the source (%s)', (mode) => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  let catalogUri: string;
  const env = (port = 0) => ({ SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(port) });
  const sinkGone = async () => lines((await readWithPyIceberg(catalogUri, 'public.gone')).rows);
  const sourceGone = async (url: string) =>
    (await psql<{ line: string }>(url, `SELECT id || '|' || note AS line FROM public.gone`))
      .map((r) => r.line)
      .sort();
  let META = '';
  const whMark = async () =>
    (
      await psql<{ at: string | null }>(
        wh.url,
        `SELECT source_dropped_at AS at FROM ${META}._tidemark_tables WHERE table_key = 'public.gone'`,
      )
    )[0]?.at ?? null;

  beforeAll(async () => {
    src = await createTestDatabase(`e2e_drop${mode[0]}`);
    wh = await createTestDatabase(`e2e_dropw${mode[0]}`);
    await psql(
      src.url,
      `${ITEMS_DDL};
       CREATE TABLE public.gone (id int PRIMARY KEY, note text NOT NULL);
       INSERT INTO public.gone SELECT g, 'old ' || g FROM generate_series(1, 300) g`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-dropped-'));
    catalogUri = `sqlite:///${dir}/catalog.db`;
    const options = 'discoverEveryMs: 1000, snapshotChunkRows: 100';
    config = writeConfig(dir, 'tidemark.yaml', pipelineYaml(mode, src.name, dir, '"public.*"', options));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('keeps and marks its rows in both sinks, and a table created again replaces them', async () => {
    const port = await freePort();
    let proc: TidemarkProcess = startTidemark(['run', '--config', config], env(port), port);
    await proc.ready(90_000);
    await waitForSlot(src.url, `tidemark_${src.name}`);
    // The Kafka sink creates its tables once its consumer group has joined, which can be after
    // the source is ready (CI saw it later).
    META = await eventually('the warehouse meta tables', async () => {
      const r = await psql<{ s: string }>(
        wh.url,
        `SELECT table_schema AS s FROM information_schema.tables WHERE table_name = '_tidemark_tables'`,
      );
      return r[0]?.s;
    });
    const load = itemsWorkload(src.url);

    // WHEN the table's last changes are followed by its drop, while another table streams
    await psql(
      src.url,
      `UPDATE public.gone SET note = 'last ' || id WHERE id <= 20; DELETE FROM public.gone WHERE id > 290`,
    );
    const kept = await sourceGone(src.url);
    await psql(src.url, 'DROP TABLE public.gone');

    // THEN both sinks mark it once its changes are in, keeping its last rows
    const mark = await eventually('the warehouse mark', async () => (await whMark()) ?? undefined);
    expect(new Date(mark).getTime()).toBeGreaterThan(Date.now() - 120_000);
    const props = await eventually('the Iceberg mark', async () => {
      const r = await readWithPyIceberg(catalogUri, 'public.gone');
      return r.properties['tidemark.source-dropped-at'] ? r.properties : undefined;
    });
    expect(props['tidemark.source-dropped-at']).toBe(mark);
    expect(await sourceGone(wh.url)).toEqual(kept);
    expect(await sinkGone()).toEqual(kept);
    const status = await pipelineStatus(config, env());
    expect((status.droppedTables as Array<{ table: string }>).map((d) => d.table)).toEqual(['public.gone']);
    expect(proc.stderr()).toMatch(/table dropped in the source/);

    // AND the other table went on streaming
    await load.stop();
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const expected = await sourceLines(src.url);
    await eventually('public.items in the warehouse', async () =>
      JSON.stringify(await pgWarehouseLines(wh.url)) === JSON.stringify(expected) ? true : undefined,
    );

    // WHEN a table of that name is created again (while the pipeline is stopped and restarted, in
    // embedded mode; while it runs, with Kafka)
    if (mode === 'embedded') expect(await proc.terminate()).toBe(0);
    await psql(
      src.url,
      `CREATE TABLE public.gone (id int PRIMARY KEY, note text NOT NULL);
       INSERT INTO public.gone SELECT g, 'new ' || g FROM generate_series(250, 450) g`,
    );
    if (mode === 'embedded') {
      const again = await freePort();
      proc = startTidemark(['run', '--config', config], env(again), again);
      await proc.ready(90_000);
    }
    await waitForRefresh(config, env(), 'public.gone', proc);
    await psql(src.url, `UPDATE public.gone SET note = 'newer' WHERE id = 300`);
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // THEN both sinks hold the new table's rows only, and the marks are gone
    const fresh = await sourceGone(src.url);
    await eventually('the new rows in the warehouse', async () =>
      JSON.stringify(await sourceGone(wh.url)) === JSON.stringify(fresh) ? true : undefined,
    );
    expect(await whMark()).toBeNull();
    const read = await readWithPyIceberg(catalogUri, 'public.gone');
    expect(lines(read.rows)).toEqual(fresh);
    expect(read.properties['tidemark.source-dropped-at']).toBeUndefined();
    expect((await pipelineStatus(config, env())).droppedTables).toEqual([]);

    // WHEN it is dropped and created again at once, between two of the source's checks (with
    // Kafka while the pipeline runs; in embedded mode while it is stopped)
    if (mode === 'embedded') expect(await proc.terminate()).toBe(0);
    const replacedAt = new Date().toISOString();
    await psql(
      src.url,
      `DROP TABLE public.gone;
       CREATE TABLE public.gone (id int PRIMARY KEY, note text NOT NULL);
       INSERT INTO public.gone SELECT g, 'third ' || g FROM generate_series(400, 520) g`,
    );
    if (mode === 'embedded') {
      const third = await freePort();
      proc = startTidemark(['run', '--config', config], env(third), third);
      await proc.ready(90_000);
    }
    await waitForRefresh(config, env(), 'public.gone', proc, 120_000, replacedAt);
    await psql(src.url, `DELETE FROM public.gone WHERE id = 401`);
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // THEN the sinks hold the third table's rows only: another table under the same name is told
    // by its relation oid, not missed
    const third = await sourceGone(src.url);
    await eventually('the third table in the warehouse', async () =>
      JSON.stringify(await sourceGone(wh.url)) === JSON.stringify(third) ? true : undefined,
    );
    expect(lines((await readWithPyIceberg(catalogUri, 'public.gone')).rows)).toEqual(third);
    expect(await proc.terminate()).toBe(0);
  }, 400_000);
});
