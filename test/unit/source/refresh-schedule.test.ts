import { parseConfig } from '../../../src/config/load';
import { silentLogger } from '../../../src/observe/logger';
import { RefreshSchedule } from '../../../src/source/refresh-schedule';
import { MemoryStateStore } from '../../../src/source/state-store';
import { refreshStateKey } from '../../../src/source/table-refresh';

const config = parseConfig(`
pipeline: shop
source: { url: postgres://u@h/db, tables: ["public.*"] }
log: { kind: embedded }
offsets: { kind: file, path: /tmp/o.json }
tables:
  public.orders: { refreshEveryMs: 60000 }
  public.items: { refreshEveryMs: 1000 }
  public.gone: { refreshEveryMs: 1000 }
  public.carts: { mode: mirror }
`);

describe('RefreshSchedule (full refresh on a schedule)', () => {
  it('asks for each mirrored table once its interval passed since its last copy, never twice at once', async () => {
    const state = new MemoryStateStore();
    const asked: string[] = [];
    const s = new RefreshSchedule({
      config,
      state,
      logger: silentLogger,
      mirrored: (t) => t !== 'public.gone',
      request: async (t) => {
        asked.push(t);
      },
    });
    const t0 = Date.now();
    // nothing is due right after the start
    expect(await s.check(t0)).toEqual([]);
    // the 1 s table is due after a second; a dropped table never is
    expect(await s.check(t0 + 1500)).toEqual(['public.items']);
    // its copy still runs: not asked again
    await state.set(
      refreshStateKey(config.source.slot),
      JSON.stringify([{ id: 'x', table: 'public.items', after: null, rows: 0, requestedAt: '' }]),
    );
    expect(await s.check(t0 + 3000)).toEqual([]);
    // finished: asked again a second after the last ask; the 60 s table a minute after the start
    await state.set(refreshStateKey(config.source.slot), '[]');
    expect(await s.check(t0 + 3000)).toEqual(['public.items']);
    expect(await s.check(t0 + 61_000)).toEqual(['public.orders', 'public.items']);
    expect(asked).toEqual(['public.items', 'public.items', 'public.orders', 'public.items']);
  });

  it('refuses an interval under a second', () => {
    expect(() =>
      parseConfig(`
pipeline: shop
source: { url: postgres://u@h/db, tables: ["public.*"] }
log: { kind: embedded }
offsets: { kind: file, path: /tmp/o.json }
tables: { public.orders: { refreshEveryMs: 10 } }
`),
    ).toThrow(/tables\.public\.orders\.refreshEveryMs.*at least 1000/);
  });
});
