import { Client, type ClientConfig } from 'pg';
import type { ChangeEvent, Row } from '../core/change-event';
import { formatLsn, type Lsn } from '../core/lsn';
import { tableKey } from '../core/table-schema';
import type { ChangeLogWriter } from '../log/change-log';
import type { Logger } from '../observe/logger';
import { decodeRow, RAW_TEXT } from './column-decoding';
import { encodingError } from './encoding-error';
import type { SourceMetrics } from './metrics';
import { qualified, quoteIdent } from './setup/catalog';
import { snapshotPosition } from './snapshot-state';
import type { SourceTable } from './table-schemas';

const FETCH_ROWS = 5_000;

export interface SnapshotTable {
  readonly table: SourceTable;
  readonly oid: number;
}

export interface SnapshotOptions {
  readonly clientConfig: ClientConfig;
  /** Exported snapshot to import; null when redoing tables after a restart (a fresh snapshot). */
  readonly snapshotName: string | null;
  readonly consistentPoint: Lsn;
  readonly attempt: number;
  readonly tables: readonly SnapshotTable[];
  readonly parallelism: number;
  readonly chunkRows: number;
  readonly maxInFlightEvents: number;
  readonly log: ChangeLogWriter;
  readonly logger: Logger;
  readonly metrics: SourceMetrics;
  /** Called once every row of a table is durable in the log. */
  readonly onTableDone: (table: string) => Promise<void>;
  readonly isStopping: () => boolean;
}

interface Chunk {
  readonly t: SnapshotTable;
  /** Key range [lo, hi): raw text key values, null for open ends. */
  readonly lo: string[] | null;
  readonly hi: string[] | null;
}

/**
 * Copies the tables inside one snapshot, in parallel over key-range chunks. Rows become op 'r'
 * events. Each table's rows get their sequence numbers in the order they are appended, so a
 * channel's positions only grow. `onTableDone` runs when all of a table's appends resolved.
 */
export async function copySnapshot(o: SnapshotOptions): Promise<void> {
  const workers: Client[] = [];
  try {
    for (let i = 0; i < o.parallelism; i++) {
      const c = new Client(o.clientConfig);
      // The query in progress rejects too; this only keeps the event from crashing the process.
      c.on('error', (e: Error) => o.logger.warn({ err: e.message }, 'snapshot connection lost'));
      await c.connect();
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (o.snapshotName) await c.query(`SET TRANSACTION SNAPSHOT '${o.snapshotName}'`);
      workers.push(c);
    }
    const chunks: Chunk[] = [];
    for (const t of o.tables) chunks.push(...(await planChunks(workers[0]!, t, o.chunkRows)));
    const remainingChunks = new Map(o.tables.map((t) => [tableKey(t.table.schema), 0]));
    for (const c of chunks)
      remainingChunks.set(tableKey(c.t.table.schema), remainingChunks.get(tableKey(c.t.table.schema))! + 1);
    o.metrics.snapshotTablesPending.set(o.tables.length);
    o.logger.info(
      {
        tables: o.tables.length,
        chunks: chunks.length,
        consistentPoint: formatLsn(o.consistentPoint),
        attempt: o.attempt,
      },
      'snapshot started',
    );

    const counters = new Map<string, number>();
    let inFlight = 0;
    const waiters: Array<() => void> = [];
    const queue = [...chunks];
    const runWorker = async (client: Client) => {
      for (let chunk = queue.shift(); chunk && !o.isStopping(); chunk = queue.shift()) {
        const appends: Promise<void>[] = [];
        await readChunk(client, chunk, async (rows) => {
          while (inFlight >= o.maxInFlightEvents) await new Promise<void>((r) => waiters.push(r));
          const key = tableKey(chunk.t.table.schema);
          let n = counters.get(key) ?? 0;
          const events = rows.map(
            (row): ChangeEvent => ({
              op: 'r',
              table: { schema: chunk.t.table.schema.schema, table: chunk.t.table.schema.table },
              position: snapshotPosition(o.consistentPoint, o.attempt, n++),
              txId: 0,
              commitTimeMs: Date.now(),
              schemaVersion: chunk.t.table.schema.version,
              before: null,
              after: row,
              unchanged: [],
              snapshot: true,
            }),
          );
          counters.set(key, n);
          inFlight += events.length;
          // Synchronously after the sequence numbers were taken: append order = sequence order.
          const appended = o.log.append(events).finally(() => {
            inFlight -= events.length;
            for (const w of waiters.splice(0)) w();
          });
          // Awaited (and its failure reported) after the chunk; this only marks it handled.
          appended.catch(() => {});
          appends.push(appended);
          o.metrics.snapshotRows.inc({ table: key }, events.length);
        });
        await Promise.all(appends);
        const key = tableKey(chunk.t.table.schema);
        const left = remainingChunks.get(key)! - 1;
        remainingChunks.set(key, left);
        if (left === 0) {
          await o.onTableDone(key);
          o.metrics.snapshotTablesPending.dec();
          o.logger.info({ table: key, rows: counters.get(key) ?? 0 }, 'snapshot of table done');
        }
      }
    };
    await Promise.all(workers.map(runWorker));
  } finally {
    await Promise.allSettled(workers.map((c) => c.end()));
  }
}

