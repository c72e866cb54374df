import type { IcebergConfig } from '../../config/schema';
import { TidemarkError } from '../../core/errors';
import type { Catalog } from './catalog';
import { SqlCatalog } from './sql-catalog';

/** The catalog that `sinks.iceberg.catalog` names. */
export async function openCatalog(cfg: IcebergConfig['catalog']): Promise<Catalog> {
  if (cfg.kind !== 'sql') {
    throw new TidemarkError(
      'config',
      'config key "sinks.iceberg.catalog.kind": only "sql" catalogs are available in this build',
      {
        fix: 'use a SQL catalog (sqlite:///path or a postgres:// URL)',
      },
    );
  }
  const url = cfg.url;
  return url.startsWith('postgres://') || url.startsWith('postgresql://')
    ? SqlCatalog.postgres(url, cfg.name)
    : SqlCatalog.sqlite(url.replace(/^sqlite:\/\//, ''), cfg.name);
}
