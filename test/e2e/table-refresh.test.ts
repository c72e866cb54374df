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
  writeConfig,
} from '../support/tidemark-process';
import { ITEMS_DDL, itemsWorkload, waitForSlot } from './support/shop-mirror';

/**
 * `tidemark snapshot --table` while streaming goes on, in embedded and Kafka mode: rows damaged
 * in the warehouse behind the pipeline's back (changed, deleted) come back from a chunked copy
 * of the table taken between watermarks in the WAL, while a live load keeps changing the same
 * table; afterwards `verify` finds the source and both sinks equal, so no copied row overwrote
 * a newer change.
 */
describe.each(['embedded', 'kafka'] as const)('table refresh (%s)', (mode) => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = () => ({ SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: '0' });

  beforeAll(async () => {
    src = await createTestDatabase(`e2e_ref${mode[0]}`);
    wh = await createTestDatabase(`e2e_refw${mode[0]}`);
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-refresh-'));
    const chunks = 'snapshotChunkRows: 400';
    config = writeConfig(dir, 'tidemark.yaml', pipelineYaml(mode, src.name, dir, '"public.*"', chunks));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('re-copies a damaged table under a live load without overwriting newer changes', async () => {
    const port = await freePort();
    const proc = startTidemark(['run', '--config', config], { ...env(), METRICS_PORT: String(port) }, port);
    await proc.ready(90_000);
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const load = itemsWorkload(src.url);
    await new Promise((r) => setTimeout(r, 1_000));
    // GIVEN rows changed and deleted in the warehouse behind the pipeline's back
    const until = Date.now() + 120_000;
    while ((await psql(wh.url, 'SELECT 1 FROM items WHERE id = 2990').catch(() => [])).length === 0) {
      if (Date.now() > until) throw new Error('the warehouse never got the snapshot');
      await new Promise((r) => setTimeout(r, 300));
    }
    // (the sink writes the same rows meanwhile: Postgres may break a deadlock by failing this side)
    for (let attempt = 1; ; attempt++) {
      try {
        await psql(
          wh.url,
          `UPDATE items SET note = 'broken' WHERE id <= 300; DELETE FROM items WHERE id BETWEEN 2000 AND 2010`,
        );
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== '40P01' || attempt >= 5) throw e;
      }
    }

    // WHEN the table is copied again while the load goes on
    if (mode === 'embedded') {
      const refresh = await runCli(['snapshot', '--table', 'items', '--wait', '--config', config], env());
      expect(refresh.stderr).toBe('');
      expect(refresh.code).toBe(0);
      expect(refresh.stdout).toMatch(/public\.items: \d+ rows copied, complete/);
    } else {
      // the same through the operator's reset tool, per table
      const reset = await runCli(
        ['offsets', 'reset', '--resnapshot', '--table', 'items', '--apply', '--config', config],
        env(),
      );
      expect(reset.code).toBe(0);
      expect(reset.stdout).toContain('will: ask the source to copy public.items again');
      const end = Date.now() + 120_000;
      for (;;) {
        const s = JSON.parse((await runCli(['status', '--json', '--config', config], env())).stdout);
        if (s.refreshes.some((r: { finishedAt?: string }) => r.finishedAt)) break;
        if (Date.now() > end) throw new Error('the refresh did not complete');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const status = await runCli(['status', '--config', config], env());
    expect(status.stdout).toMatch(
      mode === 'embedded'
        ? /refresh public\.items \(tidemark snapshot\): \d+ rows copied, complete at/
        : /refresh public\.items \(tidemark offsets reset --resnapshot\): \d+ rows copied, complete at/,
    );

    // THEN source and both sinks agree, while the load still runs and after it stopped
    const during = await runCli(['verify', '--config', config, '--json'], env());
    expect(JSON.parse(during.stdout).tables.filter((t: { agree: boolean }) => !t.agree)).toEqual([]);
    expect(JSON.parse(during.stdout).exact).toBe(true);
    await load.stop();
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const after = await runCli(['verify', '--config', config, '--json', '--wait', '3'], env());
    expect(JSON.parse(after.stdout).agree).toBe(true);
    expect(await proc.terminate()).toBe(0);
  }, 300_000);
});
