import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import { tableKey } from '../core/table-schema';
import { createKafka } from '../log/kafka-client';
import { isRetriableKafkaError } from '../log/kafka-retry';
import { kafkaStartError } from '../log/open';
import { SchemaRegistry } from '../log/schema-registry';
import { deadLetterTopic } from '../log/topics';
import type { Logger } from '../observe/logger';
import type { Registry } from '../observe/metrics';
import type { OffsetStore } from '../offsets/offset-store';
import { RoleLease } from '../offsets/role-lease';
import { readPausedTables, setTablePaused } from '../ops/paused-tables';
import { readDroppedTables } from '../source/dropped-tables';
import { requestRebuildCopy } from '../source/rebuild-requests';
import { CommitCoordinator } from './commit-coordinator';
import { recordCommits, recordFailures } from './commit-metrics';
import { DeadLetters } from './dead-letters';
import { KafkaSinkWorker } from './kafka-sink-worker';
import { sinkMetrics } from './metrics';
import { openSinkTargets } from './open-targets';
import type { SinkHandle } from './sink-handle';

/** How long the start retries a Kafka error that says to retry (a leader election, say). */
const START_RETRY_MS = 60_000;

/**
 * The sink role on the Kafka log: waits for the committer lease, learns the tables from the
 * schema topic, opens the sinks, restores the tokens from them, then runs the consumer.
 * Resolves once consuming (or once stopped while standing by).
 */
export async function startKafkaSink(deps: {
  config: Config;
  store: OffsetStore;
  logger: Logger;
  registry: Registry;
  /** True once the process is stopping (ends a standby's wait for the lease). */
  isStopping?: () => boolean;
}): Promise<SinkHandle> {
  const { config, store, registry } = deps;
  if (config.log.kind !== 'kafka') throw new TidemarkError('internal', 'startKafkaSink needs log.kind kafka');
  const logger = deps.logger.child({ stage: 'sink' });
  const metrics = sinkMetrics(registry);
  const kafka = createKafka(config.log, logger, 'sink');
  let stopped = false;
  let fail: (e: unknown) => void = () => {};
  let failed = false;
  const done = new Promise<void>(
    (_r, reject) =>
      (fail = (e) => {
        failed = true;
        reject(e);
      }),
  );
  done.catch(() => {});

  const lease = new RoleLease(store, 'committer', logger);
  const closers: Array<() => Promise<void>> = [() => lease.release()];
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  let worker: KafkaSinkWorker | null = null;
  const handle: SinkHandle = {
    done,
    async stop() {
      stopped = true;
      try {
        // A failed sink (lease lost, fenced, a table that stops) commits nothing more: what it
        // holds is still in Kafka above the stored tokens, and its lease may be another's now.
        if (worker) await worker.stop({ commit: !failed });
      } finally {
        await closeAll();
      }
    },
    status: () => ({
      phase: worker ? 'consuming' : 'starting',
      lastCutLsn: worker?.lastCutLsn ?? 0n,
      bufferedChanges: worker?.bufferedRows() ?? 0,
    }),
  };

  try {
    const stopping = () => stopped || (deps.isStopping?.() ?? false);
    if (!(await lease.acquire(stopping, (e) => fail(new TidemarkError('fenced', e.message))))) return handle;
    const schemas = new SchemaRegistry(kafka, config.topicPrefix);
    const retryUntil = Date.now() + START_RETRY_MS;
    for (let announced = false; ; announced = true) {
      const read = await schemas.refresh().then(
        () => true,
        (e: unknown) => {
          // Topics the source has just created may still be electing their leaders.
          if (isRetriableKafkaError(e) && Date.now() < retryUntil && !stopping()) {
            logger.info({ err: (e as Error).message }, 'schema topic not readable yet: retrying');
            return false;
          }
          throw kafkaStartError(config, e);
        },
      );
      if (!read) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (schemas.tables().length > 0 || stopping()) break;
      if (!announced)
        logger.info({ topicPrefix: config.topicPrefix }, 'no table published by the source yet: waiting');
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (stopping()) return handle;
    const targets = await openSinkTargets(config, logger);
    closers.push(async () => {
      await Promise.allSettled(targets.map((t) => t.close()));
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    closers.push(() => producer.disconnect());
    const coordinator = new CommitCoordinator({
      targets,
      store,
      logger,
      lease: () => lease.current(),
      schemaOf: (ev) => {
        const s = schemas.get(ev.table.schema, ev.table.table, ev.schemaVersion);
        if (!s)
          throw new TidemarkError(
            'internal',
            `no schema version ${ev.schemaVersion} for ${tableKey(ev.table)}`,
          );
        return s;
      },
      optionsOf: (key) => config.tableOptions(key),
      droppedTables: () => readDroppedTables(store, config.source.slot),
      requestRebuild: (table, version) => requestRebuildCopy(store, config.source.slot, table, version),
      onCommitted: recordCommits(metrics),
      onFailed: recordFailures(metrics),
      maintenanceEveryMs: config.sinks.iceberg?.maintenance.checkEveryMs,
      onMaintained: (sink, kind, files) => metrics.maintenanceFiles.inc({ sink, kind }, files),
      onPart: () => metrics.roundParts.inc(),
      onHeldWhole: () => metrics.heldWhole.inc(),
    });
    const tables = schemas.tables();
    await coordinator.prepare(tables);
    const deadLetters = new DeadLetters(
      producer,
      deadLetterTopic(config.topicPrefix),
      (t) => (t ? config.tableOptions(t).onError : 'stop'),
      logger,
      registry,
    );
    const w = new KafkaSinkWorker({
      kafka,
      groupId: `tidemark-${config.pipeline}-sink`,
      topicPrefix: config.topicPrefix,
      registry: schemas,
      coordinator,
      deadLetters,
      logger,
      latestWatermark: () => store.getWatermark(),
      commitIntervalMs: config.sinks.commitIntervalMs,
      maxBufferedBytes: config.sinks.batchMaxBytes,
      maxBufferedRows: config.sinks.batchMaxRows,
      fetchBytesPerPartition: config.sinks.fetchBytesPerPartition,
      onBuffered: (n) => metrics.bufferedChanges.set(n),
      onLag: (topic, partition, n) => metrics.consumerLag.set({ topic, partition: String(partition) }, n),
      pausedTables: async () => new Set((await readPausedTables(store)).map((p) => p.table)),
      onPaused: (tables) => metrics.pausedTables.set(tables.length),
      pauseTable: async (table, reason) => {
        await setTablePaused(store, table, true, reason);
      },
      optionsOf: (table) => config.tableOptions(table),
    });
    await w.start(tables.map((t) => ({ schema: t.schema, table: t.table })));
    worker = w;
    w.done.catch((e: unknown) => fail(e));
    logger.info({ tables: tables.map(tableKey) }, 'sink consuming');
    return handle;
  } catch (e) {
    await closeAll();
    throw e;
  }
}
