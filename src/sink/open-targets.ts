import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import type { Logger } from '../observe/logger';
import { IcebergTarget } from './iceberg-target';
import type { SinkTarget } from './sink-target';
import { openWarehouse } from './warehouse/open';

/** The configured sinks, lakehouse first (the order a round commits in). */
export async function openSinkTargets(config: Config, logger: Logger): Promise<SinkTarget[]> {
  const { iceberg, warehouse } = config.sinks;
  if (!iceberg && !warehouse) {
    throw new TidemarkError('config', 'config key "sinks": no sink configured', {
      fix: 'add sinks.iceberg and/or sinks.warehouse (or run with --role source)',
    });
  }
  const targets: SinkTarget[] = [];
  try {
    if (iceberg) targets.push(await IcebergTarget.open(iceberg));
    if (warehouse) {
      const log = logger.child({ sink: 'warehouse' });
      targets.push(await openWarehouse(warehouse, { log: (msg, fields) => log.info(fields ?? {}, msg) }));
    }
  } catch (e) {
    await Promise.allSettled(targets.map((t) => t.close()));
    throw e;
  }
  return targets;
}
