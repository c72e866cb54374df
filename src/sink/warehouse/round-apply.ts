import { TidemarkError } from '../../core/errors';
import { tableKey } from '../../core/table-schema';
import type { CommitRound } from '../sink-target';
import {
  appendSql,
  carrySql,
  deleteSql,
  type IdxRange,
  type MergeContext,
  missingPartialSql,
  partialUpdateSql,
  truncateSql,
  upsertSql,
} from './merge-sql';
import type { MetaTables } from './meta-tables';
import { valueText } from './pg-copy-text';
import { ident } from './sql-names';
import { rowRanges, type StagedRow, stageTable } from './staged-rows';
import type { WarehouseHooks } from './warehouse';
import type { WarehouseSession } from './warehouse-session';

/**
 * The body of one round's transaction (the caller owns BEGIN / COMMIT / ROLLBACK):
 * 1. move every token conditionally, first: a fenced round fails before any work, and in
 *    PostgreSQL the token row lock makes a concurrent writer wait and then see the new token;
 * 2. stage every table (bulk load), 3. apply every table, 4. record the cut.
 */
export async function applyRoundIn(
  s: WarehouseSession,
  meta: MetaTables,
  round: CommitRound,
  hooks: WarehouseHooks = {},
  /** Rebuilt tables (onIncompatibleSchema: rebuild): a partial update of a row not held yet is passed over. */
  rebuilt: ReadonlySet<string> = new Set(),
): Promise<void> {
  for (const u of round.tokens) await meta.moveToken(s, u, round.cutLsn, round.commitId);
  await applyTablesIn(s, round.tables, hooks, rebuilt);
  await meta.recordCut(s, round.cutLsn, round.commitId);
  await hooks.beforeCommit?.();
}

/**
 * Stages and applies tables' changes inside the caller's transaction: a round's, or one part of a
 * parted round (`part` keeps each part's staging tables apart: PostgreSQL drops them at commit).
 */
export async function applyTablesIn(
  s: WarehouseSession,
  tables: CommitRound['tables'],
  hooks: WarehouseHooks,
  rebuilt: ReadonlySet<string>,
  part = 0,
): Promise<void> {
  const staged = tables.map((t) => stageTable(t.schema, t.options.mode, t.events));
  const names = staged.map((_, i) =>
    ident(part === 0 ? `_tidemark_stage_${i}` : `_tidemark_stage_${part}_${i}`),
  );
  for (let i = 0; i < staged.length; i++) {
    const st = staged[i]!;
    if (st.rows.length === 0) continue;
    try {
      await s.stage(st, names[i]!);
    } catch (e) {
      throw s.tableError(e, tableKey(st.schema));
    }
  }
  await hooks.afterStage?.();
  for (let i = 0; i < staged.length; i++) {
    const st = staged[i]!;
    const name = tableKey(st.schema);
    const m: MergeContext = {
      schema: st.schema,
      mode: st.mode,
      staging: names[i]!,
      valueExpr: (c) => s.valueExpr(st.schema, c),
    };
    try {
      if (st.truncatedAtMs !== null) await s.query(truncateSql(m, st.truncatedAtMs));
      if (st.rows.length === 0) continue;
      const ranges = slices(st.rows, s);
      if (st.mode === 'append') {
        if (st.anyUnchanged) await s.query(appendSql(m, true));
        for (const r of ranges) await s.query(appendSql(m, false, r));
      } else {
        for (const c of st.carries) {
          const types = st.schema.primaryKey.map(
            (k) => st.schema.columns.find((col) => col.name === k)!.type,
          );
          await s.query(
            carrySql(m, (i) => s.columnType(st.schema.columns[i]!.type)),
            [...c.to, ...c.from].map((v, n) => (v === null ? null : valueText(v, types[n % types.length]!))),
          );
        }
        if (st.rows.some((r) => r.op === 'd')) for (const r of ranges) await s.query(deleteSql(m, r));
        if (st.anyUnchanged) {
          const missing = Number((await s.query(missingPartialSql(m)))[0]?.n ?? 0);
          // the source's copy of a rebuilt table brings the rows its partial updates miss
          if (missing > 0 && !rebuilt.has(name)) {
            throw new TidemarkError(
              'corrupt_state',
              `${name}: ${missing} update(s) with unchanged (TOAST) columns for keys the warehouse does not hold; their stored values cannot be kept`,
              {
                fix: 'the warehouse table is behind the source: rebuild it (drop it and re-snapshot)',
              },
            );
          }
          for (const sql of partialUpdates(m, st.rows, ranges)) await s.query(sql);
        }
        for (const r of ranges) await s.query(upsertSql(m, r));
      }
      await s.unstage(names[i]!);
    } catch (e) {
      throw s.tableError(e, name);
    }
  }
}

/** The staged rows' ranges, one statement each (see WarehouseSession.applySliceBytes); one for all of them when unset. */
function slices(rows: readonly StagedRow[], s: WarehouseSession): Array<IdxRange | undefined> {
  return s.applySliceBytes === undefined ? [undefined] : rowRanges(rows, s.applySliceBytes);
}

/**
 * A bulk update usually leaves the same columns unchanged in every row: one UPDATE per bitmap
 * then sets only the changed columns. Past this many bitmaps one statement serves them all.
 */
const MAX_BITMAP_STATEMENTS = 8;

function partialUpdates(
  m: MergeContext,
  rows: readonly StagedRow[],
  ranges: readonly (IdxRange | undefined)[],
): string[] {
  const bitmaps = new Set<string>();
  for (const r of rows) if (r.op === 'u' && r.unchanged !== null) bitmaps.add(r.unchanged);
  const each: Array<string | undefined> = bitmaps.size <= MAX_BITMAP_STATEMENTS ? [...bitmaps] : [undefined];
  const out: string[] = [];
  for (const b of each)
    for (const r of ranges) {
      const sql = partialUpdateSql(m, r, b);
      if (sql) out.push(sql);
    }
  return out;
}
