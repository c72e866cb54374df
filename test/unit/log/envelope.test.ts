import type { ChangeEvent } from '../../../src/core/change-event';
import type { TableSchema } from '../../../src/core/table-schema';
import { decodeEnvelope, encodeEnvelope, encodeKey } from '../../../src/log/envelope';
import { encodeValue, isoToMicros, microsToIso } from '../../../src/log/envelope-values';

const schema: TableSchema = {
  schema: 'public',
  table: 'everything',
  version: 3,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    {
      name: 'price',
      attnum: 2,
      type: { kind: 'decimal', precision: 12, scale: 2 },
      pgType: 'numeric(12,2)',
      nullable: true,
    },
    { name: 'n', attnum: 3, type: { kind: 'numeric' }, pgType: 'numeric', nullable: true },
    { name: 'f', attnum: 4, type: { kind: 'float64' }, pgType: 'double precision', nullable: true },
    { name: 'b', attnum: 5, type: { kind: 'bytes' }, pgType: 'bytea', nullable: true },
    { name: 'ts', attnum: 6, type: { kind: 'timestamptz' }, pgType: 'timestamptz', nullable: true },
    { name: 'local', attnum: 7, type: { kind: 'timestamp' }, pgType: 'timestamp', nullable: true },
    { name: 'd', attnum: 8, type: { kind: 'date' }, pgType: 'date', nullable: true },
    {
      name: 'tags',
      attnum: 9,
      type: { kind: 'list', element: { kind: 'text' } },
      pgType: 'text[]',
      nullable: true,
    },
    { name: 'big', attnum: 10, type: { kind: 'text' }, pgType: 'text', nullable: true },
    { name: 'ok', attnum: 11, type: { kind: 'bool' }, pgType: 'boolean', nullable: true },
  ],
};

const update: ChangeEvent = {
  op: 'u',
  table: { schema: 'public', table: 'everything' },
  position: { lsn: 0x16b374d848n, seq: 7 },
  txId: 991,
  commitTimeMs: 1_700_000_000_123,
  schemaVersion: 3,
  before: { id: 9_007_199_254_740_993n },
  after: {
    id: 9_007_199_254_740_993n,
    price: '-12.50',
    n: '123456789012345678901234567890.000000000000000000001',
    f: Number.NaN,
    b: new Uint8Array([0, 255, 1]),
    ts: -1_234_567_890_123_456n,
    local: 1_700_000_000_000_001n,
    d: -719162,
    tags: ['a', null, 'c"d'],
    ok: false,
  },
  unchanged: ['big'],
  snapshot: false,
};

