import { ChannelBuffer } from '../../../src/sink/channel-buffer';
import { insertEvent } from '../../support/change-events';

const ev = (lsn: bigint, seq: number, snapshot = false) => insertEvent(lsn, seq, { id: seq }, snapshot);

describe('ChannelBuffer.completeBelow', () => {
  it('is just below the last transaction read (it may go on), or at snapshot rows (copied piecemeal)', () => {
    const b = new ChannelBuffer('t/0');
    expect(b.completeBelow()).toBe(-2n);
    b.push({ event: ev(99n, 0, true), offset: 0, bytes: 1 });
    b.push({ event: ev(99n, 1, true), offset: 1, bytes: 1 });
    expect(b.completeBelow()).toBe(99n);
    b.push({ event: ev(150n, 0), offset: 2, bytes: 1 });
    expect(b.completeBelow()).toBe(149n);
    // a replay read below what was read changes nothing
    b.sawLsn(120n, false);
    expect(b.completeBelow()).toBe(149n);
    expect(b.takeUpTo(149n).map((c) => c.offset)).toEqual([0, 1]);
  });
});
