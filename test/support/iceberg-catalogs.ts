import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalog, TableIdent } from '../../src/sink/iceberg/catalog';
import type { FileIO } from '../../src/sink/iceberg/file-io';
import { SqlCatalog } from '../../src/sink/iceberg/sql-catalog';
import { loadMetadata, type TableState } from '../../src/sink/iceberg/table-state';
import { createTestDatabase, type TestDatabase } from './services';

/** The SQL catalogs tidemark's lakehouse runs on; tests of the writer run on each (describe.each). */
export const SQL_CATALOG_KINDS = ['sqlite', 'postgres'] as const;
export type SqlCatalogKind = (typeof SQL_CATALOG_KINDS)[number];

/**
 * One SQL catalog for a test, as each party names it: tidemark (a new connection per open()),
 * the CLI's config (sinks.iceberg.catalog.url), PyIceberg (SQLAlchemy URL) and Iceberg Java (JDBC).
 */
export interface SqlCatalogUnderTest {
  readonly kind: SqlCatalogKind;
  open(): Promise<SqlCatalog>;
  readonly configUrl: string;
  readonly pyUri: string;
  readonly jdbc: { readonly url: string; readonly user: string; readonly password: string };
  /** Drops the test database (postgres); the SQLite file goes with the test's directory. */
  drop(): Promise<void>;
}

/** A fresh catalog of `kind`: a SQLite file in `dir`, or a new database on the test Postgres. */
export async function sqlCatalogUnderTest(kind: SqlCatalogKind, dir: string): Promise<SqlCatalogUnderTest> {
  if (kind === 'sqlite') {
    const file = join(dir, 'catalog.db');
    return {
      kind,
      open: () => SqlCatalog.sqlite(file),
      configUrl: `sqlite://${file}`,
      pyUri: `sqlite:///${file}`,
      jdbc: { url: `jdbc:sqlite:${file}`, user: '', password: '' },
      drop: async () => undefined,
    };
  }
  const db: TestDatabase = await createTestDatabase('iceberg');
  const u = new URL(db.url);
  return {
    kind,
    open: () => SqlCatalog.postgres(db.url),
    configUrl: db.url,
    pyUri: `postgresql+psycopg2://${u.username}:${u.password}@${u.host}/${db.name}`,
    jdbc: {
      url: `jdbc:postgresql://${u.host}/${db.name}`,
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
    },
    drop: () => db.drop(),
  };
}

/**
 * A jest suite's catalog: registers beforeAll/afterAll that make a temporary directory (for the
 * warehouse and a SQLite file), the catalog of `kind` and tidemark's connection to it, and
 * close, drop and remove them afterwards. Read the fields inside tests and hooks only.
 */
export function sqlCatalogSuite(
  kind: SqlCatalogKind,
  prefix: string,
): { readonly dir: string; readonly cat: SqlCatalogUnderTest; readonly catalog: SqlCatalog } {
  const suite = {} as { dir: string; cat: SqlCatalogUnderTest; catalog: SqlCatalog };
  beforeAll(async () => {
    suite.dir = mkdtempSync(join(tmpdir(), prefix));
    suite.cat = await sqlCatalogUnderTest(kind, suite.dir);
    suite.catalog = await suite.cat.open();
  });
  afterAll(async () => {
    await suite.catalog?.close();
    await suite.cat?.drop();
    if (suite.dir) rmSync(suite.dir, { recursive: true, force: true });
  });
  return suite;
}

/** A table's state as the catalog holds it now, for the maintenance functions that take one. */
export async function loadTableState(catalog: Catalog, io: FileIO, ident: TableIdent): Promise<TableState> {
  const loaded = await loadMetadata(catalog, io, ident);
  if (!loaded) throw new Error(`table ${ident.namespace}.${ident.name} does not exist`);
  return {
    ident,
    metadataLocation: loaded.location,
    metadata: loaded.metadata,
    index: null,
    filePartitions: new Map(),
  };
}
