import type { ChangeEvent, Op, Row } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import { formatLsn, parseLsn } from '../core/lsn';
import type { TableSchema } from '../core/table-schema';
import { decodeValue, encodeValue, type JsonValue } from './envelope-values';

export const CONNECTOR_VERSION = 'tidemark-0.1.0';
export const POSITION_HEADER = 'tidemark.position';
export const SCHEMA_VERSION_HEADER = 'tidemark.schema_version';
/**
 * An update that changes the key is a delete of the old key and a create of the new one; as
 * Debezium does, the delete names the new key and the create the old one (JSON, like the
 * message key), so that a consumer can pair them.
 */
export const NEW_KEY_HEADER = '__debezium.newkey';
export const OLD_KEY_HEADER = '__debezium.oldkey';

/**
 * The Debezium-compatible change envelope (payload form, schemas.enable=false):
 * { before, after, source: { connector, db, schema, table, txId, lsn, ts_ms, snapshot, ... }, op, ts_ms }.
 * tidemark's own fields live in `source` under `tidemark_*` names so Debezium readers ignore them:
 * the position (commit LSN and sequence), the schema version, and the TOAST-unchanged columns,
 * which are absent from `after` (Debezium would put a placeholder string there; we never do).
 */
interface EnvelopeJson {
  before: Record<string, JsonValue> | null;
  after: Record<string, JsonValue> | null;
  source: {
    version: string;
    connector: 'postgresql';
    name: string;
    db: string;
    schema: string;
    table: string;
    txId: number;
    lsn: number | string;
    ts_ms: number;
    snapshot: 'true' | 'false';
    tidemark_seq: number;
    tidemark_schema_version: number;
    tidemark_unchanged?: string[];
  };
  op: Op;
  ts_ms: number;
}

export interface EnvelopeContext {
  /** Logical name of the source (Debezium's topic.prefix). */
  readonly name: string;
  readonly db: string;
}

/** Columns by name per schema version: looked up for every value of every change. */
const columnIndex = new WeakMap<TableSchema, Map<string, TableSchema['columns'][number]>>();
function columnsByName(schema: TableSchema): Map<string, TableSchema['columns'][number]> {
  let m = columnIndex.get(schema);
  if (!m) columnIndex.set(schema, (m = new Map(schema.columns.map((c) => [c.name, c]))));
  return m;
}

export function encodeKey(schema: TableSchema, row: Row): Buffer {
  const key: Record<string, JsonValue> = {};
  const byName = columnsByName(schema);
  for (const col of schema.primaryKey) {
    const c = byName.get(col);
    if (!c)
      throw new TidemarkError(
        'internal',
        `key column ${col} not in schema of ${schema.schema}.${schema.table}`,
      );
    key[col] = encodeValue(c.type, row[col] ?? null);
  }
  return Buffer.from(JSON.stringify(key));
}

/**
 * The envelope's JSON, written as text rather than through an object and JSON.stringify: the
 * source encodes every change, and the object form cost a third of the encoding and its garbage.
 * Field order and values are those of EnvelopeJson; names and strings are escaped by JSON.stringify.
 */
export function encodeEnvelope(
  ev: ChangeEvent,
  schema: TableSchema,
  ctx: EnvelopeContext,
  nowMs: number,
): Buffer {
  const lsn =
    ev.position.lsn <= BigInt(Number.MAX_SAFE_INTEGER)
      ? String(ev.position.lsn)
      : JSON.stringify(formatLsn(ev.position.lsn));
  const unchanged = ev.unchanged.length > 0 ? `,"tidemark_unchanged":${JSON.stringify(ev.unchanged)}` : '';
  return Buffer.from(
    `{"before":${ev.before ? rowJson(schema, ev.before) : 'null'},"after":${ev.after ? rowJson(schema, ev.after) : 'null'},` +
      `"source":{"version":"${CONNECTOR_VERSION}","connector":"postgresql","name":${JSON.stringify(ctx.name)},` +
      `"db":${JSON.stringify(ctx.db)},"schema":${JSON.stringify(ev.table.schema)},"table":${JSON.stringify(ev.table.table)},` +
      `"txId":${jsonNumber(ev.txId)},"lsn":${lsn},"ts_ms":${jsonNumber(ev.commitTimeMs)},"snapshot":"${ev.snapshot ? 'true' : 'false'}",` +
      `"tidemark_seq":${jsonNumber(ev.position.seq)},"tidemark_schema_version":${jsonNumber(ev.schemaVersion)}${unchanged}},` +
      `"op":${JSON.stringify(ev.op)},"ts_ms":${jsonNumber(nowMs)}}`,
  );
}

