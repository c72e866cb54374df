import { TidemarkError } from '../core/errors';
import { formatLsn, type Lsn, minLsn, parseLsn } from '../core/lsn';
import type { EmbeddedChangeLog } from '../log/embedded-log';
import type { Logger } from '../observe/logger';
import type { OffsetStore } from '../offsets/offset-store';
import { heldIn } from './channel-buffer';
import type { CommitCoordinator } from './commit-coordinator';
import { PartedRoundVoid } from './parted-rounds';

/**
 * Where the embedded runner remembers a transaction that cannot be written in parts (a round in
 * parts of it was voided): the restart that replays it from the slot then holds it whole
 * instead of voiding it again, and again.
 */
export const HOLD_WHOLE_KEY = 'embedded.holdWholeUpTo';

/**
 * The sink side of the embedded mode: every interval, commit the newest cut W such that every
 * transaction ≤ W was appended whole, then release the source's appends ≤ W (which lets the
 * source acknowledge the slot up to W). When the buffers pass their bound inside a transaction
 * the source is still reading, what they hold is written to the sinks as a part of a round that
 * commits once the transaction is whole (CommitCoordinator.stagePart), and the source reads on.
 */
export class EmbeddedSinkRunner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** A run was asked for while one was under way: run again once it ends. */
  private again = false;
  private stopped = false;
  private lastCut: Lsn = 0n;
  private fatal: ((e: unknown) => void) | null = null;
  readonly done: Promise<void>;

  constructor(
    private readonly log: EmbeddedChangeLog,
    private readonly coordinator: CommitCoordinator,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly store: OffsetStore,
  ) {
    this.done = new Promise((_r, reject) => (this.fatal = reject));
    this.done.catch(() => {});
  }

  async start(): Promise<void> {
    await this.coordinator.prepare(this.log.latestSchemas());
    await this.coordinator.loadTokens();
    const held = await this.store.get(HOLD_WHOLE_KEY);
    if (held) {
      this.log.holdWholeUpTo = parseLsn(held);
      this.coordinator.noteHeldWhole();
      this.logger.info(
        { upTo: held },
        'transactions up to this LSN were given up in parts before: replayed now, each held whole in memory',
      );
    }
    this.log.onFull = () => this.kick();
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.kick(); // the source may have filled the buffers before the sinks were ready
  }

  /** Commits what is complete, gives up a round in parts still open, then stops the timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.log.onFull = null;
    await this.running;
    try {
      await this.commitOnce().catch((e: unknown) => this.onFatal(e));
    } finally {
      // Its transaction's end was not read: nothing of it is visible, and the slot replays it.
      await this.coordinator.abortParted();
    }
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.again = false;
    this.running = this.step()
      .catch((e: unknown) => this.onFatal(e))
      .finally(() => {
        this.running = null;
        if (this.again) this.kick();
      });
  }

  private async step(): Promise<void> {
    try {
      await this.commitOnce();
      if (this.log.full()) await this.stageIfFull();
    } catch (e) {
      if (!(e instanceof PartedRoundVoid)) throw e;
      // The parts' changes left memory and the slot is the only replay log: stop, so that a
      // restart reads the transaction again (held whole if it cannot be written in parts).
      if (e.holdWhole) await this.store.set(HOLD_WHOLE_KEY, formatLsn(e.lsn));
      throw new TidemarkError(
        e.holdWhole ? 'commit_failed' : 'transient',
        `a transaction written to the sinks in parts was given up (nothing of it is visible): ${e.message}`,
        {
          cause: e,
          fix: e.holdWhole
            ? 'restart tidemark: it replays the transaction from the slot and holds it whole in memory'
            : 'restart tidemark once the sink is reachable: it replays the transaction from the slot',
        },
      );
    } finally {
      this.log.roomMade();
    }
  }

  private onFatal(e: unknown): void {
    // A failed runner commits nothing more: its timer would only retry against a failed log.
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.log.fail(e instanceof Error ? e : new Error(String(e)));
    this.fatal?.(e);
  }

  private async commitOnce(): Promise<void> {
    const w = this.log.completeLsn;
    if (w === 0n) return;
    const upTo = this.log.appends;
    // The same W may come again: snapshot rows keep arriving at one position (see the log).
    const committed = await this.coordinator.commitCut(w, [...this.log.buffers.values()]);
    // A round in parts still open holds staged changes ≤ W that no sink shows yet: their appends
    // must not resolve (the source would acknowledge the slot past them).
    if (this.coordinator.partedAt !== null) return;
    if (w > this.lastCut) this.lastCut = w;
    this.log.committed(w, upTo);
    await this.coordinator.markDroppedIfDue(this.lastCut);
    if (committed) this.logger.debug({ cut: formatLsn(w) }, 'embedded cut committed');
  }

  /**
   * The buffers are past their bound and what is left after the commit belongs to the
   * transaction the source is still reading (L, the oldest held): it is written to the sinks as
   * a part of a round that commits once L is whole, unless L cannot be (then it is held whole).
   */
  private async stageIfFull(): Promise<void> {
    const buffers = [...this.log.buffers.values()];
    const firsts = buffers.map((b) => b.firstLsn()).filter((l) => l >= 0n);
    if (firsts.length === 0) return;
    const L = firsts.reduce(minLsn);
    if (L <= this.log.completeLsn || L <= this.log.holdWholeUpTo) return;
    await this.coordinator.stagePart(L, buffers);
  }

  get lastCutLsn(): Lsn {
    return this.lastCut;
  }

  buffered(): number {
    return heldIn(this.log.buffers.values()).rows;
  }
}
