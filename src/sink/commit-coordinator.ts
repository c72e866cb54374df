import { randomUUID } from 'node:crypto';
import type { TableOptions } from '../config/schema';
import type { ChangeEvent } from '../core/change-event';
import { isTidemarkError, TidemarkError } from '../core/errors';
import { formatLsn, type Lsn, parseLsn } from '../core/lsn';
import { compareTokens, parseToken, type TokenUpdate } from '../core/offset-token';
import { parseTableKey, type TableSchema } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import type { Lease, OffsetStore } from '../offsets/offset-store';
import type { DroppedTable } from '../source/dropped-tables';
import type { ChannelBuffer } from './channel-buffer';
import { PartedCommit } from './parted-commit';
import { PartRefused } from './parted-rounds';
import { type ChannelTake, failureKind, tablesForSinks, tokenAfter, tokenUpdates } from './round-builder';
import { addToSummary, emptyRoundSummary, type RoundSummary } from './round-summary';
import type { PartedRound, SinkTarget, TableChanges } from './sink-target';
import { sinkSchema } from './text-casts';

export interface CoordinatorDeps {
  readonly targets: readonly SinkTarget[];
  readonly store: OffsetStore;
  readonly logger: Logger;
  readonly schemaOf: (ev: ChangeEvent) => TableSchema;
  readonly optionsOf: (tableKey: string) => TableOptions;
  /** The committer's lease, when several processes could commit (fences the Redis write). */
  readonly lease?: () => Lease | undefined;
  readonly onCommitted?: (r: {
    cutLsn: Lsn;
    rows: number;
    durationsMs: Record<string, number>;
    summary: RoundSummary;
  }) => void | Promise<void>;
  /** Told of every failed sink commit attempt ('fenced', 'unknown', 'failed'), for the failure metric. */
  readonly onFailed?: (sink: string, kind: 'fenced' | 'unknown' | 'failed') => void;
  /** How often, at most, the sinks' housekeeping (`SinkTarget.maintain`) runs after a commit. */
  readonly maintenanceEveryMs?: number;
  readonly onMaintained?: (sink: string, kind: string, files: number) => void;
  /** Told of every part written of a round in parts, and of every transaction held whole instead (the metrics). */
  readonly onPart?: () => void;
  readonly onHeldWhole?: () => void;
  /** Tables dropped in the source (source/dropped-tables.ts), for the sinks to mark. */
  readonly droppedTables?: () => Promise<readonly DroppedTable[]>;
  /** How often, at most, that list is read (default 5 s). */
  readonly droppedCheckEveryMs?: number;
  /**
   * `onIncompatibleSchema: rebuild`: records, before the sinks rebuild a table at a schema
   * version, that the source must copy it again (source/rebuild-requests.ts).
   */
  readonly requestRebuild?: (table: string, version: number) => Promise<void>;
  /** Backoff between retries of a sink that failed transiently. */
  readonly retryDelayMs?: number;
  readonly maxAttempts?: number;
}

/**
 * Commits consistent cuts. For cut W it takes, from every channel buffer, the changes with
 * commit LSN ≤ W and commits them to every sink at once (one atomic step per sink, carrying the
 * channel tokens), then advances the tokens in the offset store. A sink that fails transiently
 * is retried with the same round (its token has not moved, so the retry is safe); a fenced sink
 * aborts the round: the changes go back to their buffers and the error is thrown to the caller.
 */
export class CommitCoordinator {
  /** sink name -> channel -> token stored in that sink. */
  private readonly sinkTokens = new Map<string, Map<string, string>>();

  constructor(private readonly d: CoordinatorDeps) {
    this.parted = new PartedCommit({
      targets: this.d.targets,
      logger: this.d.logger,
      schemaOf: this.d.schemaOf,
      optionsOf: this.d.optionsOf,
      tokensOf: (sink) => this.sinkTokens.get(sink)!,
      tablesOf: (takes) => this.tablesOf(takes),
      prepare: (schemas) => this.prepare(schemas),
      evolveInRound: (schemas, rounds) => this.evolveInRound(schemas, rounds),
      roundEnded: (committed) => this.roundEnded(committed),
      landed: (target, updates, cause) => this.landed(target, updates, cause),
      onFailed: this.d.onFailed,
      onPart: this.d.onPart,
    });
  }