async function planChunks(client: Client, t: SnapshotTable, chunkRows: number): Promise<Chunk[]> {
  // A partitioned table holds no rows itself: its partitions' estimates add up to its own.
  const estimate = Number(
    (
      await client.query(
        `SELECT COALESCE(
                  (SELECT sum(greatest(c.reltuples, 0)) FROM pg_partition_tree($1::regclass) p
                     JOIN pg_class c ON c.oid = p.relid WHERE p.isleaf),
                  (SELECT reltuples FROM pg_class WHERE oid = $1))::bigint AS n`,
        [t.oid],
      )
    ).rows[0]?.n ?? 0,
  );
  if (estimate <= chunkRows * 1.5) return [{ t, lo: null, hi: null }];
  const key = t.table.schema.primaryKey.map(quoteIdent).join(', ');
  const wanted = Math.ceil(estimate / chunkRows);
  // A sample of keys (in the same snapshot) gives chunk boundaries without scanning the table.
  const pct = Math.min(100, ((wanted * 20) / estimate) * 100);
  const sample = await client.query({
    text: `SELECT ${key} FROM ${qualified(t.table.schema)} TABLESAMPLE SYSTEM (${pct}) ORDER BY ${key}`,
    rowMode: 'array',
    types: RAW_TEXT,
  });
  const keys = sample.rows as string[][];
  const step = Math.max(1, Math.floor(keys.length / wanted));
  const bounds: string[][] = [];
  for (let i = step; i < keys.length; i += step) bounds.push(keys[i]!);
  const chunks: Chunk[] = [];
  let lo: string[] | null = null;
  for (const b of bounds) {
    chunks.push({ t, lo, hi: b });
    lo = b;
  }
  chunks.push({ t, lo, hi: null });
  return chunks;
}

async function readChunk(
  client: Client,
  chunk: Chunk,
  onRows: (rows: Row[]) => Promise<void>,
): Promise<void> {
  const s = chunk.t.table.schema;
  const key = s.primaryKey.map(quoteIdent).join(', ');
  const cols = s.columns.map((c) => quoteIdent(c.name)).join(', ');
  const params: string[] = [];
  const where: string[] = [];
  const tuple = (vals: string[]) =>
    `(${vals
      .map((v) => {
        params.push(v);
        return `$${params.length}`;
      })
      .join(', ')})`;
  if (chunk.lo) where.push(`(${key}) >= ${tuple(chunk.lo)}`);
  if (chunk.hi) where.push(`(${key}) < ${tuple(chunk.hi)}`);
  const cursor = `tidemark_snap_${Math.random().toString(36).slice(2, 10)}`;
  await client.query({
    text: `DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${cols} FROM ${qualified(s)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${key}`,
    values: params,
  });
  const where0 = `${s.schema}.${s.table}`;
  for (;;) {
    const r = await client
      .query({ text: `FETCH ${FETCH_ROWS} FROM ${cursor}`, rowMode: 'array', types: RAW_TEXT })
      .catch((e: unknown) => {
        throw encodingError(e, `snapshot of ${where0}`) ?? e;
      });
    if (r.rows.length === 0) break;
    const rows = (r.rows as Array<Array<string | null>>).map((values) =>
      decodeRow(chunk.t.table, values, where0),
    );
    await onRows(rows);
    if (r.rows.length < FETCH_ROWS) break;
  }
  await client.query(`CLOSE ${cursor}`);
}
