import type { ChangeEvent } from '../../../src/core/change-event';
import { keepKeyChangesWhole, unfillableKeyChange } from '../../../src/sink/parted-rounds';
import type { ChannelTake } from '../../../src/sink/round-builder';
import { insertEvent } from '../../support/change-events';

const L = 0x20n;
const ins = (seq: number, id: number) => insertEvent(L, seq, { id });
/** The two halves of a key change old -> next at (L, seq) and (L, seq + 1). */
const keyChange = (seq: number, old: number, next: number): [ChangeEvent, ChangeEvent] => [
  { ...ins(seq, 0), op: 'd', before: { id: old }, after: null, newKey: { id: next } },
  { ...ins(seq + 1, next), before: { id: old }, unchanged: ['note'] },
];
const take = (channel: string, ...events: ChangeEvent[]): ChannelTake => ({
  channel,
  changes: events.map((event, offset) => ({ event, offset, bytes: 1 })),
});
const seqs = (takes: readonly ChannelTake[]) =>
  Object.fromEntries(takes.map((t) => [t.channel, t.changes.map((c) => c.event.position.seq)]));

describe('keepKeyChangesWhole: a part holds both halves of a key change or neither', () => {
  it('keeps takes whole when every half has its partner, on the same channel or another', () => {
    const [d1, c1] = keyChange(1, 1, 9);
    const [d2, c2] = keyChange(3, 2, 8);
    const takes = [take('a', ins(0, 5), d1, d2), take('b', c1, c2, ins(5, 6))];
    const { part, rest } = keepKeyChangesWhole(takes);
    expect(seqs(part)).toEqual({ a: [0, 1, 3], b: [2, 4, 5] });
    expect(rest).toEqual([]);
  });

  it("ends a channel's take before a delete whose insert its channel has not read yet", () => {
    const [d1] = keyChange(1, 1, 9);
    const { part, rest } = keepKeyChangesWhole([take('a', ins(0, 5), d1, ins(3, 7)), take('b', ins(4, 8))]);
    expect(seqs(part)).toEqual({ a: [0], b: [4] });
    expect(seqs(rest)).toEqual({ a: [1, 3] });
  });

  it('ends a take before an insert whose delete is not read, and the same channel split between its halves', () => {
    const [, c1] = keyChange(1, 1, 9);
    // c1's delete is on channel a, not read yet; d2's insert is after d2 on channel b, not read yet
    const [d2] = keyChange(6, 3, 4);
    const { part, rest } = keepKeyChangesWhole([take('a', ins(0, 5)), take('b', ins(3, 8), c1, d2)]);
    expect(seqs(part)).toEqual({ a: [0], b: [3] });
    expect(seqs(rest)).toEqual({ b: [2, 6] });
  });

  it('trims in chains: a half held back takes its partner, and what follows it, out of the part', () => {
    // a: d1 (partner c1 on b); b: c1 then d2 (partner c2 on a, after d1); a's d1 waits on c3 (not read)
    const [d3] = keyChange(1, 7, 70);
    const [d1, c1] = keyChange(10, 1, 9);
    const [d2, c2] = keyChange(20, 2, 8);
    const { part, rest } = keepKeyChangesWhole([take('a', ins(0, 5), d3, d1, c2), take('b', c1, d2)]);
    // d3's insert is missing: a stops at it, which takes d1 and c2 out, and so c1 and d2 on b
    expect(seqs(part)).toEqual({ a: [0], b: [] });
    expect(seqs(rest)).toEqual({ a: [1, 10, 21], b: [11, 20] });
  });
});

describe('unfillableKeyChange', () => {
  it('names an insert to be filled from the old key whose delete the takes do not hold', () => {
    const [d1, c1] = keyChange(1, 1, 9);
    expect(unfillableKeyChange([take('a', d1), take('b', c1)])).toBeNull();
    expect(unfillableKeyChange([take('b', c1)])).toMatch(
      /a key change of public\.t with unchanged \(TOAST\) columns whose delete is not in the last part/,
    );
    // an insert with every value needs no fill: it may go apart from its delete
    expect(unfillableKeyChange([take('b', { ...c1, unchanged: [] })])).toBeNull();
  });
});