  /** A transaction larger than the buffers is held whole in memory (it cannot be written in parts). */
  noteHeldWhole(): void {
    this.d.onHeldWhole?.();
  }

  private readonly prepared = new Map<string, number>();

  /**
   * Creates or evolves the target tables in every sink; call before loadTokens and on new schema
   * versions. Only the newest version of each table counts, and a table never goes back to an
   * older one: a round may hold rows from before a change (they are projected onto the newest).
   */
  async prepare(schemas: readonly TableSchema[]): Promise<void> {
    const todo = this.newerThanPrepared(schemas);
    if (todo.length === 0) return;
    const tables = todo.map((schema) => ({
      schema: sinkSchema(schema),
      options: this.d.optionsOf(`${schema.schema}.${schema.table}`),
    }));
    // One table at a time, so that a change a sink cannot follow names its table (which the
    // Kafka worker then stops alone, see KafkaSinkWorker.stopTable).
    for (const t of this.d.targets) {
      for (const one of tables) {
        try {
          await t.prepareTables([one]);
        } catch (e) {
          if (!isTidemarkError(e, 'schema_incompatible') || e.table) throw e;
          if (one.options.onIncompatibleSchema === 'rebuild' && t.rebuildTable) {
            await this.rebuild(t, one, e);
            continue;
          }
          throw new TidemarkError('schema_incompatible', `${t.name}: ${e.message}`, {
            cause: e,
            fix: e.fix,
            table: `${one.schema.schema}.${one.schema.table}`,
          });
        }
      }
    }
    const firstSeen = todo.some((s) => !this.prepared.has(`${s.schema}.${s.table}`));
    for (const s of todo) this.prepared.set(`${s.schema}.${s.table}`, s.version);
    // A table first met after the tokens were read (a former name a restart's stream comes back
    // to, say) may hold a newer token than the tables read then: the sink's token is the newest
    // over its tables, so read them again.
    if (firstSeen && this.sinkTokens.size > 0) await this.refreshSinkTokens();
  }

  /** Per table: the newest of these schemas, where it is newer than the version prepared. */
  private newerThanPrepared(schemas: readonly TableSchema[]): TableSchema[] {
    const newest = new Map<string, TableSchema>();
    for (const s of schemas) {
      const key = `${s.schema}.${s.table}`;
      if ((newest.get(key)?.version ?? -1) < s.version) newest.set(key, s);
    }
    return [...newest.entries()]
      .filter(([key, s]) => (this.prepared.get(key) ?? -1) < s.version)
      .map(([, s]) => s);
  }

  /** What evolveInRound prepared in the open round, with the version before it (undone if given up). */
  private readonly preparedInRound = new Map<string, number | undefined>();

  /**
   * A schema change inside a round in parts, or a table first met there: every sink takes it into
   * its round (PartedRound.evolve) before the part that needs it. A first-met table is created
   * there (the warehouse in the round's transaction; an Iceberg table exists from then on, empty
   * until the round commits); a sink where it holds tokens newer than the round's refuses it.
   */
  private async evolveInRound(
    schemas: readonly TableSchema[],
    rounds: ReadonlyMap<string, PartedRound>,
  ): Promise<void> {
    const todo = this.newerThanPrepared(schemas);
    if (todo.length === 0) return;
    const keyOf = (s: TableSchema) => `${s.schema}.${s.table}`;
    const unseen = todo.filter((s) => !this.prepared.has(keyOf(s))).map(keyOf);
    const tables = todo.map((schema) => ({
      schema: sinkSchema(schema),
      options: this.d.optionsOf(keyOf(schema)),
    }));
    for (const t of this.d.targets) {
      const round = rounds.get(t.name)!;
      if (!round.evolve) throw new PartRefused(`${t.name} cannot change a table's schema inside a round`);
      await round.evolve(tables);
    }
    for (const s of todo) {
      const key = keyOf(s);
      if (!this.preparedInRound.has(key)) this.preparedInRound.set(key, this.prepared.get(key));
      this.prepared.set(key, s.version);
    }
    this.d.logger.info(
      { tables: todo.map((s) => `${keyOf(s)}@${s.version}`), ...(unseen.length > 0 ? { new: unseen } : {}) },
      'a schema change inside a transaction written in parts: taken into its round',
    );
  }

