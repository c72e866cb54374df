import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import {
  freePort,
  killAllTidemarks,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import {
  ACCOUNTS_TOTAL,
  duckdbLines,
  duckdbSmallTables,
  ITEMS_DDL,
  icebergAccountTotals,
  icebergLines,
  icebergSmallTables,
  itemsWorkload,
  pgSmallTables,
  sourceLines,
  waitForSlot,
} from './support/shop-mirror';

/**
 * The embedded default through the real CLI: Postgres → tidemark (in-process log, file offsets)
 * → a local Iceberg table (SQLite catalog, read back by PyIceberg) and a DuckDB file, with
 * kill -9 during a live write load. Both mirrors must equal the source row for row.
 */
describe('embedded mode: Postgres → Iceberg + DuckDB, exactly once', () => {
  let db: TestDatabase;
  let dir: string;
  let config: string;
  let port: number;
  const start = () =>
    startTidemark(
      ['run', '--config', config],
      { SRC_URL: db.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );

  beforeAll(async () => {
    db = await createTestDatabase('e2e_emb');
    await psql(db.url, ITEMS_DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-emb-'));
    port = await freePort();
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${db.name}
source:
  url: \${SRC_URL}
  tables: ["public.*"]
  heartbeatIntervalMs: 500
  snapshotChunkRows: 1000
  # below the table size: the snapshot must commit piece by piece, not wait for its end
  maxInFlightEvents: 1000
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: duckdb, path: ${dir}/warehouse.duckdb }
observe: { port: \${TIDEMARK_METRICS_PORT}, logLevel: debug }
`,
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await db.drop();
  });

  it('mirrors the snapshot and a live load into both sinks, equal to the source, through kill -9', async () => {
    // GIVEN tidemark copying the table, and a live workload
    let proc: TidemarkProcess = start();
    await proc.ready(90_000);
    const load = itemsWorkload(db.url);
    // WHEN it is killed with SIGKILL twice during the load and restarted from its stored offsets
    for (let kill = 0; kill < 2; kill++) {
      await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1500));
      await proc.kill9();
      proc = start();
      await proc.ready(90_000);
    }
    const txns = await load.stop();
    expect(txns).toBeGreaterThan(20);
    await waitForSlot(db.url, `tidemark_${db.name}`);
    expect(await proc.terminate()).toBe(0);

    // THEN PyIceberg and DuckDB both read exactly the source's rows
    const expected = await sourceLines(db.url);
    expect(expected.length).toBeGreaterThan(3000);
    expect(await icebergLines(`sqlite:///${dir}/catalog.db`)).toEqual(expected);
    expect(await duckdbLines(`${dir}/warehouse.duckdb`)).toEqual(expected);
    // AND the tables written in the same transactions (transfers, a truncated table) too
    const small = await pgSmallTables(db.url);
    expect(await icebergSmallTables(`sqlite:///${dir}/catalog.db`)).toEqual(small);
    expect(await duckdbSmallTables(`${dir}/warehouse.duckdb`)).toEqual(small);
    // AND no committed Iceberg snapshot ever showed a transfer half done
    const totals = await icebergAccountTotals(`sqlite:///${dir}/catalog.db`);
    expect(totals.length).toBeGreaterThan(3);
    expect(totals.filter((t) => t.sum !== ACCOUNTS_TOTAL || t.rows !== 20)).toEqual([]);

    // AND a restart with nothing new commits nothing twice (the sinks' tokens drop the replays)
    proc = start();
    await proc.ready(90_000);
    await psql(db.url, `UPDATE items SET qty = -1 WHERE id = 7`);
    await waitForSlot(db.url, `tidemark_${db.name}`);
    expect(await proc.terminate()).toBe(0);
    const after = await sourceLines(db.url);
    expect(await icebergLines(`sqlite:///${dir}/catalog.db`)).toEqual(after);
    expect(await duckdbLines(`${dir}/warehouse.duckdb`)).toEqual(after);
  }, 300_000);
});
