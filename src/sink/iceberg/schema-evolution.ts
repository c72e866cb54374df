import { TidemarkError } from '../../core/errors';
import type { TableSchema } from '../../core/table-schema';
import type { IcebergField, IcebergSchema, IcebergType } from './iceberg-types';
import { decimalOf, icebergTypeOf, idAllocator } from './iceberg-types';
import { isMetaColumnName, type TableMode } from './table-mode';

/** Table property mapping Postgres attnums to Iceberg field ids: tells a rename from a drop plus an add. */
export const ATTNUMS_PROPERTY = 'tidemark.field-attnums';

export function attnumProperty(source: TableSchema, ice: IcebergSchema): string {
  const map: Record<string, number> = {};
  for (const c of source.columns) map[String(c.attnum)] = ice.fields.find((f) => f.name === c.name)!.id;
  return JSON.stringify(map);
}

/**
 * The next Iceberg schema for a changed source schema, by field id (spec, "Schema Evolution"):
 * a new column gets a new id and is optional; a dropped column leaves the schema (old files
 * keep it, readers ignore it); a renamed column (same attnum) keeps its id; allowed type
 * promotions are int→long, float→double and decimal precision widening at the same scale.
 * Anything else (another type change, a key change) is a `schema_incompatible` error.
 * The mode's metadata fields (table-mode.ts: fields no source attnum maps to) stay, after the
 * source fields, with their ids; a new source column's id comes after every id used so far
 * (`lastColumnId` counts the metadata fields), so ids never collide. An append table keeps no
 * identifier fields, so a key change is no error there. A column the source cast to text
 * (ColumnSchema.castToText) whose field is not a string gets a new string field in its place;
 * the caller rewrites the live rows into it (`casts`). Returns null when nothing changed.
 */
export function evolveSchema(
  source: TableSchema,
  current: IcebergSchema,
  attnums: Record<string, number>,
  lastColumnId: number,
  table: string,
  mode: TableMode = 'mirror',
): {
  schema: IcebergSchema;
  lastColumnId: number;
  attnums: Record<string, number>;
  /** Columns cast to text (ColumnSchema.castToText): each a new string field replacing its old one. */
  casts: { from: IcebergField; to: IcebergField }[];
} | null {
  const sourceIds = new Set(Object.values(attnums));
  const metaFields = current.fields.filter((f) => isMetaColumnName(f.name) && !sourceIds.has(f.id));
  const ids = idAllocator(lastColumnId);
  const nextAttnums: Record<string, number> = {};
  const fields: IcebergField[] = [];
  const casts: { from: IcebergField; to: IcebergField }[] = [];
  for (const c of source.columns) {
    const where = `table ${table} column "${c.name}" (${c.pgType})`;
    const id = attnums[String(c.attnum)];
    const old = id === undefined ? undefined : current.fields.find((f) => f.id === id);
    if (!old) {
      const f: IcebergField = {
        id: ids.next(),
        name: c.name,
        required: false,
        type: icebergTypeOf(c.type, ids.next, where),
      };
      fields.push(f);
      nextAttnums[String(c.attnum)] = f.id;
      continue;
    }
    const wanted = icebergTypeOf(c.type, () => 0, where);
    if (c.castToText && wanted === 'string' && !promotes(old.type, wanted)) {
      // No promotion reaches string: the text column is a new field (old files keep the old one).
      const f: IcebergField = { id: ids.next(), name: c.name, required: false, type: 'string' };
      fields.push(f);
      casts.push({ from: old, to: f });
      nextAttnums[String(c.attnum)] = f.id;
      continue;
    }
    fields.push({ ...old, name: c.name, type: promote(old.type, wanted, where) });
    nextAttnums[String(c.attnum)] = old.id;
  }
  const oldKeys = (current['identifier-field-ids'] ?? []).map(
    (id) => current.fields.find((f) => f.id === id)?.name,
  );
  const newKeys = source.primaryKey.map((k) => fields.find((f) => f.name === k)?.id);
  const keyIds = current['identifier-field-ids'] ?? [];
  if (mode !== 'append' && (newKeys.length !== keyIds.length || newKeys.some((id, i) => id !== keyIds[i]))) {
    throw new TidemarkError(
      'schema_incompatible',
      `table ${table}: the key changed from (${oldKeys.join(', ')}) to (${source.primaryKey.join(', ')}); an Iceberg table keeps its identifier fields`,
      {
        fix: 'recreate the table (drop it from the catalog) and snapshot it again',
      },
    );
  }
  const next: IcebergSchema = {
    type: 'struct',
    'schema-id': current['schema-id'] + 1,
    'identifier-field-ids': keyIds,
    fields: [...fields, ...metaFields],
  };
  if (JSON.stringify(next.fields) === JSON.stringify(current.fields)) return null;
  return { schema: next, lastColumnId: ids.last(), attnums: nextAttnums, casts };
}

/** True when a field of type `from` can hold `to` in place: the same type or a spec promotion. */
export function promotes(from: IcebergType, to: IcebergType): boolean {
  const strip = (t: IcebergType) => JSON.stringify(t, (k, v) => (k === 'element-id' ? undefined : v));
  if (strip(from) === strip(to)) return true;
  if (from === 'int' && to === 'long') return true;
  if (from === 'float' && to === 'double') return true;
  const a = decimalOf(from);
  const b = decimalOf(to);
  return !!a && !!b && a.scale === b.scale && b.precision >= a.precision;
}

function promote(from: IcebergType, to: IcebergType, where: string): IcebergType {
  const strip = (t: IcebergType) => JSON.stringify(t, (k, v) => (k === 'element-id' ? undefined : v));
  if (strip(from) === strip(to)) return from;
  if (promotes(from, to)) return to;
  throw new TidemarkError(
    'schema_incompatible',
    `${where}: Iceberg cannot change type ${JSON.stringify(from)} to ${JSON.stringify(to)}`,
    {
      fix: 'allowed promotions are int→long, float→double and decimal precision widening; otherwise add a new column',
    },
  );
}
