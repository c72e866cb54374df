import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isTidemarkError, TidemarkError } from '../../../src/core/errors';
import type { TableSchema } from '../../../src/core/table-schema';
import type { Logger } from '../../../src/observe/logger';
import type { Catalog, TableIdent } from '../../../src/sink/iceberg/catalog';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import { createTestDatabase, pgUrl, psql, type TestDatabase } from '../../support/services';
import { readWithPyIceberg, upsert } from './iceberg-fixtures';

/**
 * The SQL catalog's failures as the writer sees them: a lost PostgreSQL connection is reopened at
 * its next use (and never crashes the process); a swap whose outcome is unknown stays
 * commit_state_unknown even when looking for the commit fails too, its files kept; a SQLite
 * COMMIT that fails is rolled back and reported as not committed.
 */
const schema: TableSchema = {
  schema: 'public',
  table: 'orders',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int64' }, pgType: 'bigint', nullable: false },
    { name: 'v', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
  ],
};
const ident: TableIdent = { namespace: 'public', name: 'orders' };
const io = new LocalFileIO();
const ids = (rows: unknown[]) => rows.map((r) => Number((r as { id: number }).id)).sort((a, b) => a - b);

const stageRow = (lake: Lakehouse, id: number) =>
  lake.stage(schema, { truncatedAt: null, changes: [upsert(schema, { id: BigInt(id), v: `v${id}` }, id)] });

async function commitRow(lake: Lakehouse, id: number) {
  return lake.commit([await stageRow(lake, id)], { properties: { 'tidemark.token': String(id) } });
}

/** A logger that resolves `lost` at the first warning (the catalog heard its connection go). */
function warnCapture() {
  const warnings: string[] = [];
  let heard!: () => void;
  const lost = new Promise<void>((r) => {
    heard = r;
  });
  const log: Logger = {
    debug() {},
    info() {},
    error() {},
    warn(_o, msg) {
      warnings.push(msg ?? '');
      heard();
    },
    child: () => log,
  };
  return { log, warnings, lost };
}

