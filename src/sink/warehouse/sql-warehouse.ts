import type { TableOptions } from '../../config/schema';
import { TidemarkError } from '../../core/errors';
import { type Lsn, parseLsn } from '../../core/lsn';
import { type TableRef, type TableSchema, tableKey } from '../../core/table-schema';
import { fillValue } from '../schema-projection';
import type { CommitRound, PartedRound } from '../sink-target';
import { MetaTables } from './meta-tables';
import { openPartedRound } from './parted-round';
import { valueText } from './pg-copy-text';
import { applyRoundIn } from './round-apply';
import { diffSchemas } from './schema-diff';
import { ident, qualified } from './sql-names';
import { alterSql, createTableSql } from './table-ddl';
import {
  DEFAULT_EVOLUTION_POLICY,
  type EvolutionPolicy,
  type TableMode,
  type Warehouse,
  type WarehouseOptions,
} from './warehouse';
import type { WarehouseSession } from './warehouse-session';

/**
 * The adapter-independent half of a warehouse: table preparation and evolution, rounds,
 * tokens. An adapter supplies `transaction` (one database transaction with its error mapping:
 * a failure before COMMIT rolls back; a failure of COMMIT itself is 'commit_state_unknown').
 */
export abstract class SqlWarehouse implements Warehouse {
  abstract readonly kind: 'duckdb' | 'postgres';
  abstract readonly name: string;
  protected readonly meta: MetaTables;
  private metaReady = false;

  protected constructor(
    metaSchema: string,
    protected readonly options: WarehouseOptions,
  ) {
    this.meta = new MetaTables(metaSchema);
  }

  protected abstract transaction<T>(fn: (s: WarehouseSession) => Promise<T>): Promise<T>;
  /**
   * Whether a table whose rows the transaction changed is replaced by a copy before an ALTER (a
   * schema change inside a round in parts): DuckDB accepts such an ALTER but then refuses the
   * COMMIT, while a table the transaction only created and inserted into may be altered.
   */
  protected abstract readonly copiesBeforeAltering: boolean;
  abstract close(): Promise<void>;

  private async ensureMeta(): Promise<void> {
    if (this.metaReady) return;
    await this.transaction(async (s) => {
      for (const sql of this.meta.ddl()) await s.query(sql);
    });
    this.metaReady = true;
  }

  async prepareTables(
    tables: readonly { schema: TableSchema; options: Pick<TableOptions, 'mode'> }[],
  ): Promise<void> {
    await this.ensureMeta();
    for (const { schema, options } of tables)
      await this.transaction((s) => this.prepareIn(s, schema, options.mode));
  }

  /** Creates the table or evolves it to `schema`, in the session's transaction. */
  private async prepareIn(s: WarehouseSession, schema: TableSchema, mode: TableMode): Promise<void> {
    const key = tableKey(schema);
    const rows = await s.query(`SELECT mode, schema_json FROM ${this.meta.tables} WHERE table_key = $1`, [
      key,
    ]);
    const stored = rows[0] as { mode: string; schema_json: string } | undefined;
    if (!stored) {
      if (mode !== 'append' && schema.primaryKey.length === 0) {
        throw new TidemarkError(
          'source_setup',
          `warehouse: table ${key} has no key; ${mode} mode needs one`,
          {
            fix: 'give the table a primary key, configure source.keys for it, or set its mode to "append"',
          },
        );
      }
      for (const sql of createTableSql(s, schema, mode)) await s.query(sql);
    } else {
      if (stored.mode !== mode) {
        throw new TidemarkError(
          'schema_incompatible',
          `warehouse: table ${key} was built in ${stored.mode} mode, now configured as ${mode}`,
          {
            fix: 'rebuild the warehouse table (drop it and re-snapshot) or restore the mode',
          },
        );
      }
      const from = JSON.parse(stored.schema_json) as TableSchema;
      if (JSON.stringify(from) === JSON.stringify(schema)) return;
      await this.evolveIn(s, from, schema, mode, this.options.policy ?? DEFAULT_EVOLUTION_POLICY);
    }
    await s.query(
      `INSERT INTO ${this.meta.tables} (table_key, mode, schema_json, updated_at) VALUES ($1, $2, $3, now()) ON CONFLICT (table_key) DO UPDATE SET mode = EXCLUDED.mode, schema_json = EXCLUDED.schema_json, updated_at = EXCLUDED.updated_at`,
      [key, mode, JSON.stringify(schema)],
    );
  }

