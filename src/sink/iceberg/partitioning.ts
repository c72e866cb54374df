import type { Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { IcebergSchema } from './iceberg-types';
import type { ManifestFileRecord } from './manifests';
import type { Transform } from './partition-transforms';
import { parseTransform } from './partition-transforms';
import { avroOfPartition, partitionSummary, tupleValue } from './partition-values';
import type { PartitionField, PartitionSpec } from './table-metadata';
import { PARTITION_FIELD_ID_BASE } from './table-metadata';

/** Per-table partition config: a column and a transform text ("bucket[16]", "day", …). */
export interface PartitionConfig {
  readonly column: string;
  readonly transform: string;
}

export function buildSpec(
  schema: IcebergSchema,
  config: readonly PartitionConfig[],
  table: string,
): PartitionSpec {
  const fields: PartitionField[] = config.map((c, i) => {
    const src = schema.fields.find((f) => f.name === c.column);
    if (!src)
      throw new TidemarkError('config', `table ${table}: partition column "${c.column}" is not a column`);
    const tr = parseTransform(c.transform, src.type, `table ${table} column "${c.column}"`);
    return {
      'source-id': src.id,
      'field-id': PARTITION_FIELD_ID_BASE + i,
      name: tr.suffix ? `${c.column}_${tr.suffix}` : c.column,
      transform: c.transform,
    };
  });
  const spec = { 'spec-id': 0, fields };
  partitionerFor(schema, spec, table); // validates result types
  return spec;
}

export interface Partitioner {
  readonly avroFields: readonly Record<string, unknown>[];
  /** The partition tuple of a row, in Avro-ready form (partition-values.ts tupleValue), by field name. */
  tupleOf(row: Row): Record<string, unknown>;
  /** Partition summaries of a manifest's tuples (manifest list field 507). */
  summaries(tuples: readonly Record<string, unknown>[]): ManifestFileRecord['partitions'];
}

export function partitionerFor(schema: IcebergSchema, spec: PartitionSpec, table: string): Partitioner {
  const parts = spec.fields.map((pf) => {
    const src = schema.fields.find((f) => f.id === pf['source-id']);
    if (!src)
      throw new TidemarkError(
        'schema_incompatible',
        `table ${table}: partition field ${pf.name} refers to a dropped column`,
      );
    const tr: Transform = parseTransform(pf.transform, src.type, `table ${table} column "${src.name}"`);
    const type = tr.resultType(src.type);
    const avro = avroOfPartition(type, pf['field-id']);
    if (!avro)
      throw new TidemarkError(
        'config',
        `table ${table}: partitioning column "${src.name}" by ${pf.transform} gives ${type}, which tidemark does not write as a partition value`,
        {
          fix:
            type === 'uuid'
              ? `partition by bucket[N](${src.name}) instead (engines disagree on the order of UUIDs, which partition summaries need)`
              : 'partition by another transform or column',
        },
      );
    return { pf, src, tr, type, avro };
  });
  return {
    avroFields: parts.map((p) => ({
      name: p.pf.name,
      type: ['null', p.avro],
      default: null,
      'field-id': p.pf['field-id'],
    })),
    tupleOf(row) {
      const out: Record<string, unknown> = {};
      for (const p of parts) {
        out[p.pf.name] = tupleValue(p.type, p.tr.apply((row[p.src.name] ?? null) as Value));
      }
      return out;
    },
    summaries(tuples) {
      return parts.map((p) =>
        partitionSummary(
          p.type,
          tuples.map((t) => t[p.pf.name]),
        ),
      );
    },
  };
}

/** A partition tuple as a map key (JSON, with exact bigints). */
export function tupleKey(tuple: Record<string, unknown>): string {
  // An unpartitioned table's tuple is empty, for every row and delete of a round: no JSON for it.
  for (const _ in tuple) return JSON.stringify(tuple, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  return '{}';
}
