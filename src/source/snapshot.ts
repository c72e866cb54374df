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
import type { SnapshotChunks } from './snapshot-chunks';
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
  /** Per-chunk progress, so that a restart copies only the chunks not yet durable (none: every chunk). */
  readonly chunks?: SnapshotChunks;
  readonly isStopping: () => boolean;
}

interface Chunk {
  readonly t: SnapshotTable;
  /** Its place in the table's plan (SnapshotChunks records it once durable). */
  readonly index: number;
  /** Key range [lo, hi): raw text key values, null for open ends. */
  readonly lo: string[] | null;
  readonly hi: string[] | null;
}

/**
 * Copies the tables inside one snapshot, in parallel over key-range chunks. Rows become op 'r'
 * events. Each table's rows get their sequence numbers in the order they are appended, so a
 * channel's positions only grow. `onTableDone` runs when all of a table's appends resolved.
 * With `chunks`, each chunk is recorded once its appends resolved, and chunks recorded by an
 * earlier attempt (a restart) are not read again.
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
    const remainingChunks = new Map<string, number>();
    const finished: string[] = [];
    for (const t of o.tables) {
      const key = tableKey(t.table.schema);
      const planned = await chunksOf(workers[0]!, t, o.chunkRows, o.chunks);
      const todo = planned.list.filter((c) => !planned.done.has(c.index));
      if (planned.done.size > 0)
        o.logger.info(
          { table: key, chunks: planned.list.length, done: planned.list.length - todo.length },
          'snapshot of table resumed: only the chunks not yet durable are copied',
        );
      o.metrics.snapshotChunks.set({ table: key }, planned.list.length);
      o.metrics.snapshotChunksDone.set({ table: key }, planned.list.length - todo.length);
      chunks.push(...todo);
      remainingChunks.set(key, todo.length);
      if (todo.length === 0) finished.push(key);
    }
    // Every chunk durable, the table not yet recorded done (stopped in between): record it now.
    for (const key of finished) await o.onTableDone(key);
    o.metrics.snapshotTablesPending.set(o.tables.length - finished.length);
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
        await o.chunks?.chunkDone(key, chunk.index);
        o.metrics.snapshotChunksDone.inc({ table: key });
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

/**
 * The table's chunks and those already durable: the stored plan when one was kept for this
 * consistent point and key (a restart), else a new plan, recorded before any chunk is read. A
 * table with a masked key column keeps no plan (its bounds are clear key values, which must not
 * leave the source): a restart copies it from its start.
 */
async function chunksOf(
  client: Client,
  t: SnapshotTable,
  chunkRows: number,
  progress: SnapshotChunks | undefined,
): Promise<{ list: Chunk[]; done: Set<number> }> {
  const s = t.table.schema;
  const table = tableKey(s);
  const keyMasked = s.primaryKey.some(
    (k) => (t.table.maskers[s.columns.findIndex((c) => c.name === k)] ?? null) !== null,
  );
  const kept = progress && !keyMasked ? progress : undefined;
  const resumed = await kept?.resume(table, s.primaryKey);
  if (resumed) return { list: chunksFrom(t, resumed.plan.bounds), done: resumed.done };
  const bounds = await planBounds(client, t, chunkRows);
  await kept?.planned(table, s.primaryKey, bounds);
  return { list: chunksFrom(t, bounds), done: new Set() };
}

/** Chunk i is [bounds[i-1], bounds[i]), open at both ends of the table. */
function chunksFrom(t: SnapshotTable, bounds: readonly (readonly string[])[]): Chunk[] {
  const chunks: Chunk[] = [];
  let lo: string[] | null = null;
  for (const b of bounds) {
    chunks.push({ t, index: chunks.length, lo, hi: [...b] });
    lo = [...b];
  }
  chunks.push({ t, index: chunks.length, lo, hi: null });
  return chunks;
}

/** Sampled pages per chunk wanted: enough for even chunks on a table laid out in key order. */
const PAGES_PER_CHUNK = 10;
/** Pages counted to size a table never analyzed (reltuples -1, as after a restore). */
const COUNTED_PAGES = 100;

/**
 * Key values that cut the table into chunks of about `chunkRows` rows (none: one chunk), the
 * quantiles of a sample of whole pages (TABLESAMPLE SYSTEM), computed in the same snapshot by
 * Postgres so that only the bounds come back. The sample takes about PAGES_PER_CHUNK pages per
 * chunk: a page holds keys close to each other, so a handful of pages would put every bound
 * in a few narrow key ranges and leave a few chunks with most of the table.
 */
async function planBounds(client: Client, t: SnapshotTable, chunkRows: number): Promise<string[][]> {
  // A partitioned table holds no rows itself: its leaf partitions add up to it (a plain table
  // is no partition tree's leaf).
  const size = (
    await client.query<{ tuples: number; unanalyzed: boolean; bytes: number }>(
      `SELECT COALESCE(sum(greatest(c.reltuples, 0)), 0)::float8 AS tuples,
              COALESCE(bool_or(c.reltuples < 0), false) AS unanalyzed,
              COALESCE(sum(pg_relation_size(c.oid)), 0)::float8 AS bytes
         FROM pg_class c
        WHERE (c.oid = $1 AND c.relkind <> 'p')
           OR c.oid IN (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf)`,
      [t.oid],
    )
  ).rows[0]!;
  const pages = Math.max(1, size.bytes / 8192);
  const rows = size.unanalyzed ? await countedRows(client, t, pages) : size.tuples;
  if (rows <= chunkRows * 1.5) return [];
  const wanted = Math.ceil(rows / chunkRows);
  const pct = Math.min(100, ((wanted * PAGES_PER_CHUNK) / pages) * 100);
  const key = t.table.schema.primaryKey.map(quoteIdent).join(', ');
  const sample = await client.query({
    text: `SELECT ${key} FROM (
             SELECT ${key}, row_number() OVER (ORDER BY ${key}) AS tidemark_rn, count(*) OVER () AS tidemark_n
               FROM ${qualified(t.table.schema)} TABLESAMPLE SYSTEM (${pct})) s
           WHERE tidemark_rn % greatest(1, tidemark_n / $1) = 0 AND tidemark_rn < tidemark_n
           ORDER BY ${key}`,
    values: [wanted],
    rowMode: 'array',
    types: RAW_TEXT,
  });
  return sample.rows as string[][];
}

/** Rows of a table no ANALYZE has sized: counted in about COUNTED_PAGES sampled pages, scaled up. */
async function countedRows(client: Client, t: SnapshotTable, pages: number): Promise<number> {
  const pct = Math.min(100, (COUNTED_PAGES / pages) * 100);
  const r = await client.query<{ n: number }>(
    `SELECT count(*)::float8 AS n FROM ${qualified(t.table.schema)} TABLESAMPLE SYSTEM (${pct})`,
  );
  return (r.rows[0]?.n ?? 0) / (pct / 100);
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
