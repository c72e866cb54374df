import type { TableSchema } from '../../core/table-schema';
import type { TableIdent } from './catalog';
import { initialSchema } from './iceberg-types';
import type { PartitionConfig } from './partitioning';
import { buildSpec } from './partitioning';
import { ATTNUMS_PROPERTY, attnumProperty } from './schema-evolution';
import type { StagedChange } from './staged-change';
import { newSnapshotId, type TableMetadata } from './table-metadata';
import { checkModeColumns, tableModeOf, withModeFields } from './table-mode';

/** Table property: the source schema version the table was last rebuilt at (onIncompatibleSchema: rebuild). */
export const REBUILT_PROPERTY = 'tidemark.rebuilt-at-version';

/**
 * `m` rebuilt for `schema` (onIncompatibleSchema: rebuild): a schema built afresh, its field ids
 * after every id used so far (old snapshots keep their meaning), current; the table's mode kept;
 * when partitioned (now or before), a new partition spec on the new field ids; REBUILT_PROPERTY
 * set to the version. The snapshot that goes with it holds no file (`emptyChange`).
 */
export function rebuiltMetadata(
  m: TableMetadata,
  schema: TableSchema,
  partition: readonly PartitionConfig[],
  where: string,
): TableMetadata {
  const mode = tableModeOf(m);
  checkModeColumns(schema, mode, where);
  const fresh = withModeFields(initialSchema(schema, m['last-column-id']), mode);
  const schemaId = Math.max(...m.schemas.map((x) => x['schema-id'])) + 1;
  const ice = { ...fresh.schema, 'schema-id': schemaId };
  const built = buildSpec(ice, partition, where);
  const current = m['partition-specs'].find((p) => p['spec-id'] === m['default-spec-id']);
  let specs = m['partition-specs'];
  let specId = m['default-spec-id'];
  let lastPartitionId = m['last-partition-id'];
  if (built.fields.length > 0 || (current?.fields.length ?? 0) > 0) {
    // the old spec's source ids are gone from the new schema: a new spec, new partition field ids
    specId = Math.max(...specs.map((p) => p['spec-id'])) + 1;
    const fields = built.fields.map((f, i) => ({ ...f, 'field-id': lastPartitionId + 1 + i }));
    lastPartitionId += fields.length;
    specs = [...specs, { 'spec-id': specId, fields }];
  }
  return {
    ...m,
    'last-updated-ms': Date.now(),
    'last-column-id': fresh.lastColumnId,
    schemas: [...m.schemas, ice],
    'current-schema-id': schemaId,
    'partition-specs': specs,
    'default-spec-id': specId,
    'last-partition-id': lastPartitionId,
    properties: {
      ...m.properties,
      [ATTNUMS_PROPERTY]: attnumProperty(schema, ice),
      [REBUILT_PROPERTY]: String(schema.version),
    },
  };
}

/** A staged change with no file: with `replaceAll`, the snapshot of an emptied table. */
export function emptyChange(table: TableIdent, baseLocation: string): StagedChange {
  return {
    table,
    snapshotId: newSnapshotId(),
    baseLocation,
    truncate: true,
    manifests: [],
    indexOps: [],
    added: { dataFiles: 0, records: 0, deleteFiles: 0, positionDeletes: 0, bytes: 0 },
    filePartitions: [],
    files: [],
  };
}
