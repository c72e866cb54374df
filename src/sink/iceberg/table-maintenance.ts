import { randomUUID } from 'node:crypto';
import { isTidemarkError, TidemarkError } from '../../core/errors';
import type { Catalog, SwapOutcome } from './catalog';
import { identText } from './catalog';
import type { FileIO } from './file-io';
import { decodeManifest, decodeManifestList } from './manifests';
import { swapMetadata } from './metadata-swap';
import type { Snapshot, TableMetadata } from './table-metadata';
import { currentSnapshot, loggedAfter } from './table-metadata';
import type { TableState } from './table-state';
import { loadMetadata, recordCommitted } from './table-state';

/**
 * Table maintenance (spec, "Maintenance" in the Iceberg docs): snapshot expiry and orphan-file
 * removal here, compaction in compaction.ts. Each commits through the catalog's compare-and-set and deletes files only
 * after its commit landed, so a crash or a conflict never loses data.
 */

/** A metadata-only commit of `next` onto `st` (compare-and-set); `st` follows it when it lands. */
export async function commitMetadata(
  catalog: Catalog,
  io: FileIO,
  st: TableState,
  next: TableMetadata,
): Promise<void> {
  const file = `${next.location}/metadata/${String(next['last-sequence-number']).padStart(5, '0')}-${randomUUID()}.metadata.json`;
  if (!catalog.writesMetadata) await io.write(file, Buffer.from(JSON.stringify(next), 'utf8'));
  // Certainly not committed (a conflict, or a catalog failure before its COMMIT): the file is garbage.
  const unused = async () => {
    if (!catalog.writesMetadata) await io.delete(file).catch(() => undefined);
  };
  let out: SwapOutcome;
  try {
    out = await swapMetadata(catalog, io, [
      {
        table: st.ident,
        expected: st.metadataLocation,
        next: file,
        expectedMetadata: st.metadata,
        nextMetadata: next,
      },
    ]);
  } catch (e) {
    if (isTidemarkError(e, 'commit_failed')) await unused();
    throw e;
  }
  if (out.kind === 'conflict') {
    await unused();
    throw new TidemarkError(
      'commit_failed',
      `table ${identText(st.ident)}: metadata commit lost to a concurrent commit; retry later`,
    );
  }
  if (out.kind === 'unknown')
    throw new TidemarkError(
      'commit_state_unknown',
      `table ${identText(st.ident)}: metadata commit outcome unknown`,
      { cause: out.cause },
    );
  // A REST catalog reports its own file.
  if (recordCommitted(catalog, st, out, next, file)) {
    const loaded = await loadMetadata(catalog, io, st.ident);
    if (loaded) {
      st.metadata = loaded.metadata;
      st.metadataLocation = loaded.location;
    }
  }
}

/**
 * One spelling per local file: `file:/x` (how Java's Hadoop paths print the metadata files a REST
 * catalog server writes) and `file:///x` (tidemark's, and FileIO.list's) name the same file.
 */
function sameFile(location: string): string {
  return location.replace(/^file:\/(?!\/)/, 'file:///');
}

/**
 * Every file a snapshot references: its manifest list, manifests, data and delete files.
 * `manifests` caches each manifest's live files across the snapshots of one pass: manifests are
 * never rewritten in place, and most snapshots of a table share most of theirs.
 */
async function filesOf(io: FileIO, snap: Snapshot, manifests: Map<string, string[]>): Promise<Set<string>> {
  const out = new Set<string>([snap['manifest-list']]);
  for (const mf of await decodeManifestList(await io.read(snap['manifest-list']))) {
    out.add(mf.manifest_path);
    let files = manifests.get(mf.manifest_path);
    if (!files) {
      files = (await decodeManifest(await io.read(mf.manifest_path), mf))
        .filter((e) => e.status !== 2)
        .map((e) => e.file.filePath);
      manifests.set(mf.manifest_path, files);
    }
    for (const f of files) out.add(f);
  }
  return out;
}

/**
 * Expires snapshots older than `olderThanMs` beyond the newest `keepLast`, and, whatever their
 * age, all but the newest `maxSnapshots` (the current one is always kept); then deletes the files
 * only expired snapshots referenced. `maxSnapshots` bounds the table metadata, which every commit
 * writes whole: about 1 KB a snapshot, one snapshot a commit.
 */
export async function expireSnapshots(
  catalog: Catalog,
  io: FileIO,
  st: TableState,
  opts: { keepLast: number; olderThanMs: number; maxSnapshots?: number; nowMs?: number },
): Promise<{ expired: number; deletedFiles: number }> {
  const m = st.metadata;
  const current = currentSnapshot(m);
  const cutoff = (opts.nowMs ?? Date.now()) - opts.olderThanMs;
  const max = opts.maxSnapshots ?? Number.POSITIVE_INFINITY;
  const newestFirst = [...m.snapshots].sort((a, b) => b['timestamp-ms'] - a['timestamp-ms']);
  const keep = newestFirst.filter(
    (s, i) =>
      s['snapshot-id'] === current?.['snapshot-id'] ||
      (i < max && (i < Math.max(1, opts.keepLast) || s['timestamp-ms'] >= cutoff)),
  );
  const expired = m.snapshots.filter((s) => !keep.includes(s));
  if (expired.length === 0) return { expired: 0, deletedFiles: 0 };
  const keepIds = new Set(keep.map((s) => s['snapshot-id']));
  const next: TableMetadata = {
    ...m,
    'last-updated-ms': Date.now(),
    snapshots: m.snapshots.filter((s) => keepIds.has(s['snapshot-id'])),
    'snapshot-log': m['snapshot-log'].filter((l) => keepIds.has(l['snapshot-id'])),
    'metadata-log': loggedAfter(m, st.metadataLocation),
  };
  const manifests = new Map<string, string[]>();
  const live = new Set<string>();
  for (const s of keep) for (const f of await filesOf(io, s, manifests)) live.add(f);
  const dead = new Set<string>();
  for (const s of expired) for (const f of await filesOf(io, s, manifests)) if (!live.has(f)) dead.add(f);
  await commitMetadata(catalog, io, st, next);
  for (const f of dead) await io.delete(f);
  return { expired: expired.length, deletedFiles: dead.size };
}

/**
 * Deletes files under the table location that no snapshot or metadata file references and that
 * are older than `olderThanMs` (young files may belong to a commit in flight), e.g. a crashed
 * writer's staged files.
 */
export async function removeOrphanFiles(
  io: FileIO,
  st: TableState,
  opts: { olderThanMs: number; nowMs?: number },
): Promise<string[]> {
  const m = st.metadata;
  const referenced = new Set<string>(
    [st.metadataLocation, ...m['metadata-log'].map((l) => l['metadata-file'])].map(sameFile),
  );
  const manifests = new Map<string, string[]>();
  for (const s of m.snapshots) for (const f of await filesOf(io, s, manifests)) referenced.add(sameFile(f));
  const cutoff = (opts.nowMs ?? Date.now()) - opts.olderThanMs;
  const orphans = (await io.list(`${m.location}/`))
    .filter((f) => !referenced.has(sameFile(f.location)) && f.modifiedMs < cutoff)
    .map((f) => f.location);
  for (const f of orphans) await io.delete(f);
  return orphans;
}
