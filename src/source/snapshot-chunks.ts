import { formatLsn, type Lsn } from '../core/lsn';
import type { SourceStateStore } from './state-store';

/**
 * A table's snapshot chunks as planned once: the key values between chunks (raw text), so chunk
 * i is [bounds[i-1], bounds[i]) with open ends. Kept with the consistent point and the key
 * columns it was planned for: a plan from another slot or for another key is never reused.
 */
export interface ChunkPlan {
  readonly consistentPoint: Lsn;
  readonly key: readonly string[];
  readonly bounds: readonly (readonly string[])[];
}

interface StoredPlan {
  consistentPoint: string;
  key: string[];
  bounds: string[][];
}

interface StoredDone {
  consistentPoint: string;
  /** Indexes of the chunks durable in the log, as ranges: "0-57,60,62-70". */
  done: string;
}

/**
 * Snapshot progress per chunk, in the source's state store, so that a restart in the middle of
 * a large table copies only the chunks not yet durable in the log instead of the whole table.
 * The plan is written once per table (before its first chunk is read) under its own key; the
 * done chunks, small, under another, rewritten as chunks finish. Writes are chained so that an
 * older list never lands after a newer one.
 */
export class SnapshotChunks {
  private writes: Promise<void> = Promise.resolve();
  private readonly done = new Map<string, Set<number>>();

  constructor(
    private readonly state: SourceStateStore,
    private readonly slot: string,
    private readonly consistentPoint: Lsn,
  ) {}

  private planKey(table: string): string {
    return `source:${this.slot}:snapshot:plan:${table}`;
  }

  private doneKey(table: string): string {
    return `source:${this.slot}:snapshot:done:${table}`;
  }

  /** The stored plan of `table` for this consistent point and key, with its done chunks; null when there is none. */
  async resume(
    table: string,
    key: readonly string[],
  ): Promise<{ plan: ChunkPlan; done: Set<number> } | null> {
    const s = await this.stored(table);
    if (!s || s.plan.key.join('\u0000') !== key.join('\u0000')) return null;
    this.done.set(table, s.done);
    return {
      plan: { consistentPoint: this.consistentPoint, key: s.plan.key, bounds: s.plan.bounds },
      done: s.done,
    };
  }

  /** For `status`: how many of the table's planned chunks are durable; null without a plan of this consistent point. */
  async progressOf(table: string): Promise<{ chunks: number; done: number } | null> {
    const s = await this.stored(table);
    return s ? { chunks: s.plan.bounds.length + 1, done: s.done.size } : null;
  }

  /** The plan kept for this consistent point and its done chunks (none when they are another plan's). */
  private async stored(table: string): Promise<{ plan: StoredPlan; done: Set<number> } | null> {
    const planText = await this.state.get(this.planKey(table));
    if (!planText) return null;
    const plan = JSON.parse(planText) as StoredPlan;
    if (plan.consistentPoint !== formatLsn(this.consistentPoint)) return null;
    const doneText = await this.state.get(this.doneKey(table));
    const d = doneText ? (JSON.parse(doneText) as StoredDone) : null;
    const done =
      d?.consistentPoint === plan.consistentPoint
        ? parseRanges(d.done, plan.bounds.length + 1)
        : new Set<number>();
    return { plan, done };
  }

  /** Records a new plan for `table` (no chunk done yet). */
  async planned(
    table: string,
    key: readonly string[],
    bounds: readonly (readonly string[])[],
  ): Promise<void> {
    this.done.set(table, new Set());
    const cp = formatLsn(this.consistentPoint);
    await this.chain(async () => {
      await this.state.set(
        this.doneKey(table),
        JSON.stringify({ consistentPoint: cp, done: '' } satisfies StoredDone),
      );
      await this.state.set(
        this.planKey(table),
        JSON.stringify({
          consistentPoint: cp,
          key: [...key],
          bounds: bounds.map((b) => [...b]),
        } satisfies StoredPlan),
      );
    });
  }

  /** Records that every row of chunk `index` of `table` is durable in the log. */
  async chunkDone(table: string, index: number): Promise<void> {
    const set = this.done.get(table);
    if (!set) return; // a table whose plan is not kept (a masked key)
    set.add(index);
    const value = JSON.stringify({
      consistentPoint: formatLsn(this.consistentPoint),
      done: formatRanges(set),
    } satisfies StoredDone);
    await this.chain(() => this.state.set(this.doneKey(table), value));
  }

  /** Drops a table's plan and progress once the table is recorded done (a large plan need not stay). */
  async forget(table: string): Promise<void> {
    this.done.delete(table);
    await this.chain(async () => {
      await this.state.set(this.planKey(table), '');
      await this.state.set(this.doneKey(table), '');
    });
  }

  private chain(write: () => Promise<void>): Promise<void> {
    const next = this.writes.then(write);
    this.writes = next.catch(() => {});
    return next;
  }
}

/** Sorted indexes as ranges: [0,1,2,5,7,8] → "0-2,5,7-8". */
export function formatRanges(indexes: ReadonlySet<number>): string {
  const sorted = [...indexes].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The inverse of formatRanges; indexes outside [0, count) or unreadable parts are dropped (that chunk is copied again). */
export function parseRanges(text: string, count: number): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi && i < count; i++) out.add(i);
  }
  return out;
}
