import { type DuckDBConnection, DuckDBInstance, type DuckDBValue, timestampValue } from '@duckdb/node-api';
import type { ColumnType } from '../../core/column-type';
import { isTidemarkError, TidemarkError } from '../../core/errors';
import type { TableSchema } from '../../core/table-schema';
import { appendDuck, duckColumnType, duckStagingType, duckValueExpr } from './duckdb-types';
import { ident, META } from './sql-names';
import { SqlWarehouse } from './sql-warehouse';
import type { StagedTable } from './staged-rows';
import type { WarehouseOptions } from './warehouse';
import type { WarehouseSession } from './warehouse-session';

/**
 * WAL size that triggers a checkpoint. DuckDB's 16 MB default made nearly every round of
 * upserts into an indexed 1M-row table checkpoint the whole table (~0.4 s per commit, measured
 * by bench/warehouse-upsert.ts); commits stay durable in the WAL either way, a larger WAL only
 * means a longer replay when the file is opened after a crash.
 */
const CHECKPOINT_THRESHOLD = '256MB';

/**
 * One DuckDB instance and one connection per database file in this process, shared by every
 * writer of that file, with one transaction at a time on it. DuckDB is an in-process database:
 * a second process cannot open the file for writing, so every writer that can race is here,
 * and the second of two racing rounds is fenced by the token check itself.
 * The instance is opened and closed by us, not through DuckDB's instance cache: its lookup was
 * seen to spin forever at 100% CPU once earlier cached instances had been released (the CI hang).
 */
interface SharedFile {
  readonly instance: DuckDBInstance;
  readonly connection: DuckDBConnection;
  users: number;
  queue: Promise<unknown>;
}
const files = new Map<string, Promise<SharedFile>>();

async function acquire(path: string): Promise<SharedFile> {
  let opening = files.get(path);
  if (!opening) {
    opening = (async () => {
      const instance = await DuckDBInstance.create(path);
      const connection = await instance.connect();
      await connection.run(`SET checkpoint_threshold = '${CHECKPOINT_THRESHOLD}'`);
      return { instance, connection, users: 0, queue: Promise.resolve() };
    })();
    files.set(path, opening);
    opening.catch(() => files.delete(path));
  }
  const shared = await opening;
  shared.users++;
  return shared;
}

async function release(path: string, shared: SharedFile): Promise<void> {
  // Only the last user closes the file, once its transactions are done; another user's open
  // transaction (a round in parts holds one across its parts) is no reason to wait.
  if (shared.users > 1) {
    shared.users--;
    return;
  }
  await shared.queue;
  if (--shared.users > 0) return;
  files.delete(path);
  shared.connection.closeSync();
  shared.instance.closeSync();
}

/**
 * Runs `fn` with a connection to a DuckDB file that this process may also be writing through
 * a DuckDbWarehouse (a second instance of one file in one process is refused by DuckDB).
 */
