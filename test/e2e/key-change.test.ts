import { psql } from '../support/services';
import { settled } from '../support/settled';
import { waitForRefresh } from '../support/tidemark-process';
import { icebergSnapshots, schemaChangeStack, startStackPipeline } from './support/schema-change-stack';
import { waitForSlot } from './support/shop-mirror';

/**
 * A table's primary key changed while streaming (ALTER TABLE … DROP CONSTRAINT, ADD PRIMARY KEY
 * on more columns), then rows only the new key tells apart. The source follows the key from the
 * stream's Relation message (it kept the key it started with, and the sinks folded those rows
 * into one); each sink follows its policy: `rebuild` empties the table, takes the new key and
 * copies it again, so both sinks end equal to the source; the default `stop` stops that table
 * with a message naming the change.
 */
const DDL = `CREATE TABLE codes (id int PRIMARY KEY, code text NOT NULL, v text);
INSERT INTO codes SELECT g, 'c' || g, 'v' || g FROM generate_series(1, 50) g;
CREATE TABLE strict_codes (id int PRIMARY KEY, code text NOT NULL);
INSERT INTO strict_codes SELECT g, 'c' || g FROM generate_series(1, 5) g;`;

const KEY_CHANGE = (t: string) => `ALTER TABLE ${t} DROP CONSTRAINT ${t}_pkey, ADD PRIMARY KEY (id, code)`;

describe('a primary key changed in the source (kafka mode, both sinks)', () => {
  let stack: Awaited<ReturnType<typeof schemaChangeStack>> | undefined;
  afterAll(async () => {
    await stack?.drop();
  });

  it('rebuilds the table on the new key, or stops it under the default policy', async () => {
    // GIVEN both tables mirrored, one with the rebuild policy
    stack = await schemaChangeStack(
      'kafka',
      'e2e_rekey',
      DDL,
      'tables:\n  public.codes: { onIncompatibleSchema: rebuild }',
    );
    const { db, wh, config, env, catalogUri } = stack;
    const { proc, slot } = await startStackPipeline(stack);
    await psql(db.url, "UPDATE codes SET v = 'before' WHERE id <= 5");
    await waitForSlot(db.url, slot);

    // WHEN the key becomes (id, code), and rows only that key tells apart are written
    const since = new Date().toISOString();
    await psql(db.url, KEY_CHANGE('codes'));
    await psql(
      db.url,
      `INSERT INTO codes VALUES (1, 'second', 'same id'), (2, 'second', 'same id too');
       UPDATE codes SET v = 'after' WHERE id = 3;
       DELETE FROM codes WHERE id = 4 AND code = 'c4';`,
    );
    await waitForRefresh(config, env, 'public.codes', proc, 120_000, since);
    await waitForSlot(db.url, slot);

    // THEN both sinks hold every source row under the new key
    const select = 'SELECT id, code, v FROM public.codes ORDER BY id, code';
    const expected = await psql(db.url, select);
    expect(expected).toHaveLength(51);
    expect(await settled(() => psql(wh!.url, select).catch(() => []), expected)).toEqual(expected);
    const ice = await icebergSnapshots(catalogUri, 'public.codes');
    const iceRows = ice.current
      .map((r) => ({ id: Number(r.id), code: r.code, v: r.v }))
      .sort((a, b) => a.id - b.id || String(a.code).localeCompare(String(b.code)));
    expect(iceRows).toEqual(expected);

    // WHEN the other table's key changes under the default policy
    await psql(db.url, KEY_CHANGE('strict_codes'));
    await psql(db.url, "INSERT INTO strict_codes VALUES (1, 'second')");
    // THEN that table stops with the change named, and its mirror is not folded
    const stopped = /public\.strict_codes.*key changed from \(id\) to \(id, code\)/;
    const until = Date.now() + 60_000;
    while (!stopped.test(proc.stderr()) && Date.now() < until) await new Promise((r) => setTimeout(r, 300));
    expect(proc.stderr()).toMatch(stopped);
    expect(await psql(wh!.url, 'SELECT id, code FROM public.strict_codes WHERE id = 1')).toEqual([
      { id: 1, code: 'c1' },
    ]);
  }, 300_000);
});
