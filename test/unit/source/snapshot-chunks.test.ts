import { formatRanges, parseRanges, SnapshotChunks } from '../../../src/source/snapshot-chunks';
import { MemoryStateStore } from '../../../src/source/state-store';

describe('snapshot chunk progress', () => {
  test('done chunks are written as ranges and read back', () => {
    expect(formatRanges(new Set([5, 0, 1, 2, 8, 7]))).toBe('0-2,5,7-8');
    expect(formatRanges(new Set())).toBe('');
    expect([...parseRanges('0-2,5,7-8', 100)].sort((a, b) => a - b)).toEqual([0, 1, 2, 5, 7, 8]);
    // beyond the plan's chunks, or unreadable: dropped (copied again, never skipped wrongly)
    expect([...parseRanges('3-6,x,9', 5)].sort((a, b) => a - b)).toEqual([3, 4]);
    expect(parseRanges('', 10).size).toBe(0);
  });

  test('a restart finds the plan and the durable chunks of the same consistent point and key', async () => {
    const state = new MemoryStateStore();
    const first = new SnapshotChunks(state, 'slot_a', 1000n);
    expect(await first.resume('public.big', ['id'])).toBeNull();
    await first.planned('public.big', ['id'], [['100'], ['200'], ['300']]);
    await Promise.all([first.chunkDone('public.big', 0), first.chunkDone('public.big', 2)]);

    const again = await new SnapshotChunks(state, 'slot_a', 1000n).resume('public.big', ['id']);
    expect(again?.plan.bounds).toEqual([['100'], ['200'], ['300']]);
    expect([...(again?.done ?? [])].sort()).toEqual([0, 2]);

    // another slot's consistent point, or a key that changed since: planned afresh
    expect(await new SnapshotChunks(state, 'slot_a', 2000n).resume('public.big', ['id'])).toBeNull();
    expect(await new SnapshotChunks(state, 'slot_a', 1000n).resume('public.big', ['id', 'k'])).toBeNull();
    expect(await new SnapshotChunks(state, 'slot_b', 1000n).resume('public.big', ['id'])).toBeNull();
  });

  test('a new plan starts with no chunk done, and a finished table leaves nothing behind', async () => {
    const state = new MemoryStateStore();
    const c = new SnapshotChunks(state, 's', 1000n);
    await c.planned('public.t', ['id'], [['5']]);
    await c.chunkDone('public.t', 1);
    await c.planned('public.t', ['id'], [['7']]); // planned again (a key change since): old progress gone
    expect([...((await c.resume('public.t', ['id']))?.done ?? [])]).toEqual([]);
    await c.forget('public.t');
    expect(await c.resume('public.t', ['id'])).toBeNull();
    expect([...state.values.values()].every((v) => v === '')).toBe(true);
  });
});
