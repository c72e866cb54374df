import type { ColumnType } from '../../core/column-type';
import { describeType, sameType } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { ColumnSchema, TableSchema } from '../../core/table-schema';
import type { EvolutionPolicy } from './warehouse';

export type SchemaAction =
  | { readonly kind: 'add'; readonly column: ColumnSchema }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string }
  | { readonly kind: 'widen'; readonly column: ColumnSchema }
  /** Cast to text (sink/text-casts.ts): the stored values of type `from` become their text. */
  | { readonly kind: 'cast'; readonly column: ColumnSchema; readonly from: ColumnType }
  | { readonly kind: 'drop'; readonly column: string }
  /** The source dropped it; the warehouse keeps it (nullable, NULL in new rows). */
  | { readonly kind: 'keep'; readonly column: string };

/**
 * The steps that turn a target table of schema `from` into one of schema `to`. Columns are
 * matched by attnum (stable across renames). Allowed type changes are widenings that keep
 * every stored value: int16→int32→int64, float32→float64, varchar(n)→varchar(m≥n)/text,
 * decimal(p,s)→decimal(q≥p… same scale or more integer digits)/numeric. Anything else, and any
 * change to the key, is TidemarkError('schema_incompatible') naming the table and column.
 */
export function diffSchemas(from: TableSchema, to: TableSchema, policy: EvolutionPolicy): SchemaAction[] {
  const name = `${to.schema}.${to.table}`;
  if (from.primaryKey.join(',') !== to.primaryKey.join(',')) {
    throw new TidemarkError(
      'schema_incompatible',
      `${name}: key changed from (${from.primaryKey.join(', ')}) to (${to.primaryKey.join(', ')})`,
      {
        fix: 'rebuild the warehouse table (drop it and re-snapshot)',
      },
    );
  }
  const actions: SchemaAction[] = [];
  const byAttnum = new Map(from.columns.map((c) => [c.attnum, c]));
  const seen = new Set<number>();
  for (const col of to.columns) {
    const old = byAttnum.get(col.attnum);
    if (!old) {
      actions.push({ kind: 'add', column: col });
      continue;
    }
    seen.add(col.attnum);
    if (old.name !== col.name) actions.push({ kind: 'rename', from: old.name, to: col.name });
    if (!sameType(old.type, col.type)) {
      if (col.castToText && col.type.kind === 'text' && !isWidening(old.type, col.type)) {
        actions.push({ kind: 'cast', column: col, from: old.type });
        continue;
      }
      if (!isWidening(old.type, col.type)) {
        throw new TidemarkError(
          'schema_incompatible',
          `${name}: column "${col.name}" changed type from ${describeType(old.type)} to ${describeType(col.type)}, which the warehouse cannot follow without loss`,
          {
            fix: 'rebuild the warehouse table, or revert the type change',
          },
        );
      }
      actions.push({ kind: 'widen', column: col });
    }
  }
  for (const old of from.columns) {
    if (seen.has(old.attnum)) continue;
    actions.push(
      policy.droppedColumns === 'drop'
        ? { kind: 'drop', column: old.name }
        : { kind: 'keep', column: old.name },
    );
  }
  return actions;
}

export function isWidening(a: ColumnType, b: ColumnType): boolean {
  const ints = ['int16', 'int32', 'int64'];
  if (ints.includes(a.kind) && ints.includes(b.kind)) return ints.indexOf(a.kind) <= ints.indexOf(b.kind);
  if (a.kind === 'float32' && b.kind === 'float64') return true;
  if (a.kind === 'text' && b.kind === 'text') {
    if (b.maxLength === undefined) return true;
    return a.maxLength !== undefined && b.maxLength >= a.maxLength && !!a.fixed === !!b.fixed;
  }
  if (a.kind === 'decimal' && b.kind === 'numeric') return true;
  if (a.kind === 'decimal' && b.kind === 'decimal')
    return b.scale >= a.scale && b.precision - b.scale >= a.precision - a.scale;
  if (a.kind === 'json' && b.kind === 'json') return true;
  if (a.kind === 'list' && b.kind === 'list')
    return sameType(a.element, b.element) || isWidening(a.element, b.element);
  return false;
}
