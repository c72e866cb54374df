import { Client } from 'pg';
import { SourceAtCut } from '../../../src/verify/source-at-cut';
import { createTestDatabase, psql, type TestDatabase } from '../../support/services';
import { sourceConfig } from '../source/source-helpers';

/**
 * verify's source side reads one snapshot while the source goes on. TRUNCATE is not MVCC-safe:
 * a table truncated after the snapshot reads empty in it, which verify would report as rows
 * "extra" in both sinks (seen once under a live load in the tables-added e2e test). The snapshot
 * therefore holds ACCESS SHARE locks on the published tables, and a TRUNCATE waits for it.
 */
describe('the source snapshot verify compares with', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('verify_cut');
    await psql(
      db.url,
      `CREATE TABLE public.carts (id int PRIMARY KEY, note text);
       INSERT INTO public.carts SELECT g, 'cart ' || g FROM generate_series(1, 50) g;
       CREATE TABLE public.unpublished (id int PRIMARY KEY);`,
    );
  });
  afterAll(async () => {
    await db.drop();
  });

  it('keeps showing its rows while a TRUNCATE waits for it to end', async () => {
    const config = sourceConfig(db.url, db.name);
    await psql(db.url, `CREATE PUBLICATION ${config.source.publication} FOR TABLE public.carts`);
    const source = await SourceAtCut.open(config);
    const writer = new Client({ connectionString: db.url });
    await writer.connect();
    try {
      await writer.query("SET lock_timeout = '1s'");
      // WHEN the workload truncates the table after the snapshot
      await expect(writer.query('TRUNCATE public.carts')).rejects.toThrow(/lock timeout/);
      // THEN the snapshot still reads the table as it was (without the lock: 0 rows)
      const n = await source.reader.query('SELECT count(*)::int AS n FROM public.carts');
      expect(n.rows[0].n).toBe(50);
      // AND tables outside the publication are not locked
      await writer.query('TRUNCATE public.unpublished');
    } finally {
      await source.close();
    }
    // AND once verify is done, the TRUNCATE goes through
    await writer.query('TRUNCATE public.carts');
    expect((await writer.query('SELECT count(*)::int AS n FROM public.carts')).rows[0].n).toBe(0);
    await writer.end();
  });
});
