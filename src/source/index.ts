import { Client } from 'pg';
import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import { formatLsn } from '../core/lsn';
import { tableKey } from '../core/table-schema';
import type { ChangeLogWriter } from '../log/change-log';
import { type Logger, silentLogger } from '../observe/logger';
import { createRegistry, type Registry } from '../observe/metrics';
import { sourceMetrics } from './metrics';
import { databaseOf, sourceClientConfig } from './pg-connection';
import { ReplicationStream } from './replication-stream';
import { listColumns, listTables } from './setup/catalog';
import { checkServer, tableKeyColumns } from './setup/checks';
import { ensurePublication } from './setup/publication';
import { checkSlot, createSlot, readSlot } from './setup/slot';
import { selectTables } from './setup/table-patterns';
import { SlotMonitor } from './slot-monitor';
import { copySnapshot, type SnapshotTable } from './snapshot';
import { readSnapshotState, writeSnapshotState } from './snapshot-state';
import type { SourceStateStore } from './state-store';
import { TableSchemas } from './table-schemas';

export interface SourceHandle {
  /** Graceful: stop reading, wait for in-flight appends, confirm what is durable, close. */
  stop(): Promise<void>;
  /** Rejects with the fatal error if the reader dies. */
  readonly done: Promise<void>;
  notReadyReason(): string | null;
  status(): { slot: string; phase: string; confirmedLsn: string; lagBytes: number; retainedWalBytes: number };
}

export interface SourceDeps {
  readonly config: Config;
  readonly log: ChangeLogWriter;
  readonly state: SourceStateStore;
  readonly logger?: Logger;
  readonly registry?: Registry;
}

/**
 * Starts the replication reader: checks the source, makes the publication and the slot, copies
 * the tables (initial snapshot) if needed, then streams from the slot into the log.
 */
