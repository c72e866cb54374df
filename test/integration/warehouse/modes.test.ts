import { isTidemarkError } from '../../../src/core/errors';
import { col, EventBuilder, makeFixture, opts, round, tableSchema, type WarehouseFixture } from './helpers';

const people = tableSchema('people', [
  col('id', { kind: 'int32' }),
  col('name', { kind: 'text' }),
  col('doc', { kind: 'text' }),
  col('amount', { kind: 'decimal', precision: 12, scale: 2 }),
]);

const wide = tableSchema('wide', [
  col('id', { kind: 'int32' }),
  ...Array.from({ length: 10 }, (_, i) => col(`c${i}`, { kind: 'text' })),
]);

function rowsText(rows: Record<string, unknown>[]): string[] {
  return rows.map((r) =>
    Object.values(r)
      .map((v) => (v === null ? 'NULL' : String(v)))
      .join('|'),
  );
}

describe.each(['duckdb', 'postgres'] as const)('%s warehouse modes', (kind) => {
  let fx: WarehouseFixture;
  beforeEach(async () => {
    fx = await makeFixture(kind);
  });
  afterEach(async () => {
    await fx.dispose();
  });

  test('mirror: inserts, updates, deletes, key changes and TOAST-unchanged updates leave the expected rows', async () => {
    // GIVEN a mirror table holding three rows
    const w = await fx.open();
    await w.prepareTables([{ schema: people, options: opts('mirror') }]);
    const b = new EventBuilder(people);
    b.tx();
    const first = [
      b.ev('c', null, { id: 1, name: 'ann', doc: 'big-1', amount: '1.00' }),
      b.ev('c', null, { id: 2, name: 'bob', doc: 'big-2', amount: '2.00' }),
      b.ev('c', null, { id: 3, name: 'cy', doc: 'big-3', amount: '3.00' }),
    ];
    await w.commitRound(
      round(
        [{ schema: people, mode: 'mirror', events: first }],
        [{ channel: 'people/0', expected: null, next: 't1' }],
      ),
    );
    // WHEN a round updates with TOAST-unchanged doc (twice for key 1), deletes 2, moves key 3 to 30, inserts 4
    b.tx();
    const second = [
      b.ev('u', { id: 1 }, { id: 1, name: 'ann2', amount: '1.50' }, ['doc']),
      b.ev('u', { id: 1 }, { id: 1, name: 'ann3', amount: '1.75' }, ['doc']),
      b.ev('d', { id: 2 }, null),
      b.ev('d', { id: 3 }, null),
      b.ev('c', null, { id: 30, name: 'cy', doc: 'big-3', amount: '3.00' }),
      b.ev('c', null, { id: 4, name: 'dee', doc: 'x\ty\n\\z', amount: '-4.25' }),
    ];
    await w.commitRound(
      round(
        [{ schema: people, mode: 'mirror', events: second }],
        [{ channel: 'people/0', expected: 't1', next: 't2' }],
      ),
    );
    // THEN the stored rows are the source's, the unchanged doc kept, and the token moved
    const rows = await fx.read(
      'SELECT id, name, doc, CAST(amount AS VARCHAR) AS amount FROM public.people ORDER BY id',
    );
    expect(rowsText(rows)).toEqual(['1|ann3|big-1|1.75', '4|dee|x\ty\n\\z|-4.25', '30|cy|big-3|3.00']);
    expect(await w.readTokens()).toEqual(new Map([['people/0', 't2']]));
    expect((await w.lastCut())?.commitId).toMatch(/^c\d+$/);
  });

  test.each([
    ['two sets of unchanged columns (one statement each)', 2],
    ['twelve sets (one statement for them all)', 12],
  ])('mirror: TOAST-unchanged updates with %s keep each row its stored values', async (_label, sets) => {
    // GIVEN 12 stored rows of ten text columns
    const w = await fx.open();
    await w.prepareTables([{ schema: wide, options: opts('mirror') }]);
    const b = new EventBuilder(wide).tx();
    const ids = Array.from({ length: 12 }, (_, i) => i + 1);
    const full = (id: number, tag: string) =>
      Object.fromEntries([
        ['id', id],
        ...Array.from({ length: 10 }, (_, c) => [`c${c}`, `${tag}${id}.${c}`]),
      ]);
    await w.commitRound(
      round(
        [{ schema: wide, mode: 'mirror', events: ids.map((id) => b.ev('c', null, full(id, 'old'))) }],
        [{ channel: 'wide/0', expected: null, next: 't1' }],
      ),
    );

    // WHEN each row is updated with a set of columns unchanged (row 12's set: every column)
    const unchangedOf = (id: number) =>
      id === 12 ? Array.from({ length: 10 }, (_, c) => `c${c}`) : [`c${id % sets}`, `c${9 - (id % sets)}`];
    b.tx();
    const updates = ids.map((id) => {
      const unchanged = unchangedOf(id);
      const after = full(id, 'new');
      for (const c of unchanged) after[c] = null;
      return b.ev('u', { id }, after, unchanged);
    });
    await w.commitRound(
      round(
        [{ schema: wide, mode: 'mirror', events: updates }],
        [{ channel: 'wide/0', expected: 't1', next: 't2' }],
      ),
    );

    // THEN every unchanged column kept its stored value and every other one took the new one
    const cols = Array.from({ length: 10 }, (_, c) => `c${c}`);
    const rows = await fx.read(`SELECT id, ${cols.join(', ')} FROM public.wide ORDER BY id`);
    expect(rows).toEqual(
      ids.map((id) => {
        const unchanged = new Set(unchangedOf(id));
        return Object.fromEntries([
          ['id', id],
          ...cols.map((c, n) => [c, `${unchanged.has(c) ? 'old' : 'new'}${id}.${n}`]),
        ]);
      }),
    );
  });

  test('mirror: a replayed round is fenced and leaves the table as after once', async () => {
    const w = await fx.open();
    await w.prepareTables([{ schema: people, options: opts('mirror') }]);
    const b = new EventBuilder(people).tx();
    const r = round(
      [
        {
          schema: people,
          mode: 'mirror',
          events: [b.ev('c', null, { id: 1, name: 'a', doc: 'd', amount: '1.00' })],
        },
      ],
      [{ channel: 'people/0', expected: null, next: 't1' }],
    );
    await w.commitRound(r);
    await expect(w.commitRound(r)).rejects.toMatchObject({ kind: 'fenced' });
    expect(rowsText(await fx.read('SELECT id, name FROM public.people'))).toEqual(['1|a']);
  });

  test('mirror: a truncate empties the table before the rest of the round applies', async () => {
    const w = await fx.open();
    await w.prepareTables([{ schema: people, options: opts('mirror') }]);
    const b = new EventBuilder(people).tx();
    await w.commitRound(
      round(
        [
          {
            schema: people,
            mode: 'mirror',
            events: [
              b.ev('c', null, { id: 1, name: 'a', doc: 'd', amount: '1.00' }),
              b.ev('c', null, { id: 2, name: 'b', doc: 'd', amount: '1.00' }),
            ],
          },
        ],
        [{ channel: 'c', expected: null, next: 't1' }],
      ),
    );
    b.tx();
    const evs = [b.ev('t', null, null), b.ev('c', null, { id: 3, name: 'c', doc: 'd', amount: '1.00' })];
    await w.commitRound(
      round(
        [{ schema: people, mode: 'mirror', events: evs }],
        [{ channel: 'c', expected: 't1', next: 't2' }],
      ),
    );
    expect(rowsText(await fx.read('SELECT id FROM public.people ORDER BY id'))).toEqual(['3']);
  });

  test('soft-delete: deleted rows are kept with _tidemark_deleted_at, re-inserted rows revive', async () => {
    const w = await fx.open();
    await w.prepareTables([{ schema: people, options: opts('soft-delete') }]);
    const b = new EventBuilder(people).tx();
    await w.commitRound(
      round(
        [
          {
            schema: people,
            mode: 'soft-delete',
            events: [
              b.ev('c', null, { id: 1, name: 'a', doc: 'd1', amount: '1.00' }),
              b.ev('c', null, { id: 2, name: 'b', doc: 'd2', amount: '2.00' }),
            ],
          },
        ],
        [{ channel: 'c', expected: null, next: 't1' }],
      ),
    );
    b.tx();
    const evs = [
      b.ev('d', { id: 1 }, null),
      b.ev('u', { id: 2 }, { id: 2, name: 'b2', amount: '2.50' }, ['doc']),
    ];
    await w.commitRound(
      round(
        [{ schema: people, mode: 'soft-delete', events: evs }],
        [{ channel: 'c', expected: 't1', next: 't2' }],
      ),
    );
    const rows = await fx.read(
      'SELECT id, name, doc, _tidemark_deleted_at IS NOT NULL AS deleted FROM public.people ORDER BY id',
    );
    expect(rowsText(rows)).toEqual(['1|a|d1|true', '2|b2|d2|false']);
    b.tx();
    await w.commitRound(
      round(
        [
          {
            schema: people,
            mode: 'soft-delete',
            events: [b.ev('c', null, { id: 1, name: 'a2', doc: 'n', amount: '0.00' })],
          },
        ],
        [{ channel: 'c', expected: 't2', next: 't3' }],
      ),
    );
    expect(
      rowsText(
        await fx.read(
          'SELECT id, name, _tidemark_deleted_at IS NULL AS live FROM public.people WHERE id = 1',
        ),
      ),
    ).toEqual(['1|a2|true']);
  });

  test('append: every change is appended with op, LSN, seq and commit time; TOAST columns filled', async () => {
    const w = await fx.open();
    await w.prepareTables([{ schema: people, options: opts('append') }]);
    const b = new EventBuilder(people).tx();
    await w.commitRound(
      round(
        [
          {
            schema: people,
            mode: 'append',
            events: [b.ev('c', null, { id: 1, name: 'a', doc: 'd1', amount: '1.00' })],
          },
        ],
        [{ channel: 'c', expected: null, next: 't1' }],
      ),
    );
    b.tx();
    const evs = [
      b.ev('u', { id: 1 }, { id: 1, name: 'a2', amount: '1.00' }, ['doc']),
      b.ev('u', { id: 1 }, { id: 1, name: 'a3', amount: '1.00' }, ['doc']),
      b.ev('d', { id: 1 }, null),
      b.ev('t', null, null),
    ];
    await w.commitRound(
      round(
        [{ schema: people, mode: 'append', events: evs }],
        [{ channel: 'c', expected: 't1', next: 't2' }],
      ),
    );
    const rows = await fx.read(
      'SELECT id, name, doc, _tidemark_op, _tidemark_seq, _tidemark_commit_time IS NOT NULL AS t FROM public.people ORDER BY _tidemark_lsn, _tidemark_seq',
    );
    expect(rowsText(rows)).toEqual([
      '1|a|d1|c|0|true',
      '1|a2|d1|u|0|true',
      '1|a3|d1|u|1|true',
      '1|NULL|NULL|d|2|true',
      'NULL|NULL|NULL|t|3|true',
    ]);
  });

  test('soft-delete: a truncate marks every live row deleted', async () => {
    const w = await fx.open();
    await w.prepareTables([{ schema: people, options: opts('soft-delete') }]);
    const b = new EventBuilder(people).tx();
    const first = [
      b.ev('c', null, { id: 1, name: 'a', doc: 'd', amount: '1.00' }),
      b.ev('c', null, { id: 2, name: 'b', doc: 'd', amount: '1.00' }),
    ];
    await w.commitRound(
      round(
        [{ schema: people, mode: 'soft-delete', events: first }],
        [{ channel: 'c', expected: null, next: 't1' }],
      ),
    );
    b.tx();
    const evs = [b.ev('t', null, null), b.ev('c', null, { id: 3, name: 'c', doc: 'd', amount: '1.00' })];
    await w.commitRound(
      round(
        [{ schema: people, mode: 'soft-delete', events: evs }],
        [{ channel: 'c', expected: 't1', next: 't2' }],
      ),
    );
    const rows = await fx.read(
      'SELECT id, _tidemark_deleted_at IS NOT NULL AS deleted FROM public.people ORDER BY id',
    );
    expect(rowsText(rows)).toEqual(['1|true', '2|true', '3|false']);
  });

  test('mirror: a TOAST-unchanged update of a key the warehouse does not hold is an error, nothing applied', async () => {
    const w = await fx.open();
    await w.prepareTables([{ schema: people, options: opts('mirror') }]);
    const b = new EventBuilder(people).tx();
    const evs = [
      b.ev('c', null, { id: 1, name: 'a', doc: 'd', amount: '1.00' }),
      b.ev('u', { id: 7 }, { id: 7, name: 'x', amount: '1.00' }, ['doc']),
    ];
    const err = await w
      .commitRound(
        round(
          [{ schema: people, mode: 'mirror', events: evs }],
          [{ channel: 'c', expected: null, next: 't1' }],
        ),
      )
      .catch((e) => e);
    expect(isTidemarkError(err, 'corrupt_state')).toBe(true);
    expect(String(err.message)).toContain('public.people');
    expect(await fx.read('SELECT id FROM public.people')).toEqual([]);
    expect(await w.readTokens()).toEqual(new Map());
  });

  test('a table without a key in mirror mode is a clear error', async () => {
    const w = await fx.open();
    const keyless = tableSchema('keyless', [col('a', { kind: 'int32' })], []);
    await expect(w.prepareTables([{ schema: keyless, options: opts('mirror') }])).rejects.toThrow(
      /keyless has no key/,
    );
  });

  test('a value that does not fit the target type: clear error naming the table, nothing applied', async () => {
    const w = await fx.open();
    const other = tableSchema('other', [col('id', { kind: 'int32' }), col('v', { kind: 'text' })]);
    await w.prepareTables([
      { schema: people, options: opts('mirror') },
      { schema: other, options: opts('mirror') },
    ]);
    const b = new EventBuilder(people).tx();
    const bo = new EventBuilder(other).tx();
    const r = round(
      [
        { schema: other, mode: 'mirror', events: [bo.ev('c', null, { id: 1, v: 'ok' })] },
        {
          schema: people,
          mode: 'mirror',
          events: [b.ev('c', null, { id: 1, name: 'a', doc: 'd', amount: '12345678901234.00' })],
        },
      ],
      [{ channel: 'c', expected: null, next: 't1' }],
    );
    const err = await w.commitRound(r).catch((e) => e);
    expect(isTidemarkError(err, 'unsupported_value')).toBe(true);
    expect(String(err.message)).toContain('public.people');
    expect(await fx.read('SELECT * FROM public.other')).toEqual([]);
    expect(await w.readTokens()).toEqual(new Map());
  });
});
