import { DuckDbWarehouse } from './duckdb-warehouse';
import { PgWarehouse } from './pg-warehouse';
import type { Warehouse, WarehouseConfig, WarehouseOptions } from './warehouse';

/** Opens the warehouse named by the config (`sinks.warehouse`): a DuckDB file or a PostgreSQL database. */
export async function openWarehouse(
  config: WarehouseConfig,
  options: WarehouseOptions = {},
): Promise<Warehouse> {
  if (config.kind === 'duckdb') return DuckDbWarehouse.open(config.path, options, config.memoryLimit);
  return new PgWarehouse(config.url, config.schema ?? 'public', options);
}
