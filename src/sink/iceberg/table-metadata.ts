import { randomUUID } from 'node:crypto';
import { TidemarkError } from '../../core/errors';
import type { IcebergSchema } from './iceberg-types';

/** Table metadata JSON, format version 2 (spec, "Table Metadata"). Field names as the spec spells them. */
export interface PartitionField {
  readonly 'source-id': number;
  readonly 'field-id': number;
  readonly name: string;
  readonly transform: string;
}

export interface PartitionSpec {
  readonly 'spec-id': number;
  readonly fields: readonly PartitionField[];
}

export interface Snapshot {
  readonly 'snapshot-id': number;
  readonly 'parent-snapshot-id'?: number;
  readonly 'sequence-number': number;
  readonly 'timestamp-ms': number;
  readonly 'manifest-list': string;
  readonly summary: Readonly<Record<string, string>> & { readonly operation: string };
  readonly 'schema-id': number;
}

export interface TableMetadata {
  readonly 'format-version': 2;
  readonly 'table-uuid': string;
  readonly location: string;
  readonly 'last-sequence-number': number;
  readonly 'last-updated-ms': number;
  readonly 'last-column-id': number;
  readonly 'current-schema-id': number;
  readonly schemas: readonly IcebergSchema[];
  readonly 'default-spec-id': number;
  readonly 'partition-specs': readonly PartitionSpec[];
  readonly 'last-partition-id': number;
  readonly 'default-sort-order-id': number;
  readonly 'sort-orders': readonly { 'order-id': number; fields: readonly unknown[] }[];
  readonly properties: Readonly<Record<string, string>>;
  readonly 'current-snapshot-id'?: number | null;
  readonly snapshots: readonly Snapshot[];
  readonly 'snapshot-log': readonly { 'timestamp-ms': number; 'snapshot-id': number }[];
  readonly 'metadata-log': readonly { 'timestamp-ms': number; 'metadata-file': string }[];
  readonly refs: Readonly<Record<string, { 'snapshot-id': number; type: 'branch' | 'tag' }>>;
}

/** Iceberg's "partition field ids start at 1000" convention; last-partition-id of an unpartitioned table is 999. */
export const PARTITION_FIELD_ID_BASE = 1000;

/** Table property: how many previous metadata files the metadata log keeps (Iceberg's TableProperties). */
export const PREVIOUS_VERSIONS_MAX_PROPERTY = 'write.metadata.previous-versions-max';
/** Iceberg's default: a day of one commit a second keeps 100 entries, not 86,400. */
export const PREVIOUS_VERSIONS_MAX_DEFAULT = 100;
/** Table property: delete the metadata files the log drops once the commit landed (Iceberg's TableProperties). */
export const DELETE_AFTER_COMMIT_PROPERTY = 'write.metadata.delete-after-commit.enabled';
/** Iceberg's default, for tables tidemark did not create (newTableMetadata sets it true). */
export const DELETE_AFTER_COMMIT_DEFAULT = false;

export function newTableMetadata(
  location: string,
  schema: IcebergSchema,
  lastColumnId: number,
  spec: PartitionSpec,
  properties: Record<string, string>,
): TableMetadata {
  const lastPartitionId = spec.fields.reduce(
    (m, f) => Math.max(m, f['field-id']),
    PARTITION_FIELD_ID_BASE - 1,
  );
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location,
    'last-sequence-number': 0,
    'last-updated-ms': Date.now(),
    'last-column-id': lastColumnId,
    'current-schema-id': schema['schema-id'],
    schemas: [schema],
    'default-spec-id': spec['spec-id'],
    'partition-specs': [spec],
    'last-partition-id': lastPartitionId,
    'default-sort-order-id': 0,
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    properties: {
      'write.format.default': 'parquet',
      'write.delete.mode': 'merge-on-read',
      'write.update.mode': 'merge-on-read',
      // One commit a second would otherwise leave 86,400 metadata files a day: the ones the log
      // drops go once the commit that dropped them landed (metadata-swap.ts).
      [DELETE_AFTER_COMMIT_PROPERTY]: 'true',
      ...properties,
    },
    'current-snapshot-id': null,
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
    refs: {},
  };
}

