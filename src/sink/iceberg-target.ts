import type { IcebergConfig, TableOptions } from '../config/schema';
import { isTidemarkError, TidemarkError } from '../core/errors';
import { formatLsn, type Lsn, parseLsn } from '../core/lsn';
import { compareTokens, parseToken } from '../core/offset-token';
import type { TableRef, TableSchema } from '../core/table-schema';
import { tableKey } from '../core/table-schema';
import type { Catalog, TableIdent } from './iceberg/catalog';
import { Lakehouse } from './iceberg/lakehouse';
import { openCatalog } from './iceberg/open-catalog';
import { openFileIO } from './iceberg/open-file-io';
import type { StagedChange } from './iceberg/staged-change';
import { PartRefused } from './parted-rounds';
import { parsePartitionBy } from './partition-spec';
import type { CommitRound, PartedRound, SinkTarget } from './sink-target';

type Cut = { lsn: Lsn; commitId: string; atMs: number };

export interface MaintenanceDone {
  readonly table: string;
  readonly kind: 'compact' | 'expire';
  /** Files rewritten (compact) or deleted (expire). */
  readonly files: number;
  readonly ms: number;
}

const TOKEN_PREFIX = 'tidemark.token.';
const CUT_PROPERTY = 'tidemark.cut-lsn';
const CUT_AT_PROPERTY = 'tidemark.cut-at-ms';
/**
 * An automatic compaction rewrites at most this many new files' worth of rows (targetFileRows
 * each) per table and pass; what is left waits for the next pass. Commits wait while it runs, so
 * its length must not grow with the table.
 */
const AUTO_COMPACT_NEW_FILES = 2;
/** The automatic maintenance looks for orphan files of a table at most this often. */
const ORPHAN_SWEEP_EVERY_MS = 3_600_000;

/**
 * The lakehouse as a SinkTarget. Every snapshot a round commits carries, in its summary, the
 * cut LSN and the offset token of every channel known at that moment (tidemark.token.<channel>),
 * so the tokens survive in the tables themselves: on restart each channel's token is the highest
 * found in the current snapshots. A round is one multi-table catalog commit; another writer's
 * commit that moved a token this round started from fences it.
 */
export class IcebergTarget implements SinkTarget {
  readonly name = 'iceberg';
  private readonly tables = new Map<string, TableSchema>();
  private tokens = new Map<string, string>();
  private cut: Cut | null = null;
  /** Per table: when the automatic maintenance last looked for its orphan files. */
  private readonly lastOrphanSweep = new Map<string, number>();
  /** The table the last maintenance pass did not reach (its budget ran out), or null. */
  private maintainNext: string | null = null;

  private constructor(
    private readonly lake: Lakehouse,
    private readonly catalog: Catalog,
    private readonly maintenance: IcebergConfig['maintenance'] | null,
  ) {}

  /** `maintenance` absent: none (readers such as `status` and `verify`). */
  static async open(
    cfg: Omit<IcebergConfig, 'maintenance'> & Partial<Pick<IcebergConfig, 'maintenance'>>,
  ): Promise<IcebergTarget> {
    const { io, warehouse } = await openFileIO(cfg); // first: it checks an s3:// location
    const catalog = await openCatalog(cfg.catalog);
    return new IcebergTarget(
      new Lakehouse({
        catalog,
        io,
        warehouse,
        targetFileBytes: cfg.targetFileBytes,
        namespace: cfg.namespace,
      }),
      catalog,
      cfg.maintenance ?? null,
    );
  }

  /**
   * Automatic maintenance, run by the committer between rounds (so it never races the sink's
   * own commits): compacts the small files of each table holding `compactAtFiles` data and
   * delete files or more, at most AUTO_COMPACT_NEW_FILES files' worth of rows a pass, then
   * expires old snapshots and (at most hourly) removes old orphan files. The rounds wait for it,
   * so a pass starts no table once `passBudgetMs` has gone by; the next pass begins with the
   * first table this one did not reach, so every table gets its turn however many there are.
   */
  async maintain(): Promise<MaintenanceDone[]> {
    const p = this.maintenance;
    if (!p) return [];
    const done: MaintenanceDone[] = [];
    const passStarted = Date.now();
    const order = this.maintenanceOrder();
    for (const [i, schema] of order.entries()) {
      if (i > 0 && Date.now() - passStarted >= p.passBudgetMs) {
        this.maintainNext = tableKey(schema);
        return done;
      }
      done.push(...(await this.maintainTable(schema, p)));
    }
    this.maintainNext = null;
    return done;
  }

