import type { Catalog, MetadataSwap, SwapOutcome } from './catalog';
import type { FileIO } from './file-io';
import { deletesAfterCommit } from './table-metadata';

/**
 * The one way tidemark commits table metadata: the catalog's compare-and-set of every swap, then,
 * only once it resolved `committed`, the metadata files each swap's new metadata log dropped
 * (loggedAfter keeps write.metadata.previous-versions-max entries) are deleted when the new
 * metadata says write.metadata.delete-after-commit.enabled, as Iceberg's
 * BaseMetastoreTableOperations does. Never before the commit (a conflict leaves the old log
 * current), never on a conflict or an unknown outcome (the old log may still be the table's).
 * A catalog that writes the metadata itself (REST) trims and deletes on its side.
 */
export async function swapMetadata(
  catalog: Catalog,
  io: FileIO,
  swaps: readonly MetadataSwap[],
): Promise<SwapOutcome> {
  const out = await catalog.swap(swaps);
  if (out.kind === 'committed' && !catalog.writesMetadata)
    for (const s of swaps) await deleteDroppedMetadata(io, s);
  return out;
}

/**
 * The metadata files in the base's log that the new metadata's log no longer holds; never the
 * new current file nor the base's own file (the new log's newest entry).
 */
export function droppedMetadataFiles(s: MetadataSwap): string[] {
  const base = s.expectedMetadata;
  const next = s.nextMetadata;
  if (!base || !next || s.expected === null) return [];
  const kept = new Set([s.next, s.expected, ...next['metadata-log'].map((l) => l['metadata-file'])]);
  return base['metadata-log'].map((l) => l['metadata-file']).filter((f) => !kept.has(f));
}

async function deleteDroppedMetadata(io: FileIO, s: MetadataSwap): Promise<void> {
  if (!s.nextMetadata || !deletesAfterCommit(s.nextMetadata.properties)) return;
  // Best effort, as Iceberg's: the commit landed whatever happens here, and a file left behind
  // is referenced by nothing, so orphan removal takes it later.
  for (const f of droppedMetadataFiles(s)) await io.delete(f).catch(() => undefined);
}
