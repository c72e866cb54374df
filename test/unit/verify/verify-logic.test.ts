import type { Row } from '../../../src/core/change-event';
import { encodeKey } from '../../../src/core/row-key';
import type { Snapshot, TableMetadata } from '../../../src/sink/iceberg/table-metadata';
import { canonicalText } from '../../../src/verify/canonical-text';
import { ChangeOverlay } from '../../../src/verify/change-overlay';
import { compareTable } from '../../../src/verify/compare-table';
import { snapshotAtCut } from '../../../src/verify/iceberg-at-cut';
import { hashRanges, integerRanges } from '../../../src/verify/key-ranges';
import { ev } from '../support/change-events';

const k = (id: number) => encodeKey({ id }, ['id']);

describe('ChangeOverlay', () => {
  it('folds the window per key: the last image wins, deletes hide the snapshot row', () => {
    const o = new ChangeOverlay(['id']);
    o.apply(ev('c', { id: 1, v: 'a' }));
    o.apply(ev('u', { id: 1, v: 'b' }));
    o.apply(ev('d', { id: 2 }));
    expect(o.covers(k(1))).toBe(true);
    expect(o.covers(k(2))).toBe(true);
    expect(o.covers(k(3))).toBe(false);
    expect([...o.rows()]).toEqual([{ id: 1, v: 'b' }]);
  });

  it('takes unchanged TOAST values from an earlier image, else asks for the snapshot row', () => {
    const o = new ChangeOverlay(['id']);
    o.apply(ev('c', { id: 1, big: 'X', v: 'a' }));
    o.apply(ev('u', { id: 1, v: 'b' }, { before: { id: 1 }, unchanged: ['big'] }));
    o.apply(ev('u', { id: 2, v: 'c' }, { before: { id: 2 }, unchanged: ['big'] }));
    expect(o.pendingLookups()).toEqual([{ id: 2 }]);
    o.fill(new Map([[k(2), { id: 2, big: 'Y', v: 'old' }]]));
    expect([...o.rows()]).toEqual([
      { id: 1, big: 'X', v: 'b' },
      { id: 2, big: 'Y', v: 'c' },
    ]);
  });

  it('after a key change, the new key takes unchanged values from the old key’s snapshot row', () => {
    const o = new ChangeOverlay(['id']);
    o.apply(ev('d', { id: 5 }));
    o.apply(ev('c', { id: 6, v: 'n' }, { before: { id: 5 }, unchanged: ['big'] }));
    expect(o.pendingLookups()).toEqual([{ id: 5 }]);
    o.fill(new Map([[k(5), { id: 5, big: 'Z', v: 'o' }]]));
    expect([...o.rows()]).toEqual([{ id: 6, v: 'n', big: 'Z' }]);
    expect(o.covers(k(5))).toBe(true);
  });

  it('a truncate hides every snapshot row; later inserts remain', () => {
    const o = new ChangeOverlay(['id']);
    o.apply(ev('c', { id: 1 }));
    o.apply(ev('t', null));
    o.apply(ev('c', { id: 2 }));
    expect(o.covers(k(99))).toBe(true);
    expect([...o.rows()]).toEqual([{ id: 2 }]);
  });
});

describe('snapshotAtCut', () => {
  const snap = (id: number, parent: number | undefined, summary: Record<string, string>): Snapshot => ({
    'snapshot-id': id,
    ...(parent === undefined ? {} : { 'parent-snapshot-id': parent }),
    'sequence-number': id,
    'timestamp-ms': 0,
    'manifest-list': '',
    summary: { operation: 'append', ...summary },
    'schema-id': 0,
  });
  const meta = (snapshots: Snapshot[], current: number) =>
    ({ snapshots, 'current-snapshot-id': current }) as unknown as TableMetadata;
  const chain = [
    snap(1, undefined, { 'tidemark.cut-lsn': '0/100' }),
    snap(2, 1, { 'tidemark.cut-lsn': '0/200' }),
    snap(3, 2, {}), // compaction: holds what 2 held
    snap(4, 3, { 'tidemark.filled-columns': 'c' }), // belongs to the commit after it
    snap(5, 4, { 'tidemark.cut-lsn': '0/300' }),
  ];
  const at = (cut: bigint, m = meta(chain, 5)) => {
    const r = snapshotAtCut(m, cut);
    return 'problem' in r ? r.problem : (r.snapshot?.['snapshot-id'] ?? null);
  };

  it('picks the last snapshot whose cut is at or before the cut', () => {
    expect(at(0x50n)).toBeNull(); // before the first commit: the table was empty
    expect(at(0x100n)).toBe(1);
    expect(at(0x1ffn)).toBe(1);
    expect(at(0x200n)).toBe(3);
    expect(at(0x2ffn)).toBe(3);
    expect(at(0x300n)).toBe(5);
    expect(at(0x999n)).toBe(5);
  });

  it('says so when the snapshots at the cut were expired', () => {
    expect(at(0x150n, meta(chain.slice(2), 5))).toMatch(/expired/);
  });
});

