/**
 * Iceberg writer figures (printed, never asserted), the `writer` part of `npm run bench`:
 *  - Parquet rows/s for a 10-column table (encode with ZSTD + metrics),
 *  - commit latency p50/p99 on the SQL catalog, on SQLite and on PostgreSQL (one small upsert
 *    batch per commit),
 *  - key-index bytes per million keys, and index rebuild time from the table's data files.
 * Alone: npx tsx bench/iceberg-writer.ts [rows=1000000] [commits=100] (SQLite only).
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
import type { Figure } from './lib/report';

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

const GROUP = 'Iceberg writer (10-column table, local files)';

/** One commit of two upserts after another: the catalog's share of a sink round. */
async function commitLatency(lake: Lakehouse, rows: number, commits: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < commits; i++) {
    const s = await lake.stage(schema, {
      truncatedAt: null,
      changes: [upsert(row(i * 13)), upsert(row(rows + i))],
    });
    const t = performance.now();
    await lake.commit([s], { properties: { 'tidemark.round': String(i) } });
    lat.push(performance.now() - t);
  }
  return lat;
}

function latencyFigure(catalog: string, lat: number[]): Figure {
  return {
    group: GROUP,
    name: `commit latency, ${catalog} catalog`,
    value: Math.round(pct(lat, 0.99) * 10) / 10,
    unit: 'ms p99',
    detail: `p50 ${pct(lat, 0.5).toFixed(1)} ms over ${lat.length} commits`,
  };
}

/** The writer's figures; `pgUrl`: an empty database for the PostgreSQL catalog's latency too. */
export async function writerFigures(rows: number, commits: number, pgUrl?: string): Promise<Figure[]> {
  const figures: Figure[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'iceberg-bench-'));
  const catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
  const io = new LocalFileIO();
  const lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/warehouse`, targetFileRows: 250_000 });
  try {
    await lake.createTable(schema);
    const changes: KeyedChange[] = [];
    for (let n = 0; n < rows; n++) changes.push(upsert(row(n)));
    let t = performance.now();
    const staged = await lake.stage(schema, { truncatedAt: null, changes });
    const stageMs = performance.now() - t;
    await lake.commit([staged], { properties: {} });
    figures.push({
      group: GROUP,
      name: 'Parquet written (ZSTD, column statistics, key index)',
      value: Math.round(rows / (stageMs / 1000)),
      unit: 'rows/s',
      detail: `${rows.toLocaleString('en-US')} rows, ${(staged.added.bytes / 1e6).toFixed(1)} MB`,
    });
    figures.push(latencyFigure('SQLite', await commitLatency(lake, rows, commits)));
    if (pgUrl) {
      const pg = await SqlCatalog.postgres(pgUrl);
      try {
        const onPg = new Lakehouse({ catalog: pg, io, warehouse: `file://${dir}/pg-warehouse` });
        await onPg.createTable(schema);
        figures.push(latencyFigure('PostgreSQL', await commitLatency(onPg, 1000, commits)));
      } finally {
        await pg.close();
      }
    }
    const idx = new KeyIndex();
    for (let n = 0; n < 1_000_000; n++) idx.set(encodeKey({ id: BigInt(n) }, ['id']), 'file', n);
    figures.push({
      group: GROUP,
      name: 'key index memory per million int64 keys',
      value: Math.round(idx.byteSize() / 1e5) / 10,
      unit: 'MB',
      detail: `${Math.round(idx.byteSize() / 1e6)} bytes per key, in typed arrays`,
    });
    t = performance.now();
    const rebuilt = await rebuildIndex(io, await lake.metadata(schema), identOf(schema));
    const rebuildMs = performance.now() - t;
    figures.push({
      group: GROUP,
      name: 'key index rebuilt from the data files',
      value: Math.round(rebuilt.size / (rebuildMs / 1000)),
      unit: 'keys/s',
      detail: `${rebuilt.size.toLocaleString('en-US')} keys in ${rebuildMs.toFixed(0)} ms`,
    });
    return figures;
  } finally {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const commits = Number(process.argv[3] ?? 100);
  void writerFigures(rows, commits).then((fs) => {
    for (const f of fs)
      console.log(`${f.name}: ${f.value.toLocaleString('en-US')} ${f.unit} (${f.detail ?? ''})`);
  });
}