  private roundEnded(committed: boolean): void {
    if (!committed)
      for (const [key, v] of this.preparedInRound)
        v === undefined ? this.prepared.delete(key) : this.prepared.set(key, v);
    this.preparedInRound.clear();
  }

  private async refreshSinkTokens(): Promise<void> {
    for (const t of this.d.targets) {
      const held = this.sinkTokens.get(t.name);
      if (!held) continue;
      for (const [ch, tok] of await t.readTokens()) {
        const cur = held.get(ch);
        if (!cur || compareTokens(parseToken(tok), parseToken(cur)) > 0) held.set(ch, tok);
      }
    }
  }

  /** sink name -> table -> the schema version that sink rebuilt it at. */
  private readonly rebuiltAt = new Map<string, Map<string, number>>();

  /**
   * `onIncompatibleSchema: rebuild` for one table of one sink: the copy is asked for first (a
   * crash after it asks for one more than needed, never one less), then the sink empties the
   * table and takes the new schema; from now on its changes of older versions are dropped.
   */
  private async rebuild(
    t: SinkTarget,
    one: { schema: TableSchema; options: TableOptions },
    cause: TidemarkError,
  ): Promise<void> {
    const key = `${one.schema.schema}.${one.schema.table}`;
    if (!this.d.requestRebuild)
      throw new TidemarkError('internal', 'onIncompatibleSchema rebuild needs requestRebuild', { cause });
    await this.d.requestRebuild(key, one.schema.version);
    await t.rebuildTable!(one.schema, one.options);
    let at = this.rebuiltAt.get(t.name);
    if (!at) this.rebuiltAt.set(t.name, (at = new Map()));
    at.set(key, one.schema.version);
    this.d.logger.warn(
      { sink: t.name, table: key, version: one.schema.version, reason: cause.message },
      'table rebuilt: emptied and given the new schema; the source copies it again (onIncompatibleSchema: rebuild)',
    );
  }

  /** Reads each sink's tokens (the truth) and repairs the offset store if it is behind or empty. */
  async loadTokens(): Promise<Map<string, string>> {
    const lowest = new Map<string, string>();
    for (const t of this.d.targets) {
      if (t.rebuiltVersions) this.rebuiltAt.set(t.name, await t.rebuiltVersions());
      const tokens = await t.readTokens();
      this.sinkTokens.set(t.name, tokens);
      for (const [ch, tok] of tokens) {
        const cur = lowest.get(ch);
        if (!cur || compareTokens(parseToken(tok), parseToken(cur)) < 0) lowest.set(ch, tok);
      }
    }
    // A channel known to one sink only: the other has nothing, so the lowest is "no token".
    for (const t of this.d.targets)
      for (const ch of lowest.keys()) if (!this.sinkTokens.get(t.name)!.has(ch)) lowest.delete(ch);
    const stored = await this.d.store.readTokens();
    const repair = new Map<string, string>();
    for (const [ch, tok] of lowest) {
      const s = stored.get(ch);
      if (!s || compareTokens(parseToken(s), parseToken(tok)) < 0) repair.set(ch, tok);
      else if (compareTokens(parseToken(s), parseToken(tok)) > 0) {
        this.d.logger.warn(
          { channel: ch, store: s, sinks: tok },
          'offset store is ahead of the sinks; the sinks are the truth',
        );
      }
    }
    if (repair.size > 0) {
      await this.d.store.advanceTokens(repair);
      this.d.logger.info({ channels: repair.size }, 'repaired offset store tokens from the sinks');
    }
    return lowest;
  }

  /** The lowest token over all sinks for a channel: where reading must resume. */
  resumeToken(channel: string): string | null {
    let low: string | null = null;
    for (const t of this.d.targets) {
      const tok = this.sinkTokens.get(t.name)?.get(channel);
      if (!tok) return null;
      if (!low || compareTokens(parseToken(tok), parseToken(low)) < 0) low = tok;
    }
    return low;
  }

