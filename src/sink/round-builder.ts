import type { TableOptions } from '../config/schema';
import type { ChangeEvent } from '../core/change-event';
import { isTidemarkError } from '../core/errors';
import {
  compareTokens,
  formatToken,
  type OffsetToken,
  parseToken,
  type TokenUpdate,
} from '../core/offset-token';
import { comparePositions } from '../core/position';
import { type TableSchema, tableKey } from '../core/table-schema';
import type { BufferedChange } from './channel-buffer';
import { projectEvent } from './schema-projection';
import type { TableChanges } from './sink-target';
import { sinkSchema } from './text-casts';

export interface ChannelTake {
  readonly channel: string;
  readonly changes: readonly BufferedChange[];
}

/** The token a channel reaches once a take is committed: its last change and the offset after it. */
export function tokenAfter(take: ChannelTake): string | null {
  const last = take.changes[take.changes.length - 1];
  if (!last) return null;
  const t: OffsetToken = {
    position: last.event.position,
    nextOffset: last.offset < 0 ? -1 : last.offset + 1,
  };
  return formatToken(t);
}

/**
 * Builds one sink's view of a round: per table, the changes this sink has not committed yet
 * (position above its token for that channel), merged across channels in position order.
 * Changes at or below the sink's token are replays it already holds and are dropped here, and
 * so are those of a table from before its rebuild (`rebuiltAt`).
 */
export function tablesForSink(
  takes: readonly ChannelTake[],
  sinkTokens: ReadonlyMap<string, string>,
  schemaOf: (ev: ChangeEvent) => TableSchema,
  optionsOf: (tableKey: string) => TableOptions,
  /** Per table key: the schema version this sink rebuilt it at; changes of older versions are dropped. */
  rebuiltAt: ReadonlyMap<string, number> = new Map(),
): TableChanges[] {
  const byTable = new Map<string, ChangeEvent[]>();
  for (const take of takes) {
    const stored = sinkTokens.get(take.channel);
    const floor = stored ? parseToken(stored).position : null;
    for (const { event } of take.changes) {
      if (floor && comparePositions(event.position, floor) <= 0) continue;
      const key = tableKey(event.table);
      // A table rebuilt at version V (onIncompatibleSchema: rebuild) holds no row from before V:
      // its older changes cannot be written with its new schema, and the source's copy replaces them.
      if (event.schemaVersion < (rebuiltAt.get(key) ?? 0)) continue;
      let list = byTable.get(key);
      if (!list) byTable.set(key, (list = []));
      list.push(event);
    }
  }
  const out: TableChanges[] = [];
  for (const [key, events] of byTable) {
    // One channel's changes are in position order already: sorted only when channels interleave.
    if (!inPositionOrder(events)) events.sort((a, b) => comparePositions(a.position, b.position));
    // A truncate is delivered on every channel of its table: keep one.
    const unique = events.filter(
      (e, i) => i === 0 || comparePositions(e.position, events[i - 1]!.position) !== 0,
    );
    // Rows from before a schema change in the same round are written with the newest schema.
    // Columns cast to text (text-casts.ts) are text in the sinks, before and after their change.
    const newest = schemaOf(unique.reduce((a, b) => (b.schemaVersion > a.schemaVersion ? b : a)));
    const projected = unique.map((e) => projectEvent(e, schemaOf(e), newest));
    out.push({ schema: sinkSchema(newest), options: optionsOf(key), events: projected });
  }
  return out;
}

/**
 * tablesForSink for every sink of a round: sinks that filter the takes alike (the same tokens for
 * their channels and the same rebuilt versions: the usual case) share one result, built once. A
 * sink only reads what it is given; sharing halves the round's building and its garbage.
 */
export function tablesForSinks(
  takes: readonly ChannelTake[],
  sinks: readonly {
    readonly name: string;
    readonly tokens: ReadonlyMap<string, string>;
    readonly rebuiltAt?: ReadonlyMap<string, number>;
  }[],
  schemaOf: (ev: ChangeEvent) => TableSchema,
  optionsOf: (tableKey: string) => TableOptions,
): Map<string, TableChanges[]> {
  const built = new Map<string, TableChanges[]>();
  const out = new Map<string, TableChanges[]>();
  for (const sink of sinks) {
    const filter = JSON.stringify([
      takes.map((t) => sink.tokens.get(t.channel) ?? null),
      [...(sink.rebuiltAt ?? [])].map(([table, v]) => `${table}@${v}`).sort(),
    ]);
    let tables = built.get(filter);
    if (!tables)
      built.set(filter, (tables = tablesForSink(takes, sink.tokens, schemaOf, optionsOf, sink.rebuiltAt)));
    out.set(sink.name, tables);
  }
  return out;
}

function inPositionOrder(events: readonly ChangeEvent[]): boolean {
  for (let i = 1; i < events.length; i++)
    if (comparePositions(events[i - 1]!.position, events[i]!.position) > 0) return false;
  return true;
}

/** The token moves a commit makes: channels whose next token is past the one the sink holds. */
export function tokenUpdates(
  nexts: ReadonlyMap<string, string>,
  held: ReadonlyMap<string, string>,
): TokenUpdate[] {
  const updates: TokenUpdate[] = [];
  for (const [channel, next] of nexts) {
    const expected = held.get(channel) ?? null;
    if (expected === null || compareTokens(parseToken(next), parseToken(expected)) > 0)
      updates.push({ channel, expected, next });
  }
  return updates;
}

/** A failed sink commit attempt, as the failure metric counts it. */
export function failureKind(e: unknown): 'fenced' | 'unknown' | 'failed' {
  return isTidemarkError(e, 'fenced')
    ? 'fenced'
    : isTidemarkError(e, 'commit_state_unknown')
      ? 'unknown'
      : 'failed';
}
