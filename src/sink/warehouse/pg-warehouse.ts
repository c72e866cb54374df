import { Pool, type PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ColumnType } from '../../core/column-type';
import { isTidemarkError, TidemarkError } from '../../core/errors';
import type { TableSchema } from '../../core/table-schema';
import { timestampText } from './datetime-text';
import { copyField } from './pg-copy-text';
import { pgColumnType } from './pg-types';
import { ident, META } from './sql-names';
import { SqlWarehouse } from './sql-warehouse';
import type { StagedTable } from './staged-rows';
import type { WarehouseOptions } from './warehouse';
import type { WarehouseSession } from './warehouse-session';

const COPY_CHUNK_CHARS = 1 << 20;

/**
 * The PostgreSQL warehouse: a database separate from the source. Rounds stage each table with
 * `COPY … FROM STDIN` (text format) into a temp table dropped at commit, then merge (see
 * merge-sql.ts), all in one transaction on one pooled connection.
 */
export class PgWarehouse extends SqlWarehouse {
  readonly kind = 'postgres' as const;
  protected readonly copiesBeforeAltering = false;
  readonly name = 'warehouse';
  private readonly pool: Pool;

  constructor(url: string, metaSchema = 'public', options: WarehouseOptions = {}) {
    super(metaSchema, options);
    this.pool = new Pool({ connectionString: url, max: 2 });
    this.pool.on('error', () => {}); // idle client lost: the next checkout gets a fresh one
  }

  protected async transaction<T>(fn: (s: WarehouseSession) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw new TidemarkError('transient', `warehouse (postgres): cannot connect: ${(e as Error).message}`, {
        cause: e,
      });
    }
    let broken: Error | undefined;
    // A backend killed between statements surfaces as an 'error' event on the client; the
    // next query then fails and is reported from there.
    const onError = (e: Error) => {
      broken = e;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      let result: T;
      try {
        result = await fn(pgSession(client));
      } catch (e) {
        broken = e as Error;
        await client.query('ROLLBACK').catch(() => {});
        throw classify(e);
      }
      try {
        await client.query('COMMIT');
      } catch (e) {
        broken = e as Error;
        throw new TidemarkError(
          'commit_state_unknown',
          `warehouse (postgres): COMMIT failed, outcome unknown: ${(e as Error).message}`,
          { cause: e },
        );
      }
      return result;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function classify(e: unknown): Error {
  if (isTidemarkError(e)) return e;
  const code = (e as { code?: string }).code;
  const msg = (e as Error).message;
  if (!code || code.startsWith('08') || code.startsWith('57P') || code === '40001' || code === '40P01') {
    return new TidemarkError('transient', `warehouse (postgres): ${msg}; the transaction was rolled back`, {
      cause: e,
    });
  }
  return new TidemarkError('internal', `warehouse (postgres): ${msg}`, { cause: e });
}

function pgSession(client: PoolClient): WarehouseSession {
  return {
    lsnType: 'NUMERIC(20,0)',
    async query(sql, params) {
      return (await client.query(sql, params as unknown[] | undefined)).rows;
    },
    async stage(t: StagedTable, name: string) {
      const cols = t.schema.columns.map((c) => `${ident(c.name)} ${pgColumnType(c.type)}`);
      await client.query(
        `CREATE TEMP TABLE ${name} (${cols.join(', ')}, ${META.op} TEXT, ${META.unchanged} TEXT, ${META.lsn} NUMERIC(20,0), ${META.seq} BIGINT, ${META.commitTime} TIMESTAMPTZ, ${META.idx} BIGINT) ON COMMIT DROP`,
      );
      await copyRows(client, name, t);
    },
    async unstage() {},
    valueExpr(schema: TableSchema, i: number) {
      return `s.${ident(schema.columns[i]!.name)}`;
    },
    columnType: (type: ColumnType) => pgColumnType(type),
    textCastExpr: (column: string, from: ColumnType) => pgTextCastExpr(column, from),
    tableError(e: unknown, table: string) {
      if (isTidemarkError(e)) return e;
      const code = (e as { code?: string }).code ?? '';
      const where = (e as { where?: string }).where;
      if (code.startsWith('22') || code.startsWith('23')) {
        return new TidemarkError(
          'unsupported_value',
          `warehouse (postgres): a value of ${table} does not fit its target column: ${(e as Error).message}${where ? ` (${where})` : ''}; nothing was applied`,
          { cause: e },
        );
      }
      const c = classify(e);
      c.message = `${c.message} (table ${table})`;
      return c;
    },
  };
}

async function copyRows(client: PoolClient, name: string, t: StagedTable): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${name} FROM STDIN`));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  const types = t.schema.columns.map((c) => c.type);
  let buf = '';
  let idx = 0;
  // A transaction's rows share their commit time: its text is made once per run of them.
  let commitMs = Number.NaN;
  let commitText = '';
  for (const r of t.rows) {
    if (r.commitTimeMs !== commitMs) {
      commitMs = r.commitTimeMs;
      commitText = `${timestampText(BigInt(commitMs) * 1000n)}+00`;
    }
    let line = '';
    for (let i = 0; i < types.length; i++) line += `${copyField(r.values[i] ?? null, types[i]!)}\t`;
    line += `${r.op}\t${r.unchanged ?? '\\N'}\t${r.lsn}\t${r.seq}\t${commitText}\t${idx++}\n`;
    buf += line;
    if (buf.length >= COPY_CHUNK_CHARS) {
      if (!stream.write(buf)) await Promise.race([new Promise((res) => stream.once('drain', res)), done]);
      buf = '';
    }
  }
  stream.end(buf);
  await done;
}

/** See WarehouseSession.textCastExpr: Postgres' own text is castText's but for booleans and date/times. */
function pgTextCastExpr(c: string, from: ColumnType): string {
  switch (from.kind) {
    case 'bool':
      return `CASE ${c} WHEN true THEN 't' WHEN false THEN 'f' END`;
    case 'timestamptz':
      return `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'`;
    case 'timestamp':
      return `to_char(${c}, 'YYYY-MM-DD HH24:MI:SS.US')`;
    case 'time':
      return `to_char(${c}, 'HH24:MI:SS.US')`;
    case 'date':
      return `to_char(${c}, 'YYYY-MM-DD')`;
    default:
      return `${c}::text`;
  }
}
