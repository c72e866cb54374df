import { Client } from 'pg';
import type { Config } from '../config/load';
import { formatLsn } from '../core/lsn';
import { type TableRef, tableKey } from '../core/table-schema';
import { createKafka } from '../log/kafka-client';
import { tableTopic } from '../log/topics';
import type { Logger } from '../observe/logger';
import type { OffsetStore } from '../offsets/offset-store';
import { IcebergTarget } from '../sink/iceberg-target';
import { openWarehouse } from '../sink/warehouse/open';
import { type DroppedTable, readDroppedTables } from '../source/dropped-tables';
import { readRebuilds } from '../source/rebuild-requests';
import { SnapshotChunks } from '../source/snapshot-chunks';
import { readSnapshotState, type SnapshotState } from '../source/snapshot-state';
import { type RefreshState, readRefreshes } from '../source/table-refresh';
import { type PausedTable, readPausedTables } from './paused-tables';

export interface SlotStatus {
  readonly name: string;
  readonly exists: boolean;
  readonly active: boolean;
  readonly confirmedLsn: string | null;
  readonly lagBytes: number | null;
  readonly retainedWalBytes: number | null;
}

export interface SinkCut {
  readonly sink: string;
  readonly lastCutLsn: string | null;
  readonly lastCommitAt: string | null;
  /** Why the sink could not be read (e.g. a DuckDB file locked by the running pipeline). */
  readonly error?: string;
}

export interface ChannelStatus {
  readonly channel: string;
  /** Token per store: "store" (Redis or file) and each sink by name; null where none. */
  readonly tokens: Record<string, string | null>;
  /** Kafka mode: messages in the partition after the sink group's committed offset. */
  readonly consumerLag: number | null;
}

export interface PipelineStatus {
  readonly pipeline: string;
  readonly tables: string[];
  readonly slot: SlotStatus;
  readonly snapshot: {
    complete: boolean;
    doneTables: readonly string[];
    /** Tables being copied, with their chunks durable so far (of the chunks planned). */
    inProgress: readonly { table: string; chunks: number; chunksDone: number }[];
  } | null;
  readonly sinks: SinkCut[];
  readonly channels: ChannelStatus[];
  readonly watermark: { lsn: string; publishedAt: string } | null;
  /** Table refreshes (`tidemark snapshot --table`): unfinished ones and the last finished. */
  readonly refreshes: readonly RefreshState[];
  /** Tables paused by `tidemark pause`. */
  readonly pausedTables: readonly PausedTable[];
  /** Mirrored tables dropped in the source: kept in the sinks, marked. */
  readonly droppedTables: readonly DroppedTable[];
  /** Tables rebuilt after a schema change the sinks could not follow (onIncompatibleSchema: rebuild). */
  readonly rebuiltTables: Awaited<ReturnType<typeof readRebuilds>>;
}

interface SinkReader {
  read(): Promise<{ tokens: Map<string, string>; cut: { lsn: bigint; atMs: number } | null }>;
  close(): Promise<void>;
}

/**
 * Everything an operator asks first, read without changing anything: the slot's lag and retained
 * WAL, the snapshot's progress, each sink's last cut, and per channel the token in the offset
 * store next to the tokens inside each sink (the truth), with the Kafka consumer lag.
 */
