import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TableSchema } from '../../src/core/table-schema';
import { LocalFileIO } from '../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../src/sink/iceberg/sql-catalog';
import type { VerifyReport } from '../../src/verify/run-verify';
import { del, upsert } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  embeddedPipelineYaml,
  freePort,
  killAllTidemarks,
  runCli,
  startTidemark,
  writeConfig,
} from '../support/tidemark-process';
import { ITEMS_DDL, itemsWorkload, waitForSlot } from './support/shop-mirror';

const ITEMS: TableSchema = {
  schema: 'public',
  table: 'items',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'qty', attnum: 2, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
    {
      name: 'price',
      attnum: 3,
      type: { kind: 'decimal', precision: 12, scale: 2 },
      pgType: 'numeric(12,2)',
      nullable: true,
    },
    { name: 'note', attnum: 4, type: { kind: 'text' }, pgType: 'text', nullable: true },
    { name: 'updated_at', attnum: 5, type: { kind: 'timestamptz' }, pgType: 'timestamptz', nullable: false },
  ],
};

/**
 * `tidemark verify` on the embedded pipeline with an Iceberg lakehouse and a PostgreSQL
 * warehouse: during a live load (TOAST-unchanged updates, key changes, deletes, truncates) it
 * finds the source and both sinks equal at one cut, applying the source changes between its
 * snapshot and that cut; after rows are changed behind the pipeline's back in either sink, it
 * names exactly those keys, the sink and the column, and exits 6.
 */
describe('tidemark verify', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const verify = async (
    ...args: string[]
  ): Promise<{ code: number; report: VerifyReport; stderr: string }> => {
    const r = await runCli(['verify', '--config', config, '--json', ...args], {
      SRC_URL: src.url,
      WH_URL: wh.url,
      METRICS_PORT: '0',
    });
    if (r.code !== 0 && r.code !== 6) throw new Error(`verify failed (${r.code}): ${r.stderr}`);
    return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr };
  };

  beforeAll(async () => {
    src = await createTestDatabase('e2e_vsrc');
    wh = await createTestDatabase('e2e_vwh');
    await psql(src.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-verify-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('agrees during a live load, and names the keys changed behind its back', async () => {
    const port = await freePort();
    config = writeConfig(dir, 'tidemark.yaml', embeddedPipelineYaml(src.name, dir, '"public.*"'));
    const proc = startTidemark(
      ['run', '--config', config],
      { SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(port) },
      port,
    );
    await proc.ready(90_000);
    const load = itemsWorkload(src.url);
    await new Promise((r) => setTimeout(r, 3_000));

    // WHEN verify runs while the load goes on
    const live = await verify();
    // THEN every table agrees, compared exactly at one cut past the source snapshot, with the
    // source changes of that window applied
    expect(live.code).toBe(0);
    expect(live.report.exact).toBe(true);
    expect(live.report.tables.map((t) => t.table)).toEqual([
      'public.accounts',
      'public.carts',
      'public.items',
      'public.ticks',
    ]);
    for (const t of live.report.tables) expect(t.rows.iceberg).toBe(t.rows.source);
    expect(live.report.tables.reduce((n, t) => n + t.changesApplied, 0)).toBeGreaterThan(0);
    expect(live.report.tables.find((t) => t.table === 'public.items')!.rows.source).toBeGreaterThan(2_000);

    await load.stop();
    await waitForSlot(src.url, `tidemark_${src.name}`);
    expect(await proc.terminate()).toBe(0);

    // WHEN rows are changed behind the pipeline's back: two in the warehouse and one added, two in Iceberg
    const ids = (
      await psql<{ id: string }>(src.url, 'SELECT id::text AS id FROM items ORDER BY id LIMIT 4')
    ).map((r) => r.id);
    const [a, b, c, d] = ids as [string, string, string, string];
    await psql(wh.url, `UPDATE items SET price = price + 1 WHERE id = ${a}`);
    await psql(wh.url, `DELETE FROM items WHERE id = ${b}`);
    await psql(
      wh.url,
      `INSERT INTO items SELECT 9000000, qty, price, note, updated_at FROM items WHERE id = ${d}`,
    );
    const [rowD] = await psql<{ qty: number; price: string | null; note: string | null; us: string }>(
      src.url,
      `SELECT qty, price::text AS price, note, (extract(epoch FROM updated_at) * 1000000)::bigint::text AS us FROM items WHERE id = ${d}`,
    );
    const catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/lake` });
    const changes = [
      del(ITEMS, { id: BigInt(c) }, 1),
      upsert(
        ITEMS,
        { id: BigInt(d), qty: 999, price: rowD!.price, note: rowD!.note, updated_at: BigInt(rowD!.us) },
        2,
      ),
    ];
    await lake.commit([await lake.stage(ITEMS, { truncatedAt: null, changes })], { properties: {} });
    await catalog.close();

    // THEN verify names exactly those keys, with the sink and the column, and exits 6
    const after = await verify('--wait', '0');
    expect(after.code).toBe(6);
    expect(after.report.agree).toBe(false);
    const items = after.report.tables.find((t) => t.table === 'public.items')!;
    expect(items.agree).toBe(false);
    const found = items.differences.map((x) => `${x.key} ${x.side} ${x.what}`);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^id=${a} warehouse price = `)),
        `id=${b} warehouse missing (the source has it)`,
        `id=${c} iceberg missing (the source has it)`,
        expect.stringMatching(new RegExp(`^id=${d} iceberg qty = "999" \\(source: "${rowD!.qty}"\\)$`)),
        'id=9000000 warehouse extra (not in the source)',
      ]),
    );
    expect(found).toHaveLength(5);
    expect(items.rows.source - 1).toBe(items.rows.iceberg);
    expect(items.rows.source).toBe(items.rows.warehouse);
    expect(items.differingRanges.length).toBeGreaterThan(0);
    // the other tables still agree
    for (const t of after.report.tables.filter((x) => x.table !== 'public.items')) expect(t.agree).toBe(true);

    // AND --table limits it to one table; --sink to one sink
    const one = await verify('--wait', '0', '--table', 'accounts', '--sink', 'warehouse');
    expect(one.code).toBe(0);
    expect(one.report.tables.map((t) => t.table)).toEqual(['public.accounts']);
    expect(Object.keys(one.report.tables[0]!.rows)).toEqual(['source', 'warehouse']);
  }, 300_000);
});
