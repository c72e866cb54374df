import { existsSync, readdirSync } from 'node:fs';
import { isTidemarkError } from '../../../src/core/errors';
import { openWarehouse } from '../../../src/sink/warehouse/open';
import type { Warehouse } from '../../../src/sink/warehouse/warehouse';
import { col, EventBuilder, makeFixture, opts, round, tableSchema, type WarehouseFixture } from './helpers';

const items = tableSchema('items', [
  col('id', { kind: 'int64' }),
  col('note', { kind: 'text' }),
  col('v', { kind: 'int32' }),
]);
const NOTE = 'a note long enough that the rows of a part weigh more than the limit '.repeat(8);

/**
 * sinks.warehouse.memoryLimit: a round in parts keeps its uncommitted rows in DuckDB, whose own
 * default limit is 80% of the machine. Bounded, the rows spill to `<file>.tmp` and the round
 * still commits them all; a part that cannot fit is a config error naming the setting.
 */
describe('duckdb warehouse: memoryLimit', () => {
  let fx: WarehouseFixture;
  let wh: Warehouse | null = null;
  const open = async (memoryLimit: string) => {
    wh = await openWarehouse({ kind: 'duckdb', path: fx.location, memoryLimit });
    await wh.prepareTables([{ schema: items, options: opts('mirror') }]);
    return wh;
  };
  const duckMemory = async () =>
    Number((await fx.read('SELECT sum(memory_usage_bytes)::BIGINT AS b FROM duckdb_memory()'))[0]!.b);
  const part = (ev: EventBuilder, from: number, n: number) => [
    {
      schema: items,
      options: opts('mirror'),
      events: Array.from({ length: n }, (_, i) => ev.ev('c', null, { id: BigInt(from + i), note: NOTE })),
    },
  ];
  beforeEach(async () => {
    fx = await makeFixture('duckdb');
  });
  afterEach(async () => {
    await wh?.close();
    wh = null;
    await fx.dispose();
  });

  test('a round in parts larger than the limit stays within it and commits every row', async () => {
    // GIVEN a warehouse limited to 128 MiB
    const limit = 128 * 2 ** 20;
    const w = await open('128MiB');
    const ev = new EventBuilder(items);
    ev.tx();

    // WHEN one transaction of 5 × 100,000 rows (more than twice the limit in notes alone) is staged in parts
    const parts = 5;
    const perPart = 100_000;
    expect(parts * perPart * NOTE.length).toBeGreaterThan(2 * limit);
    const r = await w.openRound();
    const seen: number[] = [];
    for (let p = 0; p < parts; p++) {
      await r.stage(part(ev, p * perPart, perPart));
      seen.push(await duckMemory());
    }

    // THEN DuckDB's memory never passed the limit: the uncommitted rows went to its temp files
    expect(Math.max(...seen)).toBeLessThanOrEqual(limit);
    expect(existsSync(`${fx.location}.tmp`) && readdirSync(`${fx.location}.tmp`).length).toBeGreaterThan(0);

    // AND the commit applies every row, whole
    await r.commit(round([], [{ channel: 'items/0', expected: null, next: 't1' }]));
    const [got] = await fx.read(
      'SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS d, sum(length(note))::BIGINT AS l FROM public.items',
    );
    expect([got!.n, got!.d, Number(got!.l)]).toEqual([
      parts * perPart,
      parts * perPart,
      parts * perPart * NOTE.length,
    ]);
  }, 180_000);

  test('partial updates (TOAST-unchanged columns) and deletes larger than the limit apply within it', async () => {
    // GIVEN 300,000 rows committed in a warehouse limited to 128 MiB
    const limit = 128 * 2 ** 20;
    const w = await open('128MiB');
    const ev = new EventBuilder(items);
    ev.tx();
    const n = 300_000;
    await w.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events: part(ev, 0, n)[0]!.events }],
        [{ channel: 'items/0', expected: null, next: 't1' }],
      ),
    );

    // WHEN one transaction in parts updates every row with its note unchanged (a TOAST value), then deletes half
    ev.tx();
    const r = await w.openRound();
    const seen: number[] = [];
    const changes = (op: 'u' | 'd', from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => {
        const id = BigInt(from + i);
        return op === 'u'
          ? ev.ev('u', null, { id, note: null, v: 7 }, ['note'])
          : ev.ev('d', { id, note: null }, null);
      });
    for (let p = 0; p < 3; p++) {
      await r.stage([
        { schema: items, options: opts('mirror'), events: changes('u', p * 100_000, (p + 1) * 100_000) },
      ]);
      seen.push(await duckMemory());
    }
    await r.stage([{ schema: items, options: opts('mirror'), events: changes('d', 0, n / 2) }]);
    seen.push(await duckMemory());
    await r.commit(round([], [{ channel: 'items/0', expected: 't1', next: 't2' }]));

    // THEN DuckDB stayed within its limit, and the kept rows hold their notes and the new value
    expect(Math.max(...seen)).toBeLessThanOrEqual(limit);
    const [got] = await fx.read(
      `SELECT count(*)::INT AS n, min(id)::INT AS lo, count(*) FILTER (WHERE note = '${NOTE}' AND v = 7)::INT AS kept FROM public.items`,
    );
    expect([got!.n, got!.lo, got!.kept]).toEqual([n / 2, n / 2, n / 2]);
  }, 180_000);

  test('a row that cannot fit in the limit stops with the setting to change, and applies nothing', async () => {
    // GIVEN a warehouse at the smallest limit allowed, holding one row
    const w = await open('64MiB');
    const ev = new EventBuilder(items);
    ev.tx();
    await w.commitRound(
      round(
        [{ schema: items, mode: 'mirror', events: part(ev, 0, 1)[0]!.events }],
        [{ channel: 'items/0', expected: null, next: 't1' }],
      ),
    );

    // WHEN a round brings a row holding a 100 MB value
    ev.tx();
    const huge = ev.ev('c', null, { id: 1n, note: 'x'.repeat(100_000_000) });
    const err = await w
      .commitRound(
        round(
          [{ schema: items, mode: 'mirror', events: [huge] }],
          [{ channel: 'items/0', expected: 't1', next: 't2' }],
        ),
      )
      .catch((e: unknown) => e);

    // THEN the round stops with a config error that names memoryLimit, and nothing of it applied
    expect(isTidemarkError(err, 'config')).toBe(true);
    expect((err as Error).message).toMatch(/could not allocate block/);
    expect((err as { fix?: string }).fix).toMatch(/sinks\.warehouse\.memoryLimit/);
    const rows = await fx.read(
      `SELECT length(note)::INT AS l, (SELECT token FROM main._tidemark_offsets WHERE channel = 'items/0') AS token FROM public.items`,
    );
    expect(rows).toEqual([{ l: NOTE.length, token: 't1' }]);
  }, 180_000);
});
