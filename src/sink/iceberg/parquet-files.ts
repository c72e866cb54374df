import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import type { Value } from '../../core/column-type';
import { arrowFieldOf, buildColumn, FIELD_ID_KEY, readColumn } from './arrow-columns';
import type { FileMetrics } from './column-stats';
import { collectMetrics } from './column-stats';
import { dictionaryColumns } from './dictionary-columns';
import type { IcebergField } from './iceberg-types';

export interface EncodedParquet {
  readonly bytes: Uint8Array;
  readonly recordCount: number;
  readonly metrics: FileMetrics;
}

/**
 * Encodes columns (canonical values, one array per field) as one ZSTD Parquet file whose
 * columns carry their Iceberg field ids (spec, "Parquet": field_id on every field), dictionary
 * encoded only where values repeat (dictionary-columns.ts).
 */
export function encodeParquet(
  fields: readonly IcebergField[],
  columns: readonly (readonly Value[])[],
  where: string,
): EncodedParquet {
  const n = columns[0]?.length ?? 0;
  const schema = new arrow.Schema(fields.map(arrowFieldOf));
  const children = fields.map((f, i) => buildColumn(f.type, columns[i]!, `${where} column "${f.name}"`));
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, nullCount: 0, children });
  const table = new arrow.Table([new arrow.RecordBatch(schema, struct)]);
  const wasmTable = parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  let builder = new parquet.WriterPropertiesBuilder()
    .setCompression(parquet.Compression.ZSTD)
    .setDictionaryEnabled(false);
  for (const name of dictionaryColumns(fields, columns))
    builder = builder.setColumnDictionaryEnabled(name, true);
  // No Parquet statistics on uuid columns: they are written as plain fixed(16) bytes, which
  // Iceberg Java's row-group filter then compares with a UUID literal and fails (ClassCastException
  // on any uuid predicate); nor could their order suit every engine (column-stats.ts hasSafeBounds).
  // Only top-level columns can be named here: parquet-wasm makes a one-part column path of the
  // string, so a list's elements ("name.list.element") cannot be reached. Those keep their
  // statistics, harmless there: an Iceberg row filter cannot reference a list's elements.
  for (const f of fields)
    if (f.type === 'uuid')
      builder = builder.setColumnStatisticsEnabled(f.name, parquet.EnabledStatistics.None);
  const bytes = parquet.writeParquet(wasmTable, builder.build());
  return { bytes, recordCount: n, metrics: collectMetrics(fields, columns) };
}

/**
 * Decodes the columns of `fields` from Parquet bytes, matched by field id (so renamed columns
 * still match); a field absent from the file (added later) reads as nulls.
 */
export function decodeParquet(
  bytes: Uint8Array,
  fields: readonly IcebergField[],
): { rowCount: number; columns: Value[][] } {
  const table = arrow.tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
  const byId = new Map<number, number>();
  table.schema.fields.forEach((f, i) => {
    const id = f.metadata.get(FIELD_ID_KEY);
    if (id !== undefined) byId.set(Number(id), i);
  });
  const columns = fields.map((f) => {
    const idx = byId.get(f.id);
    if (idx === undefined) return new Array<Value>(table.numRows).fill(null);
    const out: Value[] = [];
    for (const chunk of table.getChildAt(idx)!.data) for (const v of readColumn(f.type, chunk)) out.push(v);
    return out;
  });
  return { rowCount: table.numRows, columns };
}