describe('key ranges and canonical texts', () => {
  it('cuts an integer key into contiguous ranges, clamping keys outside the source’s', () => {
    const r = integerRanges('id', 1n, 100n, 4);
    expect(r.count).toBe(4);
    expect([r.rangeOf(['1']), r.rangeOf(['25']), r.rangeOf(['26']), r.rangeOf(['100'])]).toEqual([
      0, 0, 1, 3,
    ]);
    expect([r.rangeOf(['-5']), r.rangeOf(['9000'])]).toEqual([0, 3]);
    expect(r.describe(3)).toBe('id 76..100');
    expect(integerRanges('id', 5n, 6n, 64).count).toBe(2);
    const h = hashRanges(16);
    expect(h.rangeOf(['a', 'b'])).toBe(h.rangeOf(['a', 'b']));
  });

  it('gives one text to one value whatever system it was read from', () => {
    expect(canonicalText('1.5', { kind: 'decimal', precision: 12, scale: 2 })).toBe('1.50');
    expect(canonicalText(1.100000023841858, { kind: 'float32' })).toBe(
      canonicalText(1.1, { kind: 'float32' }),
    );
    expect(canonicalText(5, { kind: 'int64' })).toBe(canonicalText(5n, { kind: 'int64' }));
    expect(canonicalText('P1Y2DT3S', { kind: 'interval' })).toBe('12mon 2d 3000000us');
    expect(canonicalText('12:34:56.5+02:30', { kind: 'timetz' })).toBe('45296500000us +9000s');
    expect(canonicalText('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', { kind: 'uuid' })).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    expect(canonicalText('1.5', { kind: 'numeric' })).not.toBe(canonicalText('1.50', { kind: 'numeric' }));
  });
});

describe('compareTable', () => {
  const columns = [
    { name: 'id', type: { kind: 'int32' } as const },
    { name: 'v', type: { kind: 'text' } as const },
  ];
  const side = (name: string, rows: Row[]) => ({
    name,
    rows: async function* () {
      yield rows;
    },
  });
  const source = Array.from({ length: 100 }, (_, i) => ({ id: i + 1, v: `v${i + 1}` }));

  it('agrees on the same rows in another order', async () => {
    const r = await compareTable(
      columns,
      ['id'],
      integerRanges('id', 1n, 100n, 8),
      [side('source', source), side('sink', [...source].reverse())],
      10,
    );
    expect(r.agree).toBe(true);
    expect(r.checksums.source).toBe(r.checksums.sink);
  });

  it('names missing, extra, changed and doubled keys, in key order, narrowed to their ranges', async () => {
    const sink = source.filter((x) => x.id !== 40).map((x) => (x.id === 7 ? { ...x, v: 'other' } : x));
    sink.push({ id: 500, v: 'x' }, { id: 90, v: 'v90' });
    const r = await compareTable(
      columns,
      ['id'],
      integerRanges('id', 1n, 100n, 10),
      [side('source', source), side('sink', sink)],
      10,
    );
    expect(r.agree).toBe(false);
    expect(r.differences).toEqual([
      { key: 'id=7', side: 'sink', what: 'v = "other" (source: "v7")' },
      { key: 'id=40', side: 'sink', what: 'missing (the source has it)' },
      { key: 'id=90', side: 'sink', what: 'held 2 times' },
      { key: 'id=500', side: 'sink', what: 'extra (not in the source)' },
    ]);
    expect(r.differingRanges.map((x) => x.range)).toEqual([
      'id 1..10',
      'id 31..40',
      'id 81..90',
      'id 91..100',
    ]);
  });
});
