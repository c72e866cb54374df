import type { TableRef } from '../core/table-schema';

/** Data topic of one table: "<prefix>.<schema>.<table>", as Debezium names them. */
export function tableTopic(prefix: string, t: TableRef): string {
  return `${prefix}.${t.schema}.${t.table}`;
}

/** Compacted topic holding every table schema version, keyed by "schema.table@version". */
export function schemaTopic(prefix: string): string {
  return `${prefix}._tidemark.schemas`;
}

/** Watermarks (consistent-cut markers) published by the source; one partition, time-retained. */
export function watermarkTopic(prefix: string): string {
  return `${prefix}._tidemark.watermarks`;
}

/** Events a sink could not decode or apply, with the reason in headers. */
export function deadLetterTopic(prefix: string): string {
  return `${prefix}._tidemark.dead_letters`;
}
