import {
  BIGINT,
  BLOB,
  BOOLEAN,
  blobValue,
  DATE,
  DOUBLE,
  type DuckDBAppender,
  type DuckDBType,
  type DuckDBValue,
  dateValue,
  FLOAT,
  INTEGER,
  INTERVAL,
  intervalValue,
  LIST,
  listValue,
  SMALLINT,
  TIME,
  TIMESTAMP,
  TIMESTAMPTZ,
  timestampTZValue,
  timestampValue,
  timeValue,
  VARCHAR,
} from '@duckdb/node-api';
import type { ColumnType, Value } from '../../core/column-type';
import { parseIsoInterval } from './datetime-text';

/** DuckDB's widest DECIMAL: wider decimals are stored as their exact text (VARCHAR). */
export const DUCKDB_MAX_DECIMAL_PRECISION = 38;

/**
 * Target types in a DuckDB warehouse (docs/TYPES-warehouse.md). Lossless by construction:
 * unbounded numeric and decimal(p>38) become VARCHAR holding the exact Postgres text (DOUBLE
 * would round); enums are VARCHAR labels; DuckDB's INTERVAL has Postgres' three fields
 * (months, days, micros), and TIMETZ its micros + offset.
 */
export function duckColumnType(t: ColumnType): string {
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
      return 'FLOAT';
    case 'float64':
      return 'DOUBLE';
    case 'decimal':
      return t.precision <= DUCKDB_MAX_DECIMAL_PRECISION ? `DECIMAL(${t.precision},${t.scale})` : 'VARCHAR';
    case 'numeric':
      return 'VARCHAR';
    case 'text':
      return 'VARCHAR';
    case 'bytes':
      return 'BLOB';
    case 'uuid':
      return 'UUID';
    case 'json':
      return 'JSON';
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
      return 'VARCHAR';
    case 'list':
      return `${duckColumnType(t.element)}[]`;
  }
}

/** Kinds staged as text and cast by the merge (DuckDB parses their Postgres text exactly). */
function stagedAsText(t: ColumnType): boolean {
  return (
    t.kind === 'decimal' ||
    t.kind === 'numeric' ||
    t.kind === 'uuid' ||
    t.kind === 'json' ||
    t.kind === 'timetz' ||
    t.kind === 'text' ||
    t.kind === 'enum'
  );
}

/** The staging column's DuckDB type (appender-friendly). */
export function duckStagingType(t: ColumnType): DuckDBType {
  switch (t.kind) {
    case 'bool':
      return BOOLEAN;
    case 'int16':
      return SMALLINT;
    case 'int32':
      return INTEGER;
    case 'int64':
      return BIGINT;
    case 'float32':
      return FLOAT;
    case 'float64':
      return DOUBLE;
    case 'bytes':
      return BLOB;
    case 'date':
      return DATE;
    case 'time':
      return TIME;
    case 'timestamp':
      return TIMESTAMP;
    case 'timestamptz':
      return TIMESTAMPTZ;
    case 'interval':
      return INTERVAL;
    case 'list':
      return LIST(duckStagingType(t.element));
    default:
      return VARCHAR;
  }
}

/** The staging value as it reads in the target type. */
export function duckValueExpr(column: string, t: ColumnType): string {
  const target = duckColumnType(t);
  const staged = duckStagingType(t).toString();
  if (target === staged || (stagedAsText(t) && target === 'VARCHAR')) return column;
  return `CAST(${column} AS ${target})`;
}

export function toDuckValue(v: Value, t: ColumnType): DuckDBValue {
  if (v === null) return null;
  switch (t.kind) {
    case 'int64':
      return BigInt(v as bigint);
    case 'bytes':
      return blobValue(v as Uint8Array);
    case 'date':
      return dateValue(v as number);
    case 'time':
      return timeValue(BigInt(v as bigint));
    case 'timestamp':
      return timestampValue(BigInt(v as bigint));
    case 'timestamptz':
      return timestampTZValue(BigInt(v as bigint));
    case 'interval': {
      const i = parseIsoInterval(v as string);
      return intervalValue(i.months, i.days, i.micros);
    }
    case 'list':
      return listValue((v as Value[]).map((e) => toDuckValue(e, t.element)));
    default:
      return v as DuckDBValue;
  }
}

/** Appends one staged value with the appender call of its staging type. */
export function appendDuck(a: DuckDBAppender, v: Value, t: ColumnType, staging: DuckDBType): void {
  if (v === null) {
    a.appendNull();
    return;
  }
  switch (t.kind) {
    case 'bool':
      a.appendBoolean(v as boolean);
      break;
    case 'int16':
      a.appendSmallInt(v as number);
      break;
    case 'int32':
      a.appendInteger(v as number);
      break;
    case 'int64':
      a.appendBigInt(BigInt(v as bigint));
      break;
    case 'float32':
      a.appendFloat(v as number);
      break;
    case 'float64':
      a.appendDouble(v as number);
      break;
    case 'bytes':
      a.appendBlob(v as Uint8Array);
      break;
    case 'list':
      a.appendList(toDuckValue(v, t) as never, staging as never);
      break;
    case 'date':
      a.appendDate(dateValue(v as number));
      break;
    case 'time':
      a.appendTime(timeValue(BigInt(v as bigint)));
      break;
    case 'timestamp':
      a.appendTimestamp(timestampValue(BigInt(v as bigint)));
      break;
    case 'timestamptz':
      // The same instant as appendTimestampTZ, whatever the session's TimeZone (the two share
      // their microseconds), through the appender's direct call rather than a DuckDB value per
      // row: about 3.7x faster.
      a.appendTimestamp(timestampValue(BigInt(v as bigint)));
      break;
    case 'interval':
      a.appendInterval(toDuckValue(v, t) as never);
      break;
    default:
      a.appendVarchar(String(v));
      break;
  }
}
