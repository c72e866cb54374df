import type { Row } from '../../../src/core/change-event';
import { rowTexts } from '../../../src/verify/canonical-text';
import { openWarehouseAtCut } from '../../../src/verify/warehouse-at-cut';
import { col, EventBuilder, makeFixture, opts, round, tableSchema, type WarehouseFixture } from './helpers';

/** One column of every kind tidemark decodes, with a value that would show any loss. */
const columns = [
  col('id', { kind: 'int64' }),
  col('b', { kind: 'bool' }),
  col('i2', { kind: 'int16' }),
  col('i4', { kind: 'int32' }),
  col('f4', { kind: 'float32' }),
  col('f8', { kind: 'float64' }),
  col('dec', { kind: 'decimal', precision: 38, scale: 6 }),
  col('wide', { kind: 'decimal', precision: 50, scale: 2 }),
  col('num', { kind: 'numeric' }),
  col('txt', { kind: 'text' }),
  col('vc', { kind: 'text', maxLength: 5 }),
  col('by', { kind: 'bytes' }),
  col('u', { kind: 'uuid' }),
  col('js', { kind: 'json', binary: true }),
  col('d', { kind: 'date' }),
  col('t', { kind: 'time' }),
  col('ttz', { kind: 'timetz' }),
  col('ts', { kind: 'timestamp' }),
  col('tstz', { kind: 'timestamptz' }),
  col('iv', { kind: 'interval' }),
  col('mood', { kind: 'enum', typeName: 'mood' }),
  col('ints', { kind: 'list', element: { kind: 'int32' } }),
  col('txts', { kind: 'list', element: { kind: 'text' } }),
  col('decs', { kind: 'list', element: { kind: 'decimal', precision: 10, scale: 2 } }),
];
const allTypes = tableSchema('all_types', columns);

const full: Row = {
  id: 9007199254740993n,
  b: true,
  i2: -32768,
  i4: 2147483647,
  f4: 1.5,
  f8: 0.1,
  dec: '12345678901234567890123456789012.123456',
  wide: '123456789012345678901234567890123456789012345678.99',
  num: '3.14159265358979323846264338327950288419716939937510',
  txt: 'tab\there "quote" back\\slash\nnewline é',
  vc: 'abcde',
  by: new Uint8Array([0, 1, 92, 255]),
  u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  js: '{"a": [1, 2.50, "x\\"y"]}',
  d: -719162, // 0001-01-01
  t: 86_399_999_999n,
  ttz: '13:14:15.123456+05:30',
  ts: 1_700_000_000_123_456n,
  tstz: -1_000_000n,
  iv: 'P1Y2M3DT4H5M6.789S',
  mood: 'happy',
  ints: [1, null, -3],
  txts: ['a,b', 'c"d', null, 'e\\f', ''],
  decs: ['1.50', null],
};
const nulls: Row = Object.fromEntries(columns.map((c) => [c.name, c.name === 'id' ? 2n : null]));

const read = {
  duckdb:
    'SELECT ' +
    columns.map((c) => `CAST("${c.name}" AS VARCHAR) AS "${c.name}"`).join(', ') +
    ' FROM public.all_types ORDER BY id DESC',
  postgres:
    'SELECT ' +
    columns.map((c) => `CAST("${c.name}" AS TEXT) AS "${c.name}"`).join(', ') +
    ' FROM public.all_types ORDER BY id DESC',
};

const expected = {
  duckdb: {
    id: '9007199254740993',
    b: 'true',
    i2: '-32768',
    i4: '2147483647',
    f4: '1.5',
    f8: '0.1',
    dec: '12345678901234567890123456789012.123456',
    wide: full.wide,
    num: full.num,
    txt: full.txt,
    vc: 'abcde',
    by: '\\x00\\x01\\x5C\\xFF',
    u: full.u,
    js: full.js,
    d: '0001-01-01',
    t: '23:59:59.999999',
    ttz: '13:14:15.123456+05:30',
    ts: '2023-11-14 22:13:20.123456',
    tstz: '1969-12-31 23:59:59+00',
    iv: '1 year 2 months 3 days 04:05:06.789',
    mood: 'happy',
    ints: '[1, NULL, -3]',
    txts: `['a,b', 'c"d', NULL, e\\f, '']`,
    decs: '[1.50, NULL]',
  },
  postgres: {
    id: '9007199254740993',
    b: 'true',
    i2: '-32768',
    i4: '2147483647',
    f4: '1.5',
    f8: '0.1',
    dec: '12345678901234567890123456789012.123456',
    wide: full.wide,
    num: full.num,
    txt: full.txt,
    vc: 'abcde',
    by: '\\x00015cff',
    u: full.u,
    js: '{"a": [1, 2.50, "x\\"y"]}',
    d: '0001-01-01',
    t: '23:59:59.999999',
    ttz: '13:14:15.123456+05:30',
    ts: '2023-11-14 22:13:20.123456',
    tstz: '1969-12-31 23:59:59+00',
    iv: '1 year 2 mons 3 days 04:05:06.789',
    mood: 'happy',
    ints: '{1,NULL,-3}',
    txts: '{"a,b","c\\"d",NULL,"e\\\\f",""}',
    decs: '{1.50,NULL}',
  },
};

describe.each(['duckdb', 'postgres'] as const)('%s warehouse types', (kind) => {
  let fx: WarehouseFixture;
  beforeAll(async () => {
    fx = await makeFixture(kind);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  test('every mapped type round-trips without loss, and NULL stays NULL', async () => {
    const w = await fx.open();
    await w.prepareTables([{ schema: allTypes, options: opts('mirror') }]);
    const b = new EventBuilder(allTypes).tx();
    await w.commitRound(
      round(
        [{ schema: allTypes, mode: 'mirror', events: [b.ev('c', null, full), b.ev('c', null, nulls)] }],
        [{ channel: 'a', expected: null, next: 't1' }],
      ),
    );
    const rows = await fx.read(kind === 'postgres' ? read.postgres : read.duckdb);
    expect(rows[0]).toEqual(expected[kind]);
    expect(Object.values(rows[1]!).filter((v) => v !== null)).toEqual(['2']);

    // AND `verify`'s reader gives back, for every type, the canonical text of the value written
    await w.close();
    const at = await openWarehouseAtCut(
      kind === 'duckdb' ? { kind, path: fx.location } : { kind, url: fx.location },
    );
    const got: Row[] = [];
    try {
      for await (const batch of (await at.table(allTypes, 'mirror')).rows()) got.push(...batch);
    } finally {
      await at.close();
    }
    const texts = (r: Row) => JSON.stringify(rowTexts(r, columns));
    expect(got.map(texts).sort()).toEqual([full, nulls].map(texts).sort());
  });
});
