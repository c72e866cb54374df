import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileIO } from '../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../src/sink/iceberg/sql-catalog';
import { planScan } from '../../src/sink/iceberg/table-scan';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, runCli, startTidemark, writeConfig } from '../support/tidemark-process';
import { ITEMS_DDL, icebergLines, itemsWorkload, sourceLines, waitForSlot } from './support/shop-mirror';

/**
 * Automatic Iceberg maintenance by the committer (sinks.iceberg.maintenance), under a live load
 * that commits a few times a second: small files are compacted once a table holds enough files,
 * old snapshots expire, the metric counts both, and the tables still read exactly as the source
 * (`verify` at one cut during the load; PyIceberg after it).
 */
describe('automatic Iceberg maintenance', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const env = () => ({ SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: '0' });

  beforeAll(async () => {
    src = await createTestDatabase('e2e_msrc');
    wh = await createTestDatabase('e2e_mwh');
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-maint-'));
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.*"], heartbeatIntervalMs: 500 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 300
  iceberg:
    catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }
    location: ${dir}/lake
    maintenance: { compactAtFiles: 12, targetFileRows: 100000, expireAfterMs: 0, keepSnapshots: 20, checkEveryMs: 1000 }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${METRICS_PORT} }
`,
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('compacts and expires while mirroring, without changing a row', async () => {
    const port = await freePort();
    const proc = startTidemark(['run', '--config', config], { ...env(), METRICS_PORT: String(port) }, port);
    await proc.ready(90_000);
    const load = itemsWorkload(src.url);
    const metric = async (kind: string) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = new RegExp(`tidemark_sink_maintenance_files_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`).exec(
        text,
      );
      return m ? Number(m[1]) : 0;
    };
    // Expiry needs more than keepSnapshots commits: on a slow 2-core machine under this load a round
    // takes about 3 s (32 commits in 90 s were seen), hence 20 kept and up to 150 s.
    const until = Date.now() + 150_000;
    while ((await metric('compact')) === 0 || (await metric('expire')) === 0) {
      if (Date.now() > until) throw new Error('no automatic compaction and expiry within 150 s');
      await new Promise((r) => setTimeout(r, 500));
    }

    // THEN, while the load goes on, the tables agree with the source at one cut
    const during = JSON.parse((await runCli(['verify', '--config', config, '--json'], env())).stdout);
    expect(during.tables.filter((t: { agree: boolean }) => !t.agree)).toEqual([]);
    expect(during.exact).toBe(true);
    await load.stop();
    await waitForSlot(src.url, `tidemark_${src.name}`);
    expect(await proc.terminate()).toBe(0);

    // AND the items table holds few files and a bounded history, and PyIceberg reads the source's rows
    const catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/lake` });
    const m = await lake.metadata({ schema: 'public', table: 'items' });
    await catalog.close();
    const plan = await planScan(new LocalFileIO(), m, 'public.items');
    expect(m.snapshots.some((s) => s.summary.operation === 'replace')).toBe(true);
    expect(m.snapshots.length).toBeLessThanOrEqual(60);
    expect(plan.dataFiles.length + plan.deleteFiles.length).toBeLessThan(60);
    expect(await icebergLines(`sqlite:///${dir}/catalog.db`)).toEqual(await sourceLines(src.url));
  }, 300_000);
});
