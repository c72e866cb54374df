import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../observe/logger';
import type { Lease, OffsetStore } from './offset-store';

/**
 * How long a dead holder keeps a role: a standby takes over at most this long after it died
 * (a crashed committer blocks commits that long, as its dead consumer-group member does).
 */
export const ROLE_LEASE_TTL_MS = 10_000;

/**
 * A one-process-at-a-time lease for a role of a pipeline (`committer`: the sink that commits;
 * `source`: the slot's reader), with a fencing token in the offset store. A process waits for
 * it before it starts the role; it renews it at a third of the TTL, and when a renewal fails
 * (another process took over after a pause) it reports the loss. A committer that lost it is
 * refused by the sinks' token conditions and the store's fence; a source stops.
 */
export class RoleLease {
  private lease: Lease | null = null;
  private lost: Lease | null = null;
  private timer: NodeJS.Timeout | null = null;
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly store: OffsetStore,
    private readonly name: 'committer' | 'source',
    private readonly logger: Logger,
    private readonly ttlMs = ROLE_LEASE_TTL_MS,
    /**
     * Take the lease again when a renewal finds it gone and no other process holds it (the
     * store lost its data). Right for the source, whose slot admits one reader anyway; not for
     * the committer, whose writes are fenced by the lease's token.
     */
    private readonly retake = false,
  ) {}

  /**
   * The lease to fence writes with: the last one held, even after it was lost, so that a write
   * of a process that lost it is refused rather than made unfenced.
   */
  current(): Lease | undefined {
    return this.lease ?? this.lost ?? undefined;
  }

  /** Resolves once held (polling while another process holds it), or null when `stopped()`. */
  async acquire(stopped: () => boolean, onLost: (e: Error) => void): Promise<Lease | null> {
    let waiting = false;
    while (!stopped()) {
      const got = await this.store.acquireLease(this.name, this.owner, this.ttlMs);
      if (got) {
        this.lease = got;
        this.logger.info({ lease: this.name, fence: got.fence }, `${this.name} lease acquired`);
        this.timer = setInterval(() => void this.renew(onLost), Math.max(100, Math.floor(this.ttlMs / 3)));
        return got;
      }
      if (!waiting)
        this.logger.info({ lease: this.name }, `another process holds the ${this.name} lease: standing by`);
      waiting = true;
      await new Promise((r) => setTimeout(r, Math.min(1000, this.ttlMs / 3)));
    }
    return null;
  }

  private async renew(onLost: (e: Error) => void): Promise<void> {
    const l = this.lease;
    if (!l) return;
    const ok = await this.store.renewLease(l, this.ttlMs).catch(() => false);
    if (ok || this.lease !== l) return;
    if (this.retake) {
      const again = await this.store.acquireLease(this.name, this.owner, this.ttlMs).catch(() => null);
      if (again && this.lease === l) {
        this.lease = again;
        this.logger.warn(
          { lease: this.name, fence: again.fence },
          `${this.name} lease was gone from the store (its data lost?): no other process held it, taken again`,
        );
        return;
      }
    }
    this.lease = null;
    this.lost = l;
    if (this.timer) clearInterval(this.timer);
    onLost(new Error(`${this.name} lease lost (fence ${l.fence}): another process holds the role now`));
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const l = this.lease;
    this.lease = null;
    if (l) await this.store.releaseLease(l).catch(() => {});
  }
}
