import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  embeddedPipelineYaml,
  freePort,
  killAllTidemarks,
  pipelineStatus,
  startTidemark,
  writeConfig,
} from '../support/tidemark-process';
import { ITEMS_DDL, pgWarehouseLines, sourceLines, waitForSlot } from './support/shop-mirror';

/**
 * The full-refresh mode: `tables.<t>.refreshEveryMs` copies the table again on a schedule while
 * its changes stream. Rows damaged in the warehouse behind the pipeline's back (changed, deleted)
 * come back at the next scheduled copy, with no command run; the tables not on a schedule are
 * not copied.
 */
describe('a table on a refresh schedule', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let config: string;

  beforeAll(async () => {
    src = await createTestDatabase('e2e_sched');
    wh = await createTestDatabase('e2e_schedw');
    await psql(src.url, ITEMS_DDL);
    const dir = mkdtempSync(join(tmpdir(), 'tm-sched-'));
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `${embeddedPipelineYaml(src.name, dir, '"public.*"', 'snapshotChunkRows: 300')}tables:
  public.items: { refreshEveryMs: 4000 }
`,
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('repairs the warehouse at the next scheduled copy', async () => {
    const port = await freePort();
    const env = { SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(port) };
    const proc = startTidemark(['run', '--config', config], env, port);
    await proc.ready(90_000);
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const expected = await sourceLines(src.url);
    expect(await pgWarehouseLines(wh.url)).toEqual(expected);

    // WHEN rows are damaged in the warehouse behind the pipeline's back
    const damagedAt = new Date().toISOString();
    await psql(
      wh.url,
      `UPDATE public.items SET note = 'damaged' WHERE id <= 40; DELETE FROM public.items WHERE id BETWEEN 41 AND 60`,
    );
    expect(await pgWarehouseLines(wh.url)).not.toEqual(expected);

    // THEN a scheduled copy of the table, asked by nobody, brings them back
    const until = Date.now() + 90_000;
    for (;;) {
      const refreshes = (await pipelineStatus(config, { ...env, METRICS_PORT: '0' })).refreshes as Array<{
        table: string;
        requestedAt: string;
        finishedAt?: string;
      }>;
      if (refreshes.some((r) => r.finishedAt && r.requestedAt > damagedAt)) break;
      if (Date.now() > until) throw new Error(`no scheduled copy: ${JSON.stringify(refreshes)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await waitForSlot(src.url, `tidemark_${src.name}`);
    expect(await pgWarehouseLines(wh.url)).toEqual(expected);
    expect(proc.stderr()).toMatch(/scheduled full refresh/);
    // AND only the scheduled table was copied
    const copied = (await pipelineStatus(config, { ...env, METRICS_PORT: '0' })).refreshes as Array<{
      table: string;
      reason?: string;
    }>;
    expect(new Set(copied.map((r) => r.table))).toEqual(new Set(['public.items']));
    // AND status says why it was copied
    expect(copied.some((r) => r.reason?.startsWith('scheduled refresh'))).toBe(true);
    expect(await proc.terminate()).toBe(0);
  }, 200_000);
});
