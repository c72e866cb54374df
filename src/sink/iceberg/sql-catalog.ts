import { TidemarkError } from '../../core/errors';
import { type Logger, silentLogger } from '../../observe/logger';
import type { Catalog, MetadataSwap, SwapOutcome, TableIdent } from './catalog';
import { identText } from './catalog';
import { kindOf, PgSession, SQLITE_BUSY_TIMEOUT_MS, SqliteSession, type SqlSession } from './sql-sessions';

/**
 * The SQL catalog layout shared by Iceberg's JdbcCatalog and PyIceberg's SqlCatalog:
 * `iceberg_tables` holds each table's metadata pointer, `iceberg_namespace_properties` the
 * namespaces. A commit is `UPDATE … SET metadata_location = new WHERE metadata_location = old`;
 * several tables' swaps run in one SQL transaction, so a multi-table commit is atomic.
 *
 * Failures are TidemarkErrors: a read or namespace call that fails is `transient` (connection
 * lost, lock timeout; `config` or `internal` when retrying cannot help); a swap that fails before
 * its COMMIT, or whose COMMIT failed and was rolled back, certainly did not land: `commit_failed`
 * (or `config`/`internal`, still nothing committed); a COMMIT that failed otherwise resolves
 * `unknown`, the caller looking for its commit id.
 */
const DDL = [
  `CREATE TABLE IF NOT EXISTS iceberg_tables (catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
     table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000),
     PRIMARY KEY (catalog_name, table_namespace, table_name))`,
  `CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL,
     property_key VARCHAR(255) NOT NULL, property_value VARCHAR(1000), PRIMARY KEY (catalog_name, namespace, property_key))`,
];

export interface SqliteCatalogOptions {
  /** How long a statement waits for another connection's lock (default SQLITE_BUSY_TIMEOUT_MS). */
  readonly busyTimeoutMs?: number;
}

export interface PostgresCatalogOptions {
  /** Where a lost connection is reported. */
  readonly log?: Logger;
}

export class SqlCatalog implements Catalog {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly session: SqlSession,
  ) {}

  /** SQLite file catalog (the embedded default). */
  static async sqlite(file: string, name = 'tidemark', opts: SqliteCatalogOptions = {}): Promise<SqlCatalog> {
    let session: SqliteSession;
    try {
      session = new SqliteSession(file, opts.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS);
    } catch (e) {
      throw failure(`iceberg catalog ${name} (sqlite): cannot open ${file}`, e);
    }
    return SqlCatalog.init(name, session);
  }

  /** PostgreSQL catalog; `url` is a postgres:// connection string (never put into a message). */
  static async postgres(
    url: string,
    name = 'tidemark',
    opts: PostgresCatalogOptions = {},
  ): Promise<SqlCatalog> {
    return SqlCatalog.init(name, new PgSession(url, opts.log ?? silentLogger));
  }

  private static async init(name: string, session: SqlSession): Promise<SqlCatalog> {
    const catalog = new SqlCatalog(name, session);
    try {
      await catalog.op('creating its tables', async () => {
        for (const ddl of DDL) await session.query(ddl, [], true);
      });
    } catch (e) {
      await session.close().catch(() => undefined);
      throw e;
    }
    return catalog;
  }

  private where(): string {
    return `iceberg catalog ${this.name} (${this.session.dialect})`;
  }

  /** One statement sequence at a time on the single session (transactions must not interleave). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A non-commit call: serial, its failure a TidemarkError naming what failed. */
  private op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      try {
        return await fn();
      } catch (e) {
        throw failure(`${this.where()}: ${what} failed`, e);
      }
    });
  }

  async ensureNamespace(namespace: string): Promise<void> {
    await this.op(`creating namespace ${namespace}`, async () => {
      const r = await this.session.query(
        'SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2',
        [this.name, namespace],
        true,
      );
      if (r.rows.length === 0) {
        await this.session.query(
          "INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) VALUES ($1, $2, 'exists', 'true') ON CONFLICT DO NOTHING",
          [this.name, namespace],
          true,
        );
      }
    });
  }

  async currentLocation(t: TableIdent): Promise<string | null> {
    return this.op(`reading the pointer of ${identText(t)}`, async () => {
      const r = await this.session.query(
        'SELECT metadata_location FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3',
        [this.name, t.namespace, t.name],
        true,
      );
      return r.rows.length === 0 ? null : (r.rows[0]!.metadata_location as string);
    });
  }

  async swap(swaps: readonly MetadataSwap[]): Promise<SwapOutcome> {
    const what = `swap of ${swaps.map((s) => identText(s.table)).join(', ')}`;
    return this.serial(async () => {
      try {
        await this.session.query('BEGIN', [], true);
        for (const s of swaps) {
          if ((await this.swapOne(s)) !== 1) {
            await this.session.query('ROLLBACK', []);
            return { kind: 'conflict', table: s.table };
          }
        }
      } catch (e) {
        await this.session.rollback();
        throw failure(`${this.where()}: ${what} failed before COMMIT; nothing was committed`, e, true);
      }
      try {
        await this.session.query('COMMIT', []);
        return { kind: 'committed' };
      } catch (e) {
        if ((await this.session.afterFailedCommit(e)) === 'rolled_back')
          throw failure(`${this.where()}: COMMIT of the ${what} failed and was rolled back`, e, true);
        return { kind: 'unknown', cause: failure(`${this.where()}: COMMIT of the ${what} failed`, e) };
      }
    });
  }

  /** One table's compare-and-set inside the swap's transaction: the rows it changed (1, or 0 on a conflict). */
  private async swapOne(s: MetadataSwap): Promise<number> {
    const r =
      s.expected === null
        ? await this.session.query(
            'INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location) VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING',
            [this.name, s.table.namespace, s.table.name, s.next],
          )
        : await this.session.query(
            'UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2 WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 AND metadata_location = $2',
            [s.next, s.expected, this.name, s.table.namespace, s.table.name],
          );
    return r.rowCount;
  }

  async listTables(namespace?: string): Promise<TableIdent[]> {
    return this.op('listing tables', async () => {
      const r = await this.session.query(
        'SELECT table_namespace, table_name FROM iceberg_tables WHERE catalog_name = $1 ORDER BY 1, 2',
        [this.name],
        true,
      );
      return r.rows
        .map((row) => ({ namespace: String(row.table_namespace), name: String(row.table_name) }))
        .filter((t) => namespace === undefined || t.namespace === namespace);
    });
  }

  async dropTable(t: TableIdent): Promise<void> {
    await this.op(`dropping ${identText(t)}`, () =>
      this.session.query(
        'DELETE FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3',
        [this.name, t.namespace, t.name],
        true,
      ),
    );
  }

  async close(): Promise<void> {
    await this.serial(() => this.session.close());
  }
}

/**
 * A catalog failure as a TidemarkError. `notCommitted`: a swap that certainly did not land, so a
 * failure worth retrying is `commit_failed` (its staged files may be cleaned up, then retried).
 */
function failure(message: string, e: unknown, notCommitted = false): TidemarkError {
  const kind = kindOf(e);
  const text = `${message}: ${(e as Error).message ?? String(e)}`;
  if (notCommitted && kind === 'transient') return new TidemarkError('commit_failed', text, { cause: e });
  return new TidemarkError(kind, text, {
    cause: e,
    ...(kind === 'config' ? { fix: 'check sinks.iceberg.catalog.url and the catalog database grants' } : {}),
  });
}
