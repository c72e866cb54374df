import { silentLogger } from '../../../src/observe/logger';
import { RebuildRequests, readRebuilds, requestRebuildCopy } from '../../../src/source/rebuild-requests';
import { MemoryStateStore } from '../../../src/source/state-store';

describe('rebuild requests (committer → source)', () => {
  it('copies each rebuilt table once per rebuild version, across restarts of the source', async () => {
    const state = new MemoryStateStore();
    const copied: string[] = [];
    const source = () =>
      new RebuildRequests({
        slot: 's',
        state,
        logger: silentLogger,
        request: async (t) => void copied.push(t),
      });

    await requestRebuildCopy(state, 's', 'public.a', 3);
    await requestRebuildCopy(state, 's', 'public.a', 3); // a committer that crashed and asks again
    expect(await source().check()).toEqual(['public.a']);
    expect(await source().check()).toEqual([]); // answered, also for a restarted source

    // a later rebuild of the same table, and another table
    await requestRebuildCopy(state, 's', 'public.a', 5);
    await requestRebuildCopy(state, 's', 'public.b', 2);
    expect(await source().check()).toEqual(['public.a', 'public.b']);
    expect(copied).toEqual(['public.a', 'public.a', 'public.b']);
    await requestRebuildCopy(state, 's', 'public.c', 1);
    expect((await readRebuilds(state, 's')).map((r) => [r.table, r.version, r.copyAsked])).toEqual([
      ['public.a', 5, true],
      ['public.b', 2, true],
      ['public.c', 1, false],
    ]);
  });

  it('asks again when the copy request failed', async () => {
    const state = new MemoryStateStore();
    await requestRebuildCopy(state, 's', 'public.a', 1);
    let fail = true;
    const r = new RebuildRequests({
      slot: 's',
      state,
      logger: silentLogger,
      request: async () => {
        if (fail) throw new Error('source down');
      },
    });
    await expect(r.check()).rejects.toThrow('source down');
    fail = false;
    expect(await r.check()).toEqual(['public.a']);
  });
});
