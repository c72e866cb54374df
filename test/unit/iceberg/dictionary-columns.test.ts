import * as parquet from 'parquet-wasm';
import type { Value } from '../../../src/core/column-type';
import { dictionaryColumns } from '../../../src/sink/iceberg/dictionary-columns';
import type { IcebergField } from '../../../src/sink/iceberg/iceberg-types';
import { decodeParquet, encodeParquet } from '../../../src/sink/iceberg/parquet-files';

const fields: IcebergField[] = [
  { id: 1, name: 'id', required: true, type: 'long' },
  { id: 2, name: 'status', required: false, type: 'string' },
  { id: 3, name: 'amount', required: false, type: 'decimal(12, 2)' },
  { id: 4, name: 'region', required: false, type: 'int' },
  { id: 5, name: 'paid', required: false, type: 'boolean' },
  {
    id: 6,
    name: 'tags',
    required: false,
    type: { type: 'list', 'element-id': 7, element: 'string', 'element-required': false },
  },
];
const N = 5_000;
const statuses = ['new', 'paid', 'shipped', 'delivered', 'cancelled'];
const columns: Value[][] = [
  Array.from({ length: N }, (_, i) => BigInt(i * 7919)),
  Array.from({ length: N }, (_, i) => (i % 11 === 0 ? null : statuses[i % 5]!)),
  Array.from({ length: N }, (_, i) => `${(i * 37) % 100_000}.${String(i % 100).padStart(2, '0')}`),
  Array.from({ length: N }, (_, i) => i % 8),
  Array.from({ length: N }, (_, i) => i % 2 === 0),
  Array.from({ length: N }, () => ['a', 'a']),
];

describe('dictionary encoding only where values repeat', () => {
  test('repeating scalar columns are picked; keys, amounts, booleans and lists are not', () => {
    expect(dictionaryColumns(fields, columns)).toEqual(['status', 'region']);
  });

  test('a few rows are too few to tell: everything plain', () => {
    expect(
      dictionaryColumns(
        fields,
        columns.map((c) => c.slice(0, 20)),
      ),
    ).toEqual([]);
  });

  test('the Parquet file uses a dictionary for exactly those columns and reads back equal', async () => {
    const enc = encodeParquet(fields, columns, 'test');
    const file = await parquet.ParquetFile.fromFile(new Blob([enc.bytes]));
    const dictionary = new Set([parquet.Encoding.RLE_DICTIONARY, parquet.Encoding.PLAIN_DICTIONARY]);
    const encoded = Object.fromEntries(
      file
        .metadata()
        .rowGroup(0)
        .columns()
        .map((c) => [c.columnPath()[0], c.encodings().some((e) => dictionary.has(e))]),
    );
    expect(encoded).toEqual({
      id: false,
      status: true,
      amount: false,
      region: true,
      paid: false,
      tags: false,
    });
    const back = decodeParquet(enc.bytes, fields);
    expect(back.rowCount).toBe(N);
    expect(back.columns).toEqual(columns);
  });
});
