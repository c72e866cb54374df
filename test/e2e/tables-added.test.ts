import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  pipelineYaml,
  runCli,
  startTidemark,
  type TidemarkProcess,
  waitForRefresh,
  writeConfig,
} from '../support/tidemark-process';
import { ITEMS_DDL, itemsWorkload, waitForSlot } from './support/shop-mirror';

interface VerifyReport {
  agree: boolean;
  exact: boolean;
  tables: Array<{ table: string; agree: boolean }>;
}

/**
 * Tables that come to match `source.tables` join the pipeline: one created while it runs (found
 * by the periodic check, added to the publication, copied between WAL watermarks while its own
 * writes and a live load on another table go on), and one created while it was stopped (copied
 * at the next start). `verify` then finds the source and both sinks equal, those tables included.
 */
describe.each(['embedded', 'kafka'] as const)('tables added to a running pipeline (%s)', (mode) => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = (port = 0) => ({ SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(port) });
  const start = async (): Promise<TidemarkProcess> => {
    const port = await freePort();
    const p = startTidemark(['run', '--config', config], env(port), port);
    await p.ready(90_000);
    return p;
  };
  const verify = async (): Promise<VerifyReport> =>
    JSON.parse((await runCli(['verify', '--config', config, '--json', '--wait', '10'], env())).stdout);
  const waitForCopy = (table: string, proc: TidemarkProcess) => waitForRefresh(config, env(), table, proc);

  beforeAll(async () => {
    src = await createTestDatabase(`e2e_add${mode[0]}`);
    wh = await createTestDatabase(`e2e_addw${mode[0]}`);
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-added-'));
    const options = 'discoverEveryMs: 1000, snapshotChunkRows: 700';
    config = writeConfig(dir, 'tidemark.yaml', pipelineYaml(mode, src.name, dir, '"public.*"', options));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('copies a table created while it runs, and one created while it was stopped', async () => {
    let proc = await start();
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const load = itemsWorkload(src.url);

    // WHEN a table matching public.* is created and written to while the pipeline runs
    await psql(
      src.url,
      `CREATE TABLE public.added (id int PRIMARY KEY, note text, amount numeric(10,2));
       INSERT INTO public.added SELECT g, 'row ' || g, g / 7.0 FROM generate_series(1, 3000) g`,
    );
    const writes = (async () => {
      for (let i = 0; i < 30; i++) {
        await psql(
          src.url,
          `UPDATE public.added SET note = 'changed ${i}' WHERE id % 30 = ${i};
           INSERT INTO public.added VALUES (${10_000 + i}, 'late ${i}', ${i});
           DELETE FROM public.added WHERE id = ${100 + i * 50}`,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await waitForCopy('public.added', proc);
    await writes;

    // THEN it is mirrored, and the other table went on streaming meanwhile
    const during = await verify();
    expect(during.tables.map((t) => t.table)).toContain('public.added');
    expect(during.tables.filter((t) => !t.agree)).toEqual([]);
    expect(proc.stderr()).toMatch(/new table joined the pipeline/);
    await load.stop();

    // WHEN a table is created while the pipeline is stopped
    expect(await proc.terminate()).toBe(0);
    await psql(
      src.url,
      `CREATE TABLE public.while_stopped (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
       INSERT INTO public.while_stopped (id) SELECT generate_series(1, 1500)`,
    );
    proc = await start();
    await waitForCopy('public.while_stopped', proc);
    await psql(src.url, 'UPDATE public.while_stopped SET at = now() WHERE id <= 10');
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // THEN every table agrees, the late ones included
    const after = await verify();
    expect(after.tables.map((t) => t.table)).toEqual(
      expect.arrayContaining(['public.added', 'public.items', 'public.while_stopped']),
    );
    expect(after.tables.filter((t) => !t.agree)).toEqual([]);
    expect(after.agree).toBe(true);
    const rows = await psql<{ n: string }>(wh.url, 'SELECT count(*)::text AS n FROM public.while_stopped');
    expect(rows[0]!.n).toBe('1500');
    expect(await proc.terminate()).toBe(0);
  }, 400_000);
});
