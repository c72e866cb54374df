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
  waitForRefresh,
  writeConfig,
} from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * A table renamed in the source while mirrored (same table, new name), in embedded and Kafka mode:
 * the mirror follows it as a table dropped under its old name (kept and marked in both sinks) and
 * a table that appeared under its new name (copied while its changes stream), so both sinks hold
 * it under the new name, equal to the source, and nothing stops. Changed and renamed again while
 * the pipeline is stopped: the changes from before the rename go to the old name, the table goes
 * on under the new one. Renamed again to a name source.tables leaves out, it leaves the mirror
 * (out of the publication, its changes passed over).
 */
const lines = (rows: unknown[]) =>
  (rows as Array<{ id: number; note: string }>).map((r) => `${r.id}|${r.note}`).sort();

/** The warehouse table's lines once they equal `expected` (Kafka: the warehouse commits after Iceberg), or as they are after a minute. */
async function warehouseOnceEqual(url: string, table: string, expected: string[]): Promise<string[]> {
  const until = Date.now() + 60_000;
  for (;;) {
    const now = lines(await psql(url, `SELECT id, note FROM ${table}`).catch(() => []));
    if (JSON.stringify(now) === JSON.stringify(expected) || Date.now() > until) return now;
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.each(['embedded', 'kafka'] as const)('a table renamed in the source (%s)', (mode) => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = (port = 0) => ({ SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(port) });

  beforeAll(async () => {
    src = await createTestDatabase(`e2e_ren${mode[0]}`);
    wh = await createTestDatabase(`e2e_renw${mode[0]}`);
    await psql(
      src.url,
      `CREATE TABLE public.gadgets (id int PRIMARY KEY, note text NOT NULL);
       INSERT INTO public.gadgets SELECT g, 'g ' || g FROM generate_series(1, 200) g`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-renamed-'));
    config = writeConfig(
      dir,
      'tidemark.yaml',
      pipelineYaml(mode, src.name, dir, '"public.*", "!public.archive_*"', 'discoverEveryMs: 1000'),
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('keeps the old name marked as dropped and mirrors the table under its new name', async () => {
    let port = await freePort();
    let proc = startTidemark(['run', '--config', config], env(port), port);
    await proc.ready(90_000);
    const slot = `tidemark_${src.name}`;
    await waitForSlot(src.url, slot);
    await psql(src.url, `UPDATE public.gadgets SET note = 'before ' || id WHERE id <= 10`);
    await waitForSlot(src.url, slot);

    // WHEN it is renamed, and changed under its new name
    const since = new Date().toISOString();
    await psql(src.url, 'ALTER TABLE public.gadgets RENAME TO widgets');
    await psql(src.url, `UPDATE public.widgets SET note = 'after ' || id WHERE id > 190`);
    await psql(src.url, `INSERT INTO public.widgets VALUES (500, 'new')`);
    await psql(src.url, 'DELETE FROM public.widgets WHERE id = 5');
    await waitForRefresh(config, env(), 'public.widgets', proc, 120_000, since);
    await waitForSlot(src.url, slot, 90_000);

    // THEN the new name is mirrored in both sinks, equal to the source
    const expected = lines(await psql(src.url, 'SELECT id, note FROM public.widgets'));
    expect(await warehouseOnceEqual(wh.url, 'public.widgets', expected)).toEqual(expected);
    const catalogUri = `sqlite:///${dir}/catalog.db`;
    expect(lines((await readWithPyIceberg(catalogUri, 'public.widgets')).rows)).toEqual(expected);

    // AND the old name keeps its last rows, marked as dropped
    const status = await pipelineStatus(config, env());
    expect((status.droppedTables as Array<{ table: string }>).map((d) => d.table)).toEqual([
      'public.gadgets',
    ]);
    const old = lines(await psql(wh.url, 'SELECT id, note FROM public.gadgets'));
    expect(old.length).toBe(200);
    expect(old).toContain('1|before 1');

    // WHEN, while the pipeline is stopped, it changes, is renamed again and changes once more
    expect(await proc.terminate()).toBe(0);
    // seen by the stream or by the periodic check, whichever came first
    expect(proc.stderr()).toMatch(
      /"from":"public\.gadgets","to":"public\.widgets","msg":"table renamed in the source: followed as a drop and a new table"/,
    );
    await psql(src.url, `UPDATE public.widgets SET note = 'stopped ' || id WHERE id <= 3`);
    await psql(src.url, 'ALTER TABLE public.widgets RENAME TO gizmos');
    await psql(src.url, `UPDATE public.gizmos SET note = 'gizmo ' || id WHERE id > 195`);
    const restart = new Date().toISOString();
    port = await freePort();
    proc = startTidemark(['run', '--config', config], env(port), port);
    await proc.ready(90_000);
    await waitForRefresh(config, env(), 'public.gizmos', proc, 120_000, restart);
    await waitForSlot(src.url, slot, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.stderr().slice(-5000)}`);
    });

    // THEN the changes before the rename went to the old name, the table goes on under the new one
    const gizmos = lines(await psql(src.url, 'SELECT id, note FROM public.gizmos'));
    expect(await warehouseOnceEqual(wh.url, 'public.gizmos', gizmos)).toEqual(gizmos);
    expect(lines((await readWithPyIceberg(catalogUri, 'public.gizmos')).rows)).toEqual(gizmos);
    const widgets = lines(await psql(wh.url, 'SELECT id, note FROM public.widgets'));
    expect(widgets).toContain('1|stopped 1');
    expect(widgets).not.toContain('196|gizmo 196');

    // WHEN it is renamed again, to a name source.tables leaves out, and changed there
    await psql(src.url, 'ALTER TABLE public.gizmos RENAME TO archive_widgets');
    await psql(src.url, `UPDATE public.archive_widgets SET note = 'archived' WHERE id <= 50`);
    await waitForSlot(src.url, slot, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.stderr().slice(-4000)}`);
    });

    // THEN it leaves the mirror: kept and marked under its last mirrored name, out of the publication
    const after = await pipelineStatus(config, env());
    expect((after.droppedTables as Array<{ table: string }>).map((d) => d.table).sort()).toEqual([
      'public.gadgets',
      'public.gizmos',
      'public.widgets',
    ]);
    expect(
      await psql(
        src.url,
        `SELECT tablename FROM pg_publication_tables WHERE pubname = 'tidemark_${src.name}'`,
      ),
    ).toEqual([]);
    expect(
      await psql(wh.url, `SELECT 1 FROM information_schema.tables WHERE table_name = 'archive_widgets'`),
    ).toEqual([]);
    expect(lines(await psql(wh.url, 'SELECT id, note FROM public.gizmos'))).toEqual(gizmos);
    expect(proc.stderr()).toMatch(
      /"from":"public\.gizmos","to":"public\.archive_widgets","msg":"table renamed/,
    );
    expect(proc.stderr()).not.toMatch(/"level":50/);
    expect(await proc.terminate()).toBe(0);
  }, 300_000);
});
