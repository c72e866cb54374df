import { isTidemarkError } from '../../../src/core/errors';
import type { TableSchema } from '../../../src/core/table-schema';
import { psql } from '../../support/services';
import { EventBuilder, makeFixture, opts, round, tableSchema, type WarehouseFixture } from './helpers';

const items = tableSchema('items', [
  { name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
  { name: 'name', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
  { name: 'qty', attnum: 3, type: { kind: 'int16' }, pgType: 'smallint', nullable: true },
  { name: 'code', attnum: 4, type: { kind: 'text', maxLength: 5 }, pgType: 'varchar(5)', nullable: true },
  { name: 'gone', attnum: 5, type: { kind: 'text' }, pgType: 'text', nullable: true },
]);

const itemsV2: TableSchema = {
  ...items,
  version: 2,
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
    { name: 'title', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
    { name: 'qty', attnum: 3, type: { kind: 'int64' }, pgType: 'bigint', nullable: true },
    { name: 'code', attnum: 4, type: { kind: 'text', maxLength: 10 }, pgType: 'varchar(10)', nullable: true },
    {
      name: 'price',
      attnum: 6,
      type: { kind: 'decimal', precision: 10, scale: 2 },
      pgType: 'numeric(10,2)',
      nullable: true,
    },
  ],
};

function texts(rows: Record<string, unknown>[]): string[] {
  return rows.map((r) =>
    Object.values(r)
      .map((v) => (v === null ? 'NULL' : String(v)))
      .join('|'),
  );
}

describe.each(['duckdb', 'postgres'] as const)('%s warehouse transactions', (kind) => {
  let fx: WarehouseFixture;
  beforeEach(async () => {
    fx = await makeFixture(kind);
  });
  afterEach(async () => {
    await fx.dispose();
  });

  test('fencing: two writers with the same expected token, one wins, the other leaves nothing behind', async () => {
    // GIVEN two writers on the same warehouse, both starting from token t1
    const a = await fx.open();
    const b = await fx.open();
    await a.prepareTables([{ schema: items, options: opts('mirror') }]);
    await b.prepareTables([{ schema: items, options: opts('mirror') }]);
    const ev = new EventBuilder(items).tx();
    await a.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 1, name: 'base' })] }],
        [{ channel: 'ch', expected: null, next: 't1' }],
      ),
    );
    ev.tx();
    const ra = round(
      [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 10, name: 'from a' })] }],
      [{ channel: 'ch', expected: 't1', next: 't2a' }],
    );
    const rb = round(
      [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 20, name: 'from b' })] }],
      [{ channel: 'ch', expected: 't1', next: 't2b' }],
    );
    // WHEN both commit at the same time
    const results = await Promise.allSettled([a.commitRound(ra), b.commitRound(rb)]);
    // THEN exactly one landed; the other is fenced and none of its rows exist
    const won = results.findIndex((r) => r.status === 'fulfilled');
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    expect(won).toBeGreaterThanOrEqual(0);
    expect(lost).toBeDefined();
    expect(isTidemarkError(lost!.reason, 'fenced')).toBe(true);
    const winnerId = won === 0 ? 10 : 20;
    expect(texts(await fx.read('SELECT id FROM public.items ORDER BY id'))).toEqual(['1', String(winnerId)]);
    expect(await a.readTokens()).toEqual(new Map([['ch', won === 0 ? 't2a' : 't2b']]));
  });

  test('fencing: two writers whose channel has no token yet, one wins, the other leaves nothing behind', async () => {
    // GIVEN two writers on the same warehouse, both starting from token t1
    const a = await fx.open();
    const b = await fx.open();
    await a.prepareTables([{ schema: items, options: opts('mirror') }]);
    await b.prepareTables([{ schema: items, options: opts('mirror') }]);
    const ev = new EventBuilder(items).tx();
    await a.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 1, name: 'base' })] }],
        [{ channel: 'base', expected: null, next: 't1' }],
      ),
    );
    ev.tx();
    const ra = round(
      [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 10, name: 'from a' })] }],
      [{ channel: 'ch', expected: null, next: 't2a' }],
    );
    const rb = round(
      [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 20, name: 'from b' })] }],
      [{ channel: 'ch', expected: null, next: 't2b' }],
    );
    // WHEN both commit at the same time
    const results = await Promise.allSettled([a.commitRound(ra), b.commitRound(rb)]);
    // THEN exactly one landed; the other is fenced and none of its rows exist
    const won = results.findIndex((r) => r.status === 'fulfilled');
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    expect(won).toBeGreaterThanOrEqual(0);
    expect(lost).toBeDefined();
    expect(isTidemarkError(lost!.reason, 'fenced')).toBe(true);
    const winnerId = won === 0 ? 10 : 20;
    expect(texts(await fx.read('SELECT id FROM public.items ORDER BY id'))).toEqual(['1', String(winnerId)]);
    expect((await a.readTokens()).get('ch')).toBe(won === 0 ? 't2a' : 't2b');
  });

  test('a failure in the middle of a round (connection lost / error after staging) leaves the previous state and token', async () => {
    const failing = await fx.open({
      hooks: {
        afterStage: async () => {
          if (kind === 'postgres') {
            // kill this warehouse's own backend, idle inside the round's transaction
            await psql(
              fx.location,
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
            );
          } else {
            throw new Error('injected failure after staging');
          }
        },
      },
    });
    const w = await fx.open();
    await w.prepareTables([{ schema: items, options: opts('mirror') }]);
    const ev = new EventBuilder(items).tx();
    await w.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 1, name: 'kept' })] }],
        [{ channel: 'ch', expected: null, next: 't1' }],
      ),
    );
    ev.tx();
    const r = round(
      [
        {
          schema: items,
          mode: 'mirror',
          events: [ev.ev('u', { id: 1 }, { id: 1, name: 'lost' }), ev.ev('c', null, { id: 2, name: 'lost' })],
        },
      ],
      [{ channel: 'ch', expected: 't1', next: 't2' }],
    );
    const err = await failing.commitRound(r).catch((e) => e);
    expect(isTidemarkError(err)).toBe(true);
    if (kind === 'postgres') expect(['transient', 'commit_state_unknown']).toContain(err.kind);
    expect(texts(await fx.read('SELECT id, name FROM public.items ORDER BY id'))).toEqual(['1|kept']);
    expect(await w.readTokens()).toEqual(new Map([['ch', 't1']]));
    // a retry of the same round on a healthy writer then lands once
    await w.commitRound(r);
    expect(texts(await fx.read('SELECT id, name FROM public.items ORDER BY id'))).toEqual([
      '1|lost',
      '2|lost',
    ]);
  });

  test('a connection lost during COMMIT is commit_state_unknown, and the stored tokens tell the outcome', async () => {
    if (kind !== 'postgres') return; // an embedded DuckDB has no connection to lose
    const w = await fx.open();
    await w.prepareTables([{ schema: items, options: opts('mirror') }]);
    const failing = await fx.open({
      hooks: {
        beforeCommit: async () => {
          await psql(
            fx.location,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
          );
        },
      },
    });
    const ev = new EventBuilder(items).tx();
    const r = round(
      [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 1, name: 'x' })] }],
      [{ channel: 'ch', expected: null, next: 't1' }],
    );
    const err = await failing.commitRound(r).catch((e) => e);
    expect(['commit_state_unknown', 'transient']).toContain(err.kind);
    // the backend died before COMMIT reached it: the tokens show the round did not land
    expect(await w.readTokens()).toEqual(new Map());
    expect(await fx.read('SELECT id FROM public.items')).toEqual([]);
  });

  test('schema evolution: rename, widen int and varchar, add, drop kept as nullable; incompatible change is an error', async () => {
    const notes: string[] = [];
    const w = await fx.open({ log: (m) => notes.push(m) });
    await w.prepareTables([{ schema: items, options: opts('mirror') }]);
    const ev = new EventBuilder(items).tx();
    await w.commitRound(
      round(
        [
          {
            schema: items,
            mode: 'mirror',
            events: [ev.ev('c', null, { id: 1, name: 'n1', qty: 7, code: 'abcde', gone: 'g' })],
          },
        ],
        [{ channel: 'ch', expected: null, next: 't1' }],
      ),
    );
    // WHEN the source renames name→title, widens qty and code, adds price and drops gone
    await w.prepareTables([{ schema: itemsV2, options: opts('mirror') }]);
    const ev2 = new EventBuilder(itemsV2).tx();
    await w.commitRound(
      round(
        [
          {
            schema: itemsV2,
            mode: 'mirror',
            events: [
              ev2.ev('c', null, {
                id: 2,
                title: 't2',
                qty: 9007199254740993n,
                code: 'abcdefghij',
                price: '1.25',
              }),
            ],
          },
        ],
        [{ channel: 'ch', expected: 't1', next: 't2' }],
      ),
    );
    // THEN old rows keep their values under the new names, new rows use the new types
    const rows = await fx.read(
      'SELECT id, title, CAST(qty AS VARCHAR) AS qty, code, gone, CAST(price AS VARCHAR) AS price FROM public.items ORDER BY id',
    );
    expect(texts(rows)).toEqual(['1|n1|7|abcde|g|NULL', '2|t2|9007199254740993|abcdefghij|NULL|1.25']);
    expect(notes.join('\n')).toContain('"gone"');
    // AND a type change that would lose data is refused, naming the column
    const bad: TableSchema = {
      ...itemsV2,
      version: 3,
      columns: itemsV2.columns.map((c) => (c.name === 'title' ? { ...c, type: { kind: 'int32' } } : c)),
    };
    const err = await w.prepareTables([{ schema: bad, options: opts('mirror') }]).catch((e) => e);
    expect(isTidemarkError(err, 'schema_incompatible')).toBe(true);
    expect(String(err.message)).toContain('"title"');
  });
});
