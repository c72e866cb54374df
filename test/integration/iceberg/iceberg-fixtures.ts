import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Row } from '../../../src/core/change-event';
import type { ColumnType, Value } from '../../../src/core/column-type';
import { encodeKey } from '../../../src/core/row-key';
import type { TableSchema } from '../../../src/core/table-schema';
import type { KeyedChange } from '../../../src/sink/collapse';

const run = promisify(execFile);
export const PYTHON = join(
  process.env.TIDEMARK_VENV ?? join(homedir(), '.cache', 'tidemark', 'venv'),
  'bin',
  'python',
);
const READER = join(__dirname, '..', '..', 'python', 'read_table.py');

/**
 * Reads a table with PyIceberg's SqlCatalog (the independent reader); rows in tagged JSON form.
 * `props`: more catalog properties, e.g. s3PyIcebergProps() for a table on S3.
 */
export async function readWithPyIceberg(
  catalogUri: string,
  ident: string,
  snapshotId?: number,
  rowFilter?: string,
  props: Readonly<Record<string, string>> = {},
): Promise<PyIcebergRead> {
  const args = [
    READER,
    catalogUri,
    'tidemark',
    ident,
    snapshotId === undefined ? '-' : String(snapshotId),
    ...(rowFilter ? [rowFilter] : []),
    ...Object.entries(props).map(([k, v]) => `--prop=${k}=${v}`),
  ];
  const { stdout } = await run(PYTHON, args, { maxBuffer: 1 << 28 });
  return JSON.parse(stdout) as PyIcebergRead;
}

/** What read_table.py prints: the table's rows at a snapshot, and its table properties. */
export interface PyIcebergRead {
  readonly snapshot: number | null;
  readonly rows: unknown[];
  readonly properties: Readonly<Record<string, string>>;
}

const col = (name: string, attnum: number, type: ColumnType, pgType: string, nullable = true) => ({
  name,
  attnum,
  type,
  pgType,
  nullable,
});

/** A table with a column of every ColumnType kind. */
export function allTypesSchema(table: string): TableSchema {
  return {
    schema: 'public',
    table,
    version: 1,
    primaryKey: ['id'],
    columns: [
      col('id', 1, { kind: 'int64' }, 'bigint', false),
      col('b', 2, { kind: 'bool' }, 'boolean'),
      col('i16', 3, { kind: 'int16' }, 'smallint'),
      col('i32', 4, { kind: 'int32' }, 'integer'),
      col('i64', 5, { kind: 'int64' }, 'bigint'),
      col('f32', 6, { kind: 'float32' }, 'real'),
      col('f64', 7, { kind: 'float64' }, 'double precision'),
      col('dec', 8, { kind: 'decimal', precision: 12, scale: 2 }, 'numeric(12,2)'),
      col('dec38', 9, { kind: 'decimal', precision: 38, scale: 10 }, 'numeric(38,10)'),
      col('decwide', 10, { kind: 'decimal', precision: 50, scale: 5 }, 'numeric(50,5)'),
      col('num', 11, { kind: 'numeric' }, 'numeric'),
      col('txt', 12, { kind: 'text' }, 'text'),
      col('vc', 13, { kind: 'text', maxLength: 10 }, 'varchar(10)'),
      col('bin', 14, { kind: 'bytes' }, 'bytea'),
      col('u', 15, { kind: 'uuid' }, 'uuid'),
      col('js', 16, { kind: 'json', binary: true }, 'jsonb'),
      col('d', 17, { kind: 'date' }, 'date'),
      col('t', 18, { kind: 'time' }, 'time'),
      col('ttz', 19, { kind: 'timetz' }, 'timetz'),
      col('ts', 20, { kind: 'timestamp' }, 'timestamp'),
      col('tstz', 21, { kind: 'timestamptz' }, 'timestamptz'),
      col('iv', 22, { kind: 'interval' }, 'interval'),
      col('mood', 23, { kind: 'enum', typeName: 'mood' }, 'mood'),
      col('ints', 24, { kind: 'list', element: { kind: 'int32' } }, 'integer[]'),
      col('tags', 25, { kind: 'list', element: { kind: 'text' } }, 'text[]'),
    ],
  };
}

