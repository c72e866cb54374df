import { Client } from 'pg';
import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import { formatLsn } from '../core/lsn';
import { tableKey } from '../core/table-schema';
import type { ChangeLogWriter } from '../log/change-log';
import { type Logger, silentLogger } from '../observe/logger';
import { createRegistry, type Registry } from '../observe/metrics';
import { columnPolicyOf } from './column-policy';
import {
  clearRecreatedTables,
  noticeReplacedWhileStopped,
  readDroppedTables,
  withoutDroppedNames,
} from './dropped-tables';
import { sourceMetrics } from './metrics';
import { databaseOf, sourceClientConfig } from './pg-connection';
import { RebuildRequests } from './rebuild-requests';
import { RefreshSchedule } from './refresh-schedule';
import { ReplicationStream } from './replication-stream';
import { listColumns, listTables } from './setup/catalog';
import { checkServer, tableKeyColumns } from './setup/checks';
import { ensurePublication } from './setup/publication';
import { checkSlot, createSlot, readSlot, waitForIdleSlot } from './setup/slot';
import { selectTables } from './setup/table-patterns';
import { SlotMonitor } from './slot-monitor';
import { copySnapshot, type SnapshotTable } from './snapshot';
import { SnapshotChunks } from './snapshot-chunks';
import {
  readSnapshotState,
  type SnapshotState,
  slotPendingState,
  writeSnapshotState,
} from './snapshot-state';
import type { SourceStateStore } from './state-store';
import { TableDiscovery } from './table-discovery';
import { TableRefresher } from './table-refresh';
import { TableSchemas } from './table-schemas';

/** Why the source copies a table whose new column's existing values Postgres computed (status shows it). */
const COMPUTED_COLUMN_COPY = 'column added with a default Postgres computed row by row';

export interface SourceHandle {
  /** Graceful: stop reading, wait for in-flight appends, confirm what is durable, close. */
  stop(): Promise<void>;
  /** Rejects with the fatal error if the reader dies. */
  readonly done: Promise<void>;
  notReadyReason(): string | null;
  status(): SourceStatus;
}

export interface SourceStatus {
  readonly slot: string;
  /** starting | snapshot | streaming */
  readonly phase: string;
  /** LSN the slot was last confirmed to by this reader (durable in the log). */
  readonly confirmedLsn: string;
  readonly lagBytes: number;
  readonly retainedWalBytes: number;
  readonly snapshot: {
    readonly tablesTotal: number;
    readonly tablesDone: number;
    readonly complete: boolean;
  };
}

export interface SourceDeps {
  readonly config: Config;
  readonly log: ChangeLogWriter;
  readonly state: SourceStateStore;
  readonly logger?: Logger;
  readonly registry?: Registry;
}