/** As JSON.stringify writes a number (null when not finite). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** `"name":` of each column of a schema version, escaped once. */
const quotedNames = new WeakMap<TableSchema, string[]>();

/** The row's columns in schema order, as an `after`/`before` object: absent columns stay absent. */
function rowJson(schema: TableSchema, row: Row): string {
  let names = quotedNames.get(schema);
  if (!names) quotedNames.set(schema, (names = schema.columns.map((c) => `${JSON.stringify(c.name)}:`)));
  let out = '{';
  const cols = schema.columns;
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    const v = row[c.name];
    if (v === undefined) continue;
    const j = encodeValue(c.type, v);
    out += `${out.length > 1 ? ',' : ''}${names[i]}${typeof j === 'number' ? jsonNumber(j) : JSON.stringify(j)}`;
  }
  return `${out}}`;
}

/** Finds the schema a change was decoded with; undefined when unknown (the event is then dead-lettered). */
export type SchemaLookup = (schema: string, table: string, version: number) => TableSchema | undefined;

/**
 * `newKey`: the message's NEW_KEY_HEADER, when it has one (the `d` of a key change: the sinks keep
 * it with its `c` when they write a transaction in parts).
 */
export function decodeEnvelope(value: Buffer, lookup: SchemaLookup, newKey?: Buffer | string): ChangeEvent {
  let env: EnvelopeJson;
  try {
    env = JSON.parse(value.toString('utf8')) as EnvelopeJson;
  } catch (e) {
    throw new TidemarkError('malformed_event', `change envelope is not JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const s = env?.source;
  if (
    !s ||
    typeof s.schema !== 'string' ||
    typeof s.table !== 'string' ||
    !['c', 'u', 'd', 'r', 't'].includes(env.op)
  ) {
    throw new TidemarkError('malformed_event', 'change envelope lacks source.schema/table or a valid op');
  }
  const where = `${s.schema}.${s.table}`;
  if (!Number.isInteger(s.tidemark_seq) || !Number.isInteger(s.tidemark_schema_version)) {
    throw new TidemarkError(
      'malformed_event',
      `${where}: envelope lacks tidemark_seq/tidemark_schema_version`,
    );
  }
  const schema = lookup(s.schema, s.table, s.tidemark_schema_version);
  if (!schema) {
    throw new TidemarkError(
      'malformed_event',
      `${where}: unknown schema version ${s.tidemark_schema_version}`,
    );
  }
  let lsn: bigint;
  try {
    lsn = typeof s.lsn === 'number' ? BigInt(s.lsn) : parseLsn(String(s.lsn));
  } catch (e) {
    throw new TidemarkError('malformed_event', `${where}: bad source.lsn ${String(s.lsn)}`, { cause: e });
  }
  return {
    op: env.op,
    table: { schema: s.schema, table: s.table },
    position: { lsn, seq: s.tidemark_seq },
    txId: s.txId,
    commitTimeMs: s.ts_ms,
    schemaVersion: s.tidemark_schema_version,
    before: env.before ? decodeRow(schema, env.before, where) : null,
    after: env.after ? decodeRow(schema, env.after, where) : null,
    unchanged: s.tidemark_unchanged ?? [],
    snapshot: s.snapshot === 'true',
    ...(env.op === 'd' && newKey !== undefined ? { newKey: decodeNewKey(schema, newKey, where) } : {}),
  };
}

function decodeNewKey(schema: TableSchema, header: Buffer | string, where: string): Row {
  let json: unknown;
  try {
    json = JSON.parse(header.toString());
  } catch (e) {
    throw new TidemarkError('malformed_event', `${where}: header ${NEW_KEY_HEADER} is not JSON`, {
      cause: e,
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new TidemarkError('malformed_event', `${where}: header ${NEW_KEY_HEADER} is not a JSON object`);
  const row = decodeRow(schema, json as Record<string, JsonValue>, where);
  for (const k of schema.primaryKey)
    if (row[k] === undefined || row[k] === null)
      throw new TidemarkError(
        'malformed_event',
        `${where}: header ${NEW_KEY_HEADER} lacks key column "${k}"`,
      );
  return row;
}

function decodeRow(schema: TableSchema, json: Record<string, JsonValue>, where: string): Row {
  const row: Row = {};
  const byName = columnsByName(schema);
  for (const name in json) {
    const v = json[name]!;
    const c = byName.get(name);
    if (!c)
      throw new TidemarkError(
        'malformed_event',
        `${where}: column "${name}" is not in schema version ${schema.version}`,
      );
    row[name] = decodeValue(c.type, v, where, name);
  }
  return row;
}
