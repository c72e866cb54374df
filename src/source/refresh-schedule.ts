import type { Config } from '../config/load';
import { PeriodicTask } from '../core/periodic-task';
import type { Logger } from '../observe/logger';
import type { SourceStateStore } from './state-store';
import { readRefreshes } from './table-refresh';

export interface RefreshScheduleDeps {
  readonly config: Config;
  readonly state: SourceStateStore;
  readonly logger: Logger;
  /** True while the table is mirrored (not dropped, not left out). */
  readonly mirrored: (table: string) => boolean;
  /** Asks the stream for a copy of the table (TableDiscovery.requestCopy). */
  readonly request: (table: string) => Promise<void>;
}

/** When each scheduled table was last asked for a copy (ISO times), kept across restarts. */
export function refreshScheduleKey(slot: string): string {
  return `source:${slot}:refresh-schedule`;
}

/**
 * The full-refresh schedule: a table with `tables.<t>.refreshEveryMs` is copied again that often
 * (the watermark copy of table-refresh.ts, while its changes keep streaming), counted from its
 * last scheduled copy, or from the start for the first. A copy still running is not asked again.
 */
export class RefreshSchedule {
  private readonly periodic = new PeriodicTask(
    () => this.check(),
    (e) => this.d.logger.warn({ err: e.message }, 'scheduled table refresh failed; will retry'),
  );
  private readonly startedAt = Date.now();

  constructor(private readonly d: RefreshScheduleDeps) {}

  /** The tables on a schedule, with their interval. */
  private scheduled(): Array<[string, number]> {
    return Object.entries(this.d.config.tables)
      .map(([t, o]) => [t, o.refreshEveryMs] as [string, number])
      .filter(([, every]) => every > 0);
  }

  start(): void {
    const intervals = this.scheduled().map(([, every]) => every);
    if (intervals.length === 0) return;
    this.periodic.start(Math.max(500, Math.min(30_000, Math.floor(Math.min(...intervals) / 4))));
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  /** Asks for the copies that are due; returns their tables. */
  async check(now = Date.now()): Promise<string[]> {
    const slot = this.d.config.source.slot;
    const last = JSON.parse((await this.d.state.get(refreshScheduleKey(slot))) ?? '{}') as Record<
      string,
      string
    >;
    const open = new Set(
      (await readRefreshes(this.d.state, slot)).filter((r) => !r.finishedAt).map((r) => r.table),
    );
    const asked: string[] = [];
    for (const [table, every] of this.scheduled()) {
      if (!this.d.mirrored(table) || open.has(table)) continue;
      const since = last[table] ? Date.parse(last[table]) : this.startedAt;
      if (now - since < every) continue;
      await this.d.request(table);
      last[table] = new Date(now).toISOString();
      asked.push(table);
      this.d.logger.info({ table, everyMs: every }, 'scheduled full refresh: copying the table again');
    }
    if (asked.length > 0) await this.d.state.set(refreshScheduleKey(slot), JSON.stringify(last));
    return asked;
  }
}
