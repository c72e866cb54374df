import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { waitUntil } from '../support/settled';
import { freePort, killAllTidemarks, startTidemark, writeConfig } from '../support/tidemark-process';

const digest = `SELECT count(*)::int AS n, sum(hashtext(id::text || v))::text AS h FROM public.items`;

/**
 * pgoutput sends only the changes of tables in the publication, so a table taken out of it by
 * hand (ALTER PUBLICATION … SET TABLE) stops reaching the sinks without an error anywhere. The
 * running source notices at its next table check, puts the table back and copies it again, and
 * says so.
 */
describe('a mirrored table taken out of the publication by hand', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    src = await createTestDatabase('e2e_pubsrc');
    wh = await createTestDatabase('e2e_pubwh');
    await psql(
      src.url,
      `CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL);
       CREATE TABLE other (id int PRIMARY KEY);
       INSERT INTO items SELECT g, 'first' FROM generate_series(1, 50) g`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-pub-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('is put back and copied again while the pipeline runs, and the sinks end equal to the source', async () => {
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.*"], heartbeatIntervalMs: 500, discoverEveryMs: 1000 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 200
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
    );
    const port = await freePort();
    const proc = startTidemark(
      ['run', '--config', config],
      { SRC_URL: src.url, WH_URL: wh.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
    await proc.ready(90_000);
    const same = async () =>
      JSON.stringify(await psql(wh.url, digest).catch(() => null)) ===
      JSON.stringify(await psql(src.url, digest));
    await waitUntil('the initial copy in the warehouse', same);

    // WHEN the table is taken out of the publication and changed meanwhile
    await psql(src.url, `ALTER PUBLICATION tidemark_${src.name} SET TABLE public.other`);
    await psql(
      src.url,
      `INSERT INTO items SELECT g, 'while out' FROM generate_series(51, 60) g;
       UPDATE items SET v = 'changed while out' WHERE id <= 5`,
    );

    // THEN the source says so, the table is published again, and the warehouse equals the source
    await waitUntil('the warning', async () =>
      /taken out of the publication outside tidemark/.test(proc.stderr()),
    );
    expect(
      await psql(
        src.url,
        `SELECT tablename FROM pg_publication_tables WHERE pubname = 'tidemark_${src.name}' ORDER BY 1`,
      ),
    ).toEqual([{ tablename: 'items' }, { tablename: 'other' }]);
    await waitUntil('the copy in the warehouse', same);
    // AND changes after it stream again
    await psql(src.url, `UPDATE items SET v = 'after' WHERE id = 60`);
    await waitUntil('the change after the copy', same);
    expect(await proc.terminate()).toBe(0);
  }, 240_000);
});
