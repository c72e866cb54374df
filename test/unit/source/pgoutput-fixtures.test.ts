import { createHmac } from 'node:crypto';
import { Secret } from '../../../src/config/secret';
import type { ChangeEvent } from '../../../src/core/change-event';
import type { ColumnType } from '../../../src/core/column-type';
import {
  deleteEvents,
  insertEvents,
  type TxnContext,
  truncateEvent,
  updateEvents,
} from '../../../src/source/change-builder';
import { hmacMasker } from '../../../src/source/column-policy';
import { decodePgoutput } from '../../../src/source/pgoutput/decode';
import type { PgoutputMessage } from '../../../src/source/pgoutput/messages';
import type { SourceTable } from '../../../src/source/table-schemas';
import fixture from './fixtures/pgoutput-v1.json';

/** Real pgoutput bytes captured from Postgres 15 by scripts/capture-pgoutput-fixtures.ts. */
const messages: PgoutputMessage[] = fixture.messages.map((m) => decodePgoutput(Buffer.from(m.hex, 'hex')));

/** The table as the source resolves it; `exclude` and `mask` as TableSchemas applies the config. */
function sourceTable(
  table: 'everything' | 'nokey',
  key: string[],
  policy: { exclude?: string[]; mask?: string[] } = {},
): SourceTable {
  const all = fixture.columns[table].map((c, i) => ({ ...c, i }));
  const cols = all.filter((c) => !policy.exclude?.includes(c.name));
  const masked = (name: string) => policy.mask?.includes(name) ?? false;
  return {
    schema: {
      schema: 'public',
      table,
      version: 1,
      primaryKey: key,
      columns: cols.map((c) => ({
        name: c.name,
        attnum: c.i + 1,
        type: masked(c.name) ? { kind: 'text' } : (c.type as ColumnType),
        pgType: '',
        nullable: true,
      })),
    },
    delimiters: cols.map((c) => c.delimiter),
    tupleIndex: cols.map((c) => c.i),
    maskers: cols.map((c) => (masked(c.name) ? hmacMasker(new Secret('0123456789abcdef')) : null)),
  };
}

/** Replays the captured stream through the change builder, as the replication stream does. */
function replay(policy: { exclude?: string[]; mask?: string[] } = {}): ChangeEvent[] {
  const tables = new Map<number, SourceTable>();
  const events: ChangeEvent[] = [];
  let ctx: TxnContext | null = null;
  for (const m of messages) {
    if (m.tag === 'relation')
      tables.set(
        m.relationOid,
        m.name === 'everything' ? sourceTable('everything', ['id'], policy) : sourceTable('nokey', ['a']),
      );
    else if (m.tag === 'begin')
      ctx = { commitLsn: m.finalLsn, xid: m.xid, commitTimeMs: m.commitTimeMs, seq: 0 };
    else if (m.tag === 'insert') events.push(...insertEvents(tables.get(m.relationOid)!, ctx!, m));
    else if (m.tag === 'update') events.push(...updateEvents(tables.get(m.relationOid)!, ctx!, m));
    else if (m.tag === 'delete') events.push(...deleteEvents(tables.get(m.relationOid)!, ctx!, m));
    else if (m.tag === 'truncate')
      for (const oid of m.relationOids) events.push(truncateEvent(tables.get(oid)!, ctx!));
  }
  return events;
}

