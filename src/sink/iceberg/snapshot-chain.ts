import { withDroppedMark } from './dropped-mark';
import type { FileIO } from './file-io';
import { buildSnapshot, COMMIT_ID_PROPERTY } from './snapshot-builder';
import type { StagedChange } from './staged-change';
import type { TableMetadata } from './table-metadata';
import type { TableState } from './table-state';

/**
 * buildSnapshot, writing the metadata file only for a catalog that does not write its own
 * (`writesMetadata`: the REST catalog writes it from the updates). A table that takes changes
 * exists in the source (again): its dropped mark goes in this commit.
 */
export function buildOnLive(
  io: FileIO,
  writesMetadata: boolean,
  base: TableMetadata,
  baseLocation: string,
  staged: StagedChange,
  props: Record<string, string>,
  replaceAll = false,
  /** False: the caller writes the metadata file (or nobody: a step inside a chain). */
  writeMetadata = !writesMetadata,
) {
  const live = withDroppedMark(base, null) ?? base;
  return buildSnapshot(io, live, baseLocation, staged, props, writeMetadata, replaceAll);
}

/**
 * One snapshot per staged change of a table, each on the one before, the last carrying the
 * round's properties. Only the last is kept in the table: the steps before it are no state the
 * source was ever in (a part may hold half a transaction), so the metadata lists the last
 * snapshot alone, its parent the table's current one, as if the steps had been expired at once
 * (their manifests live on in its manifest list, with the sequence numbers that order their
 * position deletes; their own manifest lists are orphans). The metadata log gains the base once.
 */
export async function buildChain(
  io: FileIO,
  writesMetadata: boolean,
  st: TableState,
  parts: readonly StagedChange[],
  props: Record<string, string>,
  commitId: string,
) {
  const build = (
    base: TableMetadata,
    staged: StagedChange,
    p: Record<string, string>,
    writeMetadata?: boolean,
  ) => buildOnLive(io, writesMetadata, base, st.metadataLocation, staged, p, false, writeMetadata);
  if (parts.length === 1) return build(st.metadata, parts[0]!, props);
  const base = st.metadata;
  let m = base;
  let first: TableMetadata | null = null;
  for (const [i, part] of parts.slice(0, -1).entries()) {
    const step = { [COMMIT_ID_PROPERTY]: commitId, 'tidemark.part': `${i + 1}/${parts.length}` };
    m = (await build(m, part, step, false)).metadata;
    first ??= m;
  }
  const last = await build(m, parts[parts.length - 1]!, props, false);
  const { 'parent-snapshot-id': _lastStep, ...built } =
    last.metadata.snapshots[last.metadata.snapshots.length - 1]!;
  const parent = base['current-snapshot-id'];
  const snapshot =
    parent === null || parent === undefined ? built : { ...built, 'parent-snapshot-id': parent };
  const entry = last.metadata['snapshot-log'][last.metadata['snapshot-log'].length - 1]!;
  const metadata: TableMetadata = {
    ...last.metadata,
    snapshots: [...base.snapshots, snapshot],
    'snapshot-log': [...base['snapshot-log'], entry],
    'metadata-log': first!['metadata-log'],
  };
  if (!writesMetadata) await io.write(last.metadataLocation, Buffer.from(JSON.stringify(metadata), 'utf8'));
  return { ...last, metadata };
}