  /** The tables, starting with the one the last pass did not reach. */
  private maintenanceOrder(): TableSchema[] {
    const all = [...this.tables.values()];
    const from = all.findIndex((s) => tableKey(s) === this.maintainNext);
    return from <= 0 ? all : [...all.slice(from), ...all.slice(0, from)];
  }

  private async maintainTable(
    schema: TableSchema,
    p: IcebergConfig['maintenance'],
  ): Promise<MaintenanceDone[]> {
    const done: MaintenanceDone[] = [];
    const table = tableKey(schema);
    const summary = await this.lake.readSummary(schema);
    if (!summary) return done;
    const files = Number(summary['total-data-files'] ?? 0) + Number(summary['total-delete-files'] ?? 0);
    if (p.compactAtFiles > 0 && files >= p.compactAtFiles) {
      const started = Date.now();
      const r = await this.lake.compact(schema, p.targetFileRows, 'small', AUTO_COMPACT_NEW_FILES);
      if (r.rewrittenFiles > 0)
        done.push({ table, kind: 'compact', files: r.rewrittenFiles, ms: Date.now() - started });
    }
    const started = Date.now();
    // Orphans come only from failed or crashed commits; finding them lists the whole table location.
    const sweep = started - (this.lastOrphanSweep.get(table) ?? 0) >= ORPHAN_SWEEP_EVERY_MS;
    if (sweep) this.lastOrphanSweep.set(table, started);
    const e = await this.lake.expire(schema, {
      keepLast: p.keepSnapshots,
      olderThanMs: p.expireAfterMs,
      maxSnapshots: p.maxSnapshots,
      orphansOlderThanMs: sweep ? p.expireAfterMs : null,
    });
    if (e.expired + e.orphans > 0)
      done.push({ table, kind: 'expire', files: e.deletedFiles + e.orphans, ms: Date.now() - started });
    return done;
  }

  async prepareTables(tables: readonly { schema: TableSchema; options: TableOptions }[]): Promise<void> {
    for (const { schema, options } of tables) {
      const known = this.tables.get(tableKey(schema));
      if (known && known.version === schema.version) continue;
      if (!known)
        await this.lake.createTable(schema, {
          partition: parsePartitionBy(tableKey(schema), options.partitionBy),
          mode: options.mode,
        });
      await this.lake.evolve(schema);
      this.tables.set(tableKey(schema), schema);
    }
  }

  async rebuildTable(schema: TableSchema, options: TableOptions): Promise<void> {
    await this.lake.rebuild(schema, {
      partition: parsePartitionBy(tableKey(schema), options.partitionBy),
      mode: options.mode,
    });
    this.tables.set(tableKey(schema), schema);
  }

