import type { TableRef } from '../../core/table-schema';
import type { Catalog } from './catalog';
import type { FileIO } from './file-io';
import { identOf, type Lakehouse } from './lakehouse';
import { COMMIT_ID_PROPERTY } from './snapshot-builder';
import type { StagedChange } from './staged-change';
import { currentSnapshot, newSnapshotId } from './table-metadata';
import { loadMetadata } from './table-state';

/**
 * Operator reset of the stored tokens (`tidemark offsets reset`): one multi-table commit of a
 * snapshot per table that changes no data and carries the current tidemark.* properties with
 * `overrides` applied (a token moved back replays the changes after it). Tables without a
 * snapshot are skipped. Resolves how many tables it tagged.
 */
export async function retagTables(
  lake: Lakehouse,
  catalog: Catalog,
  io: FileIO,
  tables: readonly TableRef[],
  overrides: Readonly<Record<string, string>>,
): Promise<number> {
  const staged: StagedChange[] = [];
  for (const t of tables) {
    const loaded = await loadMetadata(catalog, io, identOf(t));
    if (!loaded || !currentSnapshot(loaded.metadata)) continue;
    staged.push({
      table: identOf(t),
      snapshotId: newSnapshotId(),
      baseLocation: loaded.location,
      truncate: false,
      manifests: [],
      indexOps: [],
      added: { dataFiles: 0, records: 0, deleteFiles: 0, positionDeletes: 0, bytes: 0 },
      filePartitions: [],
      files: [],
    });
  }
  if (staged.length === 0) return 0;
  // Every table's summary holds every channel's token: the first one's are the current set.
  const first = await lake.readSummary({ schema: staged[0]!.table.namespace, table: staged[0]!.table.name });
  const carried = Object.fromEntries(
    Object.entries(first ?? {}).filter(([k]) => k.startsWith('tidemark.') && k !== COMMIT_ID_PROPERTY),
  );
  await lake.commit(staged, { properties: { ...carried, ...overrides } });
  return staged.length;
}
