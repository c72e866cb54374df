import type { TableOptions } from '../../config/schema';
import { TidemarkError } from '../../core/errors';
import type { TableSchema } from '../../core/table-schema';
import { META } from '../meta-columns';
import type { IcebergField, IcebergSchema } from './iceberg-types';
import { idAllocator } from './iceberg-types';
import type { TableMetadata } from './table-metadata';

/**
 * How an Iceberg table follows its source table (`tables.<t>.mode`, as in the warehouse):
 * - mirror: the table equals the source (upserts as position delete + new row, deletes).
 * - soft-delete: like mirror, but a delete (or truncate) keeps the row and sets
 *   `_tidemark_deleted_at` to the delete's commit time; a later insert of the key clears it.
 * - append: the change history ("bronze"): every change is a new row with `_tidemark_op`,
 *   `_tidemark_lsn`, `_tidemark_seq` and `_tidemark_commit_time`, never deleted or updated; the
 *   writer keeps no key index for it, and it has no identifier fields (a key appears many times).
 */
export type TableMode = TableOptions['mode'];

/** Table property recording the mode a table was created in (absent: a mirror, from before modes). */
export const MODE_PROPERTY = 'tidemark.mode';

const MODES: readonly TableMode[] = ['mirror', 'append', 'soft-delete'];

export function tableModeOf(m: TableMetadata): TableMode {
  const v = m.properties[MODE_PROPERTY];
  if (v === undefined) return 'mirror';
  if (!(MODES as readonly string[]).includes(v))
    throw new TidemarkError(
      'corrupt_state',
      `table ${m.location}: property ${MODE_PROPERTY} is "${v}", not one of ${MODES.join(', ')}`,
    );
  return v as TableMode;
}

/** An existing table keeps the mode it was built in (as a warehouse table does). */
export function checkBuiltMode(m: TableMetadata, mode: TableMode, table: string): void {
  const built = tableModeOf(m);
  if (built !== mode)
    throw new TidemarkError(
      'schema_incompatible',
      `iceberg: table ${table} was built in ${built} mode, now configured as ${mode}`,
      { fix: 'rebuild the Iceberg table (drop it from the catalog and re-snapshot) or restore the mode' },
    );
}

/** Names of the metadata columns a table of `mode` holds after its source columns. */
export function metaColumnNames(mode: TableMode): string[] {
  if (mode === 'append') return [META.op, META.lsn, META.seq, META.commitTime, META.unchanged];
  if (mode === 'soft-delete') return [META.deletedAt];
  return [];
}

const ALL_META_NAMES: ReadonlySet<string> = new Set([
  ...metaColumnNames('append'),
  ...metaColumnNames('soft-delete'),
]);

export function isMetaColumnName(name: string): boolean {
  return ALL_META_NAMES.has(name);
}

/**
 * Whether a source table can be held in `mode`: mirror and soft-delete need a key (as in the
 * warehouse; append does not), and no source column may take a metadata column's name.
 */
export function checkModeColumns(source: TableSchema, mode: TableMode, table: string): void {
  if (mode !== 'append' && source.primaryKey.length === 0)
    throw new TidemarkError('source_setup', `iceberg: table ${table} has no key; ${mode} mode needs one`, {
      fix: 'give the table a primary key, configure source.keys for it, or set its mode to "append"',
    });
  const taken = new Set(metaColumnNames(mode));
  const clash = source.columns.find((c) => taken.has(c.name));
  if (clash)
    throw new TidemarkError(
      'schema_incompatible',
      `table ${table}: source column "${clash.name}" has the name of a ${mode} metadata column`,
      { fix: 'rename the source column, or mirror the table in another mode' },
    );
}

/**
 * The metadata fields of `mode`, with ids from `nextId` (after every source column's id, so a
 * source column added later gets a new id after them too: ids never collide). Types:
 * op string, lsn long (LSNs stay below 2^63), seq long (a snapshot row's seq is
 * attempt · 2^40 + n, past an int; the warehouse's is a BIGINT too), commit time timestamptz,
 * unchanged list<string>, deleted_at timestamptz. The append ones are always set (required) except
 * `_tidemark_unchanged`; `_tidemark_deleted_at` is null while the row is live.
 */
export function metaFields(mode: TableMode, nextId: () => number): IcebergField[] {
  if (mode === 'soft-delete')
    return [{ id: nextId(), name: META.deletedAt, required: false, type: 'timestamptz' }];
  if (mode !== 'append') return [];
  const fields: IcebergField[] = [
    { id: nextId(), name: META.op, required: true, type: 'string' },
    { id: nextId(), name: META.lsn, required: true, type: 'long' },
    { id: nextId(), name: META.seq, required: true, type: 'long' },
    { id: nextId(), name: META.commitTime, required: true, type: 'timestamptz' },
  ];
  const listId = nextId();
  fields.push({
    id: listId,
    name: META.unchanged,
    required: false,
    type: { type: 'list', 'element-id': nextId(), element: 'string', 'element-required': false },
  });
  return fields;
}

/**
 * A new table's schema for `mode`: the source schema (initialSchema) followed by the mode's
 * metadata fields. An append table's source fields are all optional and it has no identifier
 * fields: a delete row holds only the key, a truncate row no source value, and a key repeats.
 */
export function withModeFields(
  initial: { schema: IcebergSchema; lastColumnId: number },
  mode: TableMode,
): { schema: IcebergSchema; lastColumnId: number } {
  if (mode === 'mirror') return initial;
  const ids = idAllocator(initial.lastColumnId);
  const source =
    mode === 'append' ? initial.schema.fields.map((f) => ({ ...f, required: false })) : initial.schema.fields;
  const schema: IcebergSchema = {
    ...initial.schema,
    'identifier-field-ids': mode === 'append' ? [] : initial.schema['identifier-field-ids'],
    fields: [...source, ...metaFields(mode, ids.next)],
  };
  return { schema, lastColumnId: ids.last() };
}
