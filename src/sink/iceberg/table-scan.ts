import type { Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import { type FileIO, unreadable } from './file-io';
import type { IcebergField, IcebergSchema } from './iceberg-types';
import type { ManifestEntry, ManifestFileRecord } from './manifests';
import { decodeManifest, decodeManifestList } from './manifests';
import { decodeParquet } from './parquet-files';
import type { Snapshot, TableMetadata } from './table-metadata';
import { currentSnapshot } from './table-metadata';

/** Position-delete files' columns (spec, "Position Delete Files"): reserved field ids. */
export const POS_DELETE_FIELDS: readonly IcebergField[] = [
  { id: 2147483546, name: 'file_path', required: true, type: 'string' },
  { id: 2147483545, name: 'pos', required: true, type: 'long' },
];

export interface ScanPlan {
  readonly snapshot: Snapshot | null;
  readonly manifests: readonly ManifestFileRecord[];
  /** Live data files (status added or existing). */
  readonly dataFiles: readonly ManifestEntry[];
  readonly deleteFiles: readonly ManifestEntry[];
}

/** A file the table's metadata names, read; missing or unreadable, an error naming the table and the file. */
export async function readOrFail(
  io: FileIO,
  location: string,
  table: string,
  what: string,
): Promise<Uint8Array> {
  try {
    return await io.read(location);
  } catch (e) {
    throw unreadable(e, `table ${table}: ${what} ${location} cannot be read`);
  }
}

/** Scan planning (spec, "Scan Planning"): manifest list → manifests → live files. */
export async function planScan(
  io: FileIO,
  m: TableMetadata,
  table: string,
  snapshotId?: number,
): Promise<ScanPlan> {
  const snapshot =
    snapshotId === undefined
      ? currentSnapshot(m)
      : (m.snapshots.find((s) => s['snapshot-id'] === snapshotId) ?? null);
  if (snapshotId !== undefined && !snapshot)
    throw new TidemarkError('corrupt_state', `table ${table}: no snapshot ${snapshotId}`);
  if (!snapshot) return { snapshot: null, manifests: [], dataFiles: [], deleteFiles: [] };
  const manifests = await decodeManifestList(
    await readOrFail(io, snapshot['manifest-list'], table, 'manifest list'),
  );
  const dataFiles: ManifestEntry[] = [];
  const deleteFiles: ManifestEntry[] = [];
  for (const mf of manifests) {
    for (const e of await decodeManifest(await readOrFail(io, mf.manifest_path, table, 'manifest'), mf)) {
      if (e.status === 2) continue;
      (e.file.content === 0 ? dataFiles : deleteFiles).push(e);
    }
  }
  return { snapshot, manifests, dataFiles, deleteFiles };
}

/** Deleted positions per data file path, from the plan's position-delete files. */
export async function readPositionDeletes(
  io: FileIO,
  plan: ScanPlan,
  table: string,
): Promise<Map<string, Set<number>>> {
  const out = new Map<string, Set<number>>();
  for (const d of plan.deleteFiles) {
    for (const [p, pos] of await readPositionDeleteFile(io, d, table)) {
      let set = out.get(p);
      if (!set) out.set(p, (set = new Set()));
      set.add(pos);
    }
  }
  return out;
}

/** One position-delete file's (data file path, row position) pairs; an equality delete file is refused. */
export async function readPositionDeleteFile(
  io: FileIO,
  d: ManifestEntry,
  table: string,
): Promise<[string, number][]> {
  if (d.file.content !== 1)
    throw new TidemarkError(
      'corrupt_state',
      `table ${table}: equality delete file ${d.file.filePath} is not supported`,
    );
  const { columns } = decodeParquet(
    await readOrFail(io, d.file.filePath, table, 'delete file'),
    POS_DELETE_FIELDS,
  );
  const [paths, positions] = columns as [Value[] | undefined, Value[] | undefined];
  if (!paths || !positions || paths.length !== positions.length)
    throw new TidemarkError(
      'corrupt_state',
      `table ${table}: position-delete file ${d.file.filePath} is malformed`,
    );
  return paths.map((p, i) => [p as string, Number(positions[i])]);
}

export interface LiveRow {
  readonly file: string;
  readonly pos: number;
  readonly row: Row;
}

/** Every live row of a snapshot (data files minus position deletes), with its file and position. */
export async function* scanLiveRows(
  io: FileIO,
  m: TableMetadata,
  table: string,
  fields: readonly IcebergField[],
  snapshotId?: number,
): AsyncGenerator<LiveRow> {
  const plan = await planScan(io, m, table, snapshotId);
  const deletes = await readPositionDeletes(io, plan, table);
  for (const df of plan.dataFiles) {
    const path = df.file.filePath;
    const { rowCount, columns } = decodeParquet(await readOrFail(io, path, table, 'data file'), fields);
    const deleted = deletes.get(path);
    for (let pos = 0; pos < rowCount; pos++) {
      if (deleted?.has(pos)) continue;
      const row: Row = {};
      fields.forEach((f, i) => {
        row[f.name] = columns[i]![pos]!;
      });
      yield { file: path, pos, row };
    }
  }
}

/** The schema a snapshot was written with (time travel reads with it). */
export function schemaOfSnapshot(m: TableMetadata, snapshotId?: number): IcebergSchema {
  const snap =
    snapshotId === undefined ? currentSnapshot(m) : m.snapshots.find((s) => s['snapshot-id'] === snapshotId);
  const id = snap?.['schema-id'] ?? m['current-schema-id'];
  return m.schemas.find((s) => s['schema-id'] === id) ?? m.schemas[m.schemas.length - 1]!;
}