describe('change envelope', () => {
  it('round-trips every value exactly and keeps TOAST-unchanged columns out of after', () => {
    const buf = encodeEnvelope(update, schema, { name: 'shop', db: 'app' }, 1);
    const json = JSON.parse(buf.toString());
    expect(json.op).toBe('u');
    expect(json.source).toMatchObject({
      connector: 'postgresql',
      schema: 'public',
      table: 'everything',
      txId: 991,
      tidemark_seq: 7,
    });
    expect('big' in json.after).toBe(false);
    expect(json.after.id).toBe('9007199254740993'); // beyond 2^53: a string, not a rounded number
    const back = decodeEnvelope(buf, (s, t, v) =>
      s === 'public' && t === 'everything' && v === 3 ? schema : undefined,
    );
    expect(back).toEqual(update);
  });

  it('writes the text JSON.stringify would write for the envelope object', () => {
    // encodeEnvelope builds its JSON as text (the source's hot path): the bytes must be those of
    // the object form, escapes included (a name and a value needing them, a key change's before).
    const odd: TableSchema = {
      ...schema,
      columns: [
        ...schema.columns,
        { name: 'say "hi"\n', attnum: 12, type: { kind: 'text' }, pgType: 'text', nullable: true },
      ],
    };
    const ev: ChangeEvent = {
      ...update,
      after: { ...update.after!, 'say "hi"\n': 'tab\there \u2028 ü', f: -0 },
      snapshot: true,
    };
    const row = (r: Record<string, unknown>) =>
      Object.fromEntries(
        odd.columns.filter((c) => c.name in r).map((c) => [c.name, encodeValue(c.type, r[c.name] as never)]),
      );
    const expected = {
      before: row(ev.before!),
      after: row(ev.after!),
      source: {
        version: 'tidemark-0.1.0',
        connector: 'postgresql',
        name: 'sh"op',
        db: 'app',
        schema: 'public',
        table: 'everything',
        txId: 991,
        lsn: Number(0x16b374d848n),
        ts_ms: 1_700_000_000_123,
        snapshot: 'true',
        tidemark_seq: 7,
        tidemark_schema_version: 3,
        tidemark_unchanged: ['big'],
      },
      op: 'u',
      ts_ms: 42,
    };
    expect(encodeEnvelope(ev, odd, { name: 'sh"op', db: 'app' }, 42).toString()).toBe(
      JSON.stringify(expected),
    );
    const insert = { ...ev, op: 'c' as const, before: null, unchanged: [] };
    const { tidemark_unchanged: _, ...source } = expected.source;
    expect(encodeEnvelope(insert, odd, { name: 'sh"op', db: 'app' }, 42).toString()).toBe(
      JSON.stringify({ ...expected, before: null, source, op: 'c' }),
    );
  });

  it('encodes the key like Debezium: the key columns only', () => {
    expect(encodeKey(schema, update.after!).toString()).toBe('{"id":"9007199254740993"}');
  });

  it("reads a key change's delete with its new key from the header the producer gives it", () => {
    const del: ChangeEvent = { ...update, op: 'd', after: null, unchanged: [] };
    const buf = encodeEnvelope(del, schema, { name: 'shop', db: 'app' }, 1);
    const header = encodeKey(schema, { id: 12n });
    expect(decodeEnvelope(buf, () => schema, header).newKey).toEqual({ id: 12n });
    expect(decodeEnvelope(buf, () => schema)).not.toHaveProperty('newKey');
    expect(() => decodeEnvelope(buf, () => schema, '{"id":')).toThrow(/__debezium\.newkey is not JSON/);
    expect(() => decodeEnvelope(buf, () => schema, '{"ok":true}')).toThrow(/lacks key column "id"/);
  });

  it('names the problem for a malformed envelope', () => {
    expect(() => decodeEnvelope(Buffer.from('{"op":"x"}'), () => schema)).toThrow(/lacks source/);
    expect(() => decodeEnvelope(Buffer.from('nope'), () => schema)).toThrow(/not JSON/);
    const buf = encodeEnvelope(update, schema, { name: 'shop', db: 'app' }, 1);
    expect(() => decodeEnvelope(buf, () => undefined)).toThrow(/unknown schema version 3/);
  });

  it('formats timestamps with microseconds, before 1970 and after 9999', () => {
    for (const us of [
      0n,
      1n,
      -1n,
      1_700_000_000_123_456n,
      -62_135_596_800_000_000n,
      253_402_300_800_000_001n,
      // around the double-precision shortcut (|µs| < 2^53)
      9_007_199_254_740_991n,
      9_007_199_254_740_992n,
      -9_007_199_254_740_991n,
      -9_007_199_254_740_992n,
      -1_001n,
    ]) {
      expect(isoToMicros(microsToIso(us))).toBe(us);
    }
    expect(microsToIso(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    expect(microsToIso(-1_001n)).toBe('1969-12-31T23:59:59.998999Z');
    expect(microsToIso(1_700_000_000_123_456n)).toBe('2023-11-14T22:13:20.123456Z');
  });

  it('formats and parses timestamps like Date does, across days (the fast paths cache the day)', () => {
    // Pseudo-random but fixed values, jumping between days and within one, both signs of the epoch.
    let x = 12345;
    const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 5_000; i++) {
      const us = BigInt(next()) * BigInt(next() % 4_000_000) - 2n ** 52n + BigInt(i % 3);
      const ms = us >= 0n ? us / 1000n : -((-us + 999n) / 1000n);
      const byDate = `${new Date(Number(ms)).toISOString().slice(0, -1)}${String(us - ms * 1000n).padStart(3, '0')}Z`;
      expect(microsToIso(us)).toBe(byDate);
      expect(isoToMicros(byDate)).toBe(us);
    }
    // What the positional parser must leave to the full one, or refuse.
    expect(isoToMicros('2024-01-01T23:59:59.5Z')).toBe(1_704_153_599_500_000n);
    expect(isoToMicros('+012024-01-01T00:00:00.000000Z')).toBe(
      BigInt(Date.parse('+012024-01-01T00:00:00Z')) * 1000n,
    );
    expect(() => isoToMicros('2024-13-01T00:00:00.000000Z')).toThrow(/bad timestamp/);
    expect(() => isoToMicros('2024-01-01T23:60:00.000000Z')).toThrow(/bad timestamp/);
    expect(() => isoToMicros('2024-01-01T23:59:59.12345aZ')).toThrow(/bad timestamp/);
    expect(() => isoToMicros('2024-01-01 23:59:59.123456Z')).toThrow(/bad timestamp/);
  });
});