  /** Commits everything ≤ cutLsn held in `buffers`; returns false when there was nothing to commit. */
  async commitCut(cutLsn: Lsn, buffers: readonly ChannelBuffer[]): Promise<boolean> {
    const partedAt = this.parted.lsn;
    if (partedAt !== null) return cutLsn >= partedAt && this.commitParted(cutLsn, buffers);
    const takes: ChannelTake[] = buffers.map((b) => ({ channel: b.channel, changes: b.takeUpTo(cutLsn) }));
    const nonEmpty = takes.filter((t) => t.changes.length > 0);
    if (nonEmpty.length === 0) return false;
    const commitId = randomUUID();
    const durationsMs: Record<string, number> = {};
    const restore = () => {
      for (const t of takes) buffers.find((b) => b.channel === t.channel)!.restore([...t.changes]);
    };
    try {
      const schemas = new Set<TableSchema>();
      for (const t of nonEmpty) for (const c of t.changes) schemas.add(this.d.schemaOf(c.event));
      await this.prepare([...schemas]);
    } catch (e) {
      restore();
      throw e;
    }
    // The sinks commit side by side: one's Parquet encoding overlaps the other's database work.
    // Each moves its own tokens only, so a sink that fails while the other lands is exactly the
    // state a sequential pair could leave too: the round goes back to the buffers, and the retry
    // holds nothing for the sink that landed (its token filters the round out).
    const tablesOf = this.tablesOf(nonEmpty);
    const results = await Promise.allSettled(
      this.d.targets.map(async (target) => {
        const started = Date.now();
        await this.commitToSink(target, cutLsn, commitId, nonEmpty, tablesOf.get(target.name)!);
        durationsMs[target.name] = Date.now() - started;
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      restore();
      throw failed.reason;
    }
    const next = new Map(nonEmpty.map((t) => [t.channel, tokenAfter(t)!] as const));
    const ok = await this.d.store.advanceTokens(next, this.d.lease?.());
    if (!ok)
      this.d.logger.warn(
        { cut: formatLsn(cutLsn) },
        'offset store refused the tokens: this committer lost its lease',
      );
    const summary = emptyRoundSummary();
    addToSummary(summary, nonEmpty);
    await this.d.onCommitted?.({ cutLsn, rows: summary.rows, durationsMs, summary });
    await this.maintainIfDue();
    return true;
  }

  /** The round being written in parts, when one is (parted-commit.ts). */
  private readonly parted: PartedCommit;

  /** The commit LSN a round in parts is open for, or null. */
  get partedAt(): Lsn | null {
    return this.parted.lsn;
  }

  /** See PartedCommit.stagePart: one more part of a round too large for the buffers. */
  stagePart(lsn: Lsn, buffers: readonly ChannelBuffer[]): Promise<{ staged: number }> {
    return this.parted.stagePart(lsn, buffers);
  }

  /** Gives up the round in parts, if one is open: nothing of it is visible in any sink. */
  abortParted(): Promise<void> {
    return this.parted.abort();
  }

  /**
   * commitCut for an open round in parts: the round commits at its own LSN (PartedCommit.commit),
   * then what is left ≤ cutLsn as a usual round.
   */
  private async commitParted(cutLsn: Lsn, buffers: readonly ChannelBuffer[]): Promise<boolean> {
    const done = await this.parted.commit(buffers);
    const ok = await this.d.store.advanceTokens(done.tokens, this.d.lease?.());
    if (!ok)
      this.d.logger.warn(
        { cut: formatLsn(done.at) },
        'offset store refused the tokens: this committer lost its lease',
      );
    this.d.logger.info(
      { cut: formatLsn(done.at), parts: done.parts, changes: done.summary.rows },
      'round in parts committed',
    );
    await this.d.onCommitted?.({
      cutLsn: done.at,
      rows: done.summary.rows,
      durationsMs: done.durationsMs,
      summary: done.summary,
    });
    await this.maintainIfDue();
    if (cutLsn > done.at) await this.commitCut(cutLsn, buffers);
    return true;
  }

  /**
   * After a commit whose outcome is unknown: true when it landed (every token moved to its next),
   * false when certainly not (every token still as expected); fenced when another writer moved them.
   */
  private async landed(
    target: SinkTarget,
    updates: readonly TokenUpdate[],
    cause: unknown,
  ): Promise<boolean> {
    const now = await target.readTokens();
    if (updates.every((u) => now.get(u.channel) === u.next)) return true;
    if (updates.every((u) => (now.get(u.channel) ?? null) === u.expected)) return false;
    throw new TidemarkError('fenced', `${target.name}: tokens moved under an unknown-outcome commit`, {
      cause,
    });
  }

  private lastMaintenance = Date.now();

  /**
   * Runs the sinks' housekeeping between rounds, when due. A failure is logged, not thrown: the
   * data is committed, and a compaction that lost to a concurrent commit is simply tried later.
   */
  private async maintainIfDue(): Promise<void> {
    const every = this.d.maintenanceEveryMs;
    if (every === undefined || Date.now() - this.lastMaintenance < every) return;
    this.lastMaintenance = Date.now();
    for (const t of this.d.targets) {
      if (!t.maintain) continue;
      try {
        for (const m of await t.maintain()) {
          this.d.logger.info({ sink: t.name, ...m }, `${t.name} ${m.kind}: ${m.files} file(s) in ${m.ms} ms`);
          this.d.onMaintained?.(t.name, m.kind, m.files);
        }
      } catch (e) {
        this.d.logger.warn(
          { sink: t.name, err: (e as Error).message },
          'sink maintenance failed; it runs again later',
        );
      }
    }
  }

  private lastDroppedCheck = 0;
  /** table -> the droppedAt every sink was marked with. */
  private readonly markedDropped = new Map<string, string>();

  /**
   * Marks in every sink the tables the source found dropped, once every change of theirs is
   * committed (`completeUpTo`: every change with a commit LSN at or below it is in the sinks, and
   * the source noticed the drop after the table's last change). A failure is logged, not thrown:
   * the mark is bookkeeping, tried again at the next check.
   */
  async markDroppedIfDue(completeUpTo: Lsn): Promise<void> {
    const read = this.d.droppedTables;
    // A round in parts holds the warehouse's transaction (DuckDB: its only connection) open.
    if (
      !read ||
      this.parted.lsn !== null ||
      Date.now() - this.lastDroppedCheck < (this.d.droppedCheckEveryMs ?? 5000)
    )
      return;
    this.lastDroppedCheck = Date.now();
    try {
      for (const d of await read()) {
        if (this.markedDropped.get(d.table) === d.droppedAt || parseLsn(d.noticedAtLsn) > completeUpTo)
          continue;
        for (const t of this.d.targets) await t.markDropped?.(parseTableKey(d.table), d.droppedAt);
        this.markedDropped.set(d.table, d.droppedAt);
        this.d.logger.info(
          { table: d.table, droppedAt: d.droppedAt },
          'table dropped in the source: marked in the sinks, its rows kept',
        );
      }
    } catch (e) {
      this.d.logger.warn(
        { err: (e as Error).message },
        'marking dropped tables in the sinks failed; retrying later',
      );
    }
  }

  /** Per sink: the round's tables as it is to write them (round-builder.ts tablesForSinks). */
  private tablesOf(takes: readonly ChannelTake[]): Map<string, TableChanges[]> {
    return tablesForSinks(
      takes,
      this.d.targets.map((t) => ({
        name: t.name,
        tokens: this.sinkTokens.get(t.name)!,
        rebuiltAt: this.rebuiltAt.get(t.name),
      })),
      this.d.schemaOf,
      this.d.optionsOf,
    );
  }

  private async commitToSink(
    target: SinkTarget,
    cutLsn: Lsn,
    commitId: string,
    takes: ChannelTake[],
    tables: readonly TableChanges[],
  ): Promise<void> {
    const tokens = this.sinkTokens.get(target.name)!;
    // A take made only of replays this sink already holds must not move its token backwards.
    const updates = tokenUpdates(new Map(takes.map((t) => [t.channel, tokenAfter(t)!] as const)), tokens);
    if (updates.length === 0 && tables.length === 0) return;
    const maxAttempts = this.d.maxAttempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      try {
        await target.commitRound({ cutLsn, commitId, tables, tokens: updates });
        break;
      } catch (e) {
        this.d.onFailed?.(target.name, failureKind(e));
        if (isTidemarkError(e, 'commit_state_unknown')) {
          if (await this.landed(target, updates, e)) break;
        } else if (!isTidemarkError(e, 'transient') && !isTidemarkError(e, 'commit_failed')) {
          throw e;
        }
        if (attempt >= maxAttempts) throw e;
        this.d.logger.warn(
          { sink: target.name, attempt, err: (e as Error).message },
          'sink commit failed; retrying the same round',
        );
        await new Promise((r) => setTimeout(r, (this.d.retryDelayMs ?? 250) * 2 ** Math.min(attempt, 6)));
      }
    }
    for (const u of updates) tokens.set(u.channel, u.next);
  }
}
