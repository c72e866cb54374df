import type { IcebergConfig } from '../config/schema';
import type { Row } from '../core/change-event';
import { type Lsn, parseLsn } from '../core/lsn';
import type { TableRef, TableSchema } from '../core/table-schema';
import type { Catalog } from '../sink/iceberg/catalog';
import type { FileIO } from '../sink/iceberg/file-io';
import { identOf } from '../sink/iceberg/lakehouse';
import { openCatalog } from '../sink/iceberg/open-catalog';
import { openFileIO } from '../sink/iceberg/open-file-io';
import { parseTableMetadata, type Snapshot, type TableMetadata } from '../sink/iceberg/table-metadata';
import { scanLiveRows, schemaOfSnapshot } from '../sink/iceberg/table-scan';
import { IcebergTarget } from '../sink/iceberg-target';
import type { SideRows } from './warehouse-at-cut';

const CUT = 'tidemark.cut-lsn';
const FILLED = 'tidemark.filled-columns';

/**
 * The snapshot of a table that holds exactly the changes up to `cut`, by time travel: the last
 * one on the main branch whose cut is ≤ `cut`. A snapshot without a cut of its own (compaction)
 * holds what the one before it held; one that fills a new column's old rows belongs to the
 * commit after it. `null` snapshot: the table was still empty at that cut.
 */
export function snapshotAtCut(
  m: TableMetadata,
  cut: Lsn,
): { snapshot: Snapshot | null } | { problem: string } {
  const byId = new Map(m.snapshots.map((s) => [s['snapshot-id'], s]));
  const chain: Snapshot[] = [];
  for (let s = byId.get(m['current-snapshot-id'] ?? -1); s; s = byId.get(s['parent-snapshot-id'] ?? -1))
    chain.unshift(s);
  let found: Snapshot | null = null;
  let effective: Lsn | null = null;
  for (const s of chain) {
    const own = s.summary[CUT];
    if (own) effective = parseLsn(own);
    else if (s.summary[FILLED]) continue;
    if (effective === null || effective > cut) break;
    found = s;
  }
  if (!found && chain.length > 0 && chain[0]!['parent-snapshot-id'] !== undefined)
    return {
      problem:
        'every snapshot at or before the cut has been expired: time travel to it is impossible (verify sooner after a cut, or keep more snapshots)',
    };
  return { snapshot: found };
}

/** The Iceberg tables read at one cut (see snapshotAtCut). */
export class IcebergAtCut {
  private constructor(
    private readonly catalog: Catalog,
    private readonly io: FileIO,
  ) {}

  static async open(cfg: IcebergConfig): Promise<IcebergAtCut> {
    const { io } = await openFileIO(cfg);
    return new IcebergAtCut(await openCatalog(cfg.catalog), io);
  }

  async table(schema: TableSchema, cut: Lsn): Promise<SideRows & { snapshotId: number | null }> {
    const name = `${schema.schema}.${schema.table}`;
    const location = await this.catalog.currentLocation(identOf(schema));
    if (!location)
      return { rows: async function* () {}, notes: ['no such table in the catalog'], snapshotId: null };
    const m = parseTableMetadata(new TextDecoder().decode(await this.io.read(location)), location, name);
    const at = snapshotAtCut(m, cut);
    if ('problem' in at) return { rows: async function* () {}, notes: [at.problem], snapshotId: null };
    if (!at.snapshot) return { rows: async function* () {}, notes: [], snapshotId: null };
    const snapshotId = at.snapshot['snapshot-id'];
    const fields = schemaOfSnapshot(m, snapshotId).fields;
    const names = new Set(fields.map((f) => f.name));
    const notes = schema.columns
      .filter((c) => !names.has(c.name))
      .map((c) => `column ${c.name} is missing in snapshot ${snapshotId} (read as NULL)`);
    const io = this.io;
    return {
      snapshotId,
      notes,
      rows: async function* () {
        let batch: Row[] = [];
        for await (const r of scanLiveRows(io, m, name, fields, snapshotId)) {
          batch.push(r.row);
          if (batch.length >= 5_000) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length > 0) yield batch;
      },
    };
  }

  async close(): Promise<void> {
    await this.catalog.close?.();
  }
}

/** The lakehouse's last committed cut over these tables (to wait for it to catch up). */
export async function icebergCut(cfg: IcebergConfig, tables: readonly TableRef[]): Promise<Lsn | null> {
  const t = await IcebergTarget.open(cfg);
  try {
    return (await t.readTokensOf(tables)).cut?.lsn ?? null;
  } finally {
    await t.close();
  }
}