describe('SQL catalog failures on PostgreSQL', () => {
  let db: TestDatabase;
  let dir: string;
  let pyUri: string;

  beforeAll(async () => {
    db = await createTestDatabase('iceberg_fail');
    dir = mkdtempSync(join(tmpdir(), 'iceberg-catalog-failures-'));
    const u = new URL(db.url);
    pyUri = `postgresql+psycopg2://${u.username}:${u.password}@${u.host}/${db.name}`;
  });
  afterAll(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The catalog's backends on the test database (the admin connection is to another one). */
  const catalogBackends = async () =>
    (
      await psql<{ pid: number }>(
        pgUrl(),
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tidemark-catalog'",
        [db.name],
      )
    ).map((r) => r.pid);
  const killCatalogBackends = () =>
    psql(
      pgUrl(),
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tidemark-catalog'",
      [db.name],
    );

  test('a catalog connection killed between commits is reopened by the next commit; the process lives on', async () => {
    // GIVEN a writer that committed once on its catalog connection
    const { log, warnings, lost } = warnCapture();
    const catalog = await SqlCatalog.postgres(db.url, 'tidemark', { log });
    const lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/warehouse` });
    try {
      await lake.createTable(schema);
      await commitRow(lake, 1);
      const [before] = await catalogBackends();
      expect(before).toBeDefined();

      // WHEN its backend is terminated while it is idle (an 'error' event on an idle client)
      await killCatalogBackends();
      await lost;
      expect(warnings[0]).toMatch(/connection lost/);

      // THEN the next commit opens a new connection and lands
      await commitRow(lake, 2);
      const after = await catalogBackends();
      expect(after).toHaveLength(1);
      expect(after[0]).not.toBe(before);

      // AND killed again, with the next commit sent before the client may have heard of it
      await killCatalogBackends();
      await commitRow(lake, 3);
      expect(ids((await readWithPyIceberg(pyUri, 'public.orders')).rows)).toEqual([1, 2, 3]);
    } finally {
      await catalog.close();
    }
  });

  test('an unknown swap whose commit cannot be looked up stays commit_state_unknown and keeps its files', async () => {
    // GIVEN a catalog whose next swap is lost with an unknown outcome, and which then cannot be
    // read (the database gone with the connection)
    const real = await SqlCatalog.postgres(db.url);
    let down = false;
    const failing: Catalog = {
      name: real.name,
      ensureNamespace: (n) => real.ensureNamespace(n),
      listTables: (n) => real.listTables(n),
      dropTable: (t) => real.dropTable(t),
      close: () => real.close(),
      currentLocation: async (t) => {
        if (down) throw new TidemarkError('transient', 'iceberg catalog: cannot connect (injected)');
        return real.currentLocation(t);
      },
      swap: async (swaps) => {
        if (!down) return real.swap(swaps);
        return { kind: 'unknown', cause: new Error('connection lost during COMMIT (injected)') };
      },
    };
    const lake = new Lakehouse({ catalog: failing, io, warehouse: `file://${dir}/warehouse` });
    try {
      await lake.createTable(schema);
      const staged = await stageRow(lake, 10);
      const before = await real.currentLocation(ident);

      // WHEN its commit meets both failures
      down = true;
      const err = await lake
        .commit([staged], { properties: { 'tidemark.token': '10' }, commitId: 'c-10' })
        .catch((e: unknown) => e);

      // THEN the outcome is reported unknown, and no staged file was deleted
      expect(err).toBeInstanceOf(TidemarkError);
      expect((err as TidemarkError).kind).toBe('commit_state_unknown');
      expect(staged.files.length).toBeGreaterThan(0);
      for (const f of staged.files) expect(await io.exists(f)).toBe(true);
      expect(await real.currentLocation(ident)).toBe(before);

      // AND once the catalog is back, the same commit (same id) lands
      down = false;
      await lake.commit([staged], { properties: { 'tidemark.token': '10' }, commitId: 'c-10' });
      expect(ids((await readWithPyIceberg(pyUri, 'public.orders')).rows)).toContain(10);
    } finally {
      await failing.close();
    }
  });

  test('a catalog that does not answer is a transient error', async () => {
    const err = await SqlCatalog.postgres('postgres://nobody:secret@127.0.0.1:1/none').catch(
      (e: unknown) => e,
    );
    expect(isTidemarkError(err, 'transient')).toBe(true);
    expect((err as Error).message).not.toContain('secret');
  });
});

describe('SQL catalog failures on SQLite', () => {
  let dir: string;
  let file: string;
  let catalog: SqlCatalog;
  let lake: Lakehouse;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-sqlite-failures-'));
    file = join(dir, 'catalog.db');
    // A short wait for locks: the lock another connection holds here is never let go in time.
    catalog = await SqlCatalog.sqlite(file, 'tidemark', { busyTimeoutMs: 100 });
    lake = new Lakehouse({ catalog, io, warehouse: `file://${dir}/warehouse` });
    await lake.createTable(schema);
    await commitRow(lake, 1);
  });
  afterAll(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `fn` while a second connection holds a lock: `BEGIN` + a read (shared) or `BEGIN IMMEDIATE` (reserved). */
  async function whileLocked<T>(lock: 'shared' | 'reserved', fn: () => Promise<T>): Promise<T> {
    const other = new Database(file);
    try {
      if (lock === 'shared') {
        other.exec('BEGIN');
        other.prepare('SELECT count(*) FROM iceberg_tables').get();
      } else other.exec('BEGIN IMMEDIATE');
      return await fn();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  }

  test.each([
    {
      id: 2,
      lock: 'shared' as const,
      what: 'a COMMIT that fails (SQLITE_BUSY: a reader holds its lock)',
      reported: /COMMIT .* failed and was rolled back/,
    },
    {
      id: 3,
      lock: 'reserved' as const,
      what: 'a swap that fails before COMMIT (another writer holds the lock)',
      reported: /before COMMIT; nothing was committed/,
    },
  ])('$what is rolled back and reported as not committed', async ({ id, lock, reported }) => {
    // GIVEN a staged row and the table's pointer
    const staged = await stageRow(lake, id);
    const before = await catalog.currentLocation(ident);

    // WHEN the commit's swap cannot get its lock from another connection
    const err = await whileLocked(lock, () =>
      lake.commit([staged], { properties: { 'tidemark.token': String(id) } }).catch((e: unknown) => e),
    );

    // THEN it certainly did not land, and this connection does not read its own rolled-back write
    expect(isTidemarkError(err, 'commit_failed')).toBe(true);
    expect((err as Error).message).toMatch(reported);
    expect(await catalog.currentLocation(ident)).toBe(before);
    const other = new Database(file, { readonly: true });
    const row = other
      .prepare('SELECT metadata_location AS l FROM iceberg_tables WHERE table_name = ?')
      .get('orders');
    other.close();
    expect((row as { l: string }).l).toBe(before);

    // AND its files may go, and the row committed again lands once the lock is let go
    await lake.discard([staged]);
    await commitRow(lake, id);
    expect(ids((await readWithPyIceberg(`sqlite:///${file}`, 'public.orders')).rows)).toEqual(
      Array.from({ length: id }, (_, i) => i + 1),
    );
  });
});
