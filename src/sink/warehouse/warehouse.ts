import type { TableOptions } from '../../config/schema';
import type { TableSchema } from '../../core/table-schema';
import type { SinkTarget } from '../sink-target';

export type TableMode = TableOptions['mode'];

/** What to do with a column the source dropped (DESIGN "Warehouse", issue "Schema evolution"). */
export interface EvolutionPolicy {
  /** 'keep': the column stays, nullable, and new rows hold NULL (a note is logged); 'drop': it is dropped. */
  readonly droppedColumns: 'keep' | 'drop';
}

export const DEFAULT_EVOLUTION_POLICY: EvolutionPolicy = { droppedColumns: 'keep' };

/**
 * A SQL warehouse target (DuckDB file or PostgreSQL database). Delivery contract:
 * - `prepareTables` creates each target table (same schema and table name as the source,
 *   source columns in source order, then `_tidemark_*` metadata columns) or evolves it when the
 *   table schema changed since the last call; the last applied schema is stored in
 *   `_tidemark_tables`, so evolution survives restarts.
 * - `commitRound` is ONE database transaction: every table of the round is bulk-loaded into a
 *   staging table (DuckDB appender, PostgreSQL COPY) and applied (mirror: upsert + delete;
 *   soft-delete: upsert + `_tidemark_deleted_at`; append: every change appended), every token is
 *   moved with `UPDATE … WHERE token = expected`, and the cut is recorded in `_tidemark_cut`.
 *   It resolves only once COMMIT returned. It throws TidemarkError('fenced') when a stored token
 *   is not the expected one (the transaction is rolled back: nothing applied),
 *   'commit_state_unknown' when the connection failed during COMMIT, 'transient' when it failed
 *   before COMMIT (rolled back), 'unsupported_value' when a value does not fit its column
 *   (rolled back, naming the table).
 * - A replayed round is fenced by its tokens, so applying a batch twice leaves the table as once.
 * - `readTokens` reads `_tidemark_offsets`: the truth on restart.
 */
export interface Warehouse extends SinkTarget {
  readonly kind: 'duckdb' | 'postgres';
  /** Alters the target table from `from` to `to`; an incompatible change is TidemarkError('schema_incompatible'). */
  evolveTable(from: TableSchema, to: TableSchema, mode: TableMode, policy?: EvolutionPolicy): Promise<void>;
  /** Operator reset (`tidemark offsets reset`): sets the stored tokens of these channels; resolves how many it held. */
  resetTokens(tokens: ReadonlyMap<string, string>): Promise<number>;
}

export type WarehouseConfig =
  /** `memoryLimit`: DuckDB's memory_limit (its own default, 80% of the machine, when not given). */
  | { readonly kind: 'duckdb'; readonly path: string; readonly memoryLimit?: string }
  /** `schema`: where tidemark's own `_tidemark_*` tables live (default "public"). */
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string };

/** Test and operations hooks: run inside the transaction, after staging, before the merge / COMMIT. */
export interface WarehouseHooks {
  readonly afterStage?: () => Promise<void> | void;
  readonly beforeCommit?: () => Promise<void> | void;
}

export interface WarehouseOptions {
  readonly policy?: EvolutionPolicy;
  readonly hooks?: WarehouseHooks;
  /** Receives notes such as "column kept after a drop"; defaults to nothing. */
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}