/** A full row of every type; `n` varies every value. */
export function allTypesRow(n: number): Row {
  return {
    id: BigInt(n),
    b: n % 2 === 0,
    i16: -32768 + n,
    i32: 2147483647 - n,
    i64: 9007199254740993n * BigInt(n % 3 === 0 ? -1 : 1),
    f32: 1.5 * n,
    f64: n === 3 ? Number.POSITIVE_INFINITY : 0.1 * n,
    dec: `${n % 2 === 0 ? '-' : ''}${n}.0${n % 10}`,
    dec38: `1234567890123456789012345678.${String(n).padStart(10, '0')}`,
    decwide: `${'9'.repeat(44)}.0000${n % 10}`,
    num: n === 4 ? 'NaN' : `3.${'14159265358979323846'.repeat(3)}${n}`,
    txt: `héllo 🌊 ${n}`,
    vc: `v${n}`,
    bin: Uint8Array.of(0, 255, n & 255),
    u: `0000000${n % 10}-1111-4222-8333-444455556666`,
    js: `{"a": ${n}, "b": [1, 2]}`,
    d: 19000 + n - 40000 * (n % 2),
    t: 86399999999n - BigInt(n),
    ttz: `12:34:56.789+02`,
    ts: 1700000000000000n + BigInt(n),
    tstz: -1000000n * BigInt(n),
    iv: `P1Y2M${n}DT4H5M6.5S`,
    mood: n % 2 ? 'happy' : 'sad',
    ints: n % 4 === 0 ? null : [n, null, -n],
    tags: [`a${n}`, ''],
  };
}

/** A row with every nullable column null. */
export function nullRow(n: number, schema: TableSchema): Row {
  const r: Row = {};
  for (const c of schema.columns) r[c.name] = null;
  r.id = BigInt(n);
  return r;
}

/** Canonical values → the tagged form read_table.py prints, per the Iceberg mapping. */
export function toPlain(row: Row, schema: TableSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of schema.columns) out[c.name] = plainValue(c.type, row[c.name] ?? null);
  return out;
}

function plainValue(t: ColumnType, v: Value): unknown {
  if (v === null) return null;
  switch (t.kind) {
    case 'int64':
      return (v as bigint) > 2n ** 53n || (v as bigint) < -(2n ** 53n) ? String(v) : Number(v);
    case 'float32':
    case 'float64':
      return Number.isFinite(v) ? v : Number.isNaN(v) ? 'nan' : (v as number) > 0 ? 'inf' : '-inf';
    case 'decimal':
      return t.precision <= 38 ? { decimal: v } : v;
    case 'bytes':
      return { hex: Buffer.from(v as Uint8Array).toString('hex') };
    case 'uuid':
      return { uuid: v };
    case 'date':
      return { date: v };
    case 'time':
      return { time: String(v) };
    case 'timestamp':
      return { ts: String(v) };
    case 'timestamptz':
      return { tstz: String(v) };
    case 'list':
      return (v as Value[]).map((e) => plainValue(t.element, e));
    default:
      return v;
  }
}

export function upsert(schema: TableSchema, row: Row, seq: number, unchanged: string[] = []): KeyedChange {
  return {
    kind: 'upsert',
    key: encodeKey(row, schema.primaryKey),
    row,
    unchanged,
    position: { lsn: 100n + BigInt(seq), seq: 0 } as never,
    commitTimeMs: 0,
  };
}

export function del(schema: TableSchema, keyRow: Row, seq: number): KeyedChange {
  return {
    kind: 'delete',
    key: encodeKey(keyRow, schema.primaryKey),
    keyRow,
    position: { lsn: 100n + BigInt(seq), seq: 0 } as never,
    commitTimeMs: 0,
  };
}

/** Sorts tagged rows by id for comparison. */
export function byId(rows: unknown[]): unknown[] {
  return [...rows].sort((a, b) => Number((a as { id: number }).id) - Number((b as { id: number }).id));
}

const JAVA_DIR = join(__dirname, '..', '..', 'java');

/** Reads a table with Apache Iceberg's Java library (JdbcCatalog), the second independent reader. */
export async function readWithJava(
  jdbcUrl: string,
  user: string,
  password: string,
  ident: string,
  snapshotId?: number,
): Promise<{ snapshot: number | null; rows: unknown[] }> {
  const cp = `${join(JAVA_DIR, 'target', 'classes')}:${join(JAVA_DIR, 'target', 'lib', '*')}`;
  const args = [
    '-cp',
    cp,
    'dev.tidemark.icebergreader.ReadTable',
    jdbcUrl,
    user,
    password,
    'tidemark',
    ident,
    ...(snapshotId === undefined ? [] : [String(snapshotId)]),
  ];
  const { stdout } = await run('java', args, { maxBuffer: 1 << 28 });
  return JSON.parse(stdout) as PyIcebergRead;
}

/** What read_table.py prints: the table's rows at a snapshot, and its table properties. */
export interface PyIcebergRead {
  readonly snapshot: number | null;
  readonly rows: unknown[];
  readonly properties: Readonly<Record<string, string>>;
}
