/**
 * tidemark's logical column types: the one vocabulary between the source (Postgres types),
 * the log (envelope codec) and the sinks (Iceberg, warehouse). Every Postgres type the source
 * decodes maps to exactly one of these, without loss; see docs/TYPES.md for the table.
 *
 * Canonical in-memory values (what a `Row` holds for each kind). They are chosen so that no
 * value is rounded or reinterpreted on the way from Postgres to a sink:
 *
 * | kind          | JS value                                                       |
 * |---------------|----------------------------------------------------------------|
 * | bool          | boolean                                                        |
 * | int16, int32  | number (integer)                                               |
 * | int64         | bigint                                                         |
 * | float32/64    | number (NaN and ±Infinity allowed)                             |
 * | decimal       | string, plain decimal text with exactly `scale` fraction digits ("-12.50") |
 * | numeric       | string, Postgres text ("123.456", "NaN", "Infinity", "-Infinity") |
 * | text          | string                                                         |
 * | bytes         | Uint8Array                                                     |
 * | uuid          | string, lowercase canonical 8-4-4-4-12                         |
 * | json          | string, Postgres text (jsonb: its normalised text)             |
 * | date          | number, days since 1970-01-01 (proleptic Gregorian)            |
 * | time          | bigint, microseconds since midnight                            |
 * | timetz        | string, Postgres text "HH:MM:SS[.ffffff]+TZ"                   |
 * | timestamp     | bigint, microseconds since 1970-01-01T00:00:00 (no zone)       |
 * | timestamptz   | bigint, microseconds since 1970-01-01T00:00:00Z (UTC)          |
 * | interval      | string, ISO 8601 duration as Postgres prints it with intervalstyle iso_8601 ("P1Y2M3DT4H5M6.5S") |
 * | enum          | string, the label                                              |
 * | list          | Array of element values (elements may be null)                 |
 *
 * Postgres' ±infinity for date/timestamp has no representation in Iceberg or most
 * warehouses; the source rejects such values with a clear error instead of inventing one
 * (see core/errors `unsupported_value`).
 */
export type ColumnType =
  | { readonly kind: 'bool' }
  | { readonly kind: 'int16' }
  | { readonly kind: 'int32' }
  | { readonly kind: 'int64' }
  | { readonly kind: 'float32' }
  | { readonly kind: 'float64' }
  | { readonly kind: 'decimal'; readonly precision: number; readonly scale: number }
  | { readonly kind: 'numeric' }
  | { readonly kind: 'text'; readonly maxLength?: number; readonly fixed?: boolean }
  | { readonly kind: 'bytes' }
  | { readonly kind: 'uuid' }
  | { readonly kind: 'json'; readonly binary?: boolean }
  | { readonly kind: 'date' }
  | { readonly kind: 'time' }
  | { readonly kind: 'timetz' }
  | { readonly kind: 'timestamp' }
  | { readonly kind: 'timestamptz' }
  | { readonly kind: 'interval' }
  | { readonly kind: 'enum'; readonly typeName: string }
  | { readonly kind: 'list'; readonly element: ColumnType };

export type ColumnKind = ColumnType['kind'];

/** A row value as described above; null is SQL NULL. */
export type Value = null | boolean | number | bigint | string | Uint8Array | Value[];

export function describeType(t: ColumnType): string {
  switch (t.kind) {
    case 'decimal':
      return `decimal(${t.precision},${t.scale})`;
    case 'text':
      return t.maxLength === undefined ? 'text' : `${t.fixed ? 'char' : 'varchar'}(${t.maxLength})`;
    case 'enum':
      return `enum ${t.typeName}`;
    case 'list':
      return `list<${describeType(t.element)}>`;
    default:
      return t.kind;
  }
}

export function sameType(a: ColumnType, b: ColumnType): boolean {
  return (
    describeType(a) === describeType(b) &&
    (a.kind !== 'json' || b.kind !== 'json' || !!a.binary === !!b.binary)
  );
}