  async rebuiltVersions(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [key, schema] of this.tables) {
      const v = await this.lake.rebuiltVersion(schema);
      if (v !== null) out.set(key, v);
    }
    return out;
  }

  async readTokens(): Promise<Map<string, string>> {
    const { tokens, cut } = await this.readTokensOf([...this.tables.values()]);
    this.tokens = tokens;
    this.cut = cut;
    return new Map(tokens);
  }

  /**
   * The tokens and the newest cut stored in these tables' current snapshots, read only (for
   * `status`: tables missing from the catalog are skipped, nothing is created).
   */
  async readTokensOf(tables: readonly TableRef[]): Promise<{ tokens: Map<string, string>; cut: Cut | null }> {
    const tokens = new Map<string, string>();
    let cut: Cut | null = null;
    for (const table of tables) {
      if ((await this.catalog.currentLocation(this.lake.identOf(table))) === null) continue;
      const summary = await this.lake.readSummary(table);
      if (!summary) continue;
      for (const [k, v] of Object.entries(summary)) {
        if (!k.startsWith(TOKEN_PREFIX)) continue;
        const ch = k.slice(TOKEN_PREFIX.length);
        const cur = tokens.get(ch);
        if (!cur || compareTokens(parseToken(v), parseToken(cur)) > 0) tokens.set(ch, v);
      }
      const lsn = summary[CUT_PROPERTY];
      if (lsn && (!cut || parseLsn(lsn) > cut.lsn)) {
        cut = {
          lsn: parseLsn(lsn),
          commitId: summary['tidemark.commit-id'] ?? '',
          atMs: Number(summary[CUT_AT_PROPERTY] ?? 0),
        };
      }
    }
    return { tokens, cut };
  }

  async lastCut() {
    return this.cut;
  }

  async commitRound(round: CommitRound): Promise<void> {
    this.checkStartsFromHeld(round);
    const staged: StagedChange[] = [];
    try {
      for (const t of round.tables) {
        const schema = this.tables.get(tableKey(t.schema));
        if (!schema || schema.version !== t.schema.version)
          await this.prepareTables([{ schema: t.schema, options: t.options }]);
        // Every mode is exactly once through the tokens alone, append included: the round holds
        // only changes above this sink's token (round-builder.ts drops the replays), and the rows
        // and the token move in one snapshot, so a change committed once is never written again.
        staged.push(await this.lake.stageChanges(t.schema, t.events));
      }
    } catch (e) {
      await this.lake.discard(staged).catch(() => {});
      throw e;
    }
    await this.commitStaged(round, staged);
  }

  /**
   * A round in parts: each part's files are written at once and the writer's key index follows
   * them (see Lakehouse.stagePart); one multi-table catalog commit at the end, as commitRound's,
   * holding one snapshot per part and table. A round that does not land leaves the writer's
   * tables to be reloaded from the catalog (their cached index was ahead of it).
   */
  async openRound(): Promise<PartedRound> {
    const parts = new Map<string, StagedChange[]>();
    const touched = new Map<string, TableRef>();
    /** Per table the round evolved: the schema it was prepared at before (restored if the round does not land). */
    const evolvedFrom = new Map<string, TableSchema>();
    let ended = false;
    const end = async (discard: boolean) => {
      ended = true;
      this.lake.forget([...touched.values()].map((t) => this.lake.identOf(t)));
      for (const [key, schema] of evolvedFrom) this.tables.set(key, schema);
      if (discard) await this.lake.discard([...parts.values()].flat()).catch(() => {});
    };
    return {
      stage: async (tables) => {
        if (ended) throw new TidemarkError('internal', 'iceberg: parted round used after it ended');
        try {
          for (const t of tables) {
            if (this.tables.get(tableKey(t.schema))?.version !== t.schema.version)
              throw new TidemarkError(
                'internal',
                `iceberg: ${tableKey(t.schema)} version ${t.schema.version} is not prepared (PartedRound.evolve)`,
              );
            const key = tableKey(t.schema);
            touched.set(key, t.schema);
            parts.set(key, [...(parts.get(key) ?? []), await this.lake.stagePart(t.schema, t.events)]);
          }
        } catch (e) {
          await end(true);
          throw e;
        }
      },
      // Held in the writer's state and committed with the round (Lakehouse.evolveInRound); a
      // rewrite of the rows it needs is one more part.
      evolve: async (tables) => {
        if (ended) throw new TidemarkError('internal', 'iceberg: parted round used after it ended');
        try {
          for (const { schema, options } of tables) {
            const key = tableKey(schema);
            const known = this.tables.get(key);
            if (known?.version === schema.version) continue;
            if (!known) {
              await this.prepareFirstMet(schema, options);
              continue;
            }
            touched.set(key, schema);
            if (!evolvedFrom.has(key)) evolvedFrom.set(key, known);
            const rewrite = await this.lake.evolveInRound(schema);
            this.tables.set(key, schema);
            if (rewrite) parts.set(key, [...(parts.get(key) ?? []), rewrite]);
          }
        } catch (e) {
          await end(true);
          throw e;
        }
      },
      commit: async (round) => {
        if (ended) throw new TidemarkError('internal', 'iceberg: parted round used after it ended');
        ended = true;
        try {
          this.checkStartsFromHeld(round);
        } catch (e) {
          await end(true);
          throw e;
        }
        try {
          // each table's parts in order: one snapshot each, all in one catalog commit
          await this.commitStaged(round, [...parts.values()].flat());
          evolvedFrom.clear();
        } catch (e) {
          await end(false); // commitStaged deleted the files where that is safe
          throw e;
        }
      },
      abort: async () => {
        if (!ended) await end(true);
      },
    };
  }

  /**
   * A table first met inside a round in parts: created in the catalog now (or loaded, when it is
   * there already), empty until the round's commit gives it rows. Its snapshots may hold tokens
   * newer than the ones the round started from (a table the stream comes back to): changes the
   * round already took might then be replays, so such a table is refused (the round held whole).
   */
  private async prepareFirstMet(schema: TableSchema, options: TableOptions): Promise<void> {
    await this.prepareTables([{ schema, options }]);
    const { tokens } = await this.readTokensOf([schema]);
    for (const [ch, tok] of tokens) {
      const held = this.tokens.get(ch);
      if (!held || compareTokens(parseToken(tok), parseToken(held)) > 0)
        throw new PartRefused(
          `iceberg: ${tableKey(schema)}, first met inside the round, holds a token of ${ch} newer than the round's`,
        );
    }
  }

  /** Commits staged changes with the round's tokens in one multi-table commit (see commitRound). */
  private async commitStaged(round: Omit<CommitRound, 'tables'>, staged: StagedChange[]): Promise<void> {
    if (staged.length === 0) return; // only replays: nothing to write, and no token to move here
    try {
      const next = new Map(this.tokens);
      for (const u of round.tokens) next.set(u.channel, u.next);
      const atMs = Date.now();
      const properties: Record<string, string> = {
        [CUT_PROPERTY]: formatLsn(round.cutLsn),
        [CUT_AT_PROPERTY]: String(atMs),
      };
      for (const [ch, tok] of next) properties[`${TOKEN_PREFIX}${ch}`] = tok;
      await this.lake.commit(staged, {
        properties,
        commitId: round.commitId,
        expected: (_t: TableIdent, summary) => this.unmoved(round, summary),
      });
      this.tokens = next;
      this.cut = { lsn: round.cutLsn, commitId: round.commitId, atMs };
    } catch (e) {
      // Certainly not committed: the files just written are garbage. Unknown: leave them.
      if (isTidemarkError(e, 'commit_failed') || isTidemarkError(e, 'fenced') || !isTidemarkError(e))
        await this.lake.discard(staged).catch(() => {});
      throw e;
    }
  }

  /**
   * A round must start from the tokens this sink holds (the commit is conditional on them, as the
   * warehouse's `UPDATE … WHERE token = expected`). Another writer's commit is caught by the
   * catalog's compare-and-set (`unmoved`); this catches a round handed to this same writer
   * again, which would otherwise be written twice (an append table would hold its rows twice).
   */
  private checkStartsFromHeld(round: Pick<CommitRound, 'tokens'>): void {
    for (const u of round.tokens) {
      const held = this.tokens.get(u.channel) ?? null;
      const same =
        held === u.expected ||
        (held !== null &&
          u.expected !== null &&
          compareTokens(parseToken(held), parseToken(u.expected)) === 0);
      if (!same)
        throw new TidemarkError(
          'fenced',
          `iceberg: token of channel ${u.channel} is ${held ?? '(none)'}, not ${u.expected ?? '(none)'}: the round was committed already or another writer moved it; nothing written`,
        );
    }
  }

  /** False when another writer's snapshot holds a token this round did not start from. */
  private unmoved(
    round: Pick<CommitRound, 'tokens'>,
    summary: Readonly<Record<string, string>> | null,
  ): boolean {
    for (const u of round.tokens) {
      const stored = summary?.[`${TOKEN_PREFIX}${u.channel}`];
      if (!stored) continue;
      if (u.expected === null || compareTokens(parseToken(stored), parseToken(u.expected)) > 0) return false;
    }
    return true;
  }

  async markDropped(table: TableRef, droppedAt: string | null): Promise<void> {
    await this.lake.markDropped(table, droppedAt);
  }

  async close(): Promise<void> {
    await this.catalog.close?.();
  }
}
