import type { ColumnType } from '../../core/column-type';

/**
 * Target types in a PostgreSQL warehouse: the source's own types, so nothing is converted.
 * Enums are stored as TEXT (their label): creating and evolving enum types in the warehouse
 * would couple it to the source's ALTER TYPE history, and the label is the whole value.
 * Lists become arrays of the element type (PostgreSQL arrays of any dimension).
 */
export function pgColumnType(t: ColumnType): string {
  switch (t.kind) {
    case 'bool':
      return 'BOOLEAN';
    case 'int16':
      return 'SMALLINT';
    case 'int32':
      return 'INTEGER';
    case 'int64':
      return 'BIGINT';
    case 'float32':
      return 'REAL';
    case 'float64':
      return 'DOUBLE PRECISION';
    case 'decimal':
      return `NUMERIC(${t.precision},${t.scale})`;
    case 'numeric':
      return 'NUMERIC';
    case 'text':
      return t.maxLength === undefined ? 'TEXT' : `${t.fixed ? 'CHAR' : 'VARCHAR'}(${t.maxLength})`;
    case 'bytes':
      return 'BYTEA';
    case 'uuid':
      return 'UUID';
    case 'json':
      return t.binary ? 'JSONB' : 'JSON';
    case 'date':
      return 'DATE';
    case 'time':
      return 'TIME';
    case 'timetz':
      return 'TIMETZ';
    case 'timestamp':
      return 'TIMESTAMP';
    case 'timestamptz':
      return 'TIMESTAMPTZ';
    case 'interval':
      return 'INTERVAL';
    case 'enum':
      return 'TEXT';
    case 'list': {
      let el: ColumnType = t.element;
      while (el.kind === 'list') el = el.element;
      return `${pgColumnType(el)}[]`;
    }
  }
}
