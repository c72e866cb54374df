import Database from 'better-sqlite3';
import { Client } from 'pg';
import { type ErrorKind, isTidemarkError } from '../../core/errors';
import type { Logger } from '../../observe/logger';

/**
 * The connections a SqlCatalog runs its statements on: SQLite (a file, synchronous) and
 * PostgreSQL (one connection, reopened after it was lost), and how their failures map to kinds.
 */

/** How long a SQLite statement waits for another connection's lock (a reader, PyIceberg) before SQLITE_BUSY. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** The minimal SQL surface the catalog needs; `$1`-style parameters in both dialects. */
export interface SqlSession {
  readonly dialect: 'sqlite' | 'postgres';
  /** `resend`: the statement may go twice (idempotent, or a BEGIN): once more when the connection was found dropped. */
  query(
    sql: string,
    params: readonly unknown[],
    resend?: boolean,
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number }>;
  /** Ends an open transaction without committing it, by any means; never throws. */
  rollback(): Promise<void>;
  /** After COMMIT failed with `e`: 'rolled_back' when it certainly did not commit (no transaction is left open then). */
  afterFailedCommit(e: unknown): Promise<'rolled_back' | 'unknown'>;
  close(): Promise<void>;
}

export class SqliteSession implements SqlSession {
  readonly dialect = 'sqlite';
  private db: Database.Database;

  constructor(
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {
    this.db = this.open();
  }

  private open(): Database.Database {
    const db = new Database(this.file);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(this.busyTimeoutMs))}`);
    return db;
  }

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

  async rollback() {
    if (!this.db.inTransaction) return;
    try {
      this.db.exec('ROLLBACK');
    } catch {
      // A transaction left open would show its uncommitted pointers to every later read of this
      // connection: closing the connection discards it.
      this.db.close();
      this.db = this.open();
    }
  }

  async afterFailedCommit() {
    // A COMMIT that failed with the transaction still open (SQLITE_BUSY: a reader holds its lock)
    // did not commit; left open, the next read would see its writes as if they had.
    if (!this.db.inTransaction) return 'unknown';
    await this.rollback();
    return 'rolled_back';
  }

  async close() {
    this.db.close();
  }
}

/** A statement of a transaction whose connection was lost before it was sent: the transaction is gone, uncommitted. */
class NotSentError extends Error {}

/**
 * One PostgreSQL connection, opened at first use and again at the next use after it was lost
 * (a server restart, pg_terminate_backend, an idle timeout on the way). Never inside a
 * transaction: its later statements on a new connection would each commit on their own.
 */
export class PgSession implements SqlSession {
  readonly dialect = 'postgres';
  private client: Client | null = null;
  private lost = false;
  private inTransaction = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  private async connection(): Promise<Client> {
    if (this.client && !this.lost) return this.client;
    this.client?.end().catch(() => undefined);
    this.client = null;
    const client = new Client({
      connectionString: this.url,
      application_name: 'tidemark-catalog',
      keepAlive: true,
    });
    // A dropped connection emits 'error' even while idle: unheard, that event would crash the
    // process. Here it only marks the connection lost, so that the next statement opens another.
    client.on('error', (e) => this.dropped(client, e));
    client.on('end', () => this.dropped(client, null));
    try {
      await client.connect();
    } catch (e) {
      client.end().catch(() => undefined);
      throw e;
    }
    this.client = client;
    this.lost = false;
    return client;
  }

  private dropped(client: Client, e: Error | null): void {
    if (client !== this.client || this.lost) return;
    this.lost = true;
    this.log.warn(
      { err: e?.message ?? 'connection ended' },
      'iceberg catalog (postgres): connection lost; a new one is opened at its next use',
    );
  }

  private async send(sql: string, params: readonly unknown[]) {
    const r = await (await this.connection()).query(sql, params as unknown[]);
    return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 };
  }

  async query(sql: string, params: readonly unknown[], resend = false) {
    const verb = /^\s*(BEGIN|COMMIT|ROLLBACK)\b/i.exec(sql)?.[1]?.toUpperCase();
    const inTransaction = this.inTransaction;
    // Whatever their outcome, the transaction is over after these (the server aborts it when the connection goes).
    if (verb === 'COMMIT' || verb === 'ROLLBACK') this.inTransaction = false;
    if (inTransaction && this.lost)
      throw new NotSentError('the connection was lost inside the transaction; the server rolled it back');
    const reused = this.client !== null && !this.lost;
    let r: Awaited<ReturnType<PgSession['send']>>;
    try {
      r = await this.send(sql, params);
    } catch (e) {
      if (!isConnectionError(e)) throw e;
      this.lost = true;
      // Found dropped on use (it was fine when last used; its 'error' had not arrived yet): a
      // statement that may go twice, outside a transaction, goes once more on a new connection.
      if (!resend || !reused || inTransaction) throw e;
      r = await this.send(sql, params);
    }
    if (verb === 'BEGIN') this.inTransaction = true;
    return r;
  }

  async rollback() {
    if (!this.inTransaction) return;
    await this.query('ROLLBACK', []).catch(() => {
      this.lost = true; // the server rolls back with the connection
    });
  }

  async afterFailedCommit(e: unknown) {
    if (e instanceof NotSentError) return 'rolled_back' as const;
    // The COMMIT may have reached the server before the connection failed: unknown. The next
    // use starts on a new connection, in no transaction whatever state this one was left in.
    this.lost = true;
    return 'unknown' as const;
  }

  async close() {
    const c = this.client;
    this.client = null;
    await c?.end();
  }
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** A failure of the connection itself (no answer of the server to the statement): class 08, 57P, or no SQLSTATE. */
function isConnectionError(e: unknown): boolean {
  if (e instanceof TypeError || e instanceof RangeError) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code !== 'string' || !SQLSTATE.test(code) || code.startsWith('08') || code.startsWith('57P');
}

/** What retrying a failed catalog statement can do: `transient` when waiting may help. */
export function kindOf(e: unknown): ErrorKind {
  if (isTidemarkError(e)) return e.kind;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|NOMEM|INTERRUPT)/.test(code)) return 'transient';
    if (/^SQLITE_(CANTOPEN|READONLY|PERM|AUTH|NOTADB)/.test(code)) return 'config';
    return 'internal';
  }
  if (typeof code === 'string' && SQLSTATE.test(code)) {
    if (/^(08|40|53|57)/.test(code) || code === '55P03') return 'transient';
    if (/^(28|3D)/.test(code) || code === '42501') return 'config';
    return 'internal';
  }
  return isConnectionError(e) ? 'transient' : 'internal';
}
