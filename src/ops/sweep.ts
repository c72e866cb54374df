import { Client } from 'pg';
import type { Config } from '../config/load';
import type { Row } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import { tableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import { sinkSchema } from '../sink/text-casts';
import { valueText } from '../sink/warehouse/pg-copy-text';
import { sourceClientConfig } from '../source/pg-connection';
import { qualified, quoteIdent } from '../source/setup/catalog';
import { SWEEP_REQUEST, type SweepRequest } from '../source/sweep-request';
import type { SourceTable } from '../source/table-schemas';
import { emitTransactionalMessage } from '../source/wal-message';
import { IcebergAtCut, icebergCut } from '../verify/iceberg-at-cut';
import { publishedSourceTables } from '../verify/run-verify';
import { openWarehouseAtCut } from '../verify/warehouse-at-cut';
import { publishedTable } from './refresh-request';

/** Keys looked up in the source per query (without the lock: finding the candidates). */
const LOOKUP_KEYS = 2_000;
/** Keys checked and asked to be deleted per locked transaction (the table's writers wait that long). */
const LOCKED_KEYS = 500;

export interface SweepResult {
  readonly table: string;
  /** Keys read per sink. */
  readonly read: Record<string, number>;
  /** Keys some sink holds that the source does not (before the locked check). */
  readonly found: number;
  /** Keys whose deletes were written to the WAL (none with dryRun). */
  readonly requested: number;
  /** WAL position of the last request, or null when none was written. */
  readonly lsn: string | null;
}

/**
 * `tidemark sweep`: the rows a sink holds and the source does not (left by changes the sinks
 * never got: Kafka's retention, a lost slot, a reset forward), which a copy does not remove since
 * it only upserts. Every key of each sink's table is looked up in the source; those missing are
 * checked again under a SHARE lock on the table (its writers wait: a key cannot come back between
 * the check and the request) and written to the WAL as one transactional request, which the
 * running source turns into deletes at its place in the stream. A delete there is exact, since
 * no row of that key exists there, so the sinks apply it as any change, exactly once.
 */
export async function runSweep(
  config: Config,
  name: string,
  logger: Logger,
  opts: { dryRun: boolean },
): Promise<SweepResult> {
  const c = new Client(sourceClientConfig(config.source.url.reveal(), 'tidemark-sweep'));
  await c.connect();
  try {
    const table = await publishedTable(c, config, name);
    const [t] = await publishedSourceTables(config, c, [table], logger);
    const s = t!.source;
    refuseUnsweepable(config, s);
    const view = sinkSchema(s.schema);
    const keyColumns = s.schema.primaryKey.map((k) => view.columns.find((col) => col.name === k)!);
    const read: Record<string, number> = {};
    const found = new Map<string, string[]>();
    for await (const [sink, rows] of sinkKeys(config, s)) {
      let batch: string[][] = [];
      const lookUp = async () => {
        for (const k of await absentInSource(c, s, batch)) found.set(JSON.stringify(k), k);
        batch = [];
      };
      for await (const chunk of rows) {
        for (const row of chunk) {
          // the key as the source reads it: the sinks' values in Postgres input text
          batch.push(keyColumns.map((col) => valueText(row[col.name]!, col.type)));
          if (batch.length >= LOOKUP_KEYS) await lookUp();
        }
        read[sink] = (read[sink] ?? 0) + chunk.length;
      }
      if (batch.length > 0) await lookUp();
    }
    let requested = 0;
    let lsn: string | null = null;
    if (!opts.dryRun) {
      const keys = [...found.values()];
      for (let i = 0; i < keys.length; i += LOCKED_KEYS) {
        const r = await requestDeletes(c, config.source.slot, s, keys.slice(i, i + LOCKED_KEYS));
        requested += r.keys;
        lsn = r.lsn ?? lsn;
      }
    }
    return { table, read, found: found.size, requested, lsn };
  } finally {
    await c.end();
  }
}

/** What a sweep cannot do for a table, as a config error naming it. */
function refuseUnsweepable(config: Config, t: SourceTable): void {
  const name = tableKey(t.schema);
  const mode = config.tableOptions(name).mode;
  if (mode === 'append')
    throw new TidemarkError(
      'config',
      `sweep: ${name} is an append table: its history holds deleted keys by design`,
    );
  const masked = t.schema.primaryKey.filter(
    (k) => t.maskers[t.schema.columns.findIndex((c) => c.name === k)],
  );
  if (masked.length > 0)
    throw new TidemarkError(
      'config',
      `sweep: ${name}'s key column ${masked.join(', ')} is masked: the sinks' values cannot be looked up in the source`,
    );
  if (!config.sinks.iceberg && !config.sinks.warehouse)
    throw new TidemarkError('config', 'sweep: the config has no sink (sinks.iceberg, sinks.warehouse)');
}

/** Per configured sink: its name and the table's rows as it holds them now (its last commit). */
async function* sinkKeys(
  config: Config,
  t: SourceTable,
): AsyncGenerator<[string, AsyncIterable<readonly Row[]>]> {
  const view = sinkSchema(t.schema);
  const ref = { schema: t.schema.schema, table: t.schema.table };
  if (config.sinks.iceberg) {
    const cut = await icebergCut(config.sinks.iceberg, [ref]);
    const ice = await IcebergAtCut.open(config.sinks.iceberg);
    try {
      if (cut !== null) yield ['iceberg', (await ice.table(view, cut)).rows()];
    } finally {
      await ice.close();
    }
  }
  if (config.sinks.warehouse) {
    const w = await openWarehouseAtCut(config.sinks.warehouse);
    try {
      yield ['warehouse', (await w.table(view, config.tableOptions(tableKey(ref)).mode)).rows()];
    } finally {
      await w.close();
    }
  }
}

/**
 * The keys (Postgres input text per key column) that no row of the table holds, each as the
 * source's text output of its columns (the session settings every source reader uses), which is
 * what the source decodes.
 */
async function absentInSource(c: Client, t: SourceTable, keys: readonly string[][]): Promise<string[][]> {
  if (keys.length === 0) return [];
  const s = t.schema;
  const cols = s.primaryKey.map((k) => s.columns.find((col) => col.name === k)!);
  const alias = cols.map((_, i) => `k${i}`);
  const values = keys
    .map((_, r) => `(${cols.map((col, i) => `$${r * cols.length + i + 1}::${col.pgType}`).join(', ')})`)
    .join(', ');
  const res = await c.query({
    text:
      `SELECT ${alias.map((a) => `v.${a}::text`).join(', ')} FROM (VALUES ${values}) AS v(${alias.join(', ')}) ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${qualified(s)} AS t WHERE ${cols
        .map((col, i) => `t.${quoteIdent(col.name)} = v.${alias[i]}`)
        .join(' AND ')})`,
    values: keys.flat(),
    rowMode: 'array',
  });
  return res.rows as string[][];
}

/** Checks the keys again under a SHARE lock and writes the request for those still absent. */
async function requestDeletes(
  c: Client,
  slot: string,
  t: SourceTable,
  keys: readonly string[][],
): Promise<{ keys: number; lsn: string | null }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await requestDeletesOnce(c, slot, t, keys);
    } catch (e) {
      // A transaction writing the table holds the lock a while: the writers queued behind the
      // sweep's request must not wait on it, so it gives up quickly and tries again.
      if ((e as { code?: string }).code !== LOCK_NOT_AVAILABLE || attempt >= LOCK_ATTEMPTS)
        throw lockError(e, t);
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/** lock_not_available: the SHARE lock not had within lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';
const LOCK_ATTEMPTS = 10;

function lockError(e: unknown, t: SourceTable): unknown {
  const code = (e as { code?: string }).code;
  const table = tableKey(t.schema);
  if (code === '42501')
    return new TidemarkError(
      'source_setup',
      `sweep: the role of source.url may not lock ${table} in SHARE mode (${(e as Error).message})`,
      {
        cause: e,
        fix: `run the sweep with a config whose source.url is a role with UPDATE, DELETE or TRUNCATE on ${table} (its owner, say)`,
      },
    );
  if (code === LOCK_NOT_AVAILABLE)
    return new TidemarkError(
      'transient',
      `sweep: ${table} stayed locked by other transactions through ${LOCK_ATTEMPTS} attempts of 1 s each`,
      { cause: e, fix: 'run the sweep again once the long transactions writing the table have ended' },
    );
  return e;
}

async function requestDeletesOnce(
  c: Client,
  slot: string,
  t: SourceTable,
  keys: readonly string[][],
): Promise<{ keys: number; lsn: string | null }> {
  await c.query('BEGIN');
  try {
    await c.query(`SET LOCAL lock_timeout = '1s'`);
    // Writers of the table wait from here to COMMIT: no key checked absent can be inserted
    // before the request's commit, so at the request's place in the stream none exists.
    await c.query(`LOCK TABLE ${qualified(t.schema)} IN SHARE MODE`);
    const absent = await absentInSource(c, t, keys);
    let lsn: string | null = null;
    if (absent.length > 0) {
      const req: SweepRequest = { slot, table: tableKey(t.schema), keys: absent };
      lsn = await emitTransactionalMessage(c, SWEEP_REQUEST, req);
    }
    await c.query('COMMIT');
    return { keys: absent.length, lsn };
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  }
}