describe('pgoutput decoding of captured Postgres 15 bytes', () => {
  it('decodes every message type in stream order', () => {
    expect(messages.map((m) => m.tag).join(',')).toBe(
      'begin,type,type,type,relation,insert,commit,begin,update,commit,begin,update,commit,begin,delete,commit,' +
        'begin,relation,insert,insert,commit,begin,update,commit,begin,delete,commit,begin,type,type,type,relation,relation,truncate,commit,message',
    );
    const begin = messages[0] as Extract<PgoutputMessage, { tag: 'begin' }>;
    const commit = messages[6] as Extract<PgoutputMessage, { tag: 'commit' }>;
    expect(commit.commitLsn).toBe(begin.finalLsn);
    expect(commit.endLsn).toBeGreaterThan(commit.commitLsn);
    expect(Math.abs(commit.commitTimeMs - Date.now())).toBeLessThan(10 * 365 * 86_400_000);
    const rel = messages[4] as Extract<PgoutputMessage, { tag: 'relation' }>;
    expect(rel).toMatchObject({ schema: 'public', name: 'everything', replicaIdentity: 'd' });
    expect(rel.columns.filter((c) => c.key).map((c) => c.name)).toEqual(['id']);
    expect(rel.columns.find((c) => c.name === 'n102')!.typeMod).toBe(((10 << 16) | 2) + 4);
    const msg = messages[35] as Extract<PgoutputMessage, { tag: 'message' }>;
    expect(msg).toMatchObject({ transactional: false, prefix: 'tidemark_heartbeat' });
    expect(msg.content.toString()).toBe('beat');
    const trunc = messages[33] as Extract<PgoutputMessage, { tag: 'truncate' }>;
    expect(trunc.relationOids).toHaveLength(2);
  });

  it('decodes every value exactly', () => {
    const [insert] = replay();
    expect(insert!.op).toBe('c');
    expect(insert!.after).toEqual({
      id: 1n,
      i2: -32768,
      i4: 2147483647,
      i8: -9223372036854775808n,
      n102: '-12345678.90',
      n: '-123456789012345678901234567890.123456789012345678901234567890',
      nneg: '12300',
      f4: Number.NaN,
      f8: Number.NEGATIVE_INFINITY,
      b: true,
      t: 'line\nbreak ünïcödé 🎉',
      vc: 'short',
      c: 'ab   ',
      by: new Uint8Array([0x00, 0xff, 0x10]),
      d: Date.UTC(-43, 2, 15) / 86_400_000,
      tm: 86_400_000_000n,
      ttz: '13:45:06.5+05:30',
      ts: -1n,
      tstz: BigInt(Date.UTC(2024, 1, 29, 10, 0, 0, 123)) * 1000n + 456n,
      iv: 'P1Y2M3DT4H5M6.789S',
      u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      j: '{"a": [1, 2]}',
      jb: '{"a": 1, "b": {"c": null}}',
      arr_i: [1, null, 3],
      arr_t: ['x', 'y z', 'q"u\\o', null, 'NULL', ''],
      m: 'happy',
      arr_m: ['sad', 'ok'],
      dom: 7,
      big: 'big value '.repeat(2000),
    });
  });

  it('leaves excluded columns out and carries masked ones as the HMAC of their text', () => {
    const [insert, update] = replay({ exclude: ['t', 'by'], mask: ['vc', 'big', 'arr_i'] });
    const hmac = (text: string) => createHmac('sha256', '0123456789abcdef').update(text).digest('hex');
    expect('t' in insert!.after! || 'by' in insert!.after!).toBe(false);
    expect(insert!.after!.vc).toBe(hmac('short'));
    expect(insert!.after!.big).toBe(hmac('big value '.repeat(2000)));
    expect(insert!.after!.arr_i).toBe(hmac('{1,NULL,3}'));
    // the columns after an excluded one still get their own values
    expect(insert!.after!.c).toBe('ab   ');
    expect(insert!.after!.jb).toBe('{"a": 1, "b": {"c": null}}');
    // an unchanged TOASTed value is still declared unchanged, masked or not
    expect(update!.unchanged).toEqual(['big']);
  });

  it('marks TOAST-unchanged columns instead of emitting a value', () => {
    const update = replay()[1]!;
    expect(update.op).toBe('u');
    expect(update.unchanged).toEqual(['big']);
    expect('big' in update.after!).toBe(false);
    expect(update.after!.i4).toBe(1);
    expect(update.before).toEqual({ id: 1n });
  });

  it('turns a key change into a delete of the old key and an insert of the new one', () => {
    const [, , del, ins] = replay();
    expect(del).toMatchObject({ op: 'd', before: { id: 1n }, after: null });
    expect(ins!.op).toBe('c');
    expect(ins!.after!.id).toBe(2n);
    expect(ins!.before).toEqual({ id: 1n }); // where the sink fills unchanged columns from
    expect(ins!.position.seq).toBe(del!.position.seq + 1);
    // Never a placeholder: the big column is either carried or declared unchanged.
    expect(ins!.after!.big === 'big value '.repeat(2000) || ins!.unchanged.includes('big')).toBe(true);
  });

  it('carries full old rows for REPLICA IDENTITY FULL, and truncates per table', () => {
    const events = replay();
    const nokey = events.filter((e) => e.table.table === 'nokey');
    expect(nokey.map((e) => e.op)).toEqual(['c', 'c', 'u', 'd', 't']);
    expect(nokey[2]).toMatchObject({ before: { a: 1, b: 'one' }, after: { a: 1, b: 'uno' } });
    expect(nokey[3]).toMatchObject({ before: { a: 2, b: null } });
    expect(events.filter((e) => e.op === 't').map((e) => e.table.table)).toEqual(['everything', 'nokey']);
  });

  it('numbers changes within each transaction from 0, in order', () => {
    const events = replay();
    for (const e of events) {
      const sameTxn = events.filter((x) => x.position.lsn === e.position.lsn);
      expect(sameTxn.map((x) => x.position.seq)).toEqual(sameTxn.map((_x, i) => i));
    }
  });

  it('names the message and the problem when bytes are malformed', () => {
    expect(() => decodePgoutput(Buffer.from('X'))).toThrow(/unknown message type 'X'/);
    expect(() =>
      decodePgoutput(Buffer.from([0x49, 0, 0, 0, 1, 0x4e, 0, 1, 0x74, 0, 0, 0, 99, 0x41])),
    ).toThrow(/cannot decode pgoutput message 'I'.*runs past/);
  });

  it('decodes an Origin message (built by hand from the spec: Byte1 O, Int64 LSN, String name)', () => {
    const name = Buffer.from('pg_16385\0');
    const lsn = Buffer.alloc(8);
    lsn.writeBigUInt64BE(0x16b374d848n);
    expect(decodePgoutput(Buffer.concat([Buffer.from('O'), lsn, name]))).toEqual({
      tag: 'origin',
      originLsn: 0x16b374d848n,
      name: 'pg_16385',
    });
  });
});
