import type { IcebergConfig } from '../config/schema';
import type { Row } from '../core/change-event';
import { type Lsn, parseLsn } from '../core/lsn';
import type { TableRef, TableSchema } from '../core/table-schema';
import type { Catalog } from '../sink/iceberg/catalog';
import { identIn, type TableIdent } from '../sink/iceberg/catalog';
import type { FileIO } from '../sink/iceberg/file-io';
import { openCatalog } from '../sink/iceberg/open-catalog';
import { openFileIO } from '../sink/iceberg/open-file-io';
import { parseTableMetadata, type Snapshot, type TableMetadata } from '../sink/iceberg/table-metadata';
import { type TableMode, tableModeOf } from '../sink/iceberg/table-mode';
import { scanLiveRows, schemaOfSnapshot } from '../sink/iceberg/table-scan';
import { IcebergTarget } from '../sink/iceberg-target';
import { META } from '../sink/meta-columns';
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
    private readonly identOf: (t: TableRef) => TableIdent,
  ) {}

  static async open(cfg: IcebergConfig): Promise<IcebergAtCut> {
    const { io } = await openFileIO(cfg);
    return new IcebergAtCut(await openCatalog(cfg.catalog), io, identIn(cfg.namespace));
  }

  /**
   * The table's rows at the cut, as comparable with the source as its mode (recorded in the
   * table) allows: a mirror's rows; a soft-delete table's rows whose `_tidemark_deleted_at` is
   * null; nothing for an append table (a change history, not the rows: `mode` tells the caller).
   */
  async table(
    schema: TableSchema,
    cut: Lsn,
  ): Promise<SideRows & { snapshotId: number | null; mode: TableMode }> {
    const name = `${schema.schema}.${schema.table}`;
    const location = await this.catalog.currentLocation(this.identOf(schema));
    const none = (notes: string[], mode: TableMode = 'mirror') => ({
      rows: async function* () {},
      notes,
      snapshotId: null,
      mode,
    });
    if (!location) return none(['no such table in the catalog']);
    const m = parseTableMetadata(new TextDecoder().decode(await this.io.read(location)), location, name);
    const mode = tableModeOf(m);
    if (mode === 'append')
      return none(
        ['mode append: the Iceberg table holds the change history, not the rows; not compared'],
        mode,
      );
    const modeNotes =
      mode === 'soft-delete'
        ? [
            `mode soft-delete: the rows whose ${META.deletedAt} is null are compared; soft-deleted rows are not`,
          ]
        : [];
    const at = snapshotAtCut(m, cut);
    if ('problem' in at) return none([...modeNotes, at.problem], mode);
    if (!at.snapshot) return none(modeNotes, mode);
    const snapshotId = at.snapshot['snapshot-id'];
    const fields = schemaOfSnapshot(m, snapshotId).fields;
    const names = new Set(fields.map((f) => f.name));
    const notes = [
      ...modeNotes,
      ...schema.columns
        .filter((c) => !names.has(c.name))
        .map((c) => `column ${c.name} is missing in snapshot ${snapshotId} (read as NULL)`),
    ];
    const io = this.io;
    const live = (row: Row) => mode !== 'soft-delete' || (row[META.deletedAt] ?? null) === null;
    return {
      snapshotId,
      notes,
      mode,
      rows: async function* () {
        let batch: Row[] = [];
        for await (const r of scanLiveRows(io, m, name, fields, snapshotId)) {
          if (!live(r.row)) continue;
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
