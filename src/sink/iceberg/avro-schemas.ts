/**
 * The Avro schemas of manifests and manifest lists, format version 2, with the spec's field
 * ids (spec, "Manifests" and "Manifest Lists"). Passed to avsc as raw JSON objects: an avsc
 * Type would drop every `field-id`, and readers match fields by id.
 */
type Json = Record<string, unknown>;

const opt = (type: unknown) => ['null', type];
const field = (name: string, id: number, type: unknown, optional = false): Json =>
  optional ? { name, type: opt(type), default: null, 'field-id': id } : { name, type, 'field-id': id };
/** Iceberg maps with int keys are Avro arrays of key/value records (spec, "Avro": maps). */
const intMap = (keyId: number, valueId: number, valueType: string): Json => ({
  type: 'array',
  logicalType: 'map',
  items: {
    type: 'record',
    name: `k${keyId}_v${valueId}`,
    fields: [field('key', keyId, 'int'), field('value', valueId, valueType)],
  },
});

/** `partitionFields`: the Avro fields of the partition struct (field id 102). */
export function manifestEntrySchema(partitionFields: readonly Json[]): Json {
  return {
    type: 'record',
    name: 'manifest_entry',
    fields: [
      field('status', 0, 'int'),
      field('snapshot_id', 1, 'long', true),
      field('sequence_number', 3, 'long', true),
      field('file_sequence_number', 4, 'long', true),
      field('data_file', 2, {
        type: 'record',
        name: 'r2',
        fields: [
          field('content', 134, 'int'),
          field('file_path', 100, 'string'),
          field('file_format', 101, 'string'),
          field('partition', 102, { type: 'record', name: 'r102', fields: partitionFields }),
          field('record_count', 103, 'long'),
          field('file_size_in_bytes', 104, 'long'),
          field('column_sizes', 108, intMap(117, 118, 'long'), true),
          field('value_counts', 109, intMap(119, 120, 'long'), true),
          field('null_value_counts', 110, intMap(121, 122, 'long'), true),
          field('nan_value_counts', 137, intMap(138, 139, 'long'), true),
          field('lower_bounds', 125, intMap(126, 127, 'bytes'), true),
          field('upper_bounds', 128, intMap(129, 130, 'bytes'), true),
          field('key_metadata', 131, 'bytes', true),
          field('split_offsets', 132, { type: 'array', items: 'long', 'element-id': 133 }, true),
          field('equality_ids', 135, { type: 'array', items: 'int', 'element-id': 136 }, true),
          field('sort_order_id', 140, 'int', true),
        ],
      }),
    ],
  };
}

export const MANIFEST_FILE_SCHEMA: Json = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    field('manifest_path', 500, 'string'),
    field('manifest_length', 501, 'long'),
    field('partition_spec_id', 502, 'int'),
    field('content', 517, 'int'),
    field('sequence_number', 515, 'long'),
    field('min_sequence_number', 516, 'long'),
    field('added_snapshot_id', 503, 'long'),
    field('added_files_count', 504, 'int'),
    field('existing_files_count', 505, 'int'),
    field('deleted_files_count', 506, 'int'),
    field('added_rows_count', 512, 'long'),
    field('existing_rows_count', 513, 'long'),
    field('deleted_rows_count', 514, 'long'),
    field(
      'partitions',
      507,
      {
        type: 'array',
        'element-id': 508,
        items: {
          type: 'record',
          name: 'r508',
          fields: [
            field('contains_null', 509, 'boolean'),
            field('contains_nan', 518, 'boolean', true),
            field('lower_bound', 510, 'bytes', true),
            field('upper_bound', 511, 'bytes', true),
          ],
        },
      },
      true,
    ),
    field('key_metadata', 519, 'bytes', true),
  ],
};
