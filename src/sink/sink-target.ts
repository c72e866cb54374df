import type { TableOptions } from '../config/schema';
import type { ChangeEvent } from '../core/change-event';
import type { Lsn } from '../core/lsn';
import type { TokenUpdate } from '../core/offset-token';
import type { TableRef, TableSchema } from '../core/table-schema';

/** One table's part of a commit round: its changes ≤ the cut, in position order. */
export interface TableChanges {
  readonly schema: TableSchema;
  readonly options: TableOptions;
  readonly events: readonly ChangeEvent[];
}

/** Everything one sink commits atomically at one consistent cut. */
export interface CommitRound {
  /** The cut: every change with commit LSN ≤ cutLsn that this sink had not committed is in `tables`. */
  readonly cutLsn: Lsn;
  /** Unique per round; written into the sink's commit so an unknown outcome can be resolved. */
  readonly commitId: string;
  readonly tables: readonly TableChanges[];
  /** Per channel: the token this round started from and the one it moves to. */
  readonly tokens: readonly TokenUpdate[];
}

/**
 * A round too large to hold in memory (a source transaction larger than the sink's buffer bound),
 * written in parts. Contract:
 * - `stage` writes one part where no reader sees it. Parts come in log order: a key's change in a
 *   later part follows its change in an earlier one (last change wins, TOAST-unchanged columns
 *   keep the value an earlier part gave). After the first part, a part holds no key change with
 *   unchanged columns (the coordinator holds such rounds whole), and its tables were given their
 *   schema version by `prepareTables` before the round opened or by `evolve` inside it.
 * - `evolve` gives tables the round already holds a new schema version (a schema change inside
 *   the source transaction) for the parts after it. What the earlier parts wrote must read as the
 *   source has it after the change. A sink that cannot throws PartRefused (the coordinator then
 *   gives the round up and holds it whole); absent: the sink never can.
 * - `commit` makes every part visible and moves every token in ONE atomic step, with
 *   `commitRound`'s contract (fenced, commit_state_unknown), schema changes included. Until it
 *   resolves, nothing of the round is visible.
 * - After `abort`, or any failure of `stage`, `evolve` or `commit` (other than a commit that
 *   landed), the sink is as it was before the round; the round cannot be used again.
 */
export interface PartedRound {
  stage(tables: readonly TableChanges[]): Promise<void>;
  evolve?(tables: readonly { schema: TableSchema; options: TableOptions }[]): Promise<void>;
  commit(round: Omit<CommitRound, 'tables'>): Promise<void>;
  abort(): Promise<void>;
}

/**
 * A sink (the Iceberg lakehouse, the warehouse). Contract:
 * - `commitRound` applies every table and moves every token in ONE atomic step, conditional on
 *   each stored token still being `expected`. It resolves only once that step is durable.
 *   It throws TidemarkError('fenced') when a stored token moved (nothing applied), and
 *   TidemarkError('commit_state_unknown') when it cannot tell whether the step landed; a caller
 *   then re-reads the tokens (`readTokens`) before doing anything else.
 * - `readTokens` returns the tokens stored inside the sink's own commits: the truth on restart.
 * - Rounds hold changes above the sink's token only; applying a round twice is impossible
 *   because the second attempt is fenced by the token condition.
 */
export interface SinkTarget {
  readonly name: string;
  /** Makes sure the target tables exist with these schemas (and evolves them when they changed). */
  prepareTables(tables: readonly { schema: TableSchema; options: TableOptions }[]): Promise<void>;
  commitRound(round: CommitRound): Promise<void>;
  /** Starts a round written in parts (see PartedRound); nothing is written until its first part. */
  openRound(): Promise<PartedRound>;
  /**
   * Marks a table dropped in the source (`droppedAt`, an ISO time), or clears the mark (null);
   * idempotent, a table the sink does not hold is passed over. Rows are never touched: a round
   * that brings the table changes again (it was created anew) clears the mark with its commit.
   */
  markDropped?(table: TableRef, droppedAt: string | null): Promise<void>;
  /**
   * `onIncompatibleSchema: rebuild`: empties the table and gives it `schema` afresh (as a new
   * table of that schema would be), recording `schema.version` as the version it was rebuilt at;
   * its rows come back from a copy the source makes. In one atomic step; idempotent per version.
   */
  rebuildTable?(schema: TableSchema, options: TableOptions): Promise<void>;
  /** Per table key: the schema version it was last rebuilt at (changes of older versions are dropped). */
  rebuiltVersions?(): Promise<Map<string, number>>;
  readTokens(): Promise<Map<string, string>>;
  /**
   * Housekeeping the committer runs between rounds (Iceberg: compaction, snapshot expiry); what
   * it did, for logs and metrics. Absent where there is none.
   */
  maintain?(): Promise<readonly { table: string; kind: string; files: number; ms: number }[]>;
  /** The last committed cut, for status and metrics (null before the first commit). */
  lastCut(): Promise<{ lsn: Lsn; commitId: string; atMs: number } | null>;
  close(): Promise<void>;
}
