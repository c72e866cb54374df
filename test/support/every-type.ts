/**
 * One row with every type the source maps (shared by the source's decoding test and the
 * end-to-end type test): the DDL, an INSERT with parameters $1 = id, $2 = BIG, $3 = TEXTS, and
 * the canonical values tidemark must produce for it (see src/core/column-type.ts).
 */
export const TYPES_DDL = `CREATE TYPE mood AS ENUM ('happy', 'sad');
       CREATE DOMAIN positive AS int CHECK (VALUE > 0);
       CREATE DOMAIN price AS numeric(8,2);`;

export const US = (iso: string, micros = 0n) => BigInt(Date.parse(iso)) * 1000n + micros;
export const DAY = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;

/** One row with every mapped type; the same row is read by the snapshot and by the stream. */
export const COLUMNS = `
  id int PRIMARY KEY,
  i2 int2, i4 int4, i8 int8,
  n_free numeric, n_fixed numeric(12,2), n_big numeric,
  f4 float4, f8 float8, f_nan float8, f_inf float4,
  b bool, t text, vc varchar(10), bp char(5),
  by bytea, d date, d_bc date, tm time, tmtz timetz,
  ts timestamp, ts_old timestamp, tstz timestamptz, iv interval,
  u uuid, j json, jb jsonb,
  a_int int4[], a_text text[], a_mood mood[], a_pos positive[], a_ts timestamptz[],
  m mood, p positive, p_price price,
  unknown_money money`;

export const VALUES = `(
  $1, -32768, 2147483647, -9223372036854775808,
  '-0.000000000000000000001', -12.5, $2,
  3.4028235e38, 0.1, 'NaN', '-Infinity',
  true, 'zażółć "gęślą" \\ jaźń 🦀', 'short', 'ab',
  '\\x00ff0010'::bytea, '2024-02-29', '0044-03-15 BC', '24:00:00', '13:45:06.789+05:30',
  '1969-12-31 23:59:59.999999', '0001-01-01 00:00:00 BC', '2024-05-01 10:00:00.123456-02', '1 year 2 mons -3 days 04:05:06.5',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"b": 1,  "a": [true]}', '{"b": 1,  "a": [true]}',
  '{1,NULL,-3}', $3, '{happy,sad}', '{7}', '{"2000-01-01 00:00:00+00","1900-06-01 12:00:00.5+00"}',
  'sad', 42, 19.99,
  12.34
)`;

export const BIG = `-${'9'.repeat(600)}.${'1'.repeat(400)}`;
export const TEXTS = ['a,b', 'quote"d', 'back\\slash', 'NULL', '', ' spaced ', null, '{braces}'];

export function expected(id: number) {
  return {
    id,
    i2: -32768,
    i4: 2147483647,
    i8: -9223372036854775808n,
    n_free: '-0.000000000000000000001',
    n_fixed: '-12.50',
    n_big: BIG,
    f4: 3.4028235e38,
    f8: 0.1,
    f_nan: Number.NaN,
    f_inf: Number.NEGATIVE_INFINITY,
    b: true,
    t: 'zażółć "gęślą" \\ jaźń 🦀',
    vc: 'short',
    bp: 'ab   ',
    by: new Uint8Array([0, 255, 0, 16]),
    d: DAY('2024-02-29'),
    d_bc: Date.UTC(-43, 2, 15) / 86_400_000, // 44 BC is astronomical year -43
    tm: 86_400_000_000n,
    tmtz: '13:45:06.789+05:30',
    ts: -1n,
    ts_old: BigInt(new Date(Date.UTC(2000, 0, 1)).setUTCFullYear(0)) * 1000n, // 1 BC = year 0
    tstz: US('2024-05-01T12:00:00.000Z', 123456n),
    iv: 'P1Y2M-3DT4H5M6.5S',
    u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    j: '{"b": 1,  "a": [true]}',
    jb: '{"a": [true], "b": 1}',
    a_int: [1, null, -3],
    a_text: TEXTS,
    a_mood: ['happy', 'sad'],
    a_pos: [7],
    a_ts: [US('2000-01-01T00:00:00Z'), US('1900-06-01T12:00:00.000Z', 500000n)],
    m: 'sad',
    p: 42,
    p_price: '19.99',
    unknown_money: '$12.34',
  };
}
