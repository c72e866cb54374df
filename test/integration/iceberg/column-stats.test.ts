import { join } from 'node:path';
import type { Row } from '../../../src/core/change-event';
import type { ColumnType, Value } from '../../../src/core/column-type';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { sqlCatalogSuite } from '../../support/iceberg-catalogs';
import { inspectWithJava, inspectWithPyIceberg } from '../../support/iceberg-inspect';
import { allTypesRow, allTypesSchema, del, nullRow, toPlain, upsert } from './iceberg-fixtures';

const schema = allTypesSchema('stats');

/** Compares two non-null values of a column in Iceberg's order for the column's Iceberg type. */
function icebergOrder(t: ColumnType): (a: Value, b: Value) => number {
  const utf8 = (a: Value, b: Value) => Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
  switch (t.kind) {
    case 'bool':
    case 'int16':
    case 'int32':
    case 'float32':
    case 'float64':
    case 'date':
    case 'int64':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return (a, b) => ((a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0);
    case 'decimal': {
      if (t.precision > 38) return utf8; // stored as its text (docs/TYPES.md)
      const unscaled = (v: Value) => {
        const [int, frac = ''] = String(v).split('.');
        return BigInt(`${int}${frac.padEnd(t.scale, '0')}`);
      };
      return (a, b) => (unscaled(a) < unscaled(b) ? -1 : unscaled(a) > unscaled(b) ? 1 : 0);
    }
    case 'bytes':
      return (a, b) => Buffer.compare(a as Uint8Array, b as Uint8Array);
    default:
      return utf8; // text and the kinds stored as text
  }
}

/** The longest prefix of `s` of at most `bytes` UTF-8 bytes (whole code points). */
function utf8Prefix(s: string, bytes: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > bytes) break;
    out += ch;
  }
  return out;
}

/**
 * The metrics a data file holding `rows` must carry, computed here from the rows written, in the
 * readers' tagged form: value and null counts of every column (list elements under
 * "<column>.element"), NaN counts of float columns, and each primitive column's lower and upper
 * bound (NaN and null excluded; none for uuid). A string bound longer than 64 UTF-8 bytes is a prefix (lower)
 * or absent (upper), as the spec allows for truncated bounds.
 */
function expectedMetrics(rows: readonly Row[]) {
  const valueCounts: Record<string, number> = {};
  const nullValueCounts: Record<string, number> = {};
  const nanValueCounts: Record<string, number> = {};
  const lowerBounds: Record<string, unknown> = {};
  const upperBounds: Record<string, unknown> = {};
  const tag = (c: TableSchema['columns'][number], v: Value) =>
    toPlain({ [c.name]: v }, { ...schema, columns: [c] })[c.name];
  for (const c of schema.columns) {
    const values = rows.map((r) => r[c.name] ?? null);
    if (c.type.kind === 'list') {
      const elements = values.flatMap((v) => (v === null ? [] : (v as Value[])));
      valueCounts[`${c.name}.element`] = elements.length;
      nullValueCounts[`${c.name}.element`] = elements.filter((e) => e === null).length;
      continue;
    }
    valueCounts[c.name] = values.length;
    nullValueCounts[c.name] = values.filter((v) => v === null).length;
    const isNaNValue = (v: Value) => typeof v === 'number' && Number.isNaN(v);
    if (c.type.kind === 'float32' || c.type.kind === 'float64')
      nanValueCounts[c.name] = values.filter(isNaNValue).length;
    // no uuid bounds: engines disagree on the order of UUIDs (column-stats.ts hasSafeBounds)
    if (c.type.kind === 'uuid') continue;
    const sorted = values.filter((v) => v !== null && !isNaNValue(v)).sort(icebergOrder(c.type));
    if (sorted.length === 0) continue;
    const [min, max] = [sorted[0]!, sorted[sorted.length - 1]!];
    const long = (v: Value) => typeof v === 'string' && Buffer.byteLength(v) > 64;
    lowerBounds[c.name] = long(min) ? utf8Prefix(String(min), 64) : tag(c, min);
    if (!long(max)) upperBounds[c.name] = tag(c, max);
  }
  return { records: rows.length, valueCounts, nullValueCounts, nanValueCounts, lowerBounds, upperBounds };
}

