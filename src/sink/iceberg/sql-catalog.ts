import Database from 'better-sqlite3';
import { Client } from 'pg';
import type { Catalog, MetadataSwap, SwapOutcome, TableIdent } from './catalog';
import { identText } from './catalog';

/**
 * The SQL catalog layout shared by Iceberg's JdbcCatalog and PyIceberg's SqlCatalog:
 * `iceberg_tables` holds each table's metadata pointer, `iceberg_namespace_properties` the
 * namespaces. A commit is `UPDATE … SET metadata_location = new WHERE metadata_location = old`;
 * several tables' swaps run in one SQL transaction, so a multi-table commit is atomic.
 */
const DDL = [
  `CREATE TABLE IF NOT EXISTS iceberg_tables (catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
     table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000),
     PRIMARY KEY (catalog_name, table_namespace, table_name))`,
  `CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL,
     property_key VARCHAR(255) NOT NULL, property_value VARCHAR(1000), PRIMARY KEY (catalog_name, namespace, property_key))`,
];

/** The minimal SQL surface the catalog needs; `$1`-style parameters in both dialects. */
interface SqlSession {
  query(
    sql: string,
    params: readonly unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number }>;
  close(): Promise<void>;
}

class SqliteSession implements SqlSession {
  constructor(private readonly db: Database.Database) {}
  async query(sql: string, params: readonly unknown[]) {
    // $n placeholders (pg style) become positional ?s, repeating a parameter where $n repeats.
    const ordered: unknown[] = [];
    const stmt = this.db.prepare(
      sql.replace(/\$(\d+)/g, (_m, n: string) => {
        ordered.push(params[Number(n) - 1]);
        return '?';
      }),
    );
    if (stmt.reader) return { rows: stmt.all(...ordered) as Record<string, unknown>[], rowCount: 0 };
    return { rows: [], rowCount: stmt.run(...ordered).changes };
  }
  async close() {
    this.db.close();
  }
}

class PgSession implements SqlSession {
  constructor(private readonly client: Client) {}
  async query(sql: string, params: readonly unknown[]) {
    const r = await this.client.query(sql, params as unknown[]);
    return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 };
  }
  async close() {
    await this.client.end();
  }
}

export class SqlCatalog implements Catalog {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly session: SqlSession,
  ) {}

  /** SQLite file catalog (the embedded default). */
  static async sqlite(file: string, name = 'tidemark'): Promise<SqlCatalog> {
    const db = new Database(file);
    db.pragma('busy_timeout = 10000');
    return SqlCatalog.init(name, new SqliteSession(db));
  }

  /** PostgreSQL catalog; `url` is a postgres:// connection string. */
  static async postgres(url: string, name = 'tidemark'): Promise<SqlCatalog> {
    const client = new Client({ connectionString: url });
    await client.connect();
    return SqlCatalog.init(name, new PgSession(client));
  }

  private static async init(name: string, session: SqlSession): Promise<SqlCatalog> {
    for (const ddl of DDL) await session.query(ddl, []);
    return new SqlCatalog(name, session);
  }

  /** One statement sequence at a time on the single session (transactions must not interleave). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async ensureNamespace(namespace: string): Promise<void> {
    await this.serial(async () => {
      const r = await this.session.query(
        'SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2',
        [this.name, namespace],
      );
      if (r.rows.length === 0) {
        await this.session.query(
          "INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) VALUES ($1, $2, 'exists', 'true') ON CONFLICT DO NOTHING",
          [this.name, namespace],
        );
      }
    });
  }

  async currentLocation(t: TableIdent): Promise<string | null> {
    return this.serial(async () => {
      const r = await this.session.query(
        'SELECT metadata_location FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3',
        [this.name, t.namespace, t.name],
      );
      return r.rows.length === 0 ? null : (r.rows[0]!.metadata_location as string);
    });
  }

  async swap(swaps: readonly MetadataSwap[]): Promise<SwapOutcome> {
    return this.serial(async () => {
      try {
        await this.session.query('BEGIN', []);
      } catch (e) {
        return { kind: 'conflict', table: swaps[0]!.table, cause: e } as SwapOutcome;
      }
      for (const s of swaps) {
        let changed: number;
        try {
          changed =
            s.expected === null
              ? (
                  await this.session.query(
                    'INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location) VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING',
                    [this.name, s.table.namespace, s.table.name, s.next],
                  )
                ).rowCount
              : (
                  await this.session.query(
                    'UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2 WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 AND metadata_location = $2',
                    [s.next, s.expected, this.name, s.table.namespace, s.table.name],
                  )
                ).rowCount;
        } catch (e) {
          await this.session.query('ROLLBACK', []).catch(() => undefined);
          throw new Error(`catalog swap of ${identText(s.table)} failed before COMMIT`, { cause: e });
        }
        if (changed !== 1) {
          await this.session.query('ROLLBACK', []);
          return { kind: 'conflict', table: s.table };
        }
      }
      try {
        await this.session.query('COMMIT', []);
        return { kind: 'committed' };
      } catch (e) {
        // The COMMIT may or may not have reached the server: the outcome is unknown.
        return { kind: 'unknown', cause: e };
      }
    });
  }

  async listTables(namespace?: string): Promise<TableIdent[]> {
    return this.serial(async () => {
      const r = await this.session.query(
        'SELECT table_namespace, table_name FROM iceberg_tables WHERE catalog_name = $1 ORDER BY 1, 2',
        [this.name],
      );
      return r.rows
        .map((row) => ({ namespace: String(row.table_namespace), name: String(row.table_name) }))
        .filter((t) => namespace === undefined || t.namespace === namespace);
    });
  }

  async dropTable(t: TableIdent): Promise<void> {
    await this.serial(() =>
      this.session.query(
        'DELETE FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3',
        [this.name, t.namespace, t.name],
      ),
    );
  }

  async close(): Promise<void> {
    await this.serial(() => this.session.close());
  }
}
