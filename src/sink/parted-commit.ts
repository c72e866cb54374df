import { randomUUID } from 'node:crypto';
import type { TableOptions } from '../config/schema';
import type { ChangeEvent } from '../core/change-event';
import { isTidemarkError } from '../core/errors';
import { formatLsn, type Lsn } from '../core/lsn';
import type { TokenUpdate } from '../core/offset-token';
import { comparePositions, type Position } from '../core/position';
import { type TableSchema, tableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import type { BufferedChange, ChannelBuffer } from './channel-buffer';
import { keepKeyChangesWhole, PartedRoundVoid, PartRefused, unfillableKeyChange } from './parted-rounds';
import { type ChannelTake, failureKind, tokenAfter, tokenUpdates } from './round-builder';
import { addToSummary, emptyRoundSummary, type RoundSummary } from './round-summary';
import type { PartedRound, SinkTarget, TableChanges } from './sink-target';

/** What a round in parts needs of the coordinator that owns it. */
export interface PartedCommitHost {
  readonly targets: readonly SinkTarget[];
  readonly logger: Logger;
  readonly schemaOf: (ev: ChangeEvent) => TableSchema;
  readonly optionsOf: (tableKey: string) => TableOptions;
  /** The tokens a sink holds: its live map, which a landed commit moves. */
  tokensOf(sink: string): Map<string, string>;
  /** Per sink: its view of these takes, as a round that is not in parts gets it (CommitCoordinator.tablesOf). */
  tablesOf(takes: readonly ChannelTake[]): Map<string, TableChanges[]>;
  prepare(schemas: readonly TableSchema[]): Promise<void>;
  /**
   * Gives the round's sinks the schema versions of these changes that are newer than the ones
   * prepared (PartedRound.evolve), prepared from then on unless the round is given up; throws
   * PartRefused where a sink cannot.
   */
  evolveInRound(schemas: readonly TableSchema[], rounds: ReadonlyMap<string, PartedRound>): Promise<void>;
  /** The round ended: committed (what evolveInRound prepared stays so) or given up (undone). */
  roundEnded(committed: boolean): void;
  /** After a commit whose outcome is unknown: whether it landed (fenced when another writer moved the tokens). */
  landed(target: SinkTarget, updates: readonly TokenUpdate[], cause: unknown): Promise<boolean>;
  readonly onFailed?: (sink: string, kind: 'fenced' | 'unknown' | 'failed') => void;
  readonly onPart?: () => void;
}

/** A round in parts that committed in every sink: what the coordinator records after it. */
export interface PartedCommitDone {
  /** The cut it committed at: its own LSN. */
  readonly at: Lsn;
  /** Per channel: the token it moved to (for the offset store). */
  readonly tokens: ReadonlyMap<string, string>;
  readonly summary: RoundSummary;
  readonly durationsMs: Record<string, number>;
  readonly parts: number;
}

interface OpenRound {
  /** It commits at the first cut ≥ this LSN; its parts hold changes up to it. */
  lsn: Lsn;
  readonly rounds: Map<string, PartedRound>;
  /** Per channel: the last change a part took (the channel's token once the round commits). */
  readonly last: Map<string, BufferedChange>;
  readonly summary: RoundSummary;
  parts: number;
  /** Per table: the newest truncate a part applied (see `afterTruncates`). */
  readonly truncatedAt: Map<string, Position>;
}

/**
 * The round in parts of a CommitCoordinator (a source transaction larger than the buffers): its
 * parts go into every sink's PartedRound as they are taken from the buffers, and the round
 * commits in every sink at once, at its own LSN. At most one is open at a time.
 */
export class PartedCommit {
  private open: OpenRound | null = null;

  constructor(private readonly h: PartedCommitHost) {}

  /** The commit LSN the round is open for, or null. */
  get lsn(): Lsn | null {
    return this.open?.lsn ?? null;
  }

  /**
   * For a source transaction larger than the buffers (the oldest buffered, at commit LSN `lsn`):
   * writes the buffered changes with commit LSN ≤ `lsn` into every sink as one more part of the
   * round, visible nowhere until it commits at the first cut ≥ `lsn` (commit), and frees them
   * from the buffers. A channel's changes from a key change whose other half the part cannot hold
   * yet stay buffered (parted-rounds.ts keepKeyChangesWhole).
   */
  async stagePart(lsn: Lsn, buffers: readonly ChannelBuffer[]): Promise<{ staged: number }> {
    // A round open for an older transaction may take this one too: it then commits at a later cut.
    const raise = this.open !== null && lsn > this.open.lsn;
    const upTo = raise || !this.open ? lsn : this.open.lsn;
    const bufferOf = (channel: string) => buffers.find((b) => b.channel === channel)!;
    const { part, rest } = keepKeyChangesWhole(
      buffers.map((b) => ({ channel: b.channel, changes: b.takeUpTo(upTo) })),
    );
    for (const t of rest) bufferOf(t.channel).restore([...t.changes]);
    const nonEmpty = part.filter((t) => t.changes.length > 0);
    if (nonEmpty.length === 0) return { staged: 0 };
    // ahead of the rest put back above: a buffer's order is the channel's
    const restore = () => {
      for (const t of nonEmpty) bufferOf(t.channel).restore([...t.changes]);
    };
    if (raise) this.open!.lsn = lsn;
    if (!this.open) {
      try {
        const schemas = new Set<TableSchema>();
        for (const t of nonEmpty) for (const c of t.changes) schemas.add(this.h.schemaOf(c.event));
        await this.h.prepare([...schemas]);
        const rounds = new Map<string, PartedRound>();
        try {
          for (const t of this.h.targets) rounds.set(t.name, await t.openRound());
        } catch (e) {
          await Promise.allSettled([...rounds.values()].map((r) => r.abort()));
          throw e;
        }
        this.open = {
          lsn,
          rounds,
          last: new Map(),
          summary: emptyRoundSummary(),
          parts: 0,
          truncatedAt: new Map(),
        };
      } catch (e) {
        restore();
        throw e;
      }
    }
    await this.writePart(
      nonEmpty,
      rest.reduce((n, t) => n + t.changes.length, 0),
    );
    return { staged: nonEmpty.reduce((n, t) => n + t.changes.length, 0) };
  }

  /** Gives up the round, if one is open: nothing of it is visible in any sink. */
  async abort(): Promise<void> {
    const p = this.open;
    if (!p) return;
    this.open = null;
    this.h.roundEnded(false);
    await Promise.allSettled([...p.rounds.values()].map((r) => r.abort()));
  }

  /**
   * Commits the open round at its own LSN: its rest (≤ that LSN: later transactions, which a
   * part may not be able to hold, stay in the buffers) as its last part, then one commit per
   * sink, each moving that sink's tokens (a consistent cut: every channel has read past it).
   */
  async commit(buffers: readonly ChannelBuffer[]): Promise<PartedCommitDone> {
    const p = this.open!;
    const at = p.lsn;
    const takes = buffers
      .map((b) => ({ channel: b.channel, changes: b.takeUpTo(at) }))
      .filter((t) => t.changes.length > 0);
    const refused = unfillableKeyChange(takes);
    if (refused) return this.void(`a round in parts cannot hold ${refused}`, true);
    if (takes.length > 0) await this.writePart(takes);
    const commitId = randomUUID();
    const durationsMs: Record<string, number> = {};
    const tokens = new Map([...p.last].map(([ch, c]) => [ch, tokenAfter({ channel: ch, changes: [c] })!]));
    for (const target of this.h.targets) {
      const held = this.h.tokensOf(target.name);
      const updates = tokenUpdates(tokens, held);
      const started = Date.now();
      try {
        await p.rounds.get(target.name)!.commit({ cutLsn: at, commitId, tokens: updates });
      } catch (e) {
        this.h.onFailed?.(target.name, failureKind(e));
        if (!isTidemarkError(e, 'commit_state_unknown') || !(await this.h.landed(target, updates, e)))
          return this.failed(e);
      }
      for (const u of updates) held.set(u.channel, u.next);
      durationsMs[target.name] = Date.now() - started;
    }
    this.open = null;
    this.h.roundEnded(true);
    return { at, tokens, summary: p.summary, durationsMs, parts: p.parts };
  }

  private async void(why: string, holdWhole: boolean, cause?: unknown): Promise<never> {
    const lsn = this.open?.lsn ?? 0n;
    await this.abort();
    throw new PartedRoundVoid(`${why} (round at ${formatLsn(lsn)})`, lsn, holdWhole, { cause });
  }

  /** A failure that voids the round: retriable ones are read again, the others stop the sink. */
  private async failed(e: unknown): Promise<never> {
    if (retriable(e)) return this.void(`a round in parts failed: ${(e as Error).message}`, false, e);
    await this.abort();
    throw e;
  }

  /**
   * A part that brings a schema change (a source transaction that altered a table after changing
   * rows): the sinks take it into the round first. A sink that cannot, or a change it cannot
   * follow, gives the round up to be held whole (the usual path then prepares the tables, with
   * its rebuild and stop policies); other failures are those of a part (`failed`).
   */
  private async evolveFor(takes: readonly ChannelTake[]): Promise<void> {
    const schemas = new Set<TableSchema>();
    for (const t of takes) {
      let last: ChangeEvent | null = null;
      for (const { event } of t.changes) {
        // a channel's changes come in runs of one table and version: one lookup per run
        if (
          last?.schemaVersion === event.schemaVersion &&
          last.table.table === event.table.table &&
          last.table.schema === event.table.schema
        )
          continue;
        schemas.add(this.h.schemaOf(event));
        last = event;
      }
    }
    try {
      await this.h.evolveInRound([...schemas], this.open!.rounds);
    } catch (e) {
      if (e instanceof PartRefused || isTidemarkError(e, 'schema_incompatible'))
        return this.void(`a round in parts cannot hold a schema change: ${(e as Error).message}`, true, e);
      return this.failed(e);
    }
  }

  /**
   * A truncate is delivered on every channel of its table, and the channels are read side by side:
   * the first part that holds one of its copies applies it (in position order with that part's
   * other changes), and a later part may still bring the other channels' changes from before it
   * and their copies of it. Those are passed over: the truncate already erased what they would
   * write (an append table keeps its history: only the copies are passed over there), and a copy
   * applied again would erase the rows written after it.
   */
  private afterTruncates(takes: readonly ChannelTake[]): readonly ChannelTake[] {
    const at = this.open!.truncatedAt;
    if (at.size === 0) return takes;
    return takes.map((t) => ({
      channel: t.channel,
      changes: t.changes.filter(({ event }) => {
        const key = tableKey(event.table);
        const truncate = at.get(key);
        if (!truncate) return true;
        const c = comparePositions(event.position, truncate);
        return c > 0 || (c < 0 && this.h.optionsOf(key).mode === 'append');
      }),
    }));
  }

  /** `heldBack`: changes left buffered until a key change's other half is read (for the log). */
  private async writePart(takes: readonly ChannelTake[], heldBack = 0): Promise<void> {
    const p = this.open!;
    const applied = this.afterTruncates(takes);
    await this.evolveFor(takes);
    try {
      const tablesOf = this.h.tablesOf(applied);
      for (const target of this.h.targets) {
        const tables = tablesOf.get(target.name)!;
        if (tables.length > 0) await p.rounds.get(target.name)!.stage(tables);
      }
    } catch (e) {
      return this.failed(e);
    }
    for (const t of takes) p.last.set(t.channel, t.changes[t.changes.length - 1]!);
    for (const t of applied)
      for (const { event } of t.changes) {
        const at = p.truncatedAt.get(tableKey(event.table));
        if (event.op === 't' && (!at || comparePositions(event.position, at) > 0))
          p.truncatedAt.set(tableKey(event.table), event.position);
      }
    addToSummary(p.summary, takes);
    p.parts++;
    this.h.onPart?.();
    this.h.logger.info(
      {
        round: formatLsn(p.lsn),
        part: p.parts,
        changes: takes.reduce((n, t) => n + t.changes.length, 0),
        ...(heldBack > 0 ? { heldBack } : {}),
      },
      'a transaction larger than the buffer bound: part written to the sinks (visible once its round commits)',
    );
  }
}

/** A failure that voids a round to be read again (not held whole, not a stop). */
function retriable(e: unknown): boolean {
  return (
    isTidemarkError(e, 'transient') ||
    isTidemarkError(e, 'commit_failed') ||
    isTidemarkError(e, 'commit_state_unknown')
  );
}