export async function withDuckDbConnection<T>(
  path: string,
  fn: (c: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const shared = await acquire(path);
  try {
    const c = await shared.instance.connect();
    try {
      return await fn(c);
    } finally {
      c.closeSync();
    }
  } finally {
    await release(path, shared);
  }
}

/**
 * The DuckDB warehouse: one local database file (the embedded default). Rounds stage each
 * table with DuckDB's appender into a temp table inside the transaction, then merge (see
 * merge-sql.ts). Writers of one file in this process share its connection (see `SharedFile`).
 */
export class DuckDbWarehouse extends SqlWarehouse {
  readonly kind = 'duckdb' as const;
  protected readonly copiesBeforeAltering = true;
  readonly name = 'warehouse';
  private closed = false;
  private constructor(
    private readonly file: SharedFile,
    private readonly path: string,
    options: WarehouseOptions,
  ) {
    super('main', options);
  }

  static async open(
    path: string,
    options: WarehouseOptions = {},
    memoryLimit?: string,
  ): Promise<DuckDbWarehouse> {
    const file = await acquire(path);
    if (memoryLimit) {
      try {
        // Instance-wide: a round in parts keeps its uncommitted rows in DuckDB's buffers, which
        // spill to `<file>.tmp` past this limit instead of growing the process.
        await file.connection.run(`SET memory_limit = '${memoryLimit.replace(/'/g, "''")}'`);
      } catch (e) {
        await release(path, file);
        throw new TidemarkError('config', `sinks.warehouse.memoryLimit: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    return new DuckDbWarehouse(file, path, options);
  }

  protected transaction<T>(fn: (s: WarehouseSession) => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new TidemarkError('internal', 'warehouse (duckdb): used after close'));
    const run = this.file.queue.then(() => this.runTransaction(fn));
    this.file.queue = run.catch(() => {});
    return run;
  }

  private async runTransaction<T>(fn: (s: WarehouseSession) => Promise<T>): Promise<T> {
    const c = this.file.connection;
    await c.run('BEGIN TRANSACTION');
    let result: T;
    try {
      result = await fn(duckSession(c));
    } catch (e) {
      await c.run('ROLLBACK').catch(() => {});
      throw classify(e, 'transaction');
    }
    try {
      await c.run('COMMIT');
    } catch (e) {
      await c.run('ROLLBACK').catch(() => {});
      throw classify(e, 'commit');
    }
    return result;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await release(this.path, this.file);
  }
}

function classify(e: unknown, where: 'transaction' | 'commit'): Error {
  if (isTidemarkError(e)) return e;
  const msg = (e as Error).message;
  // The appender words it without the "Out of Memory Error" prefix.
  if (/Out of Memory Error|could not allocate block|failed to pin block/i.test(msg)) {
    // Not retried: the same part needs the same memory again; the operator's fix is a setting.
    return new TidemarkError('config', `warehouse (duckdb): ${msg}; nothing applied`, {
      cause: e,
      fix: "raise sinks.warehouse.memoryLimit: a single row, and every table's primary-key index, must fit in it (the rows of a round spill to disk)",
    });
  }
  // A write-write conflict, or two first commits of one channel racing on its token row.
  if (/conflict/i.test(msg) || /duplicate key "channel:/i.test(msg)) {
    return new TidemarkError(
      'fenced',
      `warehouse (duckdb): another writer changed the same rows (${msg}); nothing applied`,
      { cause: e },
    );
  }
  if (where === 'commit')
    return new TidemarkError(
      'commit_failed',
      `warehouse (duckdb): COMMIT failed and was rolled back: ${msg}`,
      { cause: e },
    );
  return new TidemarkError('internal', `warehouse (duckdb): ${msg}`, { cause: e });
}

/** See WarehouseSession.applySliceBytes: 16 MiB slices kept a 276 MB part within a 128 MiB limit. */
const APPLY_SLICE_BYTES = 16 * 2 ** 20;

function duckSession(c: DuckDBConnection): WarehouseSession {
  return {
    lsnType: 'UBIGINT',
    applySliceBytes: APPLY_SLICE_BYTES,
    async query(sql, params) {
      const reader = await c.runAndReadAll(sql, params ? (params as DuckDBValue[]) : undefined);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    },
    async stage(t: StagedTable, name: string) {
      const staging = t.schema.columns.map((col) => duckStagingType(col.type));
      const cols = t.schema.columns.map((col, i) => `${ident(col.name)} ${staging[i]!.toString()}`);
      await c.run(
        `CREATE OR REPLACE TEMP TABLE ${name} (${cols.join(', ')}, ${META.op} VARCHAR, ${META.unchanged} VARCHAR, ${META.lsn} UBIGINT, ${META.seq} BIGINT, ${META.commitTime} TIMESTAMPTZ, ${META.idx} BIGINT)`,
      );
      const a = await c.createAppender(name.slice(1, -1).replace(/""/g, '"'), 'main', 'temp');
      const types = t.schema.columns.map((col) => col.type);
      let idx = 0n;
      for (const r of t.rows) {
        for (let i = 0; i < types.length; i++) appendDuck(a, r.values[i] ?? null, types[i]!, staging[i]!);
        a.appendVarchar(r.op);
        if (r.unchanged === null) a.appendNull();
        else a.appendVarchar(r.unchanged);
        a.appendUBigInt(r.lsn);
        a.appendBigInt(BigInt(r.seq));
        a.appendTimestamp(timestampValue(BigInt(r.commitTimeMs) * 1000n)); // see appendDuck's timestamptz
        a.appendBigInt(idx++);
        a.endRow();
      }
      a.flushSync();
      a.closeSync();
    },
    async unstage(name: string) {
      await c.run(`DROP TABLE IF EXISTS ${name}`);
    },
    valueExpr(schema: TableSchema, i: number) {
      const col = schema.columns[i]!;
      return duckValueExpr(`s.${ident(col.name)}`, col.type);
    },
    columnType: (type: ColumnType) => duckColumnType(type),
    textCastExpr: (column: string, from: ColumnType) => duckTextCastExpr(column, from),
    tableError(e: unknown, table: string) {
      if (isTidemarkError(e)) return e;
      const msg = (e as Error).message;
      if (/^(Conversion|Out of Range|Constraint|Invalid Input) Error/i.test(msg)) {
        return new TidemarkError(
          'unsupported_value',
          `warehouse (duckdb): a value of ${table} does not fit its target column: ${msg}; nothing was applied`,
          { cause: e },
        );
      }
      const c2 = classify(e, 'transaction');
      c2.message = `${c2.message} (table ${table})`;
      return c2;
    },
  };
}

/** See WarehouseSession.textCastExpr: DuckDB's own text is castText's but for booleans and date/times. */
function duckTextCastExpr(c: string, from: ColumnType): string {
  switch (from.kind) {
    case 'bool':
      return `CASE ${c} WHEN true THEN 't' WHEN false THEN 'f' END`;
    case 'timestamptz':
      return `strftime(timezone('UTC', ${c}), '%Y-%m-%d %H:%M:%S.%f') || '+00'`;
    case 'timestamp':
      return `strftime(${c}, '%Y-%m-%d %H:%M:%S.%f')`;
    case 'date':
      return `strftime(${c}, '%Y-%m-%d')`;
    default:
      return `CAST(${c} AS VARCHAR)`;
  }
}
