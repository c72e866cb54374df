import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { exitCodeWithin, killAllTidemarks, runCli } from '../support/tidemark-process';
import { icebergTableDigest, tableDigestOf } from './support/cut-history';
import { embeddedPipeline } from './support/embedded-pipeline';
import { waitForSlot } from './support/shop-mirror';

const LINE = `concat_ws('|', id::text, md5(note))`;

/**
 * sinks.iceberg.namespace: every mirrored table lands in one Iceberg namespace under its own name
 * (read there by PyIceberg, by `verify` and by `sweep`); two tables of one name from different
 * schemas cannot share it, and the second stops tidemark with a config error naming both.
 */
describe('one Iceberg namespace for every mirrored table', () => {
  let db: TestDatabase;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
  });

  const pipeline = (tables: string) =>
    embeddedPipeline(db, {
      tables,
      prefix: 'tm-namespace',
      sinks: (dir) =>
        `  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake, namespace: bronze }`,
    });

  it('mirrors tables of two schemas into it, and verify and sweep find them there', async () => {
    db = await createTestDatabase('e2e_namespace');
    await psql(
      db.url,
      `CREATE SCHEMA sales; CREATE SCHEMA other;
       CREATE TABLE public.big (id int PRIMARY KEY, note text);
       CREATE TABLE sales.orders (id int PRIMARY KEY, note text);
       CREATE TABLE other.big (id int PRIMARY KEY, note text);
       INSERT INTO public.big SELECT g, 'big ' || g FROM generate_series(1, 500) g;
       INSERT INTO sales.orders SELECT g, 'order ' || g FROM generate_series(1, 300) g;
       INSERT INTO other.big VALUES (1, 'other')`,
    );
    const { dir, config, env, start } = await pipeline('"public.big", "sales.orders"');
    const proc = start();
    await proc.ready(90_000);
    await psql(
      db.url,
      `UPDATE public.big SET note = 'changed' WHERE id <= 10; DELETE FROM sales.orders WHERE id > 290`,
    );
    await waitForSlot(db.url, `tidemark_${db.name}`, 90_000);

    // THEN PyIceberg reads both tables in the namespace, equal to the source
    const catalog = `sqlite:///${dir}/catalog.db`;
    expect(await icebergTableDigest(catalog, 'bronze.big')).toEqual(
      await tableDigestOf(db.url, 'public.big', LINE),
    );
    expect(await icebergTableDigest(catalog, 'bronze.orders')).toEqual(
      await tableDigestOf(db.url, 'sales.orders', LINE),
    );
    // AND verify compares them there
    const verify = await runCli(['verify', '--config', config, '--json', '--wait', '5'], env);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ agree: true });
    // AND sweep reads them there (nothing to remove)
    const sweep = await runCli(['sweep', '--config', config, '--table', 'sales.orders', '--json'], env);
    expect(JSON.parse(sweep.stdout)).toMatchObject({ read: { iceberg: 290 }, found: 0 });
    expect(await proc.terminate()).toBe(0);
  }, 300_000);

  it('refuses a second table of the same name from another schema, naming both', async () => {
    await psql(db.url, `SELECT pg_drop_replication_slot('tidemark_${db.name}')`);
    const { start } = await pipeline('"public.big", "other.big"');
    const proc = start();
    expect(await exitCodeWithin(proc, 90_000)).toBe(2);
    expect(proc.stderr()).toMatch(
      /Iceberg table bronze\.big mirrors (public|other)\.big, so (other|public)\.big cannot be mirrored into it/,
    );
  }, 300_000);
});
