/**
 * Iceberg writer figures (printed, never asserted):
 *  - Parquet rows/s for a 10-column table (encode with ZSTD + metrics),
 *  - commit latency p50/p99 on the SQLite catalog (one small upsert batch per commit),
 *  - key-index bytes per million keys, and index rebuild time from the table's data files.
 * usage: npx tsx bench/iceberg-writer.ts [rows=1000000] [commits=100]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Row } from '../src/core/change-event';
import { encodeKey } from '../src/core/row-key';
import type { TableSchema } from '../src/core/table-schema';
import type { KeyedChange } from '../src/sink/collapse';
import { LocalFileIO } from '../src/sink/iceberg/file-io';
import { KeyIndex } from '../src/sink/iceberg/key-index';
import { identOf, Lakehouse } from '../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../src/sink/iceberg/sql-catalog';
import { rebuildIndex } from '../src/sink/iceberg/table-state';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const COMMITS = Number(process.argv[3] ?? 100);
const schema: TableSchema = {
  schema: 'bench',
  table: 'ten',
  version: 1,
  primaryKey: ['id'],
  columns: [
    ['id', { kind: 'int64' }],
    ['a', { kind: 'int32' }],
    ['b', { kind: 'int64' }],
    ['c', { kind: 'float64' }],
    ['d', { kind: 'text' }],
    ['e', { kind: 'decimal', precision: 12, scale: 2 }],
    ['f', { kind: 'timestamptz' }],
    ['g', { kind: 'bool' }],
    ['h', { kind: 'uuid' }],
    ['i', { kind: 'date' }],
  ].map(([name, type], i) => ({
    name: name as string,
    attnum: i + 1,
    type: type as never,
    pgType: '',
    nullable: i > 0,
  })),
};
const row = (n: number): Row => ({
  id: BigInt(n),
  a: n % 1000,
  b: BigInt(n) * 7n,
  c: n / 3,
  d: `customer-${n}`,
  e: `${n % 100000}.${String(n % 100).padStart(2, '0')}`,
  f: 1700000000000000n + BigInt(n),
  g: n % 2 === 0,
  h: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`,
  i: 19000 + (n % 365),
});
const upsert = (r: Row): KeyedChange => ({
  kind: 'upsert',
  key: encodeKey(r, ['id']),
  row: r,
  unchanged: [],
  position: { lsn: 1n, seq: 0 } as never,
  commitTimeMs: 0,
});
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'iceberg-bench-'));
  const catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
  const io = new LocalFileIO();
  const lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/warehouse`, targetFileRows: 250_000 });
  await lake.createTable(schema);

  const changes: KeyedChange[] = [];
  for (let n = 0; n < ROWS; n++) changes.push(upsert(row(n)));
  let t = performance.now();
  const staged = await lake.stage(schema, { truncatedAt: null, changes });
  const stageMs = performance.now() - t;
  await lake.commit([staged], { properties: {} });
  console.log(
    `parquet: ${ROWS} rows of 10 columns staged in ${stageMs.toFixed(0)} ms = ${Math.round(ROWS / (stageMs / 1000))} rows/s (${(staged.added.bytes / 1e6).toFixed(1)} MB)`,
  );

  const lat: number[] = [];
  for (let i = 0; i < COMMITS; i++) {
    const s = await lake.stage(schema, {
      truncatedAt: null,
      changes: [upsert(row(i * 13)), upsert(row(ROWS + i))],
    });
    t = performance.now();
    await lake.commit([s], { properties: { 'tidemark.round': String(i) } });
    lat.push(performance.now() - t);
  }
  console.log(
    `commit latency (SQLite catalog, ${COMMITS} commits): p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms`,
  );

  const idx = new KeyIndex();
  for (let n = 0; n < 1_000_000; n++) idx.set(encodeKey({ id: BigInt(n) }, ['id']), 'file', n);
  console.log(
    `key index: ${(idx.byteSize() / 1e6).toFixed(1)} MB per million int64 keys (${(idx.byteSize() / 1e6).toFixed(0)} bytes/key), heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB`,
  );

  t = performance.now();
  const rebuilt = await rebuildIndex(io, await lake.metadata(schema), identOf(schema));
  console.log(
    `index rebuild from data files: ${rebuilt.size} keys in ${(performance.now() - t).toFixed(0)} ms`,
  );
  await catalog.close();
  rmSync(dir, { recursive: true, force: true });
}

void main();
