import type { Lsn } from '../core/lsn';

interface TxnRecord {
  readonly commitLsn: Lsn;
  endLsn: Lsn | null;
  pending: number;
}

/**
 * Tracks which transactions are durable in the log, to decide how far the slot may be
 * confirmed. A transaction is durable once its Commit was seen and every append holding its
 * events resolved; the slot's flush LSN is the end LSN of the newest transaction that is
 * durable together with every earlier one (the "capped checkpoint"). Nothing here touches I/O.
 */
export class AckTracker {
  /** Transactions from `head` on are not durable yet (a head index: shift() is O(n) per call). */
  private txns: Array<TxnRecord | null> = [];
  private head = 0;
  private durableEnd: Lsn;
  private durableCommit: Lsn = 0n;

  constructor(startLsn: Lsn) {
    this.durableEnd = startLsn;
  }

  begin(commitLsn: Lsn): TxnRecord {
    const t: TxnRecord = { commitLsn, endLsn: null, pending: 0 };
    this.txns.push(t);
    return t;
  }

  appendStarted(t: TxnRecord): void {
    t.pending++;
  }

  appendResolved(t: TxnRecord): void {
    t.pending--;
    this.advance();
  }

  commit(t: TxnRecord, endLsn: Lsn): void {
    t.endLsn = endLsn;
    this.advance();
  }

  /** The slot may be confirmed up to here: all transactions ending at or before it are durable. */
  get flushLsn(): Lsn {
    return this.durableEnd;
  }

  /** Commit LSN of the newest durable transaction (for watermarks). */
  get watermarkLsn(): Lsn {
    return this.durableCommit;
  }

  /** No transaction is open or waiting for the log. */
  get idle(): boolean {
    return this.head === this.txns.length;
  }

  /**
   * When idle, the server's WAL end (from a keepalive) may be confirmed: every transaction that
   * committed before it was already sent to us, so confirming it skips nothing.
   */
  idleAdvance(walEnd: Lsn): void {
    if (this.idle && walEnd > this.durableEnd) this.durableEnd = walEnd;
  }

  private advance(): void {
    while (this.head < this.txns.length) {
      const t = this.txns[this.head]!;
      if (t.endLsn === null || t.pending > 0) break;
      this.txns[this.head++] = null; // not kept alive by the array
      if (t.endLsn > this.durableEnd) this.durableEnd = t.endLsn;
      if (t.commitLsn > this.durableCommit) this.durableCommit = t.commitLsn;
    }
    if (this.head === this.txns.length) {
      this.txns = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.txns.length) {
      this.txns = this.txns.slice(this.head);
      this.head = 0;
    }
  }
}

export type { TxnRecord };