export function currentSchema(m: TableMetadata): IcebergSchema {
  const s = m.schemas.find((x) => x['schema-id'] === m['current-schema-id']);
  if (!s)
    throw new TidemarkError(
      'corrupt_state',
      `table metadata ${m.location}: current-schema-id ${m['current-schema-id']} is not among its schemas`,
    );
  return s;
}

export function defaultSpec(m: TableMetadata): PartitionSpec {
  const s = m['partition-specs'].find((x) => x['spec-id'] === m['default-spec-id']);
  if (!s)
    throw new TidemarkError(
      'corrupt_state',
      `table metadata ${m.location}: default-spec-id ${m['default-spec-id']} is not among its specs`,
    );
  return s;
}

export function currentSnapshot(m: TableMetadata): Snapshot | null {
  const id = m['current-snapshot-id'];
  if (id === null || id === undefined || id === -1) return null;
  return m.snapshots.find((s) => s['snapshot-id'] === id) ?? null;
}

/**
 * The log's cap as Iceberg reads it (at least 1). A value that is not an integer falls back to the
 * default rather than failing every commit of the table: the cap bounds a log, nothing more.
 */
export function previousVersionsMax(properties: Readonly<Record<string, string>>): number {
  const v = properties[PREVIOUS_VERSIONS_MAX_PROPERTY];
  const n = v === undefined || !/^\s*-?\d+\s*$/.test(v) ? PREVIOUS_VERSIONS_MAX_DEFAULT : Number(v);
  return Math.max(1, n);
}

/** Whether the metadata files a commit drops from the log are deleted after it (Boolean.parseBoolean). */
export function deletesAfterCommit(properties: Readonly<Record<string, string>>): boolean {
  const v = properties[DELETE_AFTER_COMMIT_PROPERTY];
  return v === undefined ? DELETE_AFTER_COMMIT_DEFAULT : v.trim().toLowerCase() === 'true';
}

/**
 * `m`'s metadata log with `previousFile` (the file `m` was read from) added, as a new version's,
 * keeping the newest previousVersionsMax entries of the new version's `properties` (Iceberg's
 * TableMetadata.addPreviousFile). The files it drops are swapMetadata's to delete.
 */
export function loggedAfter(
  m: TableMetadata,
  previousFile: string,
  properties: Readonly<Record<string, string>> = m.properties,
): TableMetadata['metadata-log'] {
  const log = [...m['metadata-log'], { 'timestamp-ms': m['last-updated-ms'], 'metadata-file': previousFile }];
  return log.slice(Math.max(0, log.length - previousVersionsMax(properties)));
}

/** The metadata after appending `snapshot` on branch main; `previousFile` joins the metadata log. */
export function withSnapshot(
  m: TableMetadata,
  snapshot: Snapshot,
  previousFile: string | null,
): TableMetadata {
  const now = snapshot['timestamp-ms'];
  return {
    ...m,
    'last-sequence-number': snapshot['sequence-number'],
    'last-updated-ms': now,
    'current-snapshot-id': snapshot['snapshot-id'],
    snapshots: [...m.snapshots, snapshot],
    'snapshot-log': [...m['snapshot-log'], { 'timestamp-ms': now, 'snapshot-id': snapshot['snapshot-id'] }],
    'metadata-log': previousFile ? loggedAfter(m, previousFile) : m['metadata-log'],
    refs: { ...m.refs, main: { 'snapshot-id': snapshot['snapshot-id'], type: 'branch' } },
  };
}

/** Parses metadata JSON, naming the file when it is not valid v2 metadata. */
export function parseTableMetadata(text: string, file: string, table: string): TableMetadata {
  let m: TableMetadata;
  try {
    m = JSON.parse(text) as TableMetadata;
  } catch (e) {
    throw new TidemarkError('corrupt_state', `table ${table}: metadata file ${file} is not valid JSON`, {
      cause: e,
    });
  }
  if (
    m === null ||
    typeof m !== 'object' ||
    m['format-version'] !== 2 ||
    !Array.isArray(m.schemas) ||
    !Array.isArray(m.snapshots)
  ) {
    throw new TidemarkError(
      'corrupt_state',
      `table ${table}: metadata file ${file} is not Iceberg v2 table metadata`,
    );
  }
  return m;
}

/** A positive 53-bit snapshot id: exact in JSON and JS numbers, positive as Java expects. */
export function newSnapshotId(): number {
  return Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1)) + 1;
}
