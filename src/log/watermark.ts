import { formatLsn, type Lsn, parseLsn } from '../core/lsn';

/**
 * A consistent-cut marker: every change with commit LSN ≤ lsn is durable in the log, and for
 * each topic partition the highest offset holding such a change is `offsets[topic][partition]`
 * (absent: that partition holds none). A sink that has read each listed partition up to its
 * offset holds every change ≤ lsn.
 */
export interface Watermark {
  readonly lsn: Lsn;
  readonly offsets: Readonly<Record<string, Readonly<Record<number, number>>>>;
  readonly publishedAtMs: number;
}

export function encodeWatermark(w: Watermark): string {
  return JSON.stringify({ lsn: formatLsn(w.lsn), offsets: w.offsets, publishedAtMs: w.publishedAtMs });
}

export function decodeWatermark(text: string): Watermark {
  const o = JSON.parse(text) as {
    lsn: string;
    offsets: Record<string, Record<string, number>>;
    publishedAtMs: number;
  };
  const offsets: Record<string, Record<number, number>> = {};
  for (const [topic, parts] of Object.entries(o.offsets ?? {})) {
    offsets[topic] = {};
    for (const [p, off] of Object.entries(parts)) offsets[topic]![Number(p)] = Number(off);
  }
  return { lsn: parseLsn(o.lsn), offsets, publishedAtMs: Number(o.publishedAtMs) };
}

/**
 * Remembers, per partition, the offset of the last change of each commit LSN seen in
 * acknowledged sends, so that a watermark names the highest offset holding a change ≤ W
 * exactly (not merely the highest acknowledged one). Entries ≤ the last watermark collapse.
 */
export class WatermarkTracker {
  /** topic -> partition -> runs of [lsn, lastOffset], lsn ascending. */
  private readonly runs = new Map<string, Map<number, Array<[Lsn, number]>>>();
  /** The offsets of the last watermark, carried forward for partitions with nothing new. */
  private readonly settled = new Map<string, Map<number, number>>();

  record(topic: string, partition: number, lsn: Lsn, offset: number): void {
    let parts = this.runs.get(topic);
    if (!parts) this.runs.set(topic, (parts = new Map()));
    let list = parts.get(partition);
    if (!list) parts.set(partition, (list = []));
    const last = list[list.length - 1];
    if (last && last[0] === lsn) last[1] = Math.max(last[1], offset);
    else list.push([lsn, offset]);
  }

  /** Builds the watermark for W and forgets what it covers. */
  cut(lsn: Lsn, nowMs: number): Watermark {
    for (const [topic, parts] of this.runs) {
      for (const [partition, list] of parts) {
        let i = 0;
        let highest = -1;
        while (i < list.length && list[i]![0] <= lsn) highest = list[i++]![1];
        if (highest >= 0) {
          let s = this.settled.get(topic);
          if (!s) this.settled.set(topic, (s = new Map()));
          s.set(partition, Math.max(s.get(partition) ?? -1, highest));
        }
        list.splice(0, i);
      }
    }
    const offsets: Record<string, Record<number, number>> = {};
    for (const [topic, parts] of this.settled) offsets[topic] = Object.fromEntries(parts);
    return { lsn, offsets, publishedAtMs: nowMs };
  }
}
