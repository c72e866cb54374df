import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TidemarkError } from '../../../src/core/errors';
import { silentLogger } from '../../../src/observe/logger';
import { startSource } from '../../../src/source';
import { MemoryStateStore } from '../../../src/source/state-store';
import { createTestDatabase, type TestDatabase, uniqueName, withDatabase } from '../../support/services';
import { MemoryLog } from './memory-log';
import { query, sourceConfig } from './source-helpers';

/** Starts a source that is expected to refuse; returns the error. */
async function startupError(url: string, extra = ''): Promise<TidemarkError> {
  const err = await startSource({
    config: sourceConfig(url, uniqueName('src'), extra),
    log: new MemoryLog(),
    state: new MemoryStateStore(),
    logger: silentLogger,
  }).then(
    async (h) => {
      await h.stop();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TidemarkError);
  return err as TidemarkError;
}

/** Starts a source that is expected to start (it rejects otherwise), then stops it. */
async function startsAndStops(url: string, extra: string): Promise<void> {
  const h = await startSource({
    config: sourceConfig(url, uniqueName('src'), extra),
    log: new MemoryLog(),
    state: new MemoryStateStore(),
    logger: silentLogger,
  });
  await h.stop();
}

describe('start-up checks of the source', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase('src');
  });
  afterEach(async () => {
    await db.drop();
  });

  it('names a table that does not exist and a pattern that matches nothing', async () => {
    await query(db.url, 'CREATE TABLE present (id int PRIMARY KEY)');
    const missing = await startupError(db.url, '  tables: [public.present, public.absent]');
    expect(missing.kind).toBe('source_setup');
    expect(missing.message).toContain('public.absent does not exist');
    expect(missing.fix).toContain('source.tables');
    const nothing = await startupError(db.url, '  tables: ["inventory.*"]');
    expect(nothing.message).toContain('"inventory.*" matches no table');
  });

  it('refuses a table without a primary key or REPLICA IDENTITY FULL, and says how to fix it', async () => {
    await query(db.url, 'CREATE TABLE loose (a int, b text)');
    const err = await startupError(db.url, '  tables: [public.loose]');
    expect(err.kind).toBe('source_setup');
    expect(err.message).toContain('public.loose has no primary key');
    expect(err.fix).toContain('ALTER TABLE public.loose REPLICA IDENTITY FULL');
    // a configured key alone is not enough: deletes would not carry it
    const keyed = await startupError(db.url, '  tables: [public.loose]\n  keys: { public.loose: [a] }');
    expect(keyed.fix).toContain('REPLICA IDENTITY FULL');
    // with FULL and the configured key it starts
    await query(db.url, 'ALTER TABLE loose REPLICA IDENTITY FULL');
    await startsAndStops(db.url, '  tables: [public.loose]\n  keys: { public.loose: [a] }');
  });

  it('refuses a column named like a built-in object property, unless it is excluded', async () => {
    // "__proto__" would vanish from every row and an absent "constructor" (TOAST-unchanged)
    // would read as a function: refused at start rather than mirrored wrongly.
    await query(db.url, 'CREATE TABLE odd (id int PRIMARY KEY, "__proto__" text, constructor text)');
    const err = await startupError(db.url, '  tables: [public.odd]');
    expect(err.kind).toBe('source_setup');
    expect(err.message).toContain('public.odd has column "__proto__", "constructor"');
    expect(err.fix).toContain('tables.public.odd.exclude');
    await startsAndStops(
      db.url,
      '  tables: [public.odd]\ntables: { public.odd: { exclude: [__proto__, constructor] } }',
    );
  });

  it('switches an existing publication holding a partitioned table to publish it under its own name', async () => {
    // Without publish_via_partition_root its changes stream under the partitions, unknown tables.
    await query(
      db.url,
      `CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
       CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
       CREATE PUBLICATION own_pub FOR TABLE parted`,
    );
    await startsAndStops(db.url, '  tables: [public.parted]\n  publication: own_pub');
    const [pub] = await query<{ pubviaroot: boolean }>(
      db.url,
      "SELECT pubviaroot FROM pg_publication WHERE pubname = 'own_pub'",
    );
    expect(pub!.pubviaroot).toBe(true);
  });

  it('refuses an UNLOGGED table, whose changes never reach the WAL, and says how to fix it', async () => {
    await query(db.url, 'CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY)');
    const err = await startupError(db.url, '  tables: [public.scratch]');
    expect(err.kind).toBe('source_setup');
    expect(err.message).toContain('public.scratch is UNLOGGED');
    expect(err.fix).toContain('ALTER TABLE public.scratch SET LOGGED');
    await query(db.url, 'ALTER TABLE scratch SET LOGGED');
    await startsAndStops(db.url, '  tables: [public.scratch]');
  });

  it('refuses a role without the REPLICATION privilege and one without SELECT', async () => {
    const role = uniqueName('r');
    await query(db.url, `CREATE TABLE secret (id int PRIMARY KEY); CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'pw';
    try {
      const noRepl = await startupError(url.toString(), '  tables: [public.secret]');
      expect(noRepl.kind).toBe('source_setup');
      expect(noRepl.message).toContain(`role ${role} may not use replication`);
      expect(noRepl.fix).toBe(`ALTER ROLE ${role} WITH REPLICATION;`);
      await query(db.url, `ALTER ROLE ${role} WITH REPLICATION`);
      const noSelect = await startupError(url.toString(), '  tables: [public.secret]');
      expect(noSelect.message).toContain('no SELECT privilege on public.secret');
      expect(noSelect.fix).toContain('GRANT SELECT ON public.secret');
    } finally {
      await query(db.url, `DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => {});
    }
  });

  it('refuses a server without wal_level=logical', async () => {
    // GIVEN a second, throwaway cluster with wal_level=replica
    const bin = process.env.TIDEMARK_PG_BIN ?? '/usr/lib/postgresql/15/bin';
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-walreplica-'));
    chmodSync(dir, 0o777);
    const asPostgres = (cmd: string, args: string[]) =>
      process.getuid?.() === 0
        ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' })
        : execFileSync(cmd, args, { stdio: 'pipe' });
    const data = join(dir, 'data');
    const port = 56_000 + Math.floor(Math.random() * 900);
    writeFileSync(join(dir, 'pw'), 'tidemark\n');
    chmodSync(join(dir, 'pw'), 0o644);
    asPostgres(join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'tidemark',
      `--pwfile=${join(dir, 'pw')}`,
      '-A',
      'scram-sha-256',
    ]);
    asPostgres(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-w',
      '-l',
      join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c wal_level=replica`,
      'start',
    ]);
    try {
      const url = withDatabase(`postgres://tidemark:tidemark@127.0.0.1:${port}/postgres`, 'postgres');
      await query(url, 'CREATE TABLE t (id int PRIMARY KEY)');
      const err = await startupError(url, '  tables: [public.t]');
      expect(err.kind).toBe('source_setup');
      expect(err.message).toContain('wal_level=replica');
      expect(err.fix).toContain('wal_level = logical');
    } finally {
      asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
