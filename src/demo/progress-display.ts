import type { Registry } from 'prom-client';
import { formatLsn } from '../core/lsn';
import type { Running } from '../main';
import type { WorkloadStats } from './shop-workload';

/** What the display needs to know besides the metrics. */
export interface ProgressInputs {
  readonly registry: Registry;
  readonly running: () => Running | null;
  readonly workload: () => WorkloadStats | null;
  /** Rows each table had when the snapshot started (for the progress bars). */
  readonly snapshotTotals: ReadonlyMap<string, number>;
}

interface Reading {
  readonly at: number;
  readonly sinkChanges: number;
}

async function metricValues(
  registry: Registry,
  name: string,
): Promise<Array<{ value: number; labels: Record<string, unknown> }>> {
  const m = registry.getSingleMetric(name);
  if (!m) return [];
  const got = await m.get();
  return got.values.map((v) => ({ value: v.value, labels: v.labels as Record<string, unknown> }));
}

async function sum(registry: Registry, name: string): Promise<number> {
  return (await metricValues(registry, name)).reduce((a, v) => a + v.value, 0);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function bar(done: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, done / total) : 1;
  const full = Math.round(f * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

/**
 * A few lines a person can read while the demo runs: snapshot progress bars, then changes/s
 * into the sinks, slot lag, the last committed cut and how long ago. On a terminal it redraws
 * in place every second; otherwise it prints a line every few seconds (logs stay readable).
 */
export class ProgressDisplay {
  private timer: NodeJS.Timeout | null = null;
  private last: Reading | null = null;
  private linesDrawn = 0;
  private ticks = 0;
  private readonly started = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly inputs: ProgressInputs,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.tick(true);
  }

  private async tick(final = false): Promise<void> {
    this.ticks++;
    const lines = await this.render();
    if (this.tty) {
      const up = this.linesDrawn > 0 ? `\x1b[${this.linesDrawn}A\x1b[J` : '';
      this.out.write(`${up}${lines.join('\n')}\n`);
      this.linesDrawn = lines.length;
    } else if (final || this.ticks % 5 === 0) {
      this.out.write(
        `${lines
          .filter((l) => l.trim())
          .map((l) => l.trim())
          .join(' | ')}\n`,
      );
    }
  }

  async render(): Promise<string[]> {
    const { registry } = this.inputs;
    const now = Date.now();
    const elapsed = Math.round((now - this.started) / 1000);
    const running = this.inputs.running();
    const source = running?.source?.status();
    const sink = running?.sink?.status();
    const lines = [
      `tidemark demo: embedded, ${Math.floor(elapsed / 60)}m${String(elapsed % 60).padStart(2, '0')}s, Ctrl-C stops`,
    ];

    const snapRows = new Map<string, number>();
    for (const v of await metricValues(registry, 'tidemark_source_snapshot_rows_total')) {
      snapRows.set(String(v.labels.table), v.value);
    }
    if (source?.snapshot.complete) {
      const copied = [...snapRows.values()].reduce((a, n) => a + n, 0);
      lines.push(`  snapshot done: ${fmt(copied)} rows of ${source.snapshot.tablesTotal} tables copied`);
    } else {
      for (const [table, total] of this.inputs.snapshotTotals) {
        const done = Math.min(total, snapRows.get(table) ?? 0);
        lines.push(`  snapshot ${table.padEnd(20)} ${bar(done, total)} ${fmt(done)}/${fmt(total)} rows`);
      }
    }

    const sinkChanges = await sum(registry, 'tidemark_sink_changes_total');
    const reading: Reading = { at: now, sinkChanges };
    const rate =
      this.last && now > this.last.at
        ? ((sinkChanges - this.last.sinkChanges) * 1000) / (now - this.last.at)
        : 0;
    this.last = reading;
    const lastCommit = await sum(registry, 'tidemark_sink_last_commit_timestamp_seconds');
    const ago = lastCommit > 0 ? `${Math.max(0, now / 1000 - lastCommit).toFixed(1)} s ago` : 'none yet';
    const phase = running?.sink ? (source?.phase ?? running.phase) : (running?.phase ?? 'starting');
    lines.push(
      `  ${phase}: ${fmt(rate)} changes/s into both sinks (${fmt(sinkChanges)} in all), slot lag ${bytes(source?.lagBytes ?? 0)}`,
    );
    const lagSeconds = await sum(registry, 'tidemark_sink_lag_seconds');
    lines.push(
      `  last cut ${sink && sink.lastCutLsn > 0n ? formatLsn(sink.lastCutLsn) : '-'} committed ${ago}, source to sinks ${lastCommit > 0 ? `${lagSeconds.toFixed(1)} s` : '-'}, ${fmt(sink?.bufferedChanges ?? 0)} changes buffered`,
    );
    const w = this.inputs.workload();
    if (w) {
      lines.push(
        `  workload: ${fmt(w.transactions)} transactions${w.failures ? `, ${fmt(w.failures)} rolled back (${w.lastError})` : ''}`,
      );
    }
    return lines;
  }
}
