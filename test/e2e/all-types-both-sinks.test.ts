import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { SchemaRegistry } from '../../src/log/schema-registry';
import { byId, readWithPyIceberg, toPlain } from '../integration/iceberg/iceberg-fixtures';
import { BIG, COLUMNS, expected, TEXTS, TYPES_DDL, VALUES } from '../support/every-type';
import { createTestDatabase, kafkaBrokers, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, runCli, startTidemark, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * Every type the source maps, through the whole product: Postgres → Kafka (the JSON envelope)
 * → Iceberg (read by PyIceberg, compared with the canonical values) and a PostgreSQL warehouse
 * (compared with the source column by column as Postgres prints them). One row arrives through
 * the snapshot, one through the stream, one is updated after, one is all NULLs.
 */
describe('every type, end to end into both sinks', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    src = await createTestDatabase('e2e_tsrc');
    wh = await createTestDatabase('e2e_twh');
    await psql(
      src.url,
      `${TYPES_DDL}; CREATE TABLE every_type (${COLUMNS}); ALTER DATABASE ${src.name} SET lc_monetary = 'C';`,
    );
    await psql(wh.url, `ALTER DATABASE ${wh.name} SET lc_monetary = 'C'`);
    dir = mkdtempSync(join(tmpdir(), 'tm-types-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('arrives exactly in Iceberg and in the warehouse', async () => {
    await psql(src.url, `INSERT INTO every_type VALUES ${VALUES}`, [1, BIG, TEXTS]);
    await psql(src.url, 'INSERT INTO every_type (id) VALUES (4)');
    const port = await freePort();
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.every_type"], heartbeatIntervalMs: 500, watermarkIntervalMs: 200 }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: ${port} }
`,
    );
    const proc = startTidemark(['run', '--config', config], { SRC_URL: src.url, WH_URL: wh.url }, port);
    await proc.ready(90_000);
    await psql(src.url, `INSERT INTO every_type VALUES ${VALUES}`, [2, BIG, TEXTS]);
    await psql(src.url, `INSERT INTO every_type VALUES ${VALUES}`, [3, BIG, TEXTS]);
    await psql(src.url, `UPDATE every_type SET i4 = -1, t = 'changed', a_int = '{}' WHERE id = 3`);
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const cols = (
      await psql<{ c: string }>(
        src.url,
        `SELECT attname AS c FROM pg_attribute WHERE attrelid = 'every_type'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      )
    ).map((r) => r.c);
    const asText = `SELECT ${cols.map((c) => `${c}::text AS ${c}`).join(', ')} FROM every_type ORDER BY id`;
    const sourceRows = await psql(src.url, asText);
    const until = Date.now() + 60_000;
    let whRows = await psql(wh.url, asText).catch(() => []);
    while (JSON.stringify(whRows) !== JSON.stringify(sourceRows) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 300));
      whRows = await psql(wh.url, asText).catch(() => []);
    }
    // AND `tidemark verify` finds the source and both sinks equal, every type compared
    const verified = await runCli(['verify', '--config', config, '--json'], {
      SRC_URL: src.url,
      WH_URL: wh.url,
    });
    const report = JSON.parse(verified.stdout);
    expect(report.agree).toBe(true);
    expect(report.tables[0].rows).toEqual({ source: 4, iceberg: 4, warehouse: 4 });
    expect(await proc.terminate()).toBe(0);

    // THEN the warehouse prints every column exactly as the source does
    expect(whRows).toEqual(sourceRows);
    // AND PyIceberg reads the canonical values of every column
    const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const registry = new SchemaRegistry(kafka, src.name);
    await registry.refresh();
    const schema = registry.latest('public', 'every_type')!;
    const nulls = Object.fromEntries(schema.columns.map((c) => [c.name, null]));
    // float4 reads back as the float32 nearest the text Postgres printed
    const f32 = (r: Record<string, unknown>) => ({
      ...r,
      f4: r.f4 === null ? null : Math.fround(r.f4 as number),
    });
    const want = [
      expected(1),
      expected(2),
      { ...expected(3), i4: -1, t: 'changed', a_int: [] },
      { ...nulls, id: 4 },
    ].map(f32);
    const got = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.every_type');
    expect(byId(got.rows)).toEqual(want.map((r) => toPlain(r as never, schema)));
  }, 300_000);
});
