import type { Config } from '../config/load';
import type { EmbeddedChangeLog } from '../log/embedded-log';
import type { Logger } from '../observe/logger';
import type { Registry } from '../observe/metrics';
import type { OffsetStore } from '../offsets/offset-store';
import { readDroppedTables } from '../source/dropped-tables';
import { requestRebuildCopy } from '../source/rebuild-requests';
import { CommitCoordinator } from './commit-coordinator';
import { recordCommits, recordFailures } from './commit-metrics';
import { EmbeddedSinkRunner } from './embedded-sink-runner';
import { sinkMetrics } from './metrics';
import { openSinkTargets } from './open-targets';
import type { SinkHandle } from './sink-handle';
import type { SinkTarget } from './sink-target';

/** Opens the sinks of an embedded pipeline; `start` runs once the source published its tables. */
export async function openEmbeddedSink(deps: {
  config: Config;
  log: EmbeddedChangeLog;
  store: OffsetStore;
  logger: Logger;
  registry: Registry;
}): Promise<{ targets: SinkTarget[]; start: () => Promise<SinkHandle> }> {
  const { config, log, store } = deps;
  const logger = deps.logger.child({ stage: 'sink' });
  const metrics = sinkMetrics(deps.registry);
  const targets = await openSinkTargets(config, logger);
  const coordinator = new CommitCoordinator({
    targets,
    store,
    logger,
    schemaOf: (ev) => log.schemaOf(ev),
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
  const runner = new EmbeddedSinkRunner(log, coordinator, config.sinks.commitIntervalMs, logger, store);
  const close = async () => {
    await Promise.allSettled(targets.map((t) => t.close()));
  };
  return {
    targets,
    start: async () => {
      await runner.start();
      return {
        done: runner.done,
        async stop() {
          try {
            await runner.stop();
          } finally {
            await close();
          }
        },
        status: () => ({
          phase: 'consuming',
          lastCutLsn: runner.lastCutLsn,
          bufferedChanges: runner.buffered(),
        }),
      };
    },
  };
}
