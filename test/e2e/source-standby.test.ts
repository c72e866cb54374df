import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  kafkaPipelineYaml,
  killAllTidemarks,
  runCli,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import { ITEMS_DDL, itemsWorkload, waitForSlot } from './support/shop-mirror';

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Two source processes for one pipeline: one takes the `source` lease and reads the slot, the
 * other stands by. When the active one is killed with SIGKILL during a live load, the standby
 * takes the lease within its TTL and resumes from the slot; `verify` then finds source and sinks
 * equal (nothing lost, nothing doubled).
 */
describe('a standby source takes over', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = () => ({ SRC_URL: src.url, WH_URL: wh.url });
  const start = async (role: 'source' | 'sink'): Promise<TidemarkProcess> => {
    const port = await freePort();
    return startTidemark(
      ['run', '--config', config, '--role', role],
      { ...env(), METRICS_PORT: String(port) },
      port,
    );
  };

  beforeAll(async () => {
    src = await createTestDatabase('e2e_sbsrc');
    wh = await createTestDatabase('e2e_sbwh');
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-standby-'));
    config = writeConfig(dir, 'tidemark.yaml', kafkaPipelineYaml(src.name, dir, '"public.*"'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('keeps mirroring through the loss of the active source', async () => {
    const sink = await start('sink');
    const a = await start('source');
    await a.ready(90_000);
    const b = await start('source');
    await until('the second source to stand by', () =>
      b.stderr().includes('another process holds the source lease'),
    );
    const load = itemsWorkload(src.url);
    await sink.ready(90_000);
    await new Promise((r) => setTimeout(r, 2_000));

    // WHEN the active source dies
    await a.kill9();
    // THEN the standby takes the lease and reads the slot
    await until('the standby to take over', () => b.stderr().includes('source lease acquired'), 30_000);
    await b.ready(60_000);
    await new Promise((r) => setTimeout(r, 2_000));

    // AND, while the load goes on, source and both sinks agree at one cut
    const r = await runCli(['verify', '--config', config, '--json', '--wait', '60'], {
      ...env(),
      METRICS_PORT: '0',
    });
    const report = JSON.parse(r.stdout);
    expect(report.tables.filter((t: { agree: boolean }) => !t.agree)).toEqual([]);
    expect(report.agree).toBe(true);
    expect(report.exact).toBe(true);
    await load.stop();
    await waitForSlot(src.url, `tidemark_${src.name}`);
    expect(await b.terminate()).toBe(0);
    expect(await sink.terminate()).toBe(0);
  }, 300_000);
});