/**
 * Column statistics and compression of the data files, as the independent readers decode them
 * from the manifests and the Parquet footers: every column's counts and bounds equal what the
 * rows written make them (PyIceberg's manifest entries decoded with from_bytes, as its
 * inspect.files() readable_metrics does: inspect.files() itself fails on a uuid column, see
 * test/python/inspect_table.py; Iceberg Java's DataFile.lowerBounds()/upperBounds() through
 * Conversions), and every column chunk of every data
 * and delete file is ZSTD (pyarrow). Wrong bounds make engines prune files that hold matches.
 */
describe('Iceberg column statistics and compression, read by PyIceberg, pyarrow and Iceberg Java', () => {
  const suite = sqlCatalogSuite('sqlite', 'iceberg-stats-');

  test("each data file's value/null/NaN counts and lower/upper bounds equal its rows', and every column chunk is ZSTD", async () => {
    const { dir, catalog } = suite;
    // GIVEN a table of every type written by two commits, one data file each (the second also
    // with a position-delete file): nulls, NaN, infinity, a string longer than a bound keeps
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/warehouse` });
    await lake.createTable(schema);
    const first: Row[] = [
      ...[1, 2, 3, 4].map(allTypesRow),
      nullRow(5, schema),
      { ...allTypesRow(6), f32: Number.NaN, f64: Number.NaN },
    ];
    await lake.commit(
      [await lake.stage(schema, { truncatedAt: null, changes: first.map((r, i) => upsert(schema, r, i)) })],
      { properties: {} },
    );
    const second: Row[] = [
      { ...allTypesRow(2), txt: 'é'.repeat(40), i64: -1n },
      { ...allTypesRow(7), txt: `${'x'.repeat(63)}éé`, bin: Uint8Array.of(0), ints: [] },
    ];
    await lake.commit(
      [
        await lake.stage(schema, {
          truncatedAt: null,
          changes: [...second.map((r, i) => upsert(schema, r, 10 + i)), del(schema, { id: 3n }, 12)],
        }),
      ],
      { properties: {} },
    );
    const uri = `sqlite:///${join(dir, 'catalog.db')}`;
    const jdbc = { url: `jdbc:sqlite:${join(dir, 'catalog.db')}`, user: '', password: '' };

    // WHEN PyIceberg (with pyarrow) and Iceberg Java inspect the table's files
    const [py, java] = await Promise.all([
      inspectWithPyIceberg(uri, 'public.stats'),
      inspectWithJava(jdbc, 'public.stats'),
    ]);

    // THEN each data file's metrics equal those of the rows written into it, in both readers
    const want = [expectedMetrics(first), expectedMetrics(second)];
    const metricsOf = (f: (typeof java.files)[number]) => ({
      records: f.records,
      valueCounts: f.valueCounts,
      nullValueCounts: f.nullValueCounts,
      nanValueCounts: f.nanValueCounts,
      lowerBounds: f.lowerBounds,
      upperBounds: f.upperBounds,
    });
    const byRecords = <T extends { records: number }>(fs: readonly T[]) =>
      [...fs].sort((a, b) => b.records - a.records);
    expect(byRecords(java.files).map(metricsOf)).toEqual(want);
    const pyData = py.files.filter((f) => f.content === 0);
    expect(byRecords(pyData).map(metricsOf)).toEqual(want);
    // AND the position-delete file is there, and every column chunk of every file is ZSTD
    expect(py.files.filter((f) => f.content === 1)).toHaveLength(1);
    expect(java.deleteFiles).toHaveLength(1);
    for (const f of py.files) expect(f.compression).toEqual(['ZSTD']);
  });
});
