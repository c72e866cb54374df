import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TableChanges } from '../../../src/sink/sink-target';
import { col, EventBuilder, makeFixture, opts, round, tableSchema, type WarehouseFixture } from './helpers';

const items = tableSchema('items', [
  col('id', { kind: 'int32' }),
  col('name', { kind: 'text' }),
  col('note', { kind: 'text' }),
]);
const tags = tableSchema('tags', [
  col('id', { kind: 'int32' }),
  col('name', { kind: 'text' }),
  col('note', { kind: 'text' }),
]);
/** A full garbage collection (V8's gc(), reached without starting node with --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const part = (schema: typeof items, events: TableChanges['events']): TableChanges => ({
  schema,
  options: opts('mirror'),
  events,
});

/**
 * A round written in parts (a source transaction larger than the sink's buffers): one
 * transaction held open across the parts; a later part replaces and deletes rows of an earlier
 * one and keeps their TOAST-unchanged values; nothing is visible to another connection until
 * the commit, and an abort or a fenced commit leaves every table and token as it was.
 */
describe.each(['duckdb', 'postgres'] as const)('%s warehouse: a round in parts', (kind) => {
  let fx: WarehouseFixture;
  const rows = async (table: string) =>
    (await fx.read(`SELECT id, name, note FROM public.${table} ORDER BY id`)).map((r) =>
      [r.id, r.name, r.note].map((v) => (v === null ? 'NULL' : String(v))).join('|'),
    );
  const token = async () =>
    (
      await fx.read(
        `SELECT token FROM ${kind === 'duckdb' ? 'main' : 'public'}._tidemark_offsets WHERE channel = 'items/0'`,
      )
    )[0]?.token;
  /** The warehouse with items and tags prepared, and items `ids` committed at token t1. */
  const withItems = async (ids: number[]) => {
    const wh = await fx.open();
    await wh.prepareTables([
      { schema: items, options: opts('mirror') },
      { schema: tags, options: opts('mirror') },
    ]);
    const ev = new EventBuilder(items);
    ev.tx();
    const events = ids.map((id) => ev.ev('c', null, { id, name: `n${id}`, note: `note ${id}` }));
    await wh.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events }],
        [{ channel: 'items/0', expected: null, next: 't1' }],
      ),
    );
    return { wh, ev };
  };
  beforeEach(async () => {
    fx = await makeFixture(kind);
  });
  afterEach(async () => {
    await fx.dispose();
  });

  test('parts stay invisible until the commit, which applies the whole transaction', async () => {
    // GIVEN items 1..3 committed at token t1
    const { wh, ev } = await withItems([1, 2, 3]);
    const tg = new EventBuilder(tags);
    tg.tx();
    ev.tx();

    // WHEN one transaction is written in two parts
    const r = await wh.openRound();
    await r.stage([
      part(items, [
        ev.ev('c', null, { id: 10, name: 'ten', note: 'note 10' }),
        ev.ev('u', { id: 1 }, { id: 1, name: 'one', note: 'note 1b' }),
        ev.ev('d', { id: 2 }, null),
      ]),
      part(tags, [tg.ev('c', null, { id: 100, name: 'tag', note: 'x' })]),
    ]);
    await r.stage([
      part(items, [
        ev.ev('u', { id: 10 }, { id: 10, name: 'TEN' }, ['note']),
        ev.ev('u', { id: 1 }, { id: 1, name: 'uno' }, ['note']),
        ev.ev('u', { id: 3 }, { id: 3, name: 'three' }, ['note']),
        ev.ev('c', null, { id: 12, name: 'twelve', note: null }),
        ev.ev('d', { id: 12 }, null),
        ev.ev('c', null, { id: 12, name: 'twelve again', note: 'back' }),
      ]),
      part(tags, [tg.ev('u', { id: 100 }, { id: 100, name: 'tag 2', note: 'y' })]),
    ]);
    // THEN another connection sees none of it yet
    expect(await rows('items')).toEqual(['1|n1|note 1', '2|n2|note 2', '3|n3|note 3']);
    expect(await rows('tags')).toEqual([]);
    expect(await token()).toBe('t1');

    // WHEN it commits
    await r.commit({
      cutLsn: 0x2000n,
      commitId: 'parted',
      tokens: [
        { channel: 'items/0', expected: 't1', next: 't2' },
        { channel: 'tags/0', expected: null, next: 'g1' },
      ],
    });
    // THEN the whole transaction is there, with the values earlier parts gave
    expect(await rows('items')).toEqual([
      '1|uno|note 1b',
      '3|three|note 3',
      '10|TEN|note 10',
      '12|twelve again|back',
    ]);
    expect(await rows('tags')).toEqual(['100|tag 2|y']);
    expect(await token()).toBe('t2');
    expect((await wh.readTokens()).get('tags/0')).toBe('g1');
    expect((await wh.lastCut())?.commitId).toBe('parted');
  });

  test('a schema change between parts is made inside the round: a table it changed, and one it did not', async () => {
    // GIVEN items 1..2 committed, and a round in parts that changed items and not tags
    const { wh, ev } = await withItems([1, 2]);
    ev.tx();
    const r = await wh.openRound();
    await r.stage([
      part(items, [
        ev.ev('c', null, { id: 10, name: 'ten', note: 'y' }),
        ev.ev('u', { id: 1 }, { id: 1, name: 'one', note: 'note 1b' }),
      ]),
    ]);
    // WHEN the transaction adds a column with DEFAULT 7 to tags (untouched) and to items (changed)
    const grow = (t: typeof items): typeof items => ({
      ...t,
      version: 2,
      columns: [
        ...t.columns,
        { name: 'extra', attnum: 9, type: { kind: 'int32' }, pgType: 'integer', nullable: true, fill: '7' },
      ],
    });
    const [items2, tags2] = [grow(items), grow(tags)];
    await r.evolve!([{ schema: tags2, options: opts('mirror') }]);
    const tg = new EventBuilder(tags2);
    tg.tx();
    await r.stage([part(tags2, [tg.ev('c', null, { id: 100, name: 'tag', note: 'z', extra: 8 })])]);
    const evolved = r.evolve!([{ schema: items2, options: opts('mirror') }]);
    // THEN it is altered inside the round (DuckDB, which would refuse to COMMIT an ALTER of a
    // table the transaction changed, alters a copy made in the transaction): the default reaches
    // every row there, the earlier part's too
    await evolved;
    const ev2 = new EventBuilder(items2);
    ev2.tx();
    await r.stage([
      part(items2, [
        ev2.ev('c', null, { id: 11, name: 'eleven', note: 'w', extra: 11 }),
        ev2.ev('u', { id: 2 }, { id: 2, name: 'two', note: 'note 2', extra: null }),
      ]),
    ]);
    // AND another connection sees neither the column nor the rows before the commit
    expect(
      await fx.read(
        `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'extra'`,
      ),
    ).toEqual([{ n: 0 }]);
    await r.commit({
      cutLsn: 0x3000n,
      commitId: 'evolved',
      tokens: [
        { channel: 'items/0', expected: 't1', next: 't2' },
        { channel: 'tags/0', expected: null, next: 'g1' },
      ],
    });
    const withExtra = async (table: string) =>
      (await fx.read(`SELECT id, name, extra FROM public.${table} ORDER BY id`)).map(
        (x) => `${x.id}|${x.name}|${x.extra}`,
      );
    expect(await withExtra('items')).toEqual(['1|one|7', '2|two|null', '10|ten|7', '11|eleven|11']);
    expect(await withExtra('tags')).toEqual(['100|tag|8']);
    // AND the warehouse records version 2: preparing it again alters nothing
    await wh.prepareTables([{ schema: items2, options: opts('mirror') }]);
    expect(await withExtra('items')).toEqual(['1|one|7', '2|two|null', '10|ten|7', '11|eleven|11']);
    // AND the table keeps its primary key: the next round's upserts land on it
    const ev3 = new EventBuilder(items2);
    ev3.tx();
    await wh.commitRound(
      round(
        [
          {
            schema: items2,
            mode: 'mirror',
            events: [ev3.ev('u', { id: 1 }, { id: 1, name: 'uno' }, ['note', 'extra'])],
          },
        ],
        [{ channel: 'items/0', expected: 't2', next: 't3' }],
      ),
    );
    expect(await withExtra('items')).toEqual(['1|uno|7', '2|two|null', '10|ten|7', '11|eleven|11']);
  });

  test('a part applied is not kept in memory while its round stays open', async () => {
    // GIVEN a round in parts whose first part is applied
    const wh = await fx.open();
    await wh.prepareTables([{ schema: items, options: opts('mirror') }]);
    const ev = new EventBuilder(items);
    ev.tx();
    const r = await wh.openRound();
    const first = (() => {
      const events = Array.from({ length: 100 }, (_, i) =>
        ev.ev('c', null, { id: i, name: `n${i}`, note: 'x'.repeat(100) }),
      );
      return { stage: r.stage([part(items, events)]), ref: new WeakRef(events) };
    })();
    await first.stage;
    // WHEN later parts are applied and the round is still open
    await r.stage([part(items, [ev.ev('c', null, { id: 1000, name: 'later', note: null })])]);
    await r.stage([part(items, [ev.ev('c', null, { id: 1001, name: 'later', note: null })])]);
    await new Promise((res) => setImmediate(res));
    collectGarbage();
    // THEN nothing holds the first part's changes: a round's memory does not grow with its parts
    // (an open round holds the warehouse's connection: given up when this fails)
    if (first.ref.deref() !== undefined) await r.abort();
    expect(first.ref.deref()).toBeUndefined();
    // AND the round still commits all of it
    await r.commit({
      cutLsn: 0x2000n,
      commitId: 'p',
      tokens: [{ channel: 'items/0', expected: null, next: 't1' }],
    });
    expect(await rows('items')).toHaveLength(102);
  });

  test('an abort, and a fenced commit, leave every table and token as they were', async () => {
    const wh = await fx.open();
    await wh.prepareTables([{ schema: items, options: opts('mirror') }]);
    const ev = new EventBuilder(items);
    ev.tx();
    await wh.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events: [ev.ev('c', null, { id: 1, name: 'a', note: 'n' })] }],
        [{ channel: 'items/0', expected: null, next: 't1' }],
      ),
    );
    ev.tx();
    const aborted = await wh.openRound();
    await aborted.stage([part(items, [ev.ev('u', { id: 1 }, { id: 1, name: 'gone', note: 'gone' })])]);
    await aborted.abort();
    expect(await rows('items')).toEqual(['1|a|n']);

    // a round starting from a token another writer has moved since
    const stale = await wh.openRound();
    await stale.stage([part(items, [ev.ev('u', { id: 1 }, { id: 1, name: 'stale', note: 'stale' })])]);
    const err = await stale
      .commit({
        cutLsn: 0x3000n,
        commitId: 'stale',
        tokens: [{ channel: 'items/0', expected: 't0', next: 't9' }],
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'fenced' });
    expect(await rows('items')).toEqual(['1|a|n']);
    expect(await token()).toBe('t1');
    // AND the warehouse takes the next round as usual
    await wh.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events: [ev.ev('u', { id: 1 }, { id: 1, name: 'b' }, ['note'])] }],
        [{ channel: 'items/0', expected: 't1', next: 't2' }],
      ),
    );
    expect(await rows('items')).toEqual(['1|b|n']);
  });
});
