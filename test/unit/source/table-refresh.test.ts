import type { ChangeEvent, Row } from '../../../src/core/change-event';
import type { Logger } from '../../../src/observe/logger';
import { MemoryStateStore } from '../../../src/source/state-store';
import { invisibleTo, TableRefresher } from '../../../src/source/table-refresh';
import type { SourceTable, TableSchemas } from '../../../src/source/table-schemas';

const table: SourceTable = {
  schema: {
    schema: 'public',
    table: 't',
    version: 1,
    primaryKey: ['id'],
    columns: [
      { name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
      { name: 'v', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
    ],
  },
  delimiters: [',', ','],
  tupleIndex: [0, 1],
  maskers: [null, null],
};

function change(op: 'c' | 'u' | 'd', id: number, xid: number): ChangeEvent {
  return {
    op,
    table: { schema: 'public', table: 't' },
    position: { lsn: 1n, seq: 0 },
    txId: xid,
    commitTimeMs: 0,
    schemaVersion: 1,
    before: op === 'c' ? null : { id },
    after: op === 'd' ? null : { id, v: 'new' },
    unchanged: [],
    snapshot: false,
  };
}

describe('invisibleTo', () => {
  it('reads pg_current_snapshot(): in progress or started after, modulo 2^32', () => {
    const inv = invisibleTo('4294967396:4294967400:4294967397,4294967398');
    expect([inv(100), inv(101), inv(102), inv(103), inv(104), inv(105)]).toEqual([
      false,
      true,
      true,
      false,
      true,
      true,
    ]);
    expect(inv(99)).toBe(false);
  });
});

describe('TableRefresher windows', () => {
  /** A refresher whose chunk window is set up by hand, as copy() does around its SELECT. */
  function windowFor(rows: Row[], snapshot: string) {
    const r = new TableRefresher({
      clientConfig: {},
      state: new MemoryStateStore(),
      slot: 's',
      schemas: { get: () => table } as unknown as TableSchemas,
      chunkRows: 10,
      logger: { info() {}, warn() {}, error() {} } as unknown as Logger,
    });
    let result: { emitted: number } | null | undefined;
    (r as unknown as { windows: Map<string, unknown> }).windows.set('w1', {
      table: 'public.t',
      changed: new Set(),
      seen: [],
      invisible: invisibleTo(snapshot),
      truncated: false,
      open: false,
      rows,
      version: 1,
      settle: (x: { emitted: number } | null) => {
        result = x;
      },
    });
    return { r, result: () => result };
  }
  const rows = [1, 2, 3, 4, 5].map((id) => ({ id, v: `old ${id}` }));

  it('gives way to keys changed between the watermarks, and to earlier transactions the SELECT did not see', () => {
    const { r } = windowFor(rows, '100:110:105');
    r.onChange(change('u', 1, 99), ['id']); // before the low watermark, seen by the SELECT: kept
    r.onChange(change('d', 2, 105), ['id']); // before the low watermark, in progress for the SELECT
    r.onLow(Buffer.from('w1'));
    r.onChange(change('u', 3, 101), ['id']); // inside the window
    const chunk = r.onHigh(Buffer.from('w1'));
    expect(chunk!.rows.map((x) => x.id)).toEqual([1, 4, 5]);
  });

  it('reads the chunk again when the stream did not see its low watermark', () => {
    const { r, result } = windowFor(rows, '100:110:');
    expect(r.onHigh(Buffer.from('w1'))).toBeNull();
    expect(result()).toBeNull();
  });

  it('drops the whole chunk after a truncate in the window', () => {
    const { r, result } = windowFor(rows, '100:110:');
    r.onLow(Buffer.from('w1'));
    r.onChange({ ...change('c', 9, 101), op: 't', before: null, after: null }, ['id']);
    expect(r.onHigh(Buffer.from('w1'))).toBeNull();
    expect(result()).toEqual({ emitted: 0, durable: expect.any(Promise) });
  });
});
