import type { TableOptions } from '../../config/schema';
import { TidemarkError } from '../../core/errors';
import { type TableSchema, tableKey } from '../../core/table-schema';
import type { CommitRound, PartedRound, TableChanges } from '../sink-target';
import type { MetaTables } from './meta-tables';
import { applyTablesIn } from './round-apply';
import type { WarehouseHooks } from './warehouse';
import type { WarehouseSession } from './warehouse-session';

type Prepared = { readonly schema: TableSchema; readonly options: Pick<TableOptions, 'mode'> };
type Step =
  | { readonly kind: 'part'; readonly tables: readonly TableChanges[]; readonly applied: () => void }
  | { readonly kind: 'evolve'; readonly tables: readonly Prepared[]; readonly applied: () => void }
  | { readonly kind: 'commit'; readonly round: Omit<CommitRound, 'tables'> }
  | { readonly kind: 'abort' };

export interface PartedRoundDeps {
  /** The adapter's transaction: rolled back when its body throws, COMMIT when it resolves. */
  readonly transaction: (fn: (s: WarehouseSession) => Promise<void>) => Promise<void>;
  /**
   * Creates or evolves a table in the session's transaction (SqlWarehouse.prepareTables' step);
   * `changed`: the transaction changed its rows already (see SqlWarehouse.copiesBeforeAltering).
   */
  readonly prepareIn: (s: WarehouseSession, table: Prepared, changed: boolean) => Promise<void>;
  readonly meta: MetaTables;
  readonly hooks: WarehouseHooks;
  /** Rebuilt tables (a partial update of a row not held yet is passed over). */
  readonly rebuilt: ReadonlySet<string>;
  /** Tables marked dropped in the source: a table taking changes loses its mark in the same commit. */
  readonly marked: Set<string>;
}

/**
 * A parted round on a SQL warehouse: ONE database transaction held open across the parts. Each
 * part is staged and applied inside it as a round's tables would be (a later part sees the
 * earlier ones' rows: upserts replace them, unchanged columns keep their values); the commit
 * moves the tokens conditionally and records the cut, then COMMIT. A schema change between parts
 * is an ALTER in the same transaction (its fill UPDATE reaches the earlier parts' rows, as the
 * source's ALTER reached the rows its transaction wrote before it; see prepareIn's `changed`). Nothing is visible before,
 * and a failure or an abort rolls everything back. The transaction holds its connection (DuckDB:
 * the file's only one) until the round ends, so the caller must not use the warehouse meanwhile.
 */
export function openPartedRound(d: PartedRoundDeps): PartedRound {
  const steps: Step[] = [];
  let wake: (() => void) | null = null;
  const next = async (): Promise<Step> => {
    while (steps.length === 0) await new Promise<void>((r) => (wake = r));
    return steps.shift()!;
  };
  const push = (s: Step) => {
    steps.push(s);
    wake?.();
    wake = null;
  };
  const tables = new Set<string>();
  const done = d.transaction(async (s) => {
    // `step` is let and cleared after a part: a binding left holding it while the next part is
    // awaited would keep the applied part's changes alive.
    let step: Step | null = null;
    for (let part = 1; ; part++) {
      step = await next();
      if (step.kind === 'abort')
        throw new TidemarkError('commit_failed', 'warehouse: parted round aborted; rolled back');
      if (step.kind === 'evolve') {
        for (const t of step.tables) await d.prepareIn(s, t, tables.has(tableKey(t.schema)));
        step.applied();
        step = null;
        continue;
      }
      if (step.kind === 'part') {
        await applyTablesIn(s, step.tables, d.hooks, d.rebuilt, part);
        for (const t of step.tables) tables.add(tableKey(t.schema));
        step.applied();
        step = null;
        continue;
      }
      // Moved last: PostgreSQL's row lock on each token then makes a concurrent writer wait
      // from here to COMMIT, and one that committed first fences this round (rolled back).
      for (const u of step.round.tokens) await d.meta.moveToken(s, u, step.round.cutLsn, step.round.commitId);
      for (const k of [...tables].filter((t) => d.marked.has(t)))
        await s.query(`UPDATE ${d.meta.tables} SET source_dropped_at = NULL WHERE table_key = $1`, [k]);
      await d.meta.recordCut(s, step.round.cutLsn, step.round.commitId);
      await d.hooks.beforeCommit?.();
      return;
    }
  });
  done.catch(() => {});
  // How a part waits for its turn: resolved once applied, rejected when the transaction ends
  // first (with the adapter's error when a part failed). Its callbacks are set per part, not
  // hung on `done`: a reaction on `done` lives until the round ends and would keep every part's
  // changes reachable (the closure's context holds them), so memory would grow with the round.
  let failPart: ((e: unknown) => void) | null = null;
  let over: { readonly error: unknown } | null = null;
  const endWith = (error: unknown) => {
    over = { error };
    failPart?.(error);
  };
  void done.then(
    () => endWith(new TidemarkError('internal', 'warehouse: parted round ended early')),
    endWith,
  );
  let ended = false;
  const usable = () => {
    if (ended) throw new TidemarkError('internal', 'warehouse: parted round used after it ended');
  };
  const run = async (step: (applied: () => void) => Step) => {
    usable();
    if (over) throw (over as { error: unknown }).error;
    try {
      await new Promise<void>((resolve, reject) => {
        failPart = reject;
        push(step(resolve));
      });
    } finally {
      failPart = null;
    }
  };
  return {
    stage: (parts) => run((applied) => ({ kind: 'part', tables: parts, applied })),
    evolve: (evolved) => run((applied) => ({ kind: 'evolve', tables: evolved, applied })),
    async commit(round) {
      usable();
      ended = true;
      push({ kind: 'commit', round });
      await done;
      for (const k of tables) d.marked.delete(k);
    },
    async abort() {
      if (ended) return;
      ended = true;
      push({ kind: 'abort' });
      await done.catch(() => {});
    },
  };
}
