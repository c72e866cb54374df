import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RestCatalog } from '../../src/sink/iceberg/rest-catalog';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase, uniqueName } from '../support/services';
import { freePort, killAllTidemarks, startTidemark, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * The embedded pipeline through the real CLI with its Iceberg tables in Apache Iceberg's REST
 * catalog server (scripts/services `rest`), killed with SIGKILL once mid-stream: PyIceberg,
 * reading through the same REST catalog, must equal the source. The source schema has a unique
 * name, since it is the Iceberg namespace on a server all tests share.
 */
describe('embedded mode with a REST catalog: Postgres → Iceberg, exactly once', () => {
  const restUrl = process.env.TIDEMARK_ICEBERG_REST_URL!;
  const schema = uniqueName('rest_e2e');
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
  const sourceRows = async () =>
    psql<{ id: number; v: string | null }>(
      db.url,
      `SELECT id::int AS id, v FROM ${schema}.items ORDER BY id`,
    );
  const icebergRows = async () =>
    ((await readWithPyIceberg(restUrl, `${schema}.items`)).rows as { id: number; v: string | null }[]).sort(
      (a, b) => a.id - b.id,
    );

  beforeAll(async () => {
    db = await createTestDatabase('e2e_rest');
    await psql(
      db.url,
      `CREATE SCHEMA ${schema};
       CREATE TABLE ${schema}.items (id bigint PRIMARY KEY, v text);
       INSERT INTO ${schema}.items SELECT g, 'v' || g FROM generate_series(1, 500) g`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-rest-'));
    port = await freePort();
    config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${db.name}
source: { url: \${SRC_URL}, tables: ["${schema}.*"], heartbeatIntervalMs: 500 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: rest, url: "${restUrl}" }, location: ${dir}/lake }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    const catalog = await RestCatalog.open({ url: restUrl });
    for (const t of await catalog.listTables(schema)) await catalog.dropTable(t);
    await catalog.close();
    await fetch(`${restUrl}/v1/namespaces/${schema}`, { method: 'DELETE' });
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mirrors the snapshot and the changes after it, through kill -9, equal to the source', async () => {
    // GIVEN tidemark copying the table
    let proc = start();
    await proc.ready(90_000);

    // WHEN rows change while it runs, it is killed, more rows change, and it starts again
    await psql(db.url, `UPDATE ${schema}.items SET v = 'u' || id WHERE id % 7 = 0`);
    await psql(db.url, `DELETE FROM ${schema}.items WHERE id % 11 = 0`);
    await proc.kill9();
    await psql(db.url, `INSERT INTO ${schema}.items SELECT g, 'n' || g FROM generate_series(501, 600) g`);
    await psql(db.url, `UPDATE ${schema}.items SET v = NULL WHERE id % 13 = 0`);
    proc = start();
    await proc.ready(90_000);
    await waitForSlot(db.url, `tidemark_${db.name}`);
    expect(await proc.terminate()).toBe(0);

    // THEN PyIceberg, through the REST catalog, reads exactly the source's rows
    const expected = await sourceRows();
    expect(expected.length).toBeGreaterThan(500);
    expect(await icebergRows()).toEqual(expected);
  }, 240_000);
});
