import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, startTidemark, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * An UPDATE that changes a row's key while a large (TOASTed, stored out of line) column keeps its
 * value: pgoutput sends the old key and the new row without that column ("unchanged TOAST"), and
 * the sinks must take the value from the old key's stored row, which the same round deletes. In
 * mirror and soft-delete mode, into Iceberg (read by PyIceberg) and each warehouse, for a key
 * changed once, one changed twice in a transaction, and one changed with another column.
 */
const DDL = `
CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE docs_sd (id int PRIMARY KEY, title text, body text);
ALTER TABLE docs_sd ALTER COLUMN body SET STORAGE EXTERNAL;
INSERT INTO docs SELECT g, 'title ' || g, repeat('body ' || g || ' ', 1500) FROM generate_series(1, 6) g;
INSERT INTO docs_sd SELECT * FROM docs;
`;
const CHANGES = (t: string) => `
UPDATE ${t} SET id = id + 100 WHERE id <= 2;
UPDATE ${t} SET id = 300, title = 'moved' WHERE id = 3;
BEGIN; UPDATE ${t} SET id = 400 WHERE id = 4; UPDATE ${t} SET id = 401 WHERE id = 400; COMMIT;
`;

const md5 = (s: string | null) => (s === null ? null : createHash('md5').update(s).digest('hex'));
type Doc = { id: number; title: string | null; body: string | null };
const lines = (rows: Doc[]) => rows.map((r) => `${r.id}|${r.title}|${md5(r.body)}`).sort();

describe.each(['postgres', 'duckdb'] as const)(
  'key change with an unchanged TOAST column (%s warehouse)',
  (kind) => {
    let src: TestDatabase;
    let wh: TestDatabase;
    let dir: string;
    let config: string;

    beforeAll(async () => {
      src = await createTestDatabase(`e2e_ktoast${kind[0]}`);
      wh = await createTestDatabase(`e2e_ktoastw${kind[0]}`);
      await psql(src.url, DDL);
      dir = mkdtempSync(join(tmpdir(), 'tm-keytoast-'));
      config = writeConfig(
        dir,
        'tidemark.yaml',
        `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.*"], heartbeatIntervalMs: 500 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: ${kind === 'postgres' ? `{ kind: postgres, url: \${WH_URL} }` : `{ kind: duckdb, path: ${dir}/wh.duckdb }`}
tables:
  public.docs_sd: { mode: soft-delete }
observe: { port: \${METRICS_PORT} }
`,
      );
    });
    afterAll(async () => {
      await killAllTidemarks();
      await src.drop();
      await wh.drop();
    });

    const warehouseRows = async (table: string, where: string): Promise<Doc[]> => {
      const sql = `SELECT id, title, body FROM public.${table} WHERE ${where}`;
      if (kind === 'postgres') return psql<Doc>(wh.url, sql);
      const instance = await DuckDBInstance.create(join(dir, 'wh.duckdb'), { access_mode: 'READ_ONLY' });
      const c = await instance.connect();
      try {
        return (await c.runAndReadAll(sql)).getRowObjects() as unknown as Doc[];
      } finally {
        c.closeSync();
        instance.closeSync();
      }
    };

    it('takes the value from the old key in both sinks', async () => {
      // GIVEN the tables copied by the initial snapshot
      const port = await freePort();
      const proc = startTidemark(
        ['run', '--config', config],
        { SRC_URL: src.url, WH_URL: wh.url, METRICS_PORT: String(port) },
        port,
      );
      await proc.ready(90_000);
      await waitForSlot(src.url, `tidemark_${src.name}`);

      // WHEN keys change while the large column keeps its value
      await psql(src.url, CHANGES('docs'));
      await psql(src.url, CHANGES('docs_sd'));
      await waitForSlot(src.url, `tidemark_${src.name}`);
      const expected = lines(await psql<Doc>(src.url, 'SELECT id, title, body FROM docs'));
      expect(await proc.terminate()).toBe(0);

      // THEN every sink holds the rows under their new keys with their large values
      const ice = (t: string) => readWithPyIceberg(`sqlite:///${dir}/catalog.db`, t);
      expect(lines((await ice('public.docs')).rows as Doc[])).toEqual(expected);
      expect(lines(await warehouseRows('docs', 'true'))).toEqual(expected);
      // AND in soft-delete mode the live rows are the same, the old keys kept as deleted
      const live = (
        (await ice('public.docs_sd')).rows as Array<Doc & { _tidemark_deleted_at: unknown }>
      ).filter((r) => r._tidemark_deleted_at === null);
      expect(lines(live)).toEqual(expected);
      expect(lines(await warehouseRows('docs_sd', '_tidemark_deleted_at IS NULL'))).toEqual(expected);
      expect(
        (await warehouseRows('docs_sd', '_tidemark_deleted_at IS NOT NULL')).map((r) => r.id).sort(),
      ).toEqual([1, 2, 3, 4]);
    }, 200_000);
  },
);
