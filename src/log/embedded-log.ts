import type { ChangeEvent } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import type { Lsn } from '../core/lsn';
import { type TableSchema, tableKey } from '../core/table-schema';
import { valueBytes } from '../core/value-bytes';
import { ChannelBuffer, heldIn } from '../sink/channel-buffer';
import type { ChangeLogWriter } from './change-log';

interface Waiter {
  readonly lsn: Lsn;
  /** Append number: a commit releases only appends made before it took the buffers. */
  readonly n: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/**
 * The change log of the embedded mode: an in-process queue with one channel per table. There
 * is no durable log in between, so the replication slot itself is the replay log: an append
 * resolves only once the sinks have committed a cut covering it, and the source acknowledges
 * the slot only after its appends resolve. A crash therefore replays from the slot, and the
 * sinks drop the replays by their tokens.
 */
export class EmbeddedChangeLog implements ChangeLogWriter {
  readonly resolvesOnCommit = true;
  readonly buffers = new Map<string, ChannelBuffer>();
  private readonly schemas = new Map<string, Map<number, TableSchema>>();
  private waiters: Waiter[] = [];
  private failure: Error | null = null;
  /** Every transaction with commit LSN ≤ this has been appended whole. */
  completeLsn: Lsn = 0n;
  /** Number of appends made so far. */
  appends = 0;
  /** Commit LSN of the last change appended. */
  private lastLsn: Lsn = 0n;
  private roomWaiters: Array<() => void> = [];
  /** Told when an append finds the buffers full: the sinks should commit or write a part now. */
  onFull: (() => void) | null = null;
  /** Transactions up to this commit LSN cannot be written in parts: they are let in whole. */
  holdWholeUpTo: Lsn = -1n;

  /** The buffers' bound (sinks.batchMaxRows, sinks.batchMaxBytes); unbounded when not given. */
  constructor(
    private readonly bound: { rows: number; bytes: number } = { rows: Infinity, bytes: Infinity },
  ) {}

  /** True when the buffers hold more than their bound. */
  full(): boolean {
    const held = heldIn(this.buffers.values());
    return held.rows > this.bound.rows || held.bytes > this.bound.bytes;
  }

  room(): Promise<void> {
    if (!this.mustWait()) return Promise.resolve();
    const p = new Promise<void>((r) => this.roomWaiters.push(r));
    this.onFull?.();
    return p;
  }

  /** Lets the appends waiting for room go on, once there is room (or what they append is held whole). */
  roomMade(): void {
    if (this.roomWaiters.length === 0 || this.mustWait()) return;
    for (const r of this.roomWaiters.splice(0)) r();
  }

  private mustWait(): boolean {
    return this.failure === null && this.lastLsn > this.holdWholeUpTo && this.full();
  }

  async ensureTables(tables: readonly TableSchema[]): Promise<void> {
    for (const t of tables)
      if (!this.buffers.has(tableKey(t))) this.buffers.set(tableKey(t), new ChannelBuffer(tableKey(t)));
  }

  async publishSchema(schema: TableSchema): Promise<void> {
    let v = this.schemas.get(tableKey(schema));
    if (!v) this.schemas.set(tableKey(schema), (v = new Map()));
    v.set(schema.version, schema);
  }

  schemaOf(ev: ChangeEvent): TableSchema {
    const s = this.schemas.get(tableKey(ev.table))?.get(ev.schemaVersion);
    if (!s)
      throw new TidemarkError('internal', `no schema version ${ev.schemaVersion} for ${tableKey(ev.table)}`);
    return s;
  }

  /** The newest published schema of every table. */
  latestSchemas(): TableSchema[] {
    return [...this.schemas.values()].map((v) => v.get(Math.max(...v.keys()))!);
  }

  append(events: readonly ChangeEvent[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (events.length === 0) return Promise.resolve();
    let maxLsn = 0n;
    const n = ++this.appends;
    for (const ev of events) {
      const key = tableKey(ev.table);
      let b = this.buffers.get(key);
      if (!b) this.buffers.set(key, (b = new ChannelBuffer(key)));
      b.push({ event: ev, offset: -1, bytes: approxBytes(ev) });
      if (ev.position.lsn > maxLsn) maxLsn = ev.position.lsn;
    }
    if (maxLsn > this.lastLsn) this.lastLsn = maxLsn;
    // Snapshot rows are single-row states at one position (consistent point - 1), not parts of
    // a transaction: any prefix of them is committable, so a long snapshot commits as it goes.
    if (events[0]!.snapshot && maxLsn > this.completeLsn) this.completeLsn = maxLsn;
    return new Promise((resolve, reject) => this.waiters.push({ lsn: maxLsn, n, resolve, reject }));
  }

  endTransaction(commitLsn: Lsn): void {
    if (commitLsn > this.completeLsn) this.completeLsn = commitLsn;
  }

  async publishWatermark(_lsn: Lsn): Promise<void> {
    // Appends resolve only after a commit, so the source never knows more than the sinks do.
  }

  /** The sinks committed everything ≤ lsn appended by append number `upTo`: release those appends. */
  committed(lsn: Lsn, upTo: number): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) w.lsn <= lsn && w.n <= upTo ? w.resolve() : still.push(w);
    this.waiters = still;
  }

  /** The sinks cannot go on: fail every pending and future append, so the source stops too. */
  fail(e: Error): void {
    this.failure = e;
    for (const w of this.waiters) w.reject(e);
    this.waiters = [];
    this.roomMade(); // the next append then fails with e
  }

  async close(): Promise<void> {}
}

/** Memory an event holds, roughly: its values' sizes plus per-field overhead (for the byte bound). */
function approxBytes(ev: ChangeEvent): number {
  let n = 128;
  for (const row of [ev.before, ev.after]) if (row) for (const k in row) n += 16 + valueBytes(row[k]!);
  return n;
}