  /**
   * A keyed table replaced by a copy of its rows, made in the session's transaction, with its one
   * constraint (createTableSql's primary key). The columns are the table's as they are (a
   * dropped-and-kept one included), not the schema's.
   */
  private async replaceByCopyIn(s: WarehouseSession, schema: TableSchema): Promise<void> {
    const copy = { ...schema, table: `${schema.table}__tidemark_copy` };
    const keys = schema.primaryKey.map(ident).join(', ');
    await s.query(`DROP TABLE IF EXISTS ${qualified(copy)}`);
    await s.query(`CREATE TABLE ${qualified(copy)} AS SELECT * FROM ${qualified(schema)}`);
    await s.query(`ALTER TABLE ${qualified(copy)} ADD PRIMARY KEY (${keys})`);
    await s.query(`DROP TABLE ${qualified(schema)}`);
    await s.query(`ALTER TABLE ${qualified(copy)} RENAME TO ${ident(schema.table)}`);
  }

  async evolveTable(
    from: TableSchema,
    to: TableSchema,
    mode: TableMode,
    policy: EvolutionPolicy = this.options.policy ?? DEFAULT_EVOLUTION_POLICY,
  ): Promise<void> {
    await this.transaction((s) => this.evolveIn(s, from, to, mode, policy));
  }

  private async evolveIn(
    s: WarehouseSession,
    from: TableSchema,
    to: TableSchema,
    mode: TableMode,
    policy: EvolutionPolicy,
  ): Promise<void> {
    const actions = diffSchemas(from, to, policy);
    for (const a of actions) {
      if (a.kind === 'keep')
        this.options.log?.(
          `warehouse: source dropped column "${a.column}" of ${tableKey(to)}; kept as a nullable column`,
          { table: tableKey(to), column: a.column, mode },
        );
    }
    for (const sql of alterSql(s, to, actions)) await s.query(sql);
    // A column Postgres added with a constant default holds it in every existing row, with no
    // change in the stream: give it to the rows here, in the same transaction as the ALTER. A
    // change history (append mode) keeps what the rows were: there the column did not exist.
    if (mode === 'append') return;
    for (const a of actions) {
      if (a.kind !== 'add') continue;
      const v = fillValue(to, a.column);
      if (v === null) continue;
      await s.query(
        `UPDATE ${qualified(to)} SET ${ident(a.column.name)} = CAST($1 AS ${s.columnType(a.column.type)})`,
        [valueText(v, a.column.type)],
      );
    }
  }

  async commitRound(round: CommitRound): Promise<void> {
    await this.ensureMeta();
    const marked = await this.droppedMarks();
    // A table that takes changes exists in the source (again): its dropped mark goes in this commit.
    const back = round.tables.map((t) => tableKey(t.schema)).filter((k) => marked.has(k));
    const rebuilt = new Set((await this.rebuiltVersionsCached()).keys());
    await this.transaction(async (s) => {
      await applyRoundIn(s, this.meta, round, this.options.hooks, rebuilt);
      for (const k of back)
        await s.query(`UPDATE ${this.meta.tables} SET source_dropped_at = NULL WHERE table_key = $1`, [k]);
    });
    for (const k of back) marked.delete(k);
  }

  /** A round in parts: one transaction held open across them (see parted-round.ts). */
  async openRound(): Promise<PartedRound> {
    await this.ensureMeta();
    const marked = await this.droppedMarks();
    const rebuilt = new Set((await this.rebuiltVersionsCached()).keys());
    return openPartedRound({
      transaction: (fn) => this.transaction(fn),
      prepareIn: async (s, t, changed) => {
        // an append table's rows are only ever inserted: it may be altered as it is
        if (changed && this.copiesBeforeAltering && t.options.mode !== 'append')
          await this.replaceByCopyIn(s, t.schema);
        await this.prepareIn(s, t.schema, t.options.mode);
      },
      meta: this.meta,
      hooks: this.options.hooks ?? {},
      rebuilt,
      marked,
    });
  }

