import type { IcebergConfig } from '../../config/schema';
import type { Logger } from '../../observe/logger';
import type { Catalog } from './catalog';
import { RestCatalog } from './rest-catalog';
import { SqlCatalog } from './sql-catalog';

/** The catalog that `sinks.iceberg.catalog` names. */
export async function openCatalog(cfg: IcebergConfig['catalog'], log?: Logger): Promise<Catalog> {
  if (cfg.kind === 'rest') return RestCatalog.open({ ...cfg, log });
  const url = cfg.url;
  return url.startsWith('postgres://') || url.startsWith('postgresql://')
    ? SqlCatalog.postgres(url, cfg.name, { log })
    : SqlCatalog.sqlite(url.replace(/^sqlite:\/\//, ''), cfg.name);
}
