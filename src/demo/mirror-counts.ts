import { Client } from 'pg';
import type { Config } from '../config/load';
import { parseLsn } from '../core/lsn';
import { openCatalog } from '../sink/iceberg/open-catalog';
import { openFileIO } from '../sink/iceberg/open-file-io';
import { parseTableMetadata } from '../sink/iceberg/table-metadata';
import { planScan, readPositionDeletes } from '../sink/iceberg/table-scan';
import { withDuckDbConnection } from '../sink/warehouse/duckdb-warehouse';

export interface TableCounts {
  readonly table: string;
  readonly source: number;
  readonly warehouse: number | null;
  readonly iceberg: number | null;
}

/** Row counts of the same tables in the source, the DuckDB warehouse and the Iceberg tables. */
export async function mirrorCounts(
  config: Config,
  schema: string,
  tables: readonly string[],
): Promise<TableCounts[]> {
  const src = new Client({ connectionString: config.source.url.reveal() });
  await src.connect();
  const out: TableCounts[] = [];
  try {
    for (const t of tables) {
      const source = Number(
        (await src.query(`SELECT count(*)::bigint AS n FROM "${schema}"."${t}"`)).rows[0].n,
      );
      out.push({
        table: t,
        source,
        warehouse: await warehouseCount(config, schema, t),
        iceberg: await icebergCount(config, schema, t),
      });
    }
  } finally {
    await src.end();
  }
  return out;
}

async function warehouseCount(config: Config, schema: string, table: string): Promise<number | null> {
  const w = config.sinks.warehouse;
  if (w?.kind !== 'duckdb') return null;
  try {
    return await withDuckDbConnection(w.path, async (c) => {
      const r = await c.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM "${schema}"."${table}"`);
      return Number(r.getRowObjectsJS()[0]?.n);
    });
  } catch {
    return null;
  }
}

/** Live rows of the current snapshot: data file row counts minus position deletes. */
async function icebergCount(config: Config, schema: string, table: string): Promise<number | null> {
  const cfg = config.sinks.iceberg;
  if (!cfg) return null;
  const catalog = await openCatalog(cfg.catalog);
  try {
    const location = await catalog.currentLocation({ namespace: schema, name: table });
    if (!location) return null;
    const { io } = await openFileIO(cfg);
    const m = parseTableMetadata(new TextDecoder().decode(await io.read(location)), location, table);
    const plan = await planScan(io, m, table);
    const deleted = [...(await readPositionDeletes(io, plan, table)).values()].reduce(
      (a, s) => a + s.size,
      0,
    );
    return plan.dataFiles.reduce((a, f) => a + f.file.recordCount, 0) - deleted;
  } finally {
    await catalog.close();
  }
}

/** The source's current WAL position (everything committed so far lies before it). */
export async function currentWalLsn(url: string): Promise<bigint> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return parseLsn((await c.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l);
  } finally {
    await c.end();
  }
}
