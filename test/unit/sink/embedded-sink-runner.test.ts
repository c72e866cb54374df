import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTidemarkError } from '../../../src/core/errors';
import type { Lsn } from '../../../src/core/lsn';
import { EmbeddedChangeLog } from '../../../src/log/embedded-log';
import { silentLogger } from '../../../src/observe/logger';
import { FileOffsetStore } from '../../../src/offsets/file-offset-store';
import type { ChannelBuffer } from '../../../src/sink/channel-buffer';
import type { CommitCoordinator } from '../../../src/sink/commit-coordinator';
import { EmbeddedSinkRunner, HOLD_WHOLE_KEY } from '../../../src/sink/embedded-sink-runner';
import { PartedRoundVoid } from '../../../src/sink/parted-rounds';
import { insertEvent } from '../../support/change-events';

const ev = (lsn: bigint, seq: number) => insertEvent(lsn, seq);

/** The coordinator's surface the runner uses, scripted. */
function fakeCoordinator(o: {
  partedAt?: Lsn | null;
  stagePart?: (lsn: Lsn, buffers: readonly ChannelBuffer[]) => Promise<{ staged: number }>;
}) {
  const calls: string[] = [];
  const c = {
    partedAt: o.partedAt ?? null,
    prepare: async () => {},
    loadTokens: async () => new Map(),
    markDroppedIfDue: async () => {},
    abortParted: async () => {},
    noteHeldWhole: () => calls.push('held whole'),
    commitCut: async (cut: Lsn) => {
      calls.push(`commit ${cut}`);
      return false;
    },
    stagePart: async (lsn: Lsn, buffers: readonly ChannelBuffer[]) => {
      calls.push(`stage ${lsn}`);
      return o.stagePart ? o.stagePart(lsn, buffers) : { staged: 0 };
    },
  };
  return { c: c as unknown as CommitCoordinator, calls };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('EmbeddedSinkRunner', () => {
  const storeAt = () => new FileOffsetStore(join(mkdtempSync(join(tmpdir(), 'tm-embrun-')), 'o.json'));

  it('does not release appends a round in parts still holds, though their transactions are whole', async () => {
    const log = new EmbeddedChangeLog({ rows: 100, bytes: 1 << 30 });
    await log.publishSchema({ schema: 'public', table: 't', version: 1, primaryKey: ['id'], columns: [] });
    const { c, calls } = fakeCoordinator({ partedAt: 200n });
    const runner = new EmbeddedSinkRunner(log, c, 10_000, silentLogger, storeAt());
    let released = false;
    void log.append([ev(100n, 0)]).then(() => (released = true));
    log.endTransaction(100n);
    await runner.start();
    await settle();
    expect(calls).toContain('commit 100');
    expect(released).toBe(false); // the round at 200 holds it: the slot must not pass it
    await runner.stop();
  });

  it('remembers a round that cannot be written in parts, and the restart holds it whole', async () => {
    const store = storeAt();
    const log = new EmbeddedChangeLog({ rows: 2, bytes: 1 << 30 });
    const { c } = fakeCoordinator({
      stagePart: async (lsn) => {
        throw new PartedRoundVoid('a round in parts cannot hold a schema change of public.t', lsn, true);
      },
    });
    const runner = new EmbeddedSinkRunner(log, c, 10_000, silentLogger, store);
    await runner.start();
    void log.append([ev(300n, 0), ev(300n, 1), ev(300n, 2)]).catch(() => {});
    await log.room(); // full: the runner tries a part, the round is voided, the log fails
    const err: unknown = await runner.done.catch((e: unknown) => e);
    expect(isTidemarkError(err, 'commit_failed')).toBe(true);
    expect((err as Error).message).toMatch(/given up/);
    expect(await store.get(HOLD_WHOLE_KEY)).toBe('0/12C');

    // the restart replays the same transaction: no part is tried, the source is let on
    const again = new EmbeddedChangeLog({ rows: 2, bytes: 1 << 30 });
    const second = fakeCoordinator({});
    const next = new EmbeddedSinkRunner(again, second.c, 10_000, silentLogger, store);
    await next.start();
    void again.append([ev(300n, 0), ev(300n, 1), ev(300n, 2)]);
    await again.room();
    await settle();
    expect(second.calls.filter((x) => x.startsWith('stage'))).toEqual([]);
    expect(second.calls).toContain('held whole'); // counted in tidemark_sink_held_whole_total
    await next.stop();
  });
});
