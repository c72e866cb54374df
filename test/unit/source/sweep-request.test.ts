import { sweptKeyEvent, type TxnContext } from '../../../src/source/change-builder';
import { parseSweepRequest } from '../../../src/source/sweep-request';
import type { SourceTable } from '../../../src/source/table-schemas';

/** A table keyed on (region text, id bigint), the key's columns not first and in another order. */
const table: SourceTable = {
  schema: {
    schema: 'public',
    table: 'orders',
    version: 3,
    primaryKey: ['region', 'id'],
    columns: [
      { name: 'note', attnum: 1, type: { kind: 'text' }, pgType: 'text', nullable: true },
      { name: 'id', attnum: 2, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
      { name: 'region', attnum: 3, type: { kind: 'text' }, pgType: 'text', nullable: false },
    ],
  },
  delimiters: [',', ',', ','],
  tupleIndex: [0, 1, 2],
  maskers: [null, null, null],
};

describe('sweep requests', () => {
  it('turns each key (its columns as Postgres text, in key order) into a delete at the next sequence numbers', () => {
    const ctx: TxnContext = { commitLsn: 0x500n, xid: 77, commitTimeMs: 1_000, seq: 4 };
    const req = parseSweepRequest(
      Buffer.from(
        JSON.stringify({
          slot: 's',
          table: 'public.orders',
          keys: [
            ['eu', '9007199254740993'],
            ['us', '2'],
          ],
        }),
      ),
    );
    const events = req.keys.map((k) => sweptKeyEvent(table, ctx, k));
    expect(events.map((e) => [e.op, e.before, e.after, e.position, e.schemaVersion, e.txId])).toEqual([
      ['d', { region: 'eu', id: 9_007_199_254_740_993n }, null, { lsn: 0x500n, seq: 4 }, 3, 77],
      ['d', { region: 'us', id: 2n }, null, { lsn: 0x500n, seq: 5 }, 3, 77],
    ]);
    expect(ctx.seq).toBe(6);
  });

  it('refuses a key whose text is not of its column type, naming the column (the stream passes such a request over)', () => {
    const ctx: TxnContext = { commitLsn: 0x500n, xid: 77, commitTimeMs: 1_000, seq: 0 };
    expect(() => sweptKeyEvent(table, ctx, ['eu', 'twelve'])).toThrow(/public\.orders\.id/);
  });

  it('names what is wrong with a request it cannot read', () => {
    expect(() => parseSweepRequest(Buffer.from('{'))).toThrow(/tidemark_sweep message is not JSON/);
    expect(() => parseSweepRequest(Buffer.from('{"slot":"s","table":"t","keys":[[1]]}'))).toThrow(
      /lacks slot, table or keys/,
    );
  });
});