export async function readPipelineStatus(
  config: Config,
  store: OffsetStore,
  logger: Logger,
): Promise<PipelineStatus> {
  const pg = new Client({
    connectionString: config.source.url.reveal(),
    application_name: 'tidemark-status',
  });
  await pg.connect();
  let slot: SlotStatus;
  let tables: TableRef[];
  try {
    const r = await pg.query(
      `SELECT active, confirmed_flush_lsn::text AS confirmed,
              (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint AS lag,
              (pg_current_wal_lsn() - restart_lsn)::bigint AS retained
         FROM pg_replication_slots WHERE slot_name = $1`,
      [config.source.slot],
    );
    const row = r.rows[0];
    slot = row
      ? {
          name: config.source.slot,
          exists: true,
          active: row.active,
          confirmedLsn: row.confirmed,
          lagBytes: Number(row.lag),
          retainedWalBytes: Number(row.retained),
        }
      : {
          name: config.source.slot,
          exists: false,
          active: false,
          confirmedLsn: null,
          lagBytes: null,
          retainedWalBytes: null,
        };
    const t = await pg.query(
      'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2',
      [config.source.publication],
    );
    tables = t.rows.map((x) => ({ schema: x.schemaname as string, table: x.tablename as string }));
  } finally {
    await pg.end();
  }

  const snap = await readSnapshotState(store, config.source.slot);
  const byStore: Record<string, Map<string, string>> = { store: await store.readTokens() };
  const sinks: SinkCut[] = [];
  const readSink = async (sink: string, open: () => Promise<SinkReader>) => {
    try {
      const target = await open();
      try {
        const { tokens, cut } = await target.read();
        byStore[sink] = tokens;
        sinks.push({
          sink,
          lastCutLsn: cut ? formatLsn(cut.lsn) : null,
          lastCommitAt: cut?.atMs ? new Date(cut.atMs).toISOString() : null,
        });
      } finally {
        await target.close();
      }
    } catch (e) {
      sinks.push({ sink, lastCutLsn: null, lastCommitAt: null, error: (e as Error).message });
    }
  };
  const { iceberg, warehouse } = config.sinks;
  if (iceberg) {
    await readSink('iceberg', async () => {
      const t = await IcebergTarget.open(iceberg);
      return { read: () => t.readTokensOf(tables), close: () => t.close() };
    });
  }
  if (warehouse) {
    await readSink('warehouse', async () => {
      const w = await openWarehouse(warehouse);
      return {
        read: async () => ({ tokens: await w.readTokens(), cut: await w.lastCut() }),
        close: () => w.close(),
      };
    });
  }

  const lag =
    config.log.kind === 'kafka' ? await consumerLag(config, tables, logger) : new Map<string, number>();
  const names = new Set<string>([...lag.keys()]);
  for (const m of Object.values(byStore)) for (const ch of m.keys()) names.add(ch);
  const channels = [...names].sort().map((channel) => ({
    channel,
    tokens: Object.fromEntries(Object.entries(byStore).map(([k, m]) => [k, m.get(channel) ?? null])),
    consumerLag: lag.get(channel) ?? null,
  }));
  const w = await store.getWatermark();
  return {
    pipeline: config.pipeline,
    tables: tables.map(tableKey),
    slot,
    snapshot: snap
      ? {
          complete: snap.complete,
          doneTables: snap.doneTables,
          inProgress: snap.complete ? [] : await chunkProgress(store, slot.name, snap, tables),
        }
      : null,
    sinks,
    channels,
    watermark: w ? { lsn: formatLsn(w.lsn), publishedAt: new Date(w.publishedAtMs).toISOString() } : null,
    refreshes: await readRefreshes(store, config.source.slot),
    pausedTables: await readPausedTables(store),
    droppedTables: await readDroppedTables(store, config.source.slot),
    rebuiltTables: await readRebuilds(store, config.source.slot),
  };
}

async function consumerLag(
  config: Config,
  tables: readonly TableRef[],
  logger: Logger,
): Promise<Map<string, number>> {
  if (config.log.kind !== 'kafka' || tables.length === 0) return new Map();
  const admin = createKafka(config.log, logger, 'status').admin();
  await admin.connect();
  try {
    const topics = tables.map((t) => tableTopic(config.topicPrefix, t));
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    const out = new Map<string, number>();
    const committed = await admin.fetchOffsets({
      groupId: `tidemark-${config.pipeline}-sink`,
      topics: present,
    });
    for (const topic of present) {
      const ends = await admin.fetchTopicOffsets(topic);
      const group = committed.find((c) => c.topic === topic);
      for (const p of ends) {
        const at = Number(group?.partitions.find((x) => x.partition === p.partition)?.offset ?? -1);
        const start = Number(p.low);
        out.set(`${topic}/${p.partition}`, Number(p.high) - Math.max(at, start));
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** The planned chunks and those durable of each table the unfinished snapshot has not done yet. */
async function chunkProgress(
  store: OffsetStore,
  slot: string,
  snap: SnapshotState,
  tables: readonly TableRef[],
): Promise<{ table: string; chunks: number; chunksDone: number }[]> {
  const chunks = new SnapshotChunks(store, slot, snap.consistentPoint);
  const out: { table: string; chunks: number; chunksDone: number }[] = [];
  for (const t of tables.map(tableKey).filter((k) => !snap.doneTables.includes(k))) {
    const p = await chunks.progressOf(t);
    if (p) out.push({ table: t, chunks: p.chunks, chunksDone: p.done });
  }
  return out;
}
