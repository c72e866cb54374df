import type { ColumnType } from '../../core/column-type';
import { describeType } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { TableSchema } from '../../core/table-schema';

/**
 * Iceberg types as they appear in table metadata JSON (spec: "Schemas and Data Types",
 * appendix C "JSON serialization"). Primitive types are strings; lists are objects.
 */
export type IcebergPrimitive =
  | 'boolean'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'string'
  | 'binary'
  | 'uuid'
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | `decimal(${number}, ${number})`;

export interface IcebergList {
  readonly type: 'list';
  readonly 'element-id': number;
  readonly element: IcebergType;
  readonly 'element-required': boolean;
}

export type IcebergType = IcebergPrimitive | IcebergList;

export interface IcebergField {
  readonly id: number;
  readonly name: string;
  readonly required: boolean;
  readonly type: IcebergType;
  readonly doc?: string;
}

export interface IcebergSchema {
  readonly type: 'struct';
  readonly 'schema-id': number;
  readonly 'identifier-field-ids'?: readonly number[];
  readonly fields: readonly IcebergField[];
}

/** Iceberg's decimal limit: precision 38 (spec, "Primitive Types"). */
export const MAX_DECIMAL_PRECISION = 38;

/**
 * ColumnType → Iceberg type, without loss (docs/TYPES.md, Iceberg column). Kinds Iceberg has
 * no type for are stored as their canonical text: unbounded numeric (and numeric with
 * precision > 38) keep every digit and NaN/±Infinity; interval is its ISO 8601 text; timetz
 * keeps its offset; json is its text; enums are their label. int16 widens to int.
 * `nextId` hands out field ids for list elements.
 */
export function icebergTypeOf(t: ColumnType, nextId: () => number, where: string): IcebergType {
  switch (t.kind) {
    case 'bool':
      return 'boolean';
    case 'int16':
    case 'int32':
      return 'int';
    case 'int64':
      return 'long';
    case 'float32':
      return 'float';
    case 'float64':
      return 'double';
    case 'decimal':
      if (
        !Number.isInteger(t.precision) ||
        !Number.isInteger(t.scale) ||
        t.scale < 0 ||
        t.scale > t.precision
      ) {
        throw new TidemarkError('unsupported_type', `${where}: ${describeType(t)} is not a valid decimal`);
      }
      return t.precision <= MAX_DECIMAL_PRECISION ? `decimal(${t.precision}, ${t.scale})` : 'string';
    case 'numeric':
    case 'text':
    case 'json':
    case 'timetz':
    case 'interval':
    case 'enum':
      return 'string';
    case 'bytes':
      return 'binary';
    case 'uuid':
      return 'uuid';
    case 'date':
      return 'date';
    case 'time':
      return 'time';
    case 'timestamp':
      return 'timestamp';
    case 'timestamptz':
      return 'timestamptz';
    case 'list': {
      const id = nextId();
      return {
        type: 'list',
        'element-id': id,
        element: icebergTypeOf(t.element, nextId, `${where}[]`),
        'element-required': false,
      };
    }
    default:
      throw new TidemarkError(
        'unsupported_type',
        `${where}: type ${(t as { kind: string }).kind} has no Iceberg mapping`,
        {
          fix: 'map the column to text in the source config, or exclude it',
        },
      );
  }
}

/** The parsed precision/scale of an Iceberg decimal type, or null for another type. */
export function decimalOf(t: IcebergType): { precision: number; scale: number } | null {
  if (typeof t !== 'string') return null;
  const m = /^decimal\((\d+),\s*(\d+)\)$/.exec(t);
  return m ? { precision: Number(m[1]), scale: Number(m[2]) } : null;
}

/** Allocates field ids after `lastColumnId`; returns the function and a getter of the last id. */
export function idAllocator(lastColumnId: number): { next: () => number; last: () => number } {
  let last = lastColumnId;
  return { next: () => ++last, last: () => last };
}

/**
 * A fresh Iceberg schema for a source table: top-level fields get ids after+1..after+n in column
 * order, list elements the ids after them. Key columns become `identifier-field-ids` (required).
 * `after` is 0 for a new table, its last column id for a table rebuilt afresh (ids never reused).
 */
export function initialSchema(
  table: TableSchema,
  after = 0,
): { schema: IcebergSchema; lastColumnId: number } {
  const where = `${table.schema}.${table.table}`;
  const ids = idAllocator(after + table.columns.length);
  const fields: IcebergField[] = table.columns.map((c, i) => ({
    id: after + i + 1,
    name: c.name,
    // Only key columns are required: a later DROP NOT NULL must never make old files unreadable.
    required: table.primaryKey.includes(c.name),
    type: icebergTypeOf(c.type, ids.next, `table ${where} column "${c.name}" (${c.pgType})`),
  }));
  const identifier = table.primaryKey.map((k) => {
    const f = fields.find((x) => x.name === k);
    if (!f)
      throw new TidemarkError('schema_incompatible', `table ${where}: key column "${k}" is not a column`);
    if (typeof f.type !== 'string')
      throw new TidemarkError(
        'unsupported_type',
        `table ${where}: key column "${k}" is a list; Iceberg identifier fields must be primitive`,
      );
    return f.id;
  });
  return {
    schema: { type: 'struct', 'schema-id': 0, 'identifier-field-ids': identifier, fields },
    lastColumnId: ids.last(),
  };
}

/**
 * The tidemark type whose canonical values a field of Iceberg type `t` reads back as (the
 * inverse of icebergTypeOf where one exists; string covers every kind stored as text).
 */
export function columnTypeOfIceberg(t: IcebergType): ColumnType {
  if (typeof t !== 'string') return { kind: 'list', element: columnTypeOfIceberg(t.element) };
  const d = decimalOf(t);
  if (d) return { kind: 'decimal', precision: d.precision, scale: d.scale };
  const kinds: Record<string, ColumnType> = {
    boolean: { kind: 'bool' },
    int: { kind: 'int32' },
    long: { kind: 'int64' },
    float: { kind: 'float32' },
    double: { kind: 'float64' },
    binary: { kind: 'bytes' },
    uuid: { kind: 'uuid' },
    date: { kind: 'date' },
    time: { kind: 'time' },
    timestamp: { kind: 'timestamp' },
    timestamptz: { kind: 'timestamptz' },
  };
  return kinds[t] ?? { kind: 'text' };
}
