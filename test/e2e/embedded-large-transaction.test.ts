import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, startTidemark, writeConfig } from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';
import { duckdbNoteDigest, waitForSlot } from './support/shop-mirror';

/**
 * Embedded mode with a transaction larger than the reader's in-flight bound: there, appends
 * resolve only once the sinks commit the whole transaction, so the reader must not wait on the
 * open transaction's own appends (it did, and stalled for ever).
 */
describe('embedded mode: a transaction larger than source.maxInFlightEvents', () => {
  let db: TestDatabase;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
  });

  it('arrives whole in both sinks', async () => {
    db = await createTestDatabase('e2e_embtx');
    await psql(db.url, 'CREATE TABLE big (id int PRIMARY KEY, note text)');
    const dir = mkdtempSync(join(tmpdir(), 'tm-embtx-'));
    const port = await freePort();
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${db.name}
source: { url: "\${SRC_URL}", tables: ["public.big"], maxInFlightEvents: 1000 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 200
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: duckdb, path: ${dir}/warehouse.duckdb }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
    const proc = startTidemark(
      ['run', '--config', config],
      { SRC_URL: db.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
    await proc.ready(90_000);
    // WHEN one transaction writes 30 times the bound, then a small one follows
    await psql(db.url, `INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 30000) g`);
    await psql(db.url, `UPDATE big SET note = 'after' WHERE id = 1`);
    await waitForSlot(db.url, `tidemark_${db.name}`, 90_000);
    expect(await proc.terminate()).toBe(0);
    // THEN both sinks hold exactly the source's rows
    const line = `concat_ws('|', id::text, md5(note))`;
    const expected = await tableDigestOf(db.url, 'big', line);
    expect(expected.rows).toBe(30000);
    expect(await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.big')).toEqual(expected);
    expect(await duckdbNoteDigest(`${dir}/warehouse.duckdb`)).toEqual(expected);
  }, 240_000);
});
