import {
  type DuckDBBlobValue,
  type DuckDBConnection,
  type DuckDBDateValue,
  DuckDBInstance,
  type DuckDBIntervalValue,
  type DuckDBListValue,
  type DuckDBTimeTZValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import { Client } from 'pg';
import type { Row } from '../core/change-event';
import type { ColumnType, Value } from '../core/column-type';
import { TidemarkError } from '../core/errors';
import { type Lsn, parseLsn } from '../core/lsn';
import type { TableSchema } from '../core/table-schema';
import { ident, literal, META, qualified } from '../sink/warehouse/sql-names';
import type { TableMode, WarehouseConfig } from '../sink/warehouse/warehouse';
import { sourceClientConfig } from '../source/pg-connection';
import { intervalFields, timetzFields } from './canonical-text';
import { pgRows } from './pg-rows';

export interface SideRows {
  readonly rows: () => AsyncIterable<readonly Row[]>;
  /** Why some of the table could not be read as the source has it (a missing column, …). */
  readonly notes: readonly string[];
}

/**
 * The warehouse inside one read transaction: the cut recorded in `_tidemark_cut` and every
 * table as that same commit left them (a commit moves both at once), however long verify reads.
 */
export interface WarehouseAtCut {
  readonly cut: Lsn | null;
  table(schema: TableSchema, mode: TableMode): Promise<SideRows>;
  close(): Promise<void>;
}

const META_SCHEMA = { duckdb: 'main', postgres: 'public' } as const;

function metaSchemaOf(cfg: WarehouseConfig): string {
  return cfg.kind === 'postgres' ? (cfg.schema ?? META_SCHEMA.postgres) : META_SCHEMA.duckdb;
}

const CUT_SQL = (schema: string) => `SELECT cut_lsn FROM ${ident(schema)}._tidemark_cut WHERE id = 1`;

export async function openWarehouseAtCut(cfg: WarehouseConfig): Promise<WarehouseAtCut> {
  return cfg.kind === 'postgres' ? PgAtCut.open(cfg.url, metaSchemaOf(cfg)) : DuckAtCut.open(cfg.path);
}

/** Rows of a table the warehouse holds as a mirror: soft-deleted rows are not there any more. */
function liveFilter(mode: TableMode): string {
  return mode === 'soft-delete' ? ` WHERE ${ident(META.deletedAt)} IS NULL` : '';
}

function unreadable(mode: TableMode): SideRows | null {
  if (mode !== 'append') return null;
  return {
    rows: async function* () {},
    notes: ['mode append: the warehouse holds the change history, not the rows; not compared'],
  };
}

/** What is compared, and the source columns the warehouse table lacks. */
function columnNotes(schema: TableSchema, present: ReadonlySet<string>, mode: TableMode): string[] {
  return [
    ...(mode === 'soft-delete'
      ? [`mode soft-delete: the rows whose ${META.deletedAt} is null are compared; soft-deleted rows are not`]
      : []),
    ...schema.columns
      .filter((c) => !present.has(c.name))
      .map((c) => `column ${c.name} is missing in the warehouse table (read as NULL)`),
  ];
}

class PgAtCut implements WarehouseAtCut {
  private constructor(
    private readonly c: Client,
    readonly cut: Lsn | null,
  ) {}

  static async open(url: string, metaSchema: string): Promise<PgAtCut> {
    const c = new Client(sourceClientConfig(url, 'tidemark-verify'));
    c.on('error', () => {});
    try {
      await c.connect();
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const r = await c.query(CUT_SQL(metaSchema)).catch(() => ({ rows: [] }));
      const text = (r.rows[0] as { cut_lsn?: string } | undefined)?.cut_lsn;
      return new PgAtCut(c, text ? parseLsn(text) : null);
    } catch (e) {
      await c.end().catch(() => {});
      throw new TidemarkError('transient', `cannot read the warehouse: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  async table(schema: TableSchema, mode: TableMode): Promise<SideRows> {
    const skip = unreadable(mode);
    if (skip) return skip;
    const r = await this.c.query(
      'SELECT column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
      [schema.schema, schema.table],
    );
    if (r.rows.length === 0)
      return { rows: async function* () {}, notes: ['no such table in the warehouse'] };
    const present = new Set(r.rows.map((x: { c: string }) => x.c));
    const select = schema.columns.map((c) => (present.has(c.name) ? ident(c.name) : 'NULL')).join(', ');
    const sql = `SELECT ${select} FROM ${qualified(schema)}${liveFilter(mode)}`;
    const where = `warehouse ${schema.schema}.${schema.table}`;
    return {
      rows: () => pgRows(this.c, sql, schema.columns, where),
      notes: columnNotes(schema, present, mode),
    };
  }

  async close(): Promise<void> {
    await this.c.query('ROLLBACK').catch(() => {});
    await this.c.end().catch(() => {});
  }
}

class DuckAtCut implements WarehouseAtCut {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly c: DuckDBConnection,
    readonly cut: Lsn | null,
  ) {}

  static async open(path: string): Promise<DuckAtCut> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    } catch (e) {
      throw new TidemarkError(
        'transient',
        `cannot open the DuckDB warehouse ${path}: ${(e as Error).message}`,
        {
          cause: e,
          fix: 'DuckDB lets one process use a database file: stop the pipeline that writes it first (a sweep request then waits in the WAL until its source starts again), or verify the Iceberg tables alone with --sink iceberg',
        },
      );
    }
    const c = await instance.connect();
    await c.run('BEGIN TRANSACTION');
    let cut: Lsn | null = null;
    try {
      const r = (await c.runAndReadAll(CUT_SQL(META_SCHEMA.duckdb))).getRows();
      if (r[0]?.[0]) cut = parseLsn(String(r[0][0]));
    } catch {
      cut = null; // no cut table yet: nothing committed
    }
    return new DuckAtCut(instance, c, cut);
  }

  async table(schema: TableSchema, mode: TableMode): Promise<SideRows> {
    const skip = unreadable(mode);
    if (skip) return skip;
    const r = await this.c.runAndReadAll(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = ${literal(schema.schema)} AND table_name = ${literal(schema.table)}`,
    );
    const present = new Set(r.getRows().map((x) => String(x[0])));
    if (present.size === 0) return { rows: async function* () {}, notes: ['no such table in the warehouse'] };
    const select = schema.columns.map((c) => (present.has(c.name) ? ident(c.name) : 'NULL')).join(', ');
    const sql = `SELECT ${select} FROM ${qualified(schema)}${liveFilter(mode)}`;
    const c = this.c;
    return {
      rows: async function* () {
        const result = await c.stream(sql);
        for (;;) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) return;
          yield chunk.getRows().map((raw) => {
            const row: Row = {};
            schema.columns.forEach((col, i) => {
              row[col.name] = fromDuck(raw[i] ?? null, col.type);
            });
            return row;
          });
        }
      },
      notes: columnNotes(schema, present, mode),
    };
  }

  async close(): Promise<void> {
    await this.c.run('ROLLBACK').catch(() => {});
    this.c.closeSync();
    this.instance.closeSync();
  }
}

