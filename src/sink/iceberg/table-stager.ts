import { randomUUID } from 'node:crypto';
import type { Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { CollapsedBatch, KeyedChange } from '../collapse';
import { identText } from './catalog';
import type { FileIO } from './file-io';
import type { IcebergSchema } from './iceberg-types';
import type { DataFileRecord, ManifestEntry } from './manifests';
import { encodeManifest } from './manifests';
import { partitionerFor, tupleKey } from './partitioning';
import type { IndexOp, StagedChange } from './staged-change';
import { currentSchema, defaultSpec, newSnapshotId } from './table-metadata';
import { POS_DELETE_FIELDS } from './table-scan';
import type { TableState } from './table-state';
import { writeParquetFile } from './write-file';

export interface StageOptions {
  /** Rows per data file; a batch with more rows is split. */
  readonly targetFileRows: number;
  /** Fills TOAST columns still `unchanged` after collapse from the stored rows. */
  readonly lookup: (keys: readonly string[]) => Promise<Map<string, Row>>;
  /**
   * A rebuilt table (onIncompatibleSchema: rebuild) takes changes before the source's copy has
   * brought its rows: an update with unchanged (TOAST) columns of a row it does not hold yet is
   * passed over (the copy brings the row) instead of being an error.
   */
  readonly skipPartialsOfAbsentRows?: boolean;
}

/**
 * Writes one table's collapsed batch as Parquet data files (new row images) and one
 * position-delete file (old images of updated, replaced and deleted keys), plus their
 * manifests. Nothing is committed; the index is changed only when the commit lands.
 */
export async function stageBatch(
  io: FileIO,
  state: TableState,
  batch: CollapsedBatch,
  opts: StageOptions,
): Promise<StagedChange> {
  const where = `table ${identText(state.ident)}`;
  const index = state.index!;
  const deletes: { file: string; pos: number }[] = [];
  const indexOps: IndexOp[] = [];
  if (batch.truncatedAt) {
    for (const e of index.entriesLive()) {
      deletes.push({ file: e.file, pos: e.pos });
      indexOps.push({ key: e.key, file: null });
    }
  }
  const dropped = new Set(batch.truncatedAt ? indexOps.map((o) => o.key) : []);
  // A key change's unchanged columns are in the old key's stored row (collapse.ts: fillFrom).
  const fillKey = (c: KeyedChange & { kind: 'upsert' }) => c.fillFrom?.key ?? c.key;
  const needFill = batch.changes
    .filter((c) => c.kind === 'upsert' && c.unchanged.length > 0)
    .map((c) => fillKey(c as KeyedChange & { kind: 'upsert' }));
  const stored = needFill.length > 0 ? await opts.lookup(needFill) : new Map<string, Row>();
  const rows: { key: string; row: Row }[] = [];
  for (const c of batch.changes) {
    const old = dropped.has(c.key) ? undefined : index.get(c.key);
    if (old) deletes.push(old);
    if (c.kind === 'delete') {
      if (old) indexOps.push({ key: c.key, file: null });
      continue;
    }
    let row = c.row;
    if (c.unchanged.length > 0) {
      const prior = stored.get(fillKey(c));
      if (!prior && opts.skipPartialsOfAbsentRows) continue;
      if (!prior)
        throw new TidemarkError(
          'unsupported_value',
          `${where}: key ${c.key} has unchanged (TOAST) columns ${c.unchanged.join(', ')} but no stored row${c.fillFrom ? ` (of its old key ${c.fillFrom.key})` : ''} to take them from`,
        );
      row = { ...row };
      for (const col of c.unchanged) row[col] = prior[col] ?? null;
    }
    rows.push({ key: c.key, row });
  }
  return writeStaged(io, state, { rows, deletes, indexOps, truncate: batch.truncatedAt !== null }, opts);
}

/**
 * Writes an append-mode table's new rows (append-rows.ts) as data files: no position deletes,
 * no key index changes, and no partition tuples kept for the files (nothing will ever delete
 * from them, and the writer's map of them would grow with every commit).
 */
export async function stageAppendRows(
  io: FileIO,
  state: TableState,
  rows: readonly Row[],
  opts: Pick<StageOptions, 'targetFileRows'>,
): Promise<StagedChange> {
  const staged = await writeStaged(
    io,
    state,
    { rows: rows.map((row) => ({ key: null, row })), deletes: [], indexOps: [], truncate: false },
    opts,
  );
  return { ...staged, filePartitions: [] };
}

interface PlannedChange {
  /** New rows; `key` null: the table keeps no key index (append mode). */
  readonly rows: readonly { key: string | null; row: Row }[];
  readonly deletes: readonly { file: string; pos: number }[];
  /** Index changes of deleted keys; those of the new rows are added here. */
  readonly indexOps: IndexOp[];
  readonly truncate: boolean;
}

/** Writes a planned change's data files, position-delete files and manifests. */
async function writeStaged(
  io: FileIO,
  state: TableState,
  plan: PlannedChange,
  opts: Pick<StageOptions, 'targetFileRows'>,
): Promise<StagedChange> {
  const m = state.metadata;
  const where = `table ${identText(state.ident)}`;
  const schema = currentSchema(m);
  const { rows, deletes, indexOps } = plan;
  // The snapshot id is fixed here and written into every entry (not inherited): PyIceberg 0.10
  // mishandles a null entry snapshot_id. Retries reuse it; only one attempt can ever land.
  const snapshotId = newSnapshotId();
  const dir = `${m.location}/data`;
  const files: string[] = [];
  const dataFiles: DataFileRecord[] = [];
  const spec = defaultSpec(m);
  const partitioner = partitionerFor(schema, spec, identText(state.ident));
  // One group of data files per partition tuple (spec: a data file holds one partition).
  const groups = new Map<
    string,
    { tuple: Record<string, unknown>; rows: { key: string | null; row: Row }[] }
  >();
  for (const r of rows) {
    const tuple = partitioner.tupleOf(r.row);
    const gk = tupleKey(tuple);
    const g = groups.get(gk) ?? { tuple, rows: [] };
    g.rows.push(r);
    groups.set(gk, g);
  }
  const filePartitions: [string, Record<string, unknown>][] = [];
  for (const g of groups.values()) {
    for (let start = 0; start < g.rows.length; start += opts.targetFileRows) {
      const chunk = g.rows.slice(start, start + opts.targetFileRows);
      const columns = schema.fields.map((f) => chunk.map((r) => (r.row[f.name] ?? null) as Value));
      const path = `${dir}/${randomUUID()}.parquet`;
      dataFiles.push(await writeParquetFile(io, path, 0, schema.fields, columns, g.tuple, where));
      files.push(path);
      filePartitions.push([path, g.tuple]);
      chunk.forEach((r, pos) => {
        if (r.key !== null) indexOps.push({ key: r.key, file: path, pos });
      });
    }
  }
  const deleteFiles: DataFileRecord[] = [];
  // Position deletes go to the partition of the data file they point at.
  const deleteGroups = new Map<
    string,
    { tuple: Record<string, unknown>; list: { file: string; pos: number }[] }
  >();
  for (const d of deletes) {
    const tuple = state.filePartitions.get(d.file) ?? {};
    const gk = tupleKey(tuple);
    const g = deleteGroups.get(gk) ?? { tuple, list: [] };
    g.list.push(d);
    deleteGroups.set(gk, g);
  }
  for (const g of deleteGroups.values()) {
    // Sorted by file path then position, as the spec requires of position-delete files.
    g.list.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.pos - b.pos));
    const path = `${dir}/${randomUUID()}-deletes.parquet`;
    const columns = [g.list.map((d) => d.file), g.list.map((d) => BigInt(d.pos))];
    deleteFiles.push(await writeParquetFile(io, path, 1, POS_DELETE_FIELDS, columns, g.tuple, where));
    files.push(path);
  }
  const manifests: StagedChange['manifests'][number][] = [];
  for (const [content, list] of [
    [0, dataFiles],
    [1, deleteFiles],
  ] as const) {
    if (list.length === 0) continue;
    const entries: ManifestEntry[] = list.map((file) => ({
      status: 1,
      snapshotId,
      sequenceNumber: null,
      fileSequenceNumber: null,
      file,
    }));
    const bytes = await encodeManifest(
      { schema, spec, partitionAvroFields: partitioner.avroFields, content },
      entries,
    );
    const path = `${m.location}/metadata/${randomUUID()}-m${content}.avro`;
    await io.write(path, bytes);
    files.push(path);
    manifests.push({
      manifest_path: path,
      manifest_length: bytes.length,
      partition_spec_id: defaultSpec(m)['spec-id'],
      content,
      added_files_count: list.length,
      existing_files_count: 0,
      deleted_files_count: 0,
      added_rows_count: list.reduce((n, f) => n + f.recordCount, 0),
      existing_rows_count: 0,
      deleted_rows_count: 0,
      partitions: partitioner.summaries(list.map((f) => f.partition)),
      key_metadata: null,
    });
  }
  return {
    table: state.ident,
    snapshotId,
    baseLocation: state.metadataLocation,
    schemaId: state.metadata['current-schema-id'],
    truncate: plan.truncate,
    manifests,
    indexOps,
    filePartitions,
    added: {
      dataFiles: dataFiles.length,
      records: rows.length,
      deleteFiles: deleteFiles.length,
      positionDeletes: deletes.length,
      bytes: [...dataFiles, ...deleteFiles].reduce((n, f) => n + f.fileSizeInBytes, 0),
    },
    files,
  };
}

export function schemaFieldNames(s: IcebergSchema): string[] {
  return s.fields.map((f) => f.name);
}
