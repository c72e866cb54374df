import { TidemarkError } from '../../core/errors';
import { formatLsn, type Lsn } from '../../core/lsn';
import type { TokenUpdate } from '../../core/offset-token';
import { ident } from './sql-names';
import type { WarehouseSession } from './warehouse-session';

/**
 * tidemark's own tables in the warehouse, in the metadata schema:
 * - `_tidemark_offsets`: per channel, the offset token committed with the data (the truth).
 * - `_tidemark_cut`: one row, the last committed cut (LSN, commit id, time) for `status`.
 * - `_tidemark_tables`: per target table, the source schema and mode it was last built for, and
 *   when the source table was found dropped (`source_dropped_at`, null while it exists), and
 *   the schema version it was last rebuilt at (`rebuilt_at_version`, onIncompatibleSchema: rebuild).
 */
export class MetaTables {
  readonly offsets: string;
  readonly cut: string;
  readonly tables: string;

  constructor(private readonly schema: string) {
    this.offsets = `${ident(schema)}._tidemark_offsets`;
    this.cut = `${ident(schema)}._tidemark_cut`;
    this.tables = `${ident(schema)}._tidemark_tables`;
  }

  ddl(): string[] {
    return [
      `CREATE SCHEMA IF NOT EXISTS ${ident(this.schema)}`,
      `CREATE TABLE IF NOT EXISTS ${this.offsets} (channel TEXT PRIMARY KEY, token TEXT NOT NULL, cut_lsn TEXT, commit_id TEXT, updated_at TIMESTAMPTZ)`,
      `CREATE TABLE IF NOT EXISTS ${this.cut} (id INTEGER PRIMARY KEY, cut_lsn TEXT NOT NULL, commit_id TEXT NOT NULL, committed_at TIMESTAMPTZ NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${this.tables} (table_key TEXT PRIMARY KEY, mode TEXT NOT NULL, schema_json TEXT NOT NULL, updated_at TIMESTAMPTZ)`,
      // Added after the first release: tables made by it gain the column.
      `ALTER TABLE ${this.tables} ADD COLUMN IF NOT EXISTS source_dropped_at TEXT`,
      `ALTER TABLE ${this.tables} ADD COLUMN IF NOT EXISTS rebuilt_at_version INTEGER`,
    ];
  }

  /**
   * Moves one token conditionally (DESIGN "Exactly-once": `UPDATE … WHERE token = expected`).
   * No row back means another writer moved it: the caller rolls back and reports 'fenced'.
   */
  async moveToken(s: WarehouseSession, u: TokenUpdate, cutLsn: Lsn, commitId: string): Promise<void> {
    const cut = formatLsn(cutLsn);
    // A first token: look before inserting. DuckDB was seen to stall in `INSERT … ON CONFLICT DO
    // NOTHING` against an existing key (and later statements with it); the conflict clause stays
    // for a writer in another process that inserts between the look and the insert.
    const taken =
      u.expected === null &&
      (await s.query(`SELECT channel FROM ${this.offsets} WHERE channel = $1`, [u.channel])).length > 0;
    const rows = taken
      ? []
      : u.expected === null
        ? await s.query(
            `INSERT INTO ${this.offsets} (channel, token, cut_lsn, commit_id, updated_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT (channel) DO NOTHING RETURNING channel`,
            [u.channel, u.next, cut, commitId],
          )
        : await s.query(
            `UPDATE ${this.offsets} SET token = $1, cut_lsn = $2, commit_id = $3, updated_at = now() WHERE channel = $4 AND token = $5 RETURNING channel`,
            [u.next, cut, commitId, u.channel, u.expected],
          );
    if (rows.length !== 1) {
      throw new TidemarkError(
        'fenced',
        `warehouse: token of channel ${u.channel} is no longer ${u.expected ?? '(none)'}: another writer committed; nothing applied`,
      );
    }
  }

  async recordCut(s: WarehouseSession, cutLsn: Lsn, commitId: string): Promise<void> {
    await s.query(
      `INSERT INTO ${this.cut} (id, cut_lsn, commit_id, committed_at) VALUES (1, $1, $2, now()) ON CONFLICT (id) DO UPDATE SET cut_lsn = EXCLUDED.cut_lsn, commit_id = EXCLUDED.commit_id, committed_at = EXCLUDED.committed_at`,
      [formatLsn(cutLsn), commitId],
    );
  }
}
