import { formatLsn, type Lsn } from '../core/lsn';
import type { EmbeddedChangeLog } from '../log/embedded-log';
import type { Logger } from '../observe/logger';
import type { CommitCoordinator } from './commit-coordinator';

/**
 * The sink side of the embedded mode: every interval, commit the newest cut W such that every
 * transaction ≤ W was appended whole, then release the source's appends ≤ W (which lets the
 * source acknowledge the slot up to W).
 */
export class EmbeddedSinkRunner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lastCut: Lsn = 0n;
  private fatal: ((e: unknown) => void) | null = null;
  readonly done: Promise<void>;

  constructor(
    private readonly log: EmbeddedChangeLog,
    private readonly coordinator: CommitCoordinator,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.done = new Promise((_r, reject) => (this.fatal = reject));
    this.done.catch(() => {});
  }

  async start(): Promise<void> {
    await this.coordinator.prepare(this.log.latestSchemas());
    await this.coordinator.loadTokens();
    this.timer = setInterval(() => {
      if (!this.running)
        this.running = this.commitOnce()
          .catch((e: unknown) => this.onFatal(e))
          .finally(() => (this.running = null));
    }, this.intervalMs);
  }

  /** Commits what is complete, then stops the timer. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.commitOnce().catch((e: unknown) => this.onFatal(e));
  }

  private onFatal(e: unknown): void {
    this.log.fail(e instanceof Error ? e : new Error(String(e)));
    this.fatal?.(e);
  }

  private async commitOnce(): Promise<void> {
    const w = this.log.completeLsn;
    if (w === 0n) return;
    const upTo = this.log.appends;
    // The same W may come again: snapshot rows keep arriving at one position (see the log).
    const committed = await this.coordinator.commitCut(w, [...this.log.buffers.values()]);
    if (w > this.lastCut) this.lastCut = w;
    this.log.committed(w, upTo);
    await this.coordinator.markDroppedIfDue(this.lastCut);
    if (committed) this.logger.debug({ cut: formatLsn(w) }, 'embedded cut committed');
  }

  get lastCutLsn(): Lsn {
    return this.lastCut;
  }

  buffered(): number {
    let n = 0;
    for (const b of this.log.buffers.values()) n += b.size;
    return n;
  }
}
