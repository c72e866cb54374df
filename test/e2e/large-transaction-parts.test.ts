import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { waitUntil } from '../support/settled';
import {
  freePort,
  kafkaPipelineYaml,
  killAllTidemarks,
  peakRssMiB,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';

const BOUND = 2000;
const BOUND_BYTES = 16 * 1024 * 1024;
/** cut_states.py / table_digest.py's canonical line: text as md5, so the TOASTed notes compare cheaply. */
const ITEM_LINE = `concat_ws('|', id::text, grp::text, coalesce(md5(name), 'null'), coalesce(md5(note), 'null'))`;
/** The same once the migration below added `rank`. */
const RANKED_LINE = `concat_ws('|', id::text, grp::text, coalesce(md5(name), 'null'), coalesce(md5(note), 'null'), coalesce(rank::text, 'null'))`;
const TAG_LINE = `concat_ws('|', id::text, item_id::text, coalesce(md5(label), 'null'))`;

/**
 * A 3 KB note per row that compresses about as real text does (a repeated letter would compress a
 * hundredfold, and one compressed Kafka record batch would then hold far more than the bound).
 */
const NOTE = `(SELECT string_agg(md5(g::text || ':' || k), '') FROM generate_series(1, 94) k)`;

/**
 * One source transaction ten times the sink's buffer bound (sinks.batchMaxRows), over two tables:
 * the sink writes it to both sinks in parts and makes it visible in one commit per sink. The
 * transaction changes rows more than once (a later part replaces and deletes rows of an earlier
 * one), leaves TOASTed notes unchanged (filled from rows an earlier part wrote, or from stored
 * ones), also where it changes their keys (the delete of the old key and the insert of the new
 * one are on different partitions, and go into the same part), and the sink is SIGKILLed while the parts are being written: nothing of the transaction
 * is visible before its commit, and after a restart both sinks equal the source. A later
 * transaction that truncates the tables and loads them again is written in parts as well, and so
 * is a migration that adds a column with a default to a table between its changes.
 */
describe('a transaction larger than the sink buffers, through Kafka, with a kill -9 in its parts', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let config: string;
  const ports = { source: 0, sink: 0 };
  const start = (role: 'source' | 'sink'): TidemarkProcess =>
    startTidemark(
      ['run', '--config', config, '--role', role],
      { SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(ports[role]) },
      ports[role],
    );
  const digests = async (url: string, itemLine = ITEM_LINE) => ({
    items: await tableDigestOf(url, 'items', itemLine),
    tags: await tableDigestOf(url, 'tags', TAG_LINE),
  });
  const lakeDigests = async () => ({
    items: await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.items'),
    tags: await icebergTableDigest(`sqlite:///${dir}/catalog.db`, 'public.tags'),
  });
  const waitFor = (
    what: string,
    cond: () => Promise<boolean>,
    proc: TidemarkProcess,
    ms = 300_000,
    everyMs = 250,
  ) => waitUntil(what, cond, ms, { proc, everyMs });

  beforeAll(async () => {
    src = await createTestDatabase('e2e_ptsrc');
    wh = await createTestDatabase('e2e_ptwh');
    // notes stored out of line (EXTERNAL: never inline-compressed): an update leaving them alone sends them unchanged
    await psql(
      src.url,
      `CREATE TABLE items (id int PRIMARY KEY, grp int NOT NULL, name text, note text);
       ALTER TABLE items ALTER note SET STORAGE EXTERNAL;
       CREATE TABLE tags (id int PRIMARY KEY, item_id int NOT NULL, label text);
       INSERT INTO items SELECT g, g % 10, 'item ' || g, ${NOTE} FROM generate_series(1, 2000) g;`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-parts-'));
    ports.source = await freePort();
    ports.sink = await freePort();
    config = writeConfig(
      dir,
      'tidemark.yaml',
      kafkaPipelineYaml(src.name, dir, '"public.items", "public.tags"').replace(
        'commitIntervalMs: 300',
        `commitIntervalMs: 300\n  batchMaxRows: ${BOUND}\n  batchMaxBytes: ${BOUND_BYTES}`,
      ),
    );
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('writes it in parts, shows none of it before its commit, and ends equal to the source after a kill -9', async () => {
    // GIVEN the pipeline with the first 2,000 items mirrored
    const source = start('source');
    await source.ready(90_000);
    let sink = start('sink');
    await sink.ready(90_000);
    const before = await digests(src.url);
    await waitFor(
      'mirrored at first',
      async () => (await digests(wh.url)).items.digest === before.items.digest,
      sink,
    );

    // WHEN one transaction of about 53,000 changes is written (28,000 of them 3 KB inserts), its
    // last items changes moving keys of rows from before it and of rows it wrote (their notes
    // TOAST-unchanged, a key change's two halves mostly on different partitions)
    await psql(
      src.url,
      `BEGIN;
       INSERT INTO items SELECT g, g % 10, 'item ' || g, ${NOTE} FROM generate_series(2001, 30000) g;
       UPDATE items SET name = name || ' +' WHERE id <= 2000;
       UPDATE items SET name = 'again ' || id WHERE id > 2000 AND id % 2 = 0;
       DELETE FROM items WHERE id % 7 = 0;
       UPDATE items SET id = id + 100000 WHERE id % 11 = 0 AND id <= 6000;
       INSERT INTO tags SELECT g, 1 + g % 30000, 'tag ' || g FROM generate_series(1, 3000) g;
       UPDATE tags SET label = 'label ' || id WHERE id % 3 = 0;
       COMMIT;`,
    );
    // AND the sink is killed once it has written a few parts of it
    await waitFor(
      'writing parts',
      async () => (sink.stderr().match(/part written to the sinks/g)?.length ?? 0) >= 2,
      sink,
      120_000,
      20,
    );
    expect(sink.stderr()).not.toMatch(/round in parts committed/);
    await sink.kill9();
    // THEN neither sink shows any of the transaction
    expect(await digests(wh.url)).toEqual({ ...before, tags: { rows: 0, digest: before.tags.digest } });
    expect((await lakeDigests()).items).toEqual(before.items);

    // WHEN the sink starts again
    sink = start('sink');
    await sink.ready(90_000);
    const after = await digests(src.url);
    expect(after.items.rows).toBe(30000 - Math.floor(30000 / 7));
    // THEN it writes the transaction in parts again and both sinks end equal to the source
    await waitFor(
      'mirrored after the restart',
      async () => {
        const got = await digests(wh.url);
        return got.items.digest === after.items.digest && got.tags.digest === after.tags.digest;
      },
      sink,
    );
    expect(await digests(wh.url)).toEqual(after);
    expect(sink.stderr()).toMatch(/round in parts committed/);
    // AND changes after it (TOAST-unchanged updates of its rows) follow as usual
    await psql(src.url, `UPDATE items SET grp = grp + 100 WHERE id BETWEEN 5000 AND 5100`);
    const next = await digests(src.url);
    await waitFor(
      'the next change mirrored',
      async () => (await digests(wh.url)).items.digest === next.items.digest,
      sink,
    );
    // AND a transaction that truncates both tables and loads them again is written in parts too: the
    // truncate is on every partition, and the parts after it pass over what the others read before it
    await psql(
      src.url,
      `BEGIN;
       UPDATE items SET name = 'doomed ' || id WHERE id <= 3000;
       TRUNCATE items, tags;
       INSERT INTO items SELECT g, g % 10, 'reload ' || g, ${NOTE} FROM generate_series(1, 12000) g;
       INSERT INTO tags SELECT g, g, 'tag ' || g FROM generate_series(1, 2000) g;
       UPDATE items SET name = name || ' +' WHERE id % 4 = 0;
       COMMIT;`,
    );
    const last = await digests(src.url);
    expect(last.items.rows).toBe(12000);
    await waitFor(
      'the truncate and reload mirrored',
      async () => {
        const got = await digests(wh.url);
        return got.items.digest === last.items.digest && got.tags.digest === last.tags.digest;
      },
      sink,
    );
    expect(await lakeDigests()).toEqual(last);
    // AND a migration larger than the buffers that alters a table it already changed (a column
    // added with a default, which every row holds, those changed before it too) is written in
    // parts as well: each sink takes the ALTER into the open round
    await psql(
      src.url,
      `BEGIN;
       UPDATE items SET name = name || ' m' WHERE id <= 9000;
       ALTER TABLE items ADD COLUMN rank int DEFAULT 0;
       UPDATE items SET rank = id % 100 WHERE id % 3 = 0;
       INSERT INTO tags SELECT g, g, 'tag ' || g FROM generate_series(2001, 4000) g;
       COMMIT;`,
    );
    const migrated = await digests(src.url, RANKED_LINE);
    await waitFor(
      'the migration mirrored',
      async () => {
        const got = await digests(wh.url, RANKED_LINE).catch(() => null); // no rank until then
        return got?.items.digest === migrated.items.digest && got?.tags.digest === migrated.tags.digest;
      },
      sink,
    );
    expect(sink.stderr()).toMatch(
      /a schema change inside a transaction written in parts: taken into its round/,
    );
    expect(sink.stderr().match(/round in parts committed/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    expect(sink.stderr()).not.toMatch(/held whole in memory|was given up/);
    const rss = peakRssMiB(sink.child.pid!);
    expect(await sink.terminate()).toBe(0);
    expect(await source.terminate()).toBe(0);
    expect(await lakeDigests()).toEqual(migrated);
    console.log(
      `a transaction of ~52,000 changes (28,000 of 3 KB) in parts, then a truncate and reload of 14,000 rows, sink buffers ${BOUND} rows: sink peak RSS ${rss} MiB`,
    );
  }, 900_000);
});