/** A DuckDB value of a warehouse column (duckdb-types.ts) as the canonical value of its source type. */
export function fromDuck(v: DuckDBValue, t: ColumnType): Value {
  if (v === null) return null;
  switch (t.kind) {
    case 'bool':
    case 'int16':
    case 'int32':
    case 'float32':
    case 'float64':
      return v as number | boolean;
    case 'int64':
      return BigInt(v as bigint);
    case 'bytes':
      return (v as DuckDBBlobValue).bytes;
    case 'date':
      return (v as DuckDBDateValue).days;
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return (v as { micros: bigint }).micros;
    case 'timetz': {
      const x = v as DuckDBTimeTZValue;
      return timetzFields(x.micros, x.offset);
    }
    case 'interval': {
      const x = v as DuckDBIntervalValue;
      return intervalFields(x.months, x.days, x.micros);
    }
    case 'list':
      return (v as DuckDBListValue).items.map((e) => fromDuck(e, t.element));
    default:
      // decimal, numeric, text, uuid, json, enum: their text.
      return String(v);
  }
}

/** The warehouse's last committed cut, read on its own (to wait for the sinks to catch up). */
export async function warehouseCut(cfg: WarehouseConfig): Promise<Lsn | null> {
  const w = await openWarehouseAtCut(cfg);
  try {
    return w.cut;
  } finally {
    await w.close();
  }
}
