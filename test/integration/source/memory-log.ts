import type { ChangeEvent } from '../../../src/core/change-event';
import type { Lsn } from '../../../src/core/lsn';
import type { TableSchema } from '../../../src/core/table-schema';
import type { ChangeLogWriter } from '../../../src/log/change-log';

/**
 * An in-memory ChangeLogWriter for testing the source alone, with fault injection: `hold()`
 * keeps later appends unresolved (a slow or stopped log), `release()` resolves them,
 * `failHeld()` rejects them (a log that lost them).
 */
export class MemoryLog implements ChangeLogWriter {
  readonly events: ChangeEvent[] = [];
  readonly schemas: TableSchema[] = [];
  readonly watermarks: Lsn[] = [];
  /** Events whose append resolved (durable). */
  readonly durable: ChangeEvent[] = [];
  private holding = false;
  private held: Array<{ events: readonly ChangeEvent[]; resolve: () => void; reject: (e: Error) => void }> =
    [];
  inFlight = 0;
  maxInFlight = 0;
  private listeners: Array<() => void> = [];

  async ensureTables(): Promise<void> {}

  async publishSchema(schema: TableSchema): Promise<void> {
    this.schemas.push(schema);
  }

  /** Set to make every append rejected once this many events were appended (a crash mid-way). */
  failAfterEvents = Number.POSITIVE_INFINITY;

  append(events: readonly ChangeEvent[]): Promise<void> {
    if (this.events.length + events.length > this.failAfterEvents)
      return Promise.reject(new Error('log failed mid-way'));
    this.events.push(...events);
    this.inFlight += events.length;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.notify();
    return new Promise<void>((resolve, reject) => {
      const entry = {
        events,
        resolve: () => {
          this.inFlight -= events.length;
          this.durable.push(...events);
          resolve();
          this.notify();
        },
        reject,
      };
      if (this.holding) this.held.push(entry);
      else setImmediate(entry.resolve);
    });
  }

  async publishWatermark(lsn: Lsn): Promise<void> {
    this.watermarks.push(lsn);
    this.notify();
  }

  async close(): Promise<void> {}

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const h of this.held.splice(0)) h.resolve();
  }

  failHeld(): void {
    for (const h of this.held.splice(0)) h.reject(new Error('log lost these appends'));
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Resolves when `predicate` holds, re-checked at every append or watermark (no sleeping). */
  until(predicate: () => boolean, timeoutMs = 60_000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          this.listeners = this.listeners.filter((l) => l !== check);
          resolve();
        }
      };
      this.listeners.push(check);
      check();
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}
