import { PeriodicTask } from '../core/periodic-task';
import type { Logger } from '../observe/logger';
import type { SourceStateStore } from './state-store';

/**
 * `onIncompatibleSchema: rebuild`: the committer, having emptied a table in the sinks and given
 * it the new schema, asks the source for a fresh copy of it. The request is a value in the
 * offset store that only the committer writes (`rebuildRequestsKey`), answered in another that
 * only the source writes (`rebuildsAnsweredKey`), so neither overwrites the other. The request
 * is written before the sinks are rebuilt: a crash in between asks for one copy too many, never
 * one too few.
 */
export interface RebuildRequest {
  /** The schema version the table was rebuilt at. */
  readonly version: number;
  readonly requestedAt: string;
}

export function rebuildRequestsKey(slot: string): string {
  return `source:${slot}:rebuild-requests`;
}

export function rebuildsAnsweredKey(slot: string): string {
  return `source:${slot}:rebuilds-answered`;
}

async function readMap<T>(state: SourceStateStore, key: string): Promise<Record<string, T>> {
  return JSON.parse((await state.get(key)) ?? '{}') as Record<string, T>;
}

/** Records that `table` was (about to be) rebuilt at `version` and needs a copy; idempotent per version. */
export async function requestRebuildCopy(
  state: SourceStateStore,
  slot: string,
  table: string,
  version: number,
): Promise<void> {
  const requests = await readMap<RebuildRequest>(state, rebuildRequestsKey(slot));
  if (requests[table]?.version === version) return;
  requests[table] = { version, requestedAt: new Date().toISOString() };
  await state.set(rebuildRequestsKey(slot), JSON.stringify(requests));
}

/** What `status` shows of the rebuilds: per table, the last one and whether the source has asked for its copy. */
export async function readRebuilds(
  state: SourceStateStore,
  slot: string,
): Promise<Array<{ table: string; version: number; requestedAt: string; copyAsked: boolean }>> {
  const requests = await readMap<RebuildRequest>(state, rebuildRequestsKey(slot));
  const answered = await readMap<number>(state, rebuildsAnsweredKey(slot));
  return Object.entries(requests)
    .map(([table, r]) => ({ table, ...r, copyAsked: answered[table] === r.version }))
    .sort((a, b) => a.table.localeCompare(b.table));
}

export interface RebuildRequestsDeps {
  readonly slot: string;
  readonly state: SourceStateStore;
  readonly logger: Logger;
  /** Asks the stream for a copy of the table (TableDiscovery.requestCopy). */
  readonly request: (table: string) => Promise<void>;
}

/** The source's side: copies every table whose rebuild request it has not answered yet. */
export class RebuildRequests {
  private readonly periodic = new PeriodicTask(
    () => this.check(),
    (e) => this.d.logger.warn({ err: e.message }, 'reading table rebuild requests failed; will retry'),
  );

  constructor(private readonly d: RebuildRequestsDeps) {}

  start(everyMs = 1000): void {
    this.periodic.start(everyMs);
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  /** Asks for the copies not asked yet; returns their tables. */
  async check(): Promise<string[]> {
    const requests = await readMap<RebuildRequest>(this.d.state, rebuildRequestsKey(this.d.slot));
    const answered = await readMap<number>(this.d.state, rebuildsAnsweredKey(this.d.slot));
    const asked: string[] = [];
    for (const [table, r] of Object.entries(requests)) {
      if (answered[table] === r.version) continue;
      await this.d.request(table);
      answered[table] = r.version;
      await this.d.state.set(rebuildsAnsweredKey(this.d.slot), JSON.stringify(answered));
      asked.push(table);
      this.d.logger.warn(
        { table, version: r.version },
        'table rebuilt in the sinks after a schema change they could not follow: copying it again',
      );
    }
    return asked;
  }
}
