import { AckTracker } from '../../../src/source/ack-tracker';

describe('AckTracker', () => {
  it('confirms only up to the newest transaction durable together with every earlier one', () => {
    const t = new AckTracker(10n);
    const a = t.begin(100n);
    t.appendStarted(a);
    const b = t.begin(200n);
    t.appendStarted(b);
    t.commit(a, 110n);
    t.commit(b, 210n);
    t.appendResolved(b); // b is durable, but a is not yet: nothing moves
    expect(t.flushLsn).toBe(10n);
    t.appendResolved(a);
    expect(t.flushLsn).toBe(210n);
    expect(t.watermarkLsn).toBe(200n);
  });

  it('does not confirm a transaction whose Commit has not arrived, even if its chunks are durable', () => {
    const t = new AckTracker(0n);
    const big = t.begin(500n);
    t.appendStarted(big);
    t.appendResolved(big);
    expect(t.flushLsn).toBe(0n);
    t.idleAdvance(900n); // not idle: a transaction is open
    expect(t.flushLsn).toBe(0n);
    t.commit(big, 520n);
    expect(t.flushLsn).toBe(520n);
    t.idleAdvance(900n);
    expect(t.flushLsn).toBe(900n);
  });

  it('keeps a big transaction unconfirmed while any of its chunks is pending, in any resolve order', () => {
    const t = new AckTracker(0n);
    const big = t.begin(1000n);
    for (let i = 0; i < 3; i++) t.appendStarted(big);
    const next = t.begin(2000n);
    t.appendStarted(next);
    t.commit(big, 1010n);
    t.commit(next, 2010n);
    t.appendResolved(next);
    t.appendResolved(big);
    t.appendResolved(big);
    expect([t.flushLsn, t.watermarkLsn]).toEqual([0n, 0n]);
    t.appendResolved(big);
    expect([t.flushLsn, t.watermarkLsn]).toEqual([2010n, 2000n]);
    expect(t.idle).toBe(true);
  });

  it('never moves backwards', () => {
    const t = new AckTracker(500n);
    t.idleAdvance(400n);
    expect(t.flushLsn).toBe(500n);
    const a = t.begin(300n); // a replayed transaction below the start: harmless
    t.commit(a, 310n);
    expect(t.flushLsn).toBe(500n);
  });
});
