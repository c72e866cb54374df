import { decodeAvroFile, encodeAvroFile } from './avro-container';
import { MANIFEST_FILE_SCHEMA, manifestEntrySchema } from './avro-schemas';
import type { FileMetrics } from './column-stats';
import type { IcebergSchema } from './iceberg-types';
import type { PartitionSpec } from './table-metadata';

/** data_file.content (spec, "Manifests"): 0 data, 1 position deletes, 2 equality deletes. */
export type FileContent = 0 | 1 | 2;
/** manifest_entry.status: 0 existing, 1 added, 2 deleted. */
export type EntryStatus = 0 | 1 | 2;

export interface DataFileRecord {
  readonly content: FileContent;
  readonly filePath: string;
  readonly recordCount: number;
  readonly fileSizeInBytes: number;
  /** Partition tuple, by partition field name (Avro field of the r102 record). */
  readonly partition: Record<string, unknown>;
  readonly metrics?: FileMetrics;
}

export interface ManifestEntry {
  readonly status: EntryStatus;
  readonly snapshotId: number | null;
  /** null = inherited from the manifest list entry (spec, "Sequence Number Inheritance"). */
  readonly sequenceNumber: number | null;
  readonly fileSequenceNumber: number | null;
  readonly file: DataFileRecord;
}

/** One entry of a manifest list (spec, "Manifest Lists"). Field names as in the Avro schema. */
export interface ManifestFileRecord {
  manifest_path: string;
  manifest_length: number;
  partition_spec_id: number;
  content: 0 | 1;
  sequence_number: number;
  min_sequence_number: number;
  added_snapshot_id: number;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: number;
  existing_rows_count: number;
  deleted_rows_count: number;
  partitions:
    | {
        contains_null: boolean;
        contains_nan: boolean | null;
        lower_bound: Buffer | null;
        upper_bound: Buffer | null;
      }[]
    | null;
  key_metadata: null;
}

const mapToAvro = <V>(m: Map<number, V> | undefined, conv: (v: V) => unknown) =>
  m === undefined ? null : [...m.entries()].map(([key, value]) => ({ key, value: conv(value) }));

function entryToAvro(e: ManifestEntry): object {
  const f = e.file;
  const m = f.metrics;
  return {
    status: e.status,
    snapshot_id: e.snapshotId,
    sequence_number: e.sequenceNumber,
    file_sequence_number: e.fileSequenceNumber,
    data_file: {
      content: f.content,
      file_path: f.filePath,
      file_format: 'PARQUET',
      partition: f.partition,
      record_count: f.recordCount,
      file_size_in_bytes: f.fileSizeInBytes,
      column_sizes: null,
      value_counts: mapToAvro(m?.valueCounts, Number),
      null_value_counts: mapToAvro(m?.nullValueCounts, Number),
      nan_value_counts: mapToAvro(m?.nanValueCounts, Number),
      lower_bounds: mapToAvro(m?.lowerBounds, (b) => Buffer.from(b)),
      upper_bounds: mapToAvro(m?.upperBounds, (b) => Buffer.from(b)),
      key_metadata: null,
      split_offsets: null,
      equality_ids: null,
      sort_order_id: f.content === 0 ? 0 : null,
    },
  };
}

export interface ManifestContext {
  readonly schema: IcebergSchema;
  readonly spec: PartitionSpec;
  /** Avro fields of the partition tuple (see partitioning.ts). */
  readonly partitionAvroFields: readonly Record<string, unknown>[];
  readonly content: 0 | 1;
}

export async function encodeManifest(
  ctx: ManifestContext,
  entries: readonly ManifestEntry[],
): Promise<Uint8Array> {
  return encodeAvroFile(manifestEntrySchema(ctx.partitionAvroFields), entries.map(entryToAvro), {
    schema: JSON.stringify(ctx.schema),
    'schema-id': String(ctx.schema['schema-id']),
    'partition-spec': JSON.stringify(ctx.spec.fields),
    'partition-spec-id': String(ctx.spec['spec-id']),
    'format-version': '2',
    content: ctx.content === 0 ? 'data' : 'deletes',
  });
}

interface AvroEntry {
  status: EntryStatus;
  snapshot_id: number | null;
  sequence_number: number | null;
  file_sequence_number: number | null;
  data_file: {
    content: FileContent;
    file_path: string;
    record_count: number;
    file_size_in_bytes: number;
    partition: Record<string, unknown>;
  };
}

/** Reads a manifest's entries, applying sequence-number inheritance from its list entry. */
export async function decodeManifest(
  bytes: Uint8Array,
  listed: ManifestFileRecord,
): Promise<ManifestEntry[]> {
  const { records } = await decodeAvroFile<AvroEntry>(bytes);
  return records.map((r) => {
    const inherit = r.status === 1;
    return {
      status: r.status,
      snapshotId: r.snapshot_id ?? (inherit ? listed.added_snapshot_id : null),
      sequenceNumber: r.sequence_number ?? (inherit ? listed.sequence_number : null),
      fileSequenceNumber: r.file_sequence_number ?? (inherit ? listed.sequence_number : null),
      file: {
        content: r.data_file.content,
        filePath: r.data_file.file_path,
        recordCount: r.data_file.record_count,
        fileSizeInBytes: r.data_file.file_size_in_bytes,
        partition: { ...r.data_file.partition },
      },
    };
  });
}

export async function encodeManifestList(
  records: readonly ManifestFileRecord[],
  snapshotId: number,
  parentId: number | null,
  sequenceNumber: number,
): Promise<Uint8Array> {
  return encodeAvroFile(MANIFEST_FILE_SCHEMA, records, {
    'snapshot-id': String(snapshotId),
    'parent-snapshot-id': parentId === null ? 'null' : String(parentId),
    'sequence-number': String(sequenceNumber),
    'format-version': '2',
  });
}

export async function decodeManifestList(bytes: Uint8Array): Promise<ManifestFileRecord[]> {
  return (await decodeAvroFile<ManifestFileRecord>(bytes)).records;
}
