import { ChannelBuffer, heldIn } from '../../../src/sink/channel-buffer';
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

describe('ChannelBuffer onTake', () => {
  it('tells of every take that moved changes out (reading may then go on), not of empty ones', () => {
    let told = 0;
    const takes: number[][] = [];
    const b = new ChannelBuffer('t/0', (rows, bytes) => {
      told++;
      takes.push([rows, bytes]);
    });
    b.push({ event: ev(100n, 0), offset: 0, bytes: 10 });
    b.push({ event: ev(200n, 0), offset: 1, bytes: 10 });
    expect(b.takeUpTo(50n)).toEqual([]);
    expect(told).toBe(0);
    expect(b.takeUpTo(100n).map((c) => c.offset)).toEqual([0]);
    expect(told).toBe(1);
    expect(b.bytes).toBe(10);
    // a round that failed puts its changes back: they count against the bound again
    b.restore(b.takeUpTo(200n));
    expect(told).toBe(2);
    expect(b.bytes).toBe(10);
    expect(b.size).toBe(1);
    expect(takes).toEqual([
      [1, 10],
      [1, 10],
    ]);
  });
});

describe('heldIn', () => {
  it('adds up the changes and bytes the buffers hold, not what was taken out', () => {
    const a = new ChannelBuffer('t/0');
    const b = new ChannelBuffer('t/1');
    a.push({ event: ev(10n, 0), offset: 0, bytes: 10 });
    a.push({ event: ev(20n, 0), offset: 1, bytes: 30 });
    b.push({ event: ev(15n, 0), offset: 0, bytes: 5 });
    expect(heldIn([a, b])).toEqual({ rows: 3, bytes: 45 });
    a.takeUpTo(10n);
    expect(heldIn([a, b])).toEqual({ rows: 2, bytes: 35 });
    expect(heldIn([])).toEqual({ rows: 0, bytes: 0 });
  });
});
