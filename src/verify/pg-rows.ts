import type { Client } from 'pg';
import type { Row } from '../core/change-event';
import type { ColumnType } from '../core/column-type';
import { RAW_TEXT } from '../source/column-decoding';
import { decodeText } from '../source/types/text-values';

const FETCH_ROWS = 5_000;
let cursors = 0;

export interface TextColumn {
  readonly name: string;
  readonly type: ColumnType;
  /** Array element delimiter (',' except for box[]). */
  readonly delimiter?: string;
  /** A masked source column: its text becomes this (the source's masker, source/column-policy.ts). */
  readonly mask?: (text: string) => string;
}

/**
 * Rows of a query in the connection's open transaction, through a cursor (bounded memory),
 * decoded from Postgres text into canonical values. The connection must use the source's
 * session settings (pg-connection.ts) so that dates, intervals and bytea print as decoded.
 * The query's columns are `columns`, in order.
 */
export async function* pgRows(
  c: Client,
  sql: string,
  columns: readonly TextColumn[],
  where: string,
): AsyncGenerator<Row[]> {
  const cursor = `tidemark_verify_${++cursors}`;
  await c.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`);
  try {
    for (;;) {
      const r = await c.query({
        text: `FETCH ${FETCH_ROWS} FROM ${cursor}`,
        rowMode: 'array',
        types: RAW_TEXT,
      });
      if (r.rows.length === 0) return;
      yield r.rows.map((raw: (string | null)[]) => decodeRow(raw, columns, where));
    }
  } finally {
    await c.query(`CLOSE ${cursor}`).catch(() => {});
  }
}

export async function pgRowsAt(
  c: Client,
  sql: string,
  params: readonly string[],
  columns: readonly TextColumn[],
  where: string,
): Promise<Row[]> {
  const r = await c.query({ text: sql, values: [...params], rowMode: 'array', types: RAW_TEXT });
  return r.rows.map((raw: (string | null)[]) => decodeRow(raw, columns, where));
}

function decodeRow(raw: readonly (string | null)[], columns: readonly TextColumn[], where: string): Row {
  const row: Row = {};
  columns.forEach((col, i) => {
    const v = raw[i];
    row[col.name] =
      v === null || v === undefined
        ? null
        : col.mask
          ? col.mask(v)
          : decodeText(col.type, v, `${where}.${col.name}`, col.delimiter);
  });
  return row;
}
