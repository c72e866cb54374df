import { createHash } from 'node:crypto';
import type { TableRef } from '../core/table-schema';

/** Kafka topic names allow [A-Za-z0-9._-]; a dot separates the parts, so it is not kept inside one. */
const PLAIN_PART = /^[A-Za-z0-9_-]+$/;

/**
 * A schema or table name as one part of a topic name: unchanged when Kafka allows it; otherwise
 * (spaces, "$", quotes, non-ASCII letters, dots) each other character becomes "_" and a hash of
 * the exact name is appended, so that "Order Items" and "Order_Items" keep apart topics.
 */
function topicPart(name: string): string {
  if (PLAIN_PART.test(name)) return name;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8);
  return `${name.replace(/[^A-Za-z0-9_-]/g, '_')}_${hash}`;
}

/** Data topic of one table: "<prefix>.<schema>.<table>", as Debezium names them (see topicPart). */
export function tableTopic(prefix: string, t: TableRef): string {
  return `${prefix}.${topicPart(t.schema)}.${topicPart(t.table)}`;
}

/** Kafka's limit on a topic name's length. */
export const MAX_TOPIC_LENGTH = 249;

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
