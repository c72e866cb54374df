import { isTidemarkError } from '../../../src/core/errors';
import { parseLsn } from '../../../src/core/lsn';
import { silentLogger } from '../../../src/observe/logger';
import { type SourceHandle, startSource } from '../../../src/source';
import { MemoryStateStore } from '../../../src/source/state-store';
import { createTestDatabase, type TestDatabase, uniqueName } from '../../support/services';
import { MemoryLog } from './memory-log';
import { query, slotConfirmed, sourceConfig } from './source-helpers';

/**
 * A SQL_ASCII database stores bytes without saying what they mean. UTF-8 text (ASCII included)
 * is mirrored; at any other byte (here Latin-1 "é") Postgres cannot convert the change to the
 * connection's UTF-8 and ends the stream: the source stops with that reason and the fix, instead
 * of retrying it as an outage, and acknowledges nothing past it.
 */
describe('a SQL_ASCII source database', () => {
  let db: TestDatabase;
  let source: SourceHandle | null = null;
  beforeEach(async () => {
    db = await createTestDatabase('srcasc', 'SQL_ASCII');
    await query(
      db.url,
      "CREATE TABLE words (id int PRIMARY KEY, w text); INSERT INTO words VALUES (1, 'plain'), (2, 'ünïcode')",
    );
  });
  afterEach(async () => {
    await source?.stop().catch(() => {});
    source = null;
    await db.drop();
  });

  it('mirrors UTF-8 text and stops at other bytes with the reason', async () => {
    const log = new MemoryLog();
    const slot = uniqueName('src');
    source = await startSource({
      config: sourceConfig(db.url, slot, '  tables: [public.words]'),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    // the snapshot's UTF-8 rows, then a stream change
    await query(db.url, "INSERT INTO words VALUES (3, 'still fine ✓')");
    const until = Date.now() + 30_000;
    while (log.events.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(log.events.map((e) => e.after?.w).sort()).toEqual(['plain', 'still fine ✓', 'ünïcode']);
    // The WAL position just after the bad change's record, before its commit: a heartbeat may be
    // acknowledged up to any point before that commit, but nothing at or past it.
    const [{ lsn }] = await query<{ lsn: string }>(
      db.url,
      "WITH bad AS (INSERT INTO words VALUES (4, E'caf\\xe9') RETURNING 1) SELECT pg_current_wal_insert_lsn()::text AS lsn FROM bad",
    );
    const err = await source.done.then(
      () => null,
      (e: unknown) => e,
    );
    expect(isTidemarkError(err, 'unsupported_value')).toBe(true);
    expect((err as Error).message).toMatch(/stream stopped: text Postgres cannot convert to UTF-8.*0xe9/);
    expect(log.events).toHaveLength(3);
    // acknowledged at most up to before the bad change's commit
    expect(await slotConfirmed(db.url, `tidemark_${slot}`)).toBeLessThanOrEqual(parseLsn(lsn));
  });

  it('stops the snapshot at such bytes with the reason', async () => {
    await query(db.url, "INSERT INTO words VALUES (4, E'caf\\xe9')");
    const log = new MemoryLog();
    const err = await startSource({
      config: sourceConfig(db.url, uniqueName('src'), '  tables: [public.words]'),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    }).then(
      (h) => {
        source = h;
        return h.done.then(
          () => null,
          (e: unknown) => e,
        );
      },
      (e: unknown) => e,
    );
    expect(isTidemarkError(err, 'unsupported_value')).toBe(true);
    expect((err as Error).message).toMatch(
      /snapshot of public\.words: text Postgres cannot convert to UTF-8.*0xe9/,
    );
  });
});