  /**
   * `onIncompatibleSchema: rebuild`: the table dropped and created with `schema` in one
   * transaction, its rebuild version recorded with it (a second call for that version does nothing).
   */
  async rebuildTable(schema: TableSchema, options: Pick<TableOptions, 'mode'>): Promise<void> {
    await this.ensureMeta();
    const key = tableKey(schema);
    await this.transaction(async (s) => {
      const rows = await s.query(
        `SELECT rebuilt_at_version AS v FROM ${this.meta.tables} WHERE table_key = $1`,
        [key],
      );
      if (rows[0]?.v !== null && rows[0]?.v !== undefined && Number(rows[0].v) === schema.version) return;
      await s.query(`DROP TABLE IF EXISTS ${qualified(schema)}`);
      for (const sql of createTableSql(s, schema, options.mode)) await s.query(sql);
      await s.query(
        `INSERT INTO ${this.meta.tables} (table_key, mode, schema_json, updated_at, rebuilt_at_version) VALUES ($1, $2, $3, now(), CAST($4 AS INTEGER)) ON CONFLICT (table_key) DO UPDATE SET mode = EXCLUDED.mode, schema_json = EXCLUDED.schema_json, updated_at = EXCLUDED.updated_at, rebuilt_at_version = EXCLUDED.rebuilt_at_version`,
        [key, options.mode, JSON.stringify(schema), String(schema.version)],
      );
    });
    this.rebuilt = null; // read again at the next round
  }

  private rebuilt: Map<string, number> | null = null;

  private async rebuiltVersionsCached(): Promise<Map<string, number>> {
    this.rebuilt ??= await this.rebuiltVersions();
    return this.rebuilt;
  }

  async rebuiltVersions(): Promise<Map<string, number>> {
    await this.ensureMeta();
    const rows = await this.transaction((s) =>
      s.query(
        `SELECT table_key, rebuilt_at_version AS v FROM ${this.meta.tables} WHERE rebuilt_at_version IS NOT NULL`,
      ),
    );
    return new Map(rows.map((r) => [String(r.table_key), Number(r.v)]));
  }

  /** Tables marked as dropped in the source, read once (then kept up to date here). */
  private marked: Set<string> | null = null;

  private async droppedMarks(): Promise<Set<string>> {
    if (!this.marked) {
      const rows = await this.transaction((s) =>
        s.query(`SELECT table_key FROM ${this.meta.tables} WHERE source_dropped_at IS NOT NULL`),
      );
      this.marked = new Set(rows.map((r) => String(r.table_key)));
    }
    return this.marked;
  }

  async markDropped(table: TableRef, droppedAt: string | null): Promise<void> {
    await this.ensureMeta();
    const key = tableKey(table);
    const rows = await this.transaction((s) =>
      droppedAt === null
        ? s.query(
            `UPDATE ${this.meta.tables} SET source_dropped_at = NULL WHERE table_key = $1 AND source_dropped_at IS NOT NULL RETURNING table_key`,
            [key],
          )
        : s.query(
            `UPDATE ${this.meta.tables} SET source_dropped_at = $2 WHERE table_key = $1 AND (source_dropped_at IS NULL OR source_dropped_at <> $2) RETURNING table_key`,
            [key, droppedAt],
          ),
    );
    if (rows.length > 0) this.marked = null; // read again at the next round
  }

  /** Operator reset: sets the stored token of each channel the warehouse holds (moving it back replays). */
  async resetTokens(tokens: ReadonlyMap<string, string>): Promise<number> {
    await this.ensureMeta();
    return this.transaction(async (s) => {
      let n = 0;
      for (const [channel, token] of tokens)
        n += (
          await s.query(
            `UPDATE ${this.meta.offsets} SET token = $1, updated_at = now() WHERE channel = $2 RETURNING channel`,
            [token, channel],
          )
        ).length;
      return n;
    });
  }

  async readTokens(): Promise<Map<string, string>> {
    await this.ensureMeta();
    const rows = await this.transaction((s) => s.query(`SELECT channel, token FROM ${this.meta.offsets}`));
    return new Map(rows.map((r) => [String(r.channel), String(r.token)]));
  }

  async lastCut(): Promise<{ lsn: Lsn; commitId: string; atMs: number } | null> {
    await this.ensureMeta();
    const rows = await this.transaction((s) =>
      s.query(
        `SELECT cut_lsn, commit_id, CAST(extract(epoch FROM committed_at) * 1000 AS BIGINT) AS at_ms FROM ${this.meta.cut} WHERE id = 1`,
      ),
    );
    const r = rows[0];
    if (!r) return null;
    return { lsn: parseLsn(String(r.cut_lsn)), commitId: String(r.commit_id), atMs: Number(r.at_ms) };
  }
}