export async function startSource(deps: SourceDeps): Promise<SourceHandle> {
  const { config, log, state } = deps;
  const logger = (deps.logger ?? silentLogger).child({ stage: 'source' });
  const metrics = sourceMetrics(deps.registry ?? createRegistry(config.pipeline));
  const url = config.source.url.reveal();
  const clientConfig = sourceClientConfig(url, `tidemark-${config.pipeline}`);
  const slot = config.source.slot;
  let phase = 'starting';
  let stopping = false;

  const client = new Client(clientConfig);
  // A dropped connection is reported both here and by the query in progress; while streaming,
  // the heartbeat/monitor connection failing is fatal (the process restarts and replays).
  let onConnectionLost: (e: Error) => void = (e) => logger.warn({ err: e.message }, 'source connection lost');
  client.on('error', (e: Error) => onConnectionLost(e));
  try {
    await client.connect();
  } catch (e) {
    throw new TidemarkError('transient', `cannot connect to the source ${config.source.url}: ${(e as Error).message}`, {
      cause: e,
      fix: 'check source.url, the network and the credentials',
    });
  }
  const closers: Array<() => Promise<void>> = [() => client.end()];
  try {
    await checkServer(client);
    const catalog = await listTables(client);
    const chosen = selectTables(config.source.tables, catalog.map((t) => ({ schema: t.schema, table: t.table })));
    const keys = new Map<string, string[]>();
    const chosenTables = chosen.map((ref) => catalog.find((t) => t.schema === ref.schema && t.table === ref.table)!);
    for (const t of chosenTables) {
      const cols = (await listColumns(client, t.oid)).map((c) => c.name);
      keys.set(tableKey(t), tableKeyColumns(t, cols, config.source.keys[tableKey(t)], logger));
    }
    await ensurePublication(client, config.source.publication, chosen, logger);
    const schemas = new TableSchemas(client, state, slot, keys, logger);
    const snapshotTables: SnapshotTable[] = [];
    for (const t of chosenTables) {
      const cols = await listColumns(client, t.oid);
      const { table } = await schemas.resolve(t, t.oid, cols);
      snapshotTables.push({ table, oid: t.oid });
    }
    await log.ensureTables(snapshotTables.map((t) => t.table.schema));
    for (const t of snapshotTables) {
      await log.publishSchema(t.table.schema);
      schemas.markPublished(t.table.schema);
    }

    // The slot and the initial snapshot.
    const existing = await readSlot(client, slot);
    if (existing) checkSlot(existing, slot, databaseOf(url));
    let snap = await readSnapshotState(state, slot);
    if (!existing) {
      const withSnapshot = config.source.snapshot === 'initial';
      const created = await createSlot(clientConfig, slot, withSnapshot);
      logger.info({ slot, consistentPoint: formatLsn(created.consistentPoint) }, 'created replication slot');
      try {
        snap = { consistentPoint: created.consistentPoint, attempt: (snap?.attempt ?? 0) + 1, doneTables: [], complete: !withSnapshot };
        await writeSnapshotState(state, slot, snap);
        if (withSnapshot) {
          phase = 'snapshot';
          snap = await runSnapshot(snap, created.snapshotName, snapshotTables);
        }
      } finally {
        await created.holder.end().catch(() => {});
      }
    } else if (snap && !snap.complete) {
      // Restarted during the snapshot: the exported snapshot is gone. Copy the unfinished tables
      // again from a fresh snapshot. The slot was never confirmed past the consistent point, so
      // the stream replays every change since then on top of these rows, and they converge.
      phase = 'snapshot';
      snap = { ...snap, attempt: snap.attempt + 1 };
      await writeSnapshotState(state, slot, snap);
      const todo = snapshotTables.filter((t) => !snap!.doneTables.includes(tableKey(t.table.schema)));
      logger.warn({ tables: todo.map((t) => tableKey(t.table.schema)) }, 'resuming an interrupted snapshot');
      snap = await runSnapshot(snap, null, todo);
    } else if (!snap) {
      logger.warn({ slot }, 'slot exists but no snapshot state was found: assuming the initial snapshot completed');
    }
    if (stopping) throw new TidemarkError('internal', 'stopped during the snapshot');

    async function runSnapshot(s: NonNullable<typeof snap>, snapshotName: string | null, tables: SnapshotTable[]) {
      let current = s;
      await copySnapshot({
        clientConfig,
        snapshotName,
        consistentPoint: s.consistentPoint,
        attempt: s.attempt,
        tables,
        parallelism: config.source.snapshotParallelism,
        chunkRows: config.source.snapshotChunkRows,
        maxInFlightEvents: config.source.maxInFlightEvents,
        log,
        logger,
        metrics,
        isStopping: () => stopping,
        onTableDone: async (table) => {
          current = { ...current, doneTables: [...current.doneTables, table] };
          await writeSnapshotState(state, slot, current);
        },
      });
      if (stopping) return current;
      current = { ...current, complete: true };
      await writeSnapshotState(state, slot, current);
      log.endTransaction?.(s.consistentPoint - 1n);
      return current;
    }

    // Streaming.
    const startLsn = (await readSlot(client, slot))?.confirmedFlushLsn ?? 0n;
    const stream = new ReplicationStream({
      clientConfig,
      slot,
      publication: config.source.publication,
      log,
      schemas,
      logger,
      metrics,
      maxInFlightEvents: config.source.maxInFlightEvents,
      watermarkIntervalMs: config.source.watermarkIntervalMs,
      startLsn,
    });
    await stream.start();
    phase = 'streaming';
    logger.info({ slot, from: formatLsn(startLsn) }, 'streaming from the slot');
    let fail: (e: Error) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      fail = reject;
      stream.done.then(resolve, reject);
    });
    done.catch(() => {});
    const monitor = new SlotMonitor(client, slot, config.source.heartbeatIntervalMs, config.source.maxLagBytes, metrics, logger, (e) => {
      stream.stop().catch(() => {});
      fail(e);
    });
    monitor.start();
    onConnectionLost = (e) => {
      if (stopping) return;
      stream.stop().catch(() => {});
      fail(new TidemarkError('transient', `source connection lost: ${e.message}`, { cause: e }));
    };
    return {
      done,
      async stop() {
        stopping = true;
        monitor.stop();
        await stream.stop();
        for (const c of closers) await c().catch(() => {});
      },
      notReadyReason: () => (phase === 'streaming' ? null : `source is ${phase}`),
      status: () => ({
        slot,
        phase,
        confirmedLsn: formatLsn(stream.flushLsn),
        lagBytes: monitor.lagBytes,
        retainedWalBytes: monitor.retainedBytes,
      }),
    };
  } catch (e) {
    stopping = true;
    for (const c of closers) await c().catch(() => {});
    throw e;
  }
}

export type { SourceStateStore } from './state-store';
