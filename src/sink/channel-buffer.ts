import type { ChangeEvent } from '../core/change-event';
import type { Lsn } from '../core/lsn';

export interface BufferedChange {
  readonly event: ChangeEvent;
  /** Log offset of the message (Kafka offset; -1 in embedded mode). */
  readonly offset: number;
  /** Approximate memory held, for the byte bound. */
  readonly bytes: number;
}

/**
 * The changes read from one channel and not yet committed, in log order (which is position
 * order within a channel). `takeUpTo(W)` removes and returns the prefix with commit LSN ≤ W:
 * a channel's log order is commit order, so that prefix is exactly the channel's part of cut W.
 */
export class ChannelBuffer {
  private items: BufferedChange[] = [];
  private head = 0;
  private heldBytes = 0;
  /** Highest log offset read on this channel (-1: none). */
  readOffset = -1;
  /**
   * Set once the channel is positioned at its token's next offset: from then on every message
   * must follow readOffset without a hole, since tidemark's producer (idempotent, not
   * transactional) leaves none. A hole means Kafka deleted changes (retention) before they were
   * read, and its consumer, finding the offset gone, went on from the oldest one left.
   */
  contiguous = false;
  /**
   * Commit LSN of the last change read on this channel (-1: none). A channel is in commit
   * order, so every change committed before it has been read here: the channel is complete
   * for any cut below it, whatever the watermarks say (see completeBelow).
   */
  lastLsn: Lsn = -1n;
  /** Whether the last change read was a snapshot row (see completeBelow). */
  private lastSnapshot = false;

  /** `onTake`: told whenever a commit or a part takes changes out (they are then in flight). */
  constructor(
    readonly channel: string,
    private readonly onTake?: (rows: number, bytes: number) => void,
  ) {}

  push(c: BufferedChange): void {
    this.items.push(c);
    this.heldBytes += c.bytes;
    if (c.offset > this.readOffset) this.readOffset = c.offset;
    this.sawLsn(c.event.position.lsn, c.event.snapshot);
  }

  /** A change read but not buffered (a replay) still tells how far the channel has been read. */
  sawLsn(lsn: Lsn, snapshot: boolean): void {
    if (lsn >= this.lastLsn) {
      this.lastLsn = lsn;
      this.lastSnapshot = snapshot;
    }
  }

  /**
   * The highest cut this channel holds every change of, short of a watermark (-1: none). Snapshot
   * rows all sit at one position and are committed piece by piece anyway (a table being copied
   * is partial until its copy ends), so a channel in the middle of them is complete up to theirs.
   */
  completeBelow(): Lsn {
    return this.lastSnapshot ? this.lastLsn : this.lastLsn - 1n;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** The commit LSN of the oldest change held (-1: none). */
  firstLsn(): Lsn {
    return this.items[this.head]?.event.position.lsn ?? -1n;
  }

  /** What `takeUpTo(lsn)` would take, without taking it. */
  sizeUpTo(lsn: Lsn): { rows: number; bytes: number } {
    let bytes = 0;
    let end = this.head;
    for (; end < this.items.length && this.items[end]!.event.position.lsn <= lsn; end++)
      bytes += this.items[end]!.bytes;
    return { rows: end - this.head, bytes };
  }

  takeUpTo(lsn: Lsn): BufferedChange[] {
    let end = this.head;
    while (end < this.items.length && this.items[end]!.event.position.lsn <= lsn) end++;
    const taken = this.items.slice(this.head, end);
    this.head = end;
    let bytes = 0;
    for (const t of taken) bytes += t.bytes;
    this.heldBytes -= bytes;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (taken.length > 0) this.onTake?.(taken.length, bytes);
    return taken;
  }

  /** Puts a taken prefix back (a round that did not commit), ahead of what was read since. */
  restore(prefix: BufferedChange[]): void {
    if (prefix.length === 0) return;
    this.items = [...prefix, ...this.items.slice(this.head)];
    this.head = 0;
    for (const t of prefix) this.heldBytes += t.bytes;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.heldBytes = 0;
  }
}

/** What buffers hold together: changes and their approximate bytes (a bound is on both). */
export function heldIn(buffers: Iterable<ChannelBuffer>): { rows: number; bytes: number } {
  let rows = 0;
  let bytes = 0;
  for (const b of buffers) {
    rows += b.size;
    bytes += b.bytes;
  }
  return { rows, bytes };
}
