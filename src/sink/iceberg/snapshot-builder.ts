import { randomUUID } from 'node:crypto';
import type { FileIO } from './file-io';
import type { ManifestFileRecord } from './manifests';
import { decodeManifestList, encodeManifestList } from './manifests';
import type { StagedChange } from './staged-change';
import type { Snapshot, TableMetadata } from './table-metadata';
import { currentSnapshot, withSnapshot } from './table-metadata';

/** Summary property holding the commit id, looked up to resolve an unknown commit outcome. */
export const COMMIT_ID_PROPERTY = 'tidemark.commit-id';

export interface BuiltSnapshot {
  readonly snapshotId: number;
  readonly metadata: TableMetadata;
  readonly metadataLocation: string;
  /** Files written for this attempt (manifest list, metadata JSON): orphans if it never lands. */
  readonly files: readonly string[];
}

const num = (s: Record<string, string> | undefined, k: string) => Number(s?.[k] ?? '0');

/**
 * The next snapshot of `base` carrying `staged`: its new manifests (sequence number and
 * snapshot id given here, inherited by their entries) followed by every manifest of the
 * current snapshot; a summary with the spec's standard counters and `properties`. The metadata
 * file is written unless `writeMetadata` is false (a catalog that writes its own: REST).
 */
export async function buildSnapshot(
  io: FileIO,
  base: TableMetadata,
  baseLocation: string,
  staged: StagedChange,
  properties: Record<string, string>,
  writeMetadata = true,
  /** Leave out every manifest of the current snapshot: the table holds only `staged` (a rebuild). */
  replaceAll = false,
): Promise<BuiltSnapshot> {
  const parent = currentSnapshot(base);
  const seq = base['last-sequence-number'] + 1;
  const snapshotId = staged.snapshotId;
  const prior: ManifestFileRecord[] =
    parent && !replaceAll ? await decodeManifestList(await io.read(parent['manifest-list'])) : [];
  const fresh: ManifestFileRecord[] = staged.manifests.map((mf) => ({
    ...mf,
    added_snapshot_id: snapshotId,
    sequence_number: seq,
    min_sequence_number: seq,
  }));
  const listPath = `${base.location}/metadata/snap-${snapshotId}-${randomUUID()}.avro`;
  await io.write(
    listPath,
    await encodeManifestList([...fresh, ...prior], snapshotId, parent?.['snapshot-id'] ?? null, seq),
  );
  const ps = replaceAll ? undefined : parent?.summary;
  const a = staged.added;
  const summary: Snapshot['summary'] = {
    operation: replaceAll
      ? a.records > 0
        ? 'overwrite'
        : 'delete'
      : a.positionDeletes > 0
        ? 'overwrite'
        : 'append',
    'added-data-files': String(a.dataFiles),
    'added-records': String(a.records),
    'added-files-size': String(a.bytes),
    'added-delete-files': String(a.deleteFiles),
    'added-position-delete-files': String(a.deleteFiles),
    'added-position-deletes': String(a.positionDeletes),
    'total-records': String(num(ps, 'total-records') + a.records),
    'total-files-size': String(num(ps, 'total-files-size') + a.bytes),
    'total-data-files': String(num(ps, 'total-data-files') + a.dataFiles),
    'total-delete-files': String(num(ps, 'total-delete-files') + a.deleteFiles),
    'total-position-deletes': String(num(ps, 'total-position-deletes') + a.positionDeletes),
    'total-equality-deletes': '0',
    ...(replaceAll && parent
      ? {
          'deleted-data-files': parent.summary?.['total-data-files'] ?? '0',
          'deleted-records': parent.summary?.['total-records'] ?? '0',
          'removed-delete-files': parent.summary?.['total-delete-files'] ?? '0',
        }
      : {}),
    ...properties,
  };
  const snapshot: Snapshot = {
    'snapshot-id': snapshotId,
    ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
    'sequence-number': seq,
    'timestamp-ms': Math.max(Date.now(), base['last-updated-ms']),
    'manifest-list': listPath,
    summary,
    'schema-id': base['current-schema-id'],
  };
  const metadata = withSnapshot(base, snapshot, baseLocation);
  const metadataLocation = `${base.location}/metadata/${String(seq).padStart(5, '0')}-${randomUUID()}.metadata.json`;
  if (!writeMetadata) return { snapshotId, metadata, metadataLocation, files: [listPath] };
  await io.write(metadataLocation, Buffer.from(JSON.stringify(metadata), 'utf8'));
  return { snapshotId, metadata, metadataLocation, files: [listPath, metadataLocation] };
}
