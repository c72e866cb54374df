import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import { planScan } from '../../../src/sink/iceberg/table-scan';
import { loadMetadata } from '../../../src/sink/iceberg/table-state';
import { byId, readWithPyIceberg, upsert } from './iceberg-fixtures';

const schema: TableSchema = {
  schema: 'public',
  table: 'wide',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'blob', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
  ],
};
/** ~1 KiB of text that Parquet cannot shrink much (a hash chain). */
function blob(id: number): string {
  let h = id * 2_654_435_761;
  let s = '';
  while (s.length < 1024) {
    h = (h ^ (h >>> 13)) * 1_274_126_177;
    s += (h >>> 0).toString(36);
  }
  return s;
}

/**
 * sinks.iceberg.targetFileBytes sets the size of the files both a commit and a compaction
 * write: rows per file follow from the bytes per row the table's files show, so a table of
 * wide rows gets files near the target instead of up to a million rows each.
 */
describe('Iceberg data files sized by targetFileBytes', () => {
  let dir: string;
  let catalog: SqlCatalog;
  const TARGET = 256 * 1024;
  const uri = () => `sqlite:///${join(dir, 'catalog.db')}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-size-'));
    catalog = await SqlCatalog.sqlite(join(dir, 'catalog.db'));
  });
  afterAll(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits and compactions write files near the target size, rows unchanged', async () => {
    const io = new LocalFileIO();
    const lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/lake`, targetFileBytes: TARGET });
    await lake.createTable(schema);
    // GIVEN small commits (the table's files show its bytes per row), then a big one
    let seq = 0;
    for (let round = 0; round < 10; round++) {
      const changes = Array.from({ length: 50 }, (_, i) => {
        const id = round * 50 + i;
        return upsert(schema, { id: BigInt(id), blob: blob(id) }, seq++);
      });
      await lake.commit([await lake.stage(schema, { truncatedAt: null, changes })], { properties: {} });
    }
    const big = Array.from({ length: 2000 }, (_, i) => {
      const id = 500 + i;
      return upsert(schema, { id: BigInt(id), blob: blob(id) }, seq++);
    });
    await lake.commit([await lake.stage(schema, { truncatedAt: null, changes: big })], { properties: {} });
    const sizes = async () => {
      const loaded = await loadMetadata(catalog, io, { namespace: 'public', name: 'wide' });
      return (await planScan(io, loaded!.metadata, 'public.wide')).dataFiles.map(
        (e) => e.file.fileSizeInBytes,
      );
    };
    // THEN the big commit was split into files near the target (not one 2,000-row file)
    const afterBig = await sizes();
    const bigFiles = afterBig.filter((s) => s > TARGET / 4);
    expect(bigFiles.length).toBeGreaterThanOrEqual(4);
    for (const s of bigFiles) expect(s).toBeLessThan(TARGET * 1.5);

    // WHEN the table is compacted
    const r = await lake.compact(schema, 1_000_000, 'all');
    expect(r.rewrittenFiles).toBe(afterBig.length);
    // THEN every new file is near the target, the last one of a partition excepted
    const afterCompact = (await sizes()).sort((a, b) => b - a);
    expect(afterCompact.length).toBe(r.newFiles);
    expect(afterCompact.length).toBeGreaterThanOrEqual(4);
    for (const s of afterCompact.slice(0, -1)) {
      expect(s).toBeGreaterThan(TARGET / 2);
      expect(s).toBeLessThan(TARGET * 1.5);
    }
    // AND PyIceberg reads the same rows
    const rows = byId((await readWithPyIceberg(uri(), 'public.wide')).rows) as Array<{
      id: number;
      blob: string;
    }>;
    expect(rows.length).toBe(2500);
    expect(rows[1234]).toEqual({ id: 1234, blob: blob(1234) });
  });
});
