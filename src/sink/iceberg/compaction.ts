import { randomUUID } from 'node:crypto';
import type { Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import { encodeKey } from '../../core/row-key';
import type { Catalog } from './catalog';
import { identText } from './catalog';
import { dataFilesToRewrite, deleteFilesToDrop } from './compaction-plan';
import type { FileIO } from './file-io';
import { rowsPerFile } from './file-sizing';
import type { DataFileRecord, ManifestEntry, ManifestFileRecord } from './manifests';
import { decodeManifest, encodeManifest, encodeManifestList } from './manifests';
import { decodeParquet } from './parquet-files';
import { partitionerFor, tupleKey } from './partitioning';
import { commitMetadata } from './table-maintenance';
import type { Snapshot } from './table-metadata';
import { currentSchema, defaultSpec, newSnapshotId, withSnapshot } from './table-metadata';
import { POS_DELETE_FIELDS, planScan, readOrFail, readPositionDeleteFile } from './table-scan';
import { keyFieldsOf, type TableState } from './table-state';
import { writeParquetFile } from './write-file';

export interface CompactOptions {
  readonly targetFileRows: number;
  /** Bytes per new file to aim at (sinks.iceberg.targetFileBytes); rows stay ≤ targetFileRows. */
  readonly targetFileBytes?: number;
  /**
   * Which data files to rewrite: `all` (every live row into new files), or only the `small`
   * ones (fewer rows than half the target) and those with a large share of deleted rows
   * (compaction-plan.ts DELETED_RATIO). Big files keep their rows; their position deletes are
   * merged into one file per partition. So a routine compaction costs what the recent small
   * commits weigh, not the whole table.
   */
  readonly select: 'all' | 'small';
  /** At most this many new files' worth of rows rewritten (compaction-plan.ts RewritePolicy). */
  readonly maxNewFiles?: number;
}

export interface Compacted {
  /** Data and delete files the new snapshot no longer holds. */
  readonly rewrittenFiles: number;
  /** Data and delete files it added. */
  readonly newFiles: number;
}

const NOTHING: Compacted = { rewrittenFiles: 0, newFiles: 0 };

/**
 * Rewrites the live rows (minus position deletes) of the selected data files into new files of
 * about `targetFileBytes` (at most `targetFileRows` rows) per partition, and merges the position
 * deletes of the files that stay, in one `replace` snapshot. Reads one data file at a time and
 * writes a new file as soon as a partition has a file's worth of rows, so its memory is about
 * one new file per partition, whatever the table's size. The writer's key index and file
 * partitions in `st` follow each row as it is written; if this throws they may be ahead of the
 * table, and the caller drops them (rebuilt at the next open).
 */
export async function compactTable(
  catalog: Catalog,
  io: FileIO,
  st: TableState,
  opts: CompactOptions,
): Promise<Compacted> {
  const m = st.metadata;
  const table = identText(st.ident);
  const schema = currentSchema(m);
  const spec = defaultSpec(m);
  const partitioner = partitionerFor(schema, spec, table);
  const plan = await planScan(io, m, table);
  if (!plan.snapshot) return NOTHING;
  // Which data files each delete file points at, and the deleted positions per data file.
  // Each delete file is read once: its pairs are written again below if it is merged.
  const pairsOf = new Map<string, [string, number][]>();
  const pointsAt = new Map<string, Set<string>>();
  const deleted = new Map<string, Set<number>>();
  for (const d of plan.deleteFiles) {
    const pairs = await readPositionDeleteFile(io, d, table);
    pairsOf.set(d.file.filePath, pairs);
    const targets = new Set<string>();
    for (const [path, pos] of pairs) {
      targets.add(path);
      let set = deleted.get(path);
      if (!set) deleted.set(path, (set = new Set()));
      set.add(pos);
    }
    pointsAt.set(d.file.filePath, targets);
  }
  const perFile = rowsPerFile(
    opts.targetFileRows,
    opts.targetFileBytes,
    plan.dataFiles.reduce((n, e) => n + e.file.fileSizeInBytes, 0),
    plan.dataFiles.reduce((n, e) => n + e.file.recordCount, 0),
  );
  const rewrite = dataFilesToRewrite(
    plan.dataFiles.map((e) => ({
      path: e.file.filePath,
      rows: e.file.recordCount,
      deleted: deleted.get(e.file.filePath)?.size ?? 0,
    })),
    { select: opts.select, perFile, maxNewFiles: opts.maxNewFiles },
  );
  const live = new Set(plan.dataFiles.map((e) => e.file.filePath));
  const dropDeletes = deleteFilesToDrop(
    plan.deleteFiles.map((d) => ({
      path: d.file.filePath,
      partition: tupleKey(d.file.partition),
      targets: pointsAt.get(d.file.filePath) ?? new Set(),
    })),
    rewrite,
    live,
  );
  if (rewrite.size === 0 && dropDeletes.size === 0) return NOTHING;

  const written: string[] = [];
  const added: DataFileRecord[] = [];
  const index = st.index;
  const keyNames = index ? keyFieldsOf(schema, table).map((f) => f.name) : [];
  const where = `table ${table}`;
  const addedDeletes: DataFileRecord[] = [];
  const groups = new Map<string, { tuple: Record<string, unknown>; rows: Row[] }>();
  const flush = async (g: { tuple: Record<string, unknown>; rows: Row[] }) => {
    const chunk = g.rows.splice(0);
    const path = `${m.location}/data/${randomUUID()}.parquet`;
    const columns = schema.fields.map((f) => chunk.map((r) => (r[f.name] ?? null) as Value));
    added.push(await writeParquetFile(io, path, 0, schema.fields, columns, g.tuple, where));
    written.push(path);
    st.filePartitions.set(path, g.tuple);
    if (index)
      for (let pos = 0; pos < chunk.length; pos++) index.set(encodeKey(chunk[pos]!, keyNames), path, pos);
  };
  try {
    for (const df of plan.dataFiles) {
      const path = df.file.filePath;
      const gone = deleted.get(path);
      // A file whose rows are all deleted only leaves: nothing of it to read.
      if (!rewrite.has(path) || (gone?.size ?? 0) >= df.file.recordCount) continue;
      const { rowCount, columns } = decodeParquet(
        await readOrFail(io, path, table, 'data file'),
        schema.fields,
      );
      for (let pos = 0; pos < rowCount; pos++) {
        if (gone?.has(pos)) continue;
        const row: Row = {};
        schema.fields.forEach((f, i) => {
          row[f.name] = columns[i]![pos]!;
        });
        const tuple = partitioner.tupleOf(row);
        const k = tupleKey(tuple);
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { tuple, rows: [] }));
        g.rows.push(row);
        if (g.rows.length >= perFile) await flush(g);
      }
    }
    for (const g of groups.values()) if (g.rows.length > 0) await flush(g);

    // What the dropped delete files hold for data files that stay, again as one file per partition.
    const merged = new Map<string, { tuple: Record<string, unknown>; list: [string, number][] }>();
    for (const d of plan.deleteFiles) {
      if (!dropDeletes.has(d.file.filePath)) continue;
      const k = tupleKey(d.file.partition);
      let g = merged.get(k);
      if (!g) merged.set(k, (g = { tuple: d.file.partition, list: [] }));
      for (const [path, pos] of pairsOf.get(d.file.filePath)!)
        if (live.has(path) && !rewrite.has(path)) g.list.push([path, pos]);
    }
    for (const g of merged.values()) {
      if (g.list.length === 0) continue;
      // Sorted by file path then position, as the spec requires; a position deleted twice once.
      g.list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
      const list = g.list.filter(
        (e, i) => i === 0 || e[0] !== g.list[i - 1]![0] || e[1] !== g.list[i - 1]![1],
      );
      const path = `${m.location}/data/${randomUUID()}-deletes.parquet`;
      const columns = [list.map((e) => e[0]), list.map((e) => BigInt(e[1]))];
      addedDeletes.push(await writeParquetFile(io, path, 1, POS_DELETE_FIELDS, columns, g.tuple, where));
      written.push(path);
    }

    const snapshotId = newSnapshotId();
    const seq = m['last-sequence-number'] + 1;
    // A manifest listing none of the removed files is kept as it is; the others are rewritten,
    // their remaining files as EXISTING entries that keep their own sequence numbers.
    const removedPaths = new Set([...rewrite, ...dropDeletes]);
    const keptManifests: ManifestFileRecord[] = [];
    const existing: { 0: ManifestEntry[]; 1: ManifestEntry[] } = { 0: [], 1: [] };
    for (const mf of plan.manifests) {
      const entries = await decodeManifest(await readOrFail(io, mf.manifest_path, table, 'manifest'), mf);
      const current = entries.filter((e) => e.status !== 2);
      if (!current.some((e) => removedPaths.has(e.file.filePath))) {
        keptManifests.push(mf);
        continue;
      }
      for (const e of current)
        if (!removedPaths.has(e.file.filePath)) existing[mf.content].push({ ...e, status: 0 });
    }
    // New files are ADDED (this snapshot's sequence number: a merged position delete still
    // applies, its data files being older); removed ones DELETED, keeping their own numbers
    // (spec, "Manifest Entry Fields").
    const addedEntry = (file: DataFileRecord): ManifestEntry => ({
      status: 1,
      snapshotId,
      sequenceNumber: null,
      fileSequenceNumber: null,
      file,
    });
    const removed = (e: ManifestEntry): ManifestEntry => ({ ...e, status: 2, snapshotId });
    const parts = [
      {
        content: 0 as const,
        entries: [
          ...added.map(addedEntry),
          ...existing[0],
          ...plan.dataFiles.filter((e) => rewrite.has(e.file.filePath)).map(removed),
        ],
      },
      {
        content: 1 as const,
        entries: [
          ...addedDeletes.map(addedEntry),
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
      await encodeManifestList(
        [...manifests, ...keptManifests],
        snapshotId,
        plan.snapshot['snapshot-id'],
        seq,
      ),
    );
    written.push(listPath);
    const liveData = [
      ...plan.dataFiles.filter((e) => !rewrite.has(e.file.filePath)).map((e) => e.file),
      ...added,
    ];
    const liveDeletes = [
      ...plan.deleteFiles.filter((e) => !dropDeletes.has(e.file.filePath)).map((e) => e.file),
      ...addedDeletes,
    ];
    const sum = (files: readonly DataFileRecord[], f: (x: DataFileRecord) => number) =>
      files.reduce((n, x) => n + f(x), 0);
    const removedData = plan.dataFiles.filter((e) => rewrite.has(e.file.filePath));
    const removedDeletes = plan.deleteFiles.filter((e) => dropDeletes.has(e.file.filePath));
    const summary: Snapshot['summary'] = {
      ...Object.fromEntries(Object.entries(plan.snapshot.summary).filter(([k]) => k.startsWith('tidemark.'))),
      operation: 'replace',
      'added-data-files': String(added.length),
      'deleted-data-files': String(removedData.length),
      'added-delete-files': String(addedDeletes.length),
      'added-position-delete-files': String(addedDeletes.length),
      'removed-delete-files': String(dropDeletes.size),
      'removed-position-delete-files': String(dropDeletes.size),
      'added-records': String(sum(added, (x) => x.recordCount)),
      'deleted-records': String(removedData.reduce((n, e) => n + e.file.recordCount, 0)),
      'added-position-deletes': String(sum(addedDeletes, (x) => x.recordCount)),
      'removed-position-deletes': String(removedDeletes.reduce((n, e) => n + e.file.recordCount, 0)),
      'added-files-size': String(sum([...added, ...addedDeletes], (x) => x.fileSizeInBytes)),
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
    await commitMetadata(catalog, io, st, withSnapshot(m, snap, st.metadataLocation));
  } catch (e) {
    // Certainly not committed: what it wrote is garbage (an unknown outcome leaves it to orphan removal).
    if (e instanceof TidemarkError && e.kind === 'commit_failed') for (const f of written) await io.delete(f);
    throw e;
  }
  for (const f of rewrite) st.filePartitions.delete(f);
  return { rewrittenFiles: rewrite.size + dropDeletes.size, newFiles: added.length + addedDeletes.length };
}
