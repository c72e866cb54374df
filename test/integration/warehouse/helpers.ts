import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TABLE_OPTIONS, type TableOptions } from '../../../src/config/schema';
import type { ChangeEvent, Op, Row } from '../../../src/core/change-event';
import type { ColumnType } from '../../../src/core/column-type';
import type { TableSchema } from '../../../src/core/table-schema';
import type { CommitRound } from '../../../src/sink/sink-target';
import { withDuckDbConnection } from '../../../src/sink/warehouse/duckdb-warehouse';
import { openWarehouse } from '../../../src/sink/warehouse/open';
import type { TableMode, Warehouse, WarehouseOptions } from '../../../src/sink/warehouse/warehouse';
import { createTestDatabase, psql } from '../../support/services';

/** One warehouse under test plus an independent reader of its tables (plain SQL, not the adapter). */
export interface WarehouseFixture {
  readonly kind: 'duckdb' | 'postgres';
  open(options?: WarehouseOptions): Promise<Warehouse>;
  /** Rows of a query, every value as returned by the driver. */
  read(sql: string): Promise<Record<string, unknown>[]>;
  dispose(): Promise<void>;
  /** A connection URL (postgres) or file path (duckdb). */
  readonly location: string;
}

export async function makeFixture(kind: 'duckdb' | 'postgres'): Promise<WarehouseFixture> {
  if (kind === 'duckdb') {
    const path = join(mkdtempSync(join(tmpdir(), 'wh-')), 'warehouse.duckdb');
    const opened: Warehouse[] = [];
    return {
      kind,
      location: path,
      async open(options) {
        const w = await openWarehouse({ kind: 'duckdb', path }, options);
        opened.push(w);
        return w;
      },
      async read(sql) {
        return withDuckDbConnection(
          path,
          async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[],
        );
      },
      async dispose() {
        for (const w of opened) await w.close().catch(() => {});
      },
    };
  }
  const db = await createTestDatabase('wh');
  const opened: Warehouse[] = [];
  return {
    kind,
    location: db.url,
    async open(options) {
      const w = await openWarehouse({ kind: 'postgres', url: db.url }, options);
      opened.push(w);
      return w;
    },
    read: (sql) => psql(db.url, sql),
    async dispose() {
      for (const w of opened) await w.close().catch(() => {});
      await db.drop();
    },
  };
}

let attnum = 0;
export function col(name: string, type: ColumnType, pgType = type.kind): TableSchema['columns'][number] {
  return { name, attnum: ++attnum, type, pgType, nullable: true };
}

export function tableSchema(
  table: string,
  columns: TableSchema['columns'],
  primaryKey: string[] = ['id'],
  version = 1,
): TableSchema {
  return { schema: 'public', table, version, columns, primaryKey };
}

/** Builds change events at consecutive positions of one LSN per call of `tx`. */
export class EventBuilder {
  private lsn = 0x1000n;
  private seq = 0;
  constructor(private readonly schema: TableSchema) {}
  tx(): this {
    this.lsn += 0x100n;
    this.seq = 0;
    return this;
  }
  ev(op: Op, before: Row | null, after: Row | null, unchanged: string[] = []): ChangeEvent {
    return {
      op,
      table: { schema: this.schema.schema, table: this.schema.table },
      position: { lsn: this.lsn, seq: this.seq++ },
      txId: 1,
      commitTimeMs: 1_700_000_000_000 + Number(this.lsn),
      schemaVersion: this.schema.version,
      before,
      after,
      unchanged,
      snapshot: op === 'r',
    };
  }
  get currentLsn(): bigint {
    return this.lsn;
  }
}

let roundNo = 0;
/** A round over tables with one channel per table; `expected` is the channel's stored token. */
export function round(
  tables: { schema: TableSchema; mode: TableMode; events: ChangeEvent[] }[],
  tokens: { channel: string; expected: string | null; next: string }[],
  cutLsn = 0x9000n,
): CommitRound {
  return {
    cutLsn,
    commitId: `c${++roundNo}`,
    tokens,
    tables: tables.map((t) => ({
      schema: t.schema,
      events: t.events,
      options: opts(t.mode),
    })),
  };
}

export function opts(mode: TableMode): TableOptions {
  return { ...DEFAULT_TABLE_OPTIONS, mode, onError: 'stop' };
}