/**
 * Starts the replication reader. Resolves once the checks passed and the publication and the
 * slot exist (every start-up error rejects here, with its fix); then copies the tables (initial
 * snapshot) if needed and streams from the slot into the log in the background: `done` rejects
 * if that fails, `status()` shows the phase and the snapshot progress.
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
    throw new TidemarkError(
      'transient',
      `cannot connect to the source ${config.source.url}: ${(e as Error).message}`,
      {
        cause: e,
        fix: 'check source.url, the network and the credentials',
      },
    );
  }
  const closers: Array<() => Promise<void>> = [() => client.end()];
  try {
    await checkServer(client);
    const catalog = await listTables(client);
    const present = new Set(catalog.map((t) => tableKey(t)));
    const chosen = selectTables(
      await withoutDroppedNames(config.source.tables, present, state, slot, logger),
      catalog.map((t) => ({ schema: t.schema, table: t.table })),
    );
    const keys = new Map<string, string[]>();
    const chosenTables = chosen.map(
      (ref) => catalog.find((t) => t.schema === ref.schema && t.table === ref.table)!,
    );
    for (const t of chosenTables) {
      const cols = (await listColumns(client, t.oid)).map((c) => c.name);
      keys.set(tableKey(t), tableKeyColumns(t, cols, config.source.keys[tableKey(t)], logger));
    }
    // Before the publication names them again: none of a re-created table's changes may precede
    // the truncate that empties its old rows in the sinks.
    await noticeReplacedWhileStopped(client, state, slot, catalog, logger);
    await clearRecreatedTables(client, state, slot, chosen.map(tableKey), logger);
    const putBack = await ensurePublication(client, config.source.publication, chosen, logger);
    // Columns added with a default Postgres computed row by row (a table rewrite, which the
    // stream does not carry): a copy of the table brings their values to the sinks. Asked through
    // the WAL like `tidemark snapshot --table`; tables met at start, before there is a way to ask,
    // are asked for once streaming runs (unless a slot created now copies every table anyway).
    let requestCopy: ((table: string) => Promise<void>) | null = null;
    const computedAtStart = new Set<string>();
    const onRowsComputed = async (table: string, columns: readonly string[]) => {
      const copies = config.copiesOnItsOwn(table);
      logger.warn(
        { table, columns },
        copies
          ? "column added with a default Postgres computed row by row (a table rewrite the stream does not carry): copying the table again so that the sinks get the existing rows' values"
          : 'column added with a default Postgres computed row by row (a table rewrite the stream does not carry): existing rows stay null in the sinks until they change, and with snapshot never nothing is copied by itself: run tidemark snapshot --table',
      );
      if (!copies) return;
      if (requestCopy) await requestCopy(table);
      else computedAtStart.add(table);
    };
    const schemas = new TableSchemas(
      client,
      state,
      slot,
      keys,
      logger,
      (table) => metrics.schemaChanges.inc({ table }),
      columnPolicyOf(config),
      onRowsComputed,
    );
    const snapshotTables: SnapshotTable[] = [];
    for (const t of chosenTables) {
      const cols = await listColumns(client, t.oid);
      const { table } = await schemas.resolve(t, t.oid, cols);
      snapshotTables.push({ table, oid: t.oid });
    }
    // The initial snapshot copies these; a table with snapshot: never is streamed only.
    const copiedTables = snapshotTables.filter((t) => config.copiesOnItsOwn(tableKey(t.table.schema)));
    await log.ensureTables(snapshotTables.map((t) => t.table.schema));
    for (const t of snapshotTables) {
      await log.publishSchema(t.table.schema);
      schemas.markPublished(t.table.schema);
    }
    const discovery = new TableDiscovery({
      client,
      config,
      state,
      schemas,
      keys,
      log,
      logger,
      onDropped: (n) => metrics.droppedTables.set(n),
    });
    // From here on a request lands in the WAL after the slot's position, or before a slot created
    // with a snapshot of every table (which brings the values as well).
    requestCopy = (t) => discovery.requestCopy(t, COMPUTED_COLUMN_COPY);
    metrics.droppedTables.set((await readDroppedTables(state, slot)).length);
    const schedule = new RefreshSchedule({
      config,
      state,
      logger,
      mirrored: (t) => discovery.isMirrored(t),
      request: (t) => discovery.requestCopy(t, 'scheduled refresh (tables.<t>.refreshEveryMs)'),
    });
    const rebuilds = new RebuildRequests({
      slot,
      state,
      logger,
      request: (t) => discovery.requestCopy(t, 'rebuilt after a schema change the sinks could not follow'),
    });
    // Tables that match now but did not at the last run: copied once streaming runs (below).
    const joinedWhileStopped = await discovery.start(chosen, catalog, putBack);

    // The slot (created here, so that slot errors are start-up errors) and the initial snapshot.
    const existing = await waitForIdleSlot(client, slot, logger);
    if (existing) checkSlot(existing, slot, databaseOf(url));
    let snap = await readSnapshotState(state, slot);
    let created: Awaited<ReturnType<typeof createSlot>> | null = null;
    if (!existing) {
      const withSnapshot = config.source.snapshot === 'initial';
      const attempt = (snap?.attempt ?? 0) + 1;
      // The pipeline streamed from this slot before: what happened since it was last confirmed
      // is in no slot now, and only a copy of every table brings the sinks back to the source.
      if (snap && snap.consistentPoint !== slotPendingState.consistentPoint) {
        if (!withSnapshot)
          throw new TidemarkError(
            'source_setup',
            `replication slot ${slot} is gone though this pipeline streamed from it (dropped outside tidemark, or a failover to a server that never had it): the changes since it was last confirmed cannot be read, and with source.snapshot "never" a new slot would copy nothing`,
            {
              fix: `set source.snapshot: initial to copy every table again with a new slot (rows deleted meanwhile stay in the sinks: tidemark verify lists them), or accept the loss and create the slot by hand: SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput');`,
            },
          );
        const notCopied = snapshotTables
          .filter((t) => !copiedTables.includes(t))
          .map((t) => tableKey(t.table.schema));
        logger.warn(
          { slot, attempt, ...(notCopied.length > 0 ? { notCopied } : {}) },
          `replication slot is gone though this pipeline streamed from it (offsets reset --resnapshot, dropped outside tidemark, or a failover to a server without it): creating it again and copying every table (a copy only upserts: rows deleted meanwhile stay in the sinks, tidemark verify lists them)${notCopied.length > 0 ? '; the tables with snapshot: never (notCopied) are not copied: their rows changed meanwhile differ in the sinks until they change again or tidemark snapshot --table copies them' : ''}`,
        );
      }
      if (withSnapshot) {
        // Recorded before the slot exists: if we stop between creating the slot and recording
        // its consistent point, a restart must redo the snapshot, not take the slot without
        // state for one whose snapshot completed.
        await writeSnapshotState(state, slot, { ...slotPendingState, attempt });
      }
      created = await createSlot(clientConfig, slot, withSnapshot);
      const holder = created.holder;
      closers.push(() => holder.end());
      logger.info({ slot, consistentPoint: formatLsn(created.consistentPoint) }, 'created replication slot');
      snap = { consistentPoint: created.consistentPoint, attempt, doneTables: [], complete: !withSnapshot };
      await writeSnapshotState(state, slot, snap);
    } else if (snap && !snap.complete && snap.consistentPoint === slotPendingState.consistentPoint) {
      // The slot was created but its consistent point never recorded. It was never confirmed
      // (streaming starts only after the snapshot), so its confirmed_flush_lsn still is the
      // consistent point; the snapshot is redone below from a fresh snapshot.
      if (!existing.confirmedFlushLsn)
        throw new TidemarkError('source_setup', `replication slot ${slot} has no confirmed_flush_lsn`, {
          fix: `drop it so that it is created again: SELECT pg_drop_replication_slot('${slot}');`,
        });
      snap = { ...snap, consistentPoint: existing.confirmedFlushLsn };
      logger.warn(
        { slot, consistentPoint: formatLsn(snap.consistentPoint) },
        'slot was created but its snapshot never started',
      );
      await writeSnapshotState(state, slot, snap);
    } else if (!snap) {
      logger.warn(
        { slot },
        'slot exists but no snapshot state was found: assuming the initial snapshot completed',
      );
    }
    const progress = { tablesTotal: 0, tablesDone: 0 };

    let stream: ReplicationStream | null = null;
    let monitor: SlotMonitor | null = null;
    let refresher: TableRefresher | null = null;
    let fail: (e: Error) => void = () => {};
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      fail = reject;
      finish = resolve;
    });
    done.catch(() => {});

    async function runSnapshot(
      s: SnapshotState,
      snapshotName: string | null,
      tables: SnapshotTable[],
    ): Promise<SnapshotState> {
      let current = s;
      const chunks = new SnapshotChunks(state, slot, s.consistentPoint);
      progress.tablesTotal = tables.length;
      progress.tablesDone = 0;
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
        chunks,
        onTableDone: async (table) => {
          current = { ...current, doneTables: [...current.doneTables, table] };
          progress.tablesDone++;
          await writeSnapshotState(state, slot, current);
          await chunks.forget(table);
        },
      });
      if (stopping) return current;
      current = { ...current, complete: true };
      await writeSnapshotState(state, slot, current);
      log.endTransaction?.(s.consistentPoint - 1n);
      return current;
    }

    /** Snapshot (if due), then streaming; runs after startSource returned its handle. */
    async function run(): Promise<void> {
      if (created && snap && !snap.complete) {
        phase = 'snapshot';
        try {
          snap = await runSnapshot(snap, created.snapshotName, copiedTables);
        } finally {
          // The exported snapshot lives as long as this connection: close it only now.
          await created.holder.end().catch(() => {});
        }
      } else if (snap && !snap.complete) {
        // Restarted during the snapshot: the exported snapshot is gone, so the unfinished tables'
        // chunks not yet durable (snapshot-chunks.ts) are copied again from a fresh snapshot,
        // taken now, later than the consistent point.
        // That converges: the slot was never confirmed past the consistent point (streaming only
        // starts once every table is done), so the stream replays every change committed since
        // then on top of these rows. Each replayed change is a whole-row upsert or a delete by
        // key (TOAST-unchanged columns keep the stored value, which a later replayed change
        // rewrites), so applying changes the copy already contains leaves the final row as the
        // source has it. Snapshot rows keep (consistentPoint - 1, ...) positions, so they sort
        // before every replayed change; the attempt number keeps them above the rows of the
        // interrupted attempt.
        phase = 'snapshot';
        snap = { ...snap, attempt: snap.attempt + 1 };
        await writeSnapshotState(state, slot, snap);
        const doneTables = snap.doneTables;
        const todo = copiedTables.filter((t) => !doneTables.includes(tableKey(t.table.schema)));
        logger.warn(
          { tables: todo.map((t) => tableKey(t.table.schema)) },
          'redoing the tables of an interrupted snapshot',
        );
        snap = await runSnapshot(snap, null, todo);
      }
      if (stopping) return;

      const startLsn = (await readSlot(client, slot))?.confirmedFlushLsn ?? 0n;
      const r = new TableRefresher({
        clientConfig,
        state,
        slot,
        schemas,
        chunkRows: config.source.snapshotChunkRows,
        logger,
      });
      refresher = r;
      const s = new ReplicationStream({
        refresher: r,
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
        admit: (t, oid) => discovery.admit(t, oid),
      });
      stream = s;
      await s.start();
      if (stopping) return;
      phase = 'streaming';
      await r.resume();
      // A slot created now comes with a snapshot of every table; otherwise the tables that
      // joined while the pipeline was stopped are copied like tables found while it runs.
      if (!created && config.source.snapshot === 'initial') {
        for (const t of computedAtStart) await discovery.requestCopy(t, COMPUTED_COLUMN_COPY);
        for (const t of joinedWhileStopped) {
          if (!config.copiesOnItsOwn(tableKey(t))) continue;
          await discovery.requestCopy(tableKey(t), 'table joined while the pipeline was stopped');
          logger.info(
            { table: tableKey(t) },
            'table joined (or came back to the publication) while the pipeline was stopped: copying it',
          );
        }
      }
      discovery.schedule();
      schedule.start();
      rebuilds.start();
      logger.info({ slot, from: formatLsn(startLsn) }, 'streaming from the slot');
      const m = new SlotMonitor(
        client,
        slot,
        config.source.heartbeatIntervalMs,
        config.source.maxLagBytes,
        metrics,
        logger,
        (e) => {
          s.stop().catch(() => {});
          fail(e);
        },
      );
      monitor = m;
      m.start();
      onConnectionLost = (e) => {
        if (stopping) return;
        s.stop().catch(() => {});
        fail(new TidemarkError('transient', `source connection lost: ${e.message}`, { cause: e }));
      };
      await s.done;
    }

    const running = run().then(
      () => finish(),
      (e: unknown) => fail(e instanceof Error ? e : new Error(String(e))),
    );
    done.catch(async () => {
      // Fatal: stop everything this source opened.
      stopping = true;
      monitor?.stop();
      await discovery.stop();
      await schedule.stop();
      await rebuilds.stop();
      await refresher?.stop();
      await stream?.stop().catch(() => {});
      for (const c of closers) await c().catch(() => {});
    });

    return {
      done,
      async stop() {
        stopping = true;
        monitor?.stop();
        await discovery.stop();
        await schedule.stop();
        await rebuilds.stop();
        // A refresh stops between chunks (it resumes at the next start, from its last chunk).
        await refresher?.stop();
        // While snapshotting: the workers stop after their current chunk, unconfirmed.
        await stream?.stop();
        await running;
        await stream?.stop();
        for (const c of closers) await c().catch(() => {});
        finish();
      },
      notReadyReason: () => (phase === 'streaming' ? null : `source is ${phase}`),
      status: () => ({
        slot,
        phase,
        confirmedLsn: formatLsn(stream?.flushLsn ?? 0n),
        lagBytes: monitor?.lagBytes ?? 0,
        retainedWalBytes: monitor?.retainedBytes ?? 0,
        snapshot: { ...progress, complete: snap?.complete ?? true },
      }),
    };
  } catch (e) {
    stopping = true;
    for (const c of closers) await c().catch(() => {});
    throw e;
  }
}

export type { SourceStateStore } from './state-store';
