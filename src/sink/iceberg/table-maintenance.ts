import { randomUUID } from 'node:crypto';
import type { Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { isTidemarkError, TidemarkError } from '../../core/errors';
import type { Catalog, SwapOutcome } from './catalog';
import { identText } from './catalog';
import type { FileIO } from './file-io';
import { rowsPerFile } from './file-sizing';
import type { DataFileRecord, ManifestEntry, ManifestFileRecord } from './manifests';
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from './manifests';
import { swapMetadata } from './metadata-swap';
import { decodeParquet, encodeParquet } from './parquet-files';
import { partitionerFor, tupleKey } from './partitioning';
import type { Snapshot, TableMetadata } from './table-metadata';
import {
  currentSchema,
  currentSnapshot,
  defaultSpec,
  loggedAfter,
  newSnapshotId,
  withSnapshot,
} from './table-metadata';
import { POS_DELETE_FIELDS, planScan } from './table-scan';
import type { TableState } from './table-state';
import { loadMetadata, recordCommitted } from './table-state';

/**
 * Table maintenance (spec, "Maintenance" in the Iceberg docs): compaction, snapshot expiry and
 * orphan-file removal. Each commits through the catalog's compare-and-set and deletes files only
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
  // A REST catalog reports its own file (the caller drops the key index after a compaction).
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

/** Every file a snapshot references: its manifest list, manifests, data and delete files. */
async function filesOf(io: FileIO, snap: Snapshot): Promise<Set<string>> {
  const out = new Set<string>([snap['manifest-list']]);
  for (const mf of await decodeManifestList(await io.read(snap['manifest-list']))) {
    out.add(mf.manifest_path);
    for (const e of await decodeManifest(await io.read(mf.manifest_path), mf))
      if (e.status !== 2) out.add(e.file.filePath);
  }
  return out;
}

export interface CompactOptions {
  readonly targetFileRows: number;
  /** Bytes per new file to aim at (sinks.iceberg.targetFileBytes); rows stay ≤ targetFileRows. */
  readonly targetFileBytes?: number;
  /**
   * Which data files to rewrite: `all` (every live row into new files), or only the `small`
   * ones (fewer rows than half the target) and those rows were deleted from. Big clean files and
   * the manifests listing only them are kept as they are, so a routine compaction costs what
   * the recent small commits weigh, not the whole table.
   */
  readonly select: 'all' | 'small';
}

/**
 * Rewrites the live rows (minus position deletes) of the selected data files into new files of
 * about `targetFileBytes` (at most `targetFileRows` rows) per partition, in one `replace` snapshot that removes those data
 * files and every delete file that only points at them. The caller drops the key index
 * (positions changed) after it resolves.
 */
export async function compactTable(
  catalog: Catalog,
  io: FileIO,
  st: TableState,
  opts: CompactOptions,
): Promise<{ rewrittenFiles: number; newFiles: number }> {
  const m = st.metadata;
  const table = identText(st.ident);
  const schema = currentSchema(m);
  const spec = defaultSpec(m);
  const partitioner = partitionerFor(schema, spec, table);
  const plan = await planScan(io, m, table);
  if (!plan.snapshot) return { rewrittenFiles: 0, newFiles: 0 };
  // Which data files each delete file points at, and the deleted positions per data file.
  const pointsAt = new Map<string, Set<string>>();
  const deleted = new Map<string, Set<number>>();
  for (const d of plan.deleteFiles) {
    const { columns } = decodeParquet(await io.read(d.file.filePath), POS_DELETE_FIELDS);
    const [paths, positions] = columns as [Value[], Value[]];
    const targets = new Set<string>();
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i] as string;
      targets.add(path);
      let set = deleted.get(path);
      if (!set) deleted.set(path, (set = new Set()));
      set.add(Number(positions[i]));
    }
    pointsAt.set(d.file.filePath, targets);
  }
  const perFile = rowsPerFile(
    opts.targetFileRows,
    opts.targetFileBytes,
    plan.dataFiles.reduce((n, e) => n + e.file.fileSizeInBytes, 0),
    plan.dataFiles.reduce((n, e) => n + e.file.recordCount, 0),
  );
  const small = Math.max(1, Math.floor(perFile / 2));
  const rewrite = new Set(
    plan.dataFiles
      .filter((e) => opts.select === 'all' || e.file.recordCount < small || deleted.has(e.file.filePath))
      .map((e) => e.file.filePath),
  );
  const live = new Set(plan.dataFiles.map((e) => e.file.filePath));
  // A delete file goes once every data file it points at is rewritten (or already gone).
  const dropDeletes = new Set(
    plan.deleteFiles
      .filter((d) => [...(pointsAt.get(d.file.filePath) ?? [])].every((p) => rewrite.has(p) || !live.has(p)))
      .map((d) => d.file.filePath),
  );
  if (dropDeletes.size === 0 && rewrite.size <= 1) return { rewrittenFiles: 0, newFiles: 0 };

  const groups = new Map<string, { tuple: Record<string, unknown>; rows: Row[] }>();
  for (const df of plan.dataFiles) {
    if (!rewrite.has(df.file.filePath)) continue;
    const { rowCount, columns } = decodeParquet(await io.read(df.file.filePath), schema.fields);
    const gone = deleted.get(df.file.filePath);
    for (let pos = 0; pos < rowCount; pos++) {
      if (gone?.has(pos)) continue;
      const row: Row = {};
      schema.fields.forEach((f, i) => {
        row[f.name] = columns[i]![pos]!;
      });
      const tuple = partitioner.tupleOf(row);
      const k = tupleKey(tuple);
      const g = groups.get(k) ?? { tuple, rows: [] };
      g.rows.push(row);
      groups.set(k, g);
    }
  }
  const snapshotId = newSnapshotId();
  const seq = m['last-sequence-number'] + 1;
  const written: string[] = [];
  const added: DataFileRecord[] = [];
  for (const g of groups.values()) {
    for (let i = 0; i < g.rows.length; i += perFile) {
      const chunk = g.rows.slice(i, i + perFile);
      const enc = encodeParquet(
        schema.fields,
        schema.fields.map((f) => chunk.map((r) => (r[f.name] ?? null) as Value)),
        `table ${table}`,
      );
      const path = `${m.location}/data/${randomUUID()}.parquet`;
      await io.write(path, enc.bytes);
      written.push(path);
      added.push({
        content: 0,
        filePath: path,
        recordCount: enc.recordCount,
        fileSizeInBytes: enc.bytes.length,
        partition: g.tuple,
        metrics: enc.metrics,
      });
    }
  }
  // A manifest listing none of the removed files is kept as it is; the others are rewritten,
  // their remaining files as EXISTING entries that keep their own sequence numbers.
  const removedPaths = new Set([...rewrite, ...dropDeletes]);
  const keptManifests: ManifestFileRecord[] = [];
  const existing: { 0: ManifestEntry[]; 1: ManifestEntry[] } = { 0: [], 1: [] };
  for (const mf of plan.manifests) {
    const entries = await decodeManifest(await io.read(mf.manifest_path), mf);
    const live = entries.filter((e) => e.status !== 2);
    if (!live.some((e) => removedPaths.has(e.file.filePath))) {
      keptManifests.push(mf);
      continue;
    }
    for (const e of live)
      if (!removedPaths.has(e.file.filePath)) existing[mf.content].push({ ...e, status: 0 });
  }
  // Removed files are DELETED entries keeping their own sequence numbers (spec, "Manifest Entry Fields").
  const removed = (e: ManifestEntry): ManifestEntry => ({ ...e, status: 2, snapshotId });
  const parts = [
    {
      content: 0 as const,
      entries: [
        ...added.map(
          (file): ManifestEntry => ({
            status: 1,
            snapshotId,
            sequenceNumber: null,
            fileSequenceNumber: null,
            file,
          }),
        ),
        ...existing[0],
        ...plan.dataFiles.filter((e) => rewrite.has(e.file.filePath)).map(removed),
      ],
    },
    {
      content: 1 as const,
      entries: [
        ...existing[1],
        ...plan.deleteFiles.filter((e) => dropDeletes.has(e.file.filePath)).map(removed),
      ],
    },
  ];
  const manifests: ManifestFileRecord[] = [];
  for (const p of parts) {
    if (p.entries.length === 0) continue;
    const bytes = await encodeManifest(
      { schema, spec, partitionAvroFields: partitioner.avroFields, content: p.content },
      p.entries,
    );
    const path = `${m.location}/metadata/${randomUUID()}-m${p.content}.avro`;
    await io.write(path, bytes);
    written.push(path);
    const a = p.entries.filter((e) => e.status === 1);
    const x = p.entries.filter((e) => e.status === 0);
    const d = p.entries.filter((e) => e.status === 2);
    manifests.push({
      manifest_path: path,
      manifest_length: bytes.length,
      partition_spec_id: spec['spec-id'],
      content: p.content,
      sequence_number: seq,
      min_sequence_number: Math.min(seq, ...[...x, ...d].map((e) => e.sequenceNumber ?? seq)),
      added_snapshot_id: snapshotId,
      added_files_count: a.length,
      existing_files_count: x.length,
      deleted_files_count: d.length,
      added_rows_count: a.reduce((n, e) => n + e.file.recordCount, 0),
      existing_rows_count: x.reduce((n, e) => n + e.file.recordCount, 0),
      deleted_rows_count: d.reduce((n, e) => n + e.file.recordCount, 0),
      partitions: partitioner.summaries(p.entries.map((e) => e.file.partition)),
      key_metadata: null,
    });
  }
  const listPath = `${m.location}/metadata/snap-${snapshotId}-${randomUUID()}.avro`;
  await io.write(
    listPath,
    await encodeManifestList([...manifests, ...keptManifests], snapshotId, plan.snapshot['snapshot-id'], seq),
  );
  written.push(listPath);
  const liveData = [
    ...plan.dataFiles.filter((e) => !rewrite.has(e.file.filePath)).map((e) => e.file),
    ...added,
  ];
  const liveDeletes = plan.deleteFiles.filter((e) => !dropDeletes.has(e.file.filePath)).map((e) => e.file);
  const sum = (files: readonly DataFileRecord[], f: (x: DataFileRecord) => number) =>
    files.reduce((n, x) => n + f(x), 0);
  const removedData = plan.dataFiles.filter((e) => rewrite.has(e.file.filePath));
  const summary: Snapshot['summary'] = {
    ...Object.fromEntries(Object.entries(plan.snapshot.summary).filter(([k]) => k.startsWith('tidemark.'))),
    operation: 'replace',
    'added-data-files': String(added.length),
    'deleted-data-files': String(removedData.length),
    'removed-delete-files': String(dropDeletes.size),
    'removed-position-delete-files': String(dropDeletes.size),
    'added-records': String(sum(added, (x) => x.recordCount)),
    'deleted-records': String(removedData.reduce((n, e) => n + e.file.recordCount, 0)),
    'added-files-size': String(sum(added, (x) => x.fileSizeInBytes)),
    'total-records': String(sum(liveData, (x) => x.recordCount)),
    'total-files-size': String(
      sum(liveData, (x) => x.fileSizeInBytes) + sum(liveDeletes, (x) => x.fileSizeInBytes),
    ),
    'total-data-files': String(liveData.length),
    'total-delete-files': String(liveDeletes.length),
    'total-position-deletes': String(sum(liveDeletes, (x) => x.recordCount)),
    'total-equality-deletes': '0',
  };
  const snap: Snapshot = {
    'snapshot-id': snapshotId,
    'parent-snapshot-id': plan.snapshot['snapshot-id'],
    'sequence-number': seq,
    'timestamp-ms': Math.max(Date.now(), m['last-updated-ms']),
    'manifest-list': listPath,
    summary,
    'schema-id': m['current-schema-id'],
  };
  try {
    await commitMetadata(catalog, io, st, withSnapshot(m, snap, st.metadataLocation));
  } catch (e) {
    if (e instanceof TidemarkError && e.kind === 'commit_failed') for (const f of written) await io.delete(f);
    throw e;
  }
  return { rewrittenFiles: rewrite.size + dropDeletes.size, newFiles: added.length };
}

/**
 * Expires snapshots older than `olderThanMs` beyond the newest `keepLast` (the current one is
 * always kept), then deletes the files only expired snapshots referenced.
 */
export async function expireSnapshots(
  catalog: Catalog,
  io: FileIO,
  st: TableState,
  opts: { keepLast: number; olderThanMs: number; nowMs?: number },
): Promise<{ expired: number; deletedFiles: number }> {
  const m = st.metadata;
  const current = currentSnapshot(m);
  const cutoff = (opts.nowMs ?? Date.now()) - opts.olderThanMs;
  const newestFirst = [...m.snapshots].sort((a, b) => b['timestamp-ms'] - a['timestamp-ms']);
  const keep = newestFirst.filter(
    (s, i) =>
      i < Math.max(1, opts.keepLast) ||
      s['timestamp-ms'] >= cutoff ||
      s['snapshot-id'] === current?.['snapshot-id'],
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
  const live = new Set<string>();
  for (const s of keep) for (const f of await filesOf(io, s)) live.add(f);
  const dead = new Set<string>();
  for (const s of expired) for (const f of await filesOf(io, s)) if (!live.has(f)) dead.add(f);
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
  for (const s of m.snapshots) for (const f of await filesOf(io, s)) referenced.add(sameFile(f));
  const cutoff = (opts.nowMs ?? Date.now()) - opts.olderThanMs;
  const orphans = (await io.list(`${m.location}/`))
    .filter((f) => !referenced.has(sameFile(f.location)) && f.modifiedMs < cutoff)
    .map((f) => f.location);
  for (const f of orphans) await io.delete(f);
  return orphans;
}
