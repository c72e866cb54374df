import { isTidemarkError } from '../../../src/core/errors';
import { silentLogger } from '../../../src/observe/logger';
import { type SourceHandle, startSource } from '../../../src/source';
import { MemoryStateStore } from '../../../src/source/state-store';
import { BIG, COLUMNS, expected, TEXTS, VALUES } from '../../support/every-type';
import { createTestDatabase, type TestDatabase, uniqueName } from '../../support/services';
import { MemoryLog } from './memory-log';
import { query, sourceConfig } from './source-helpers';

describe('value decoding against a real Postgres (snapshot and stream agree)', () => {
  let db: TestDatabase;
  let source: SourceHandle | null = null;
  beforeEach(async () => {
    db = await createTestDatabase('src');
    await query(
      db.url,
      `CREATE TYPE mood AS ENUM ('happy', 'sad');
       CREATE DOMAIN positive AS int CHECK (VALUE > 0);
       CREATE DOMAIN price AS numeric(8,2);
       CREATE TABLE every_type (${COLUMNS});
       ALTER DATABASE ${db.name} SET lc_monetary = 'C';`,
    );
  });
  afterEach(async () => {
    await source?.stop().catch(() => {});
    source = null;
    await db.drop();
  });

  it('decodes every type exactly, the same way from the snapshot and from pgoutput', async () => {
    await query(db.url, `INSERT INTO every_type VALUES ${VALUES}`, [1, BIG, TEXTS]);
    const log = new MemoryLog();
    source = await startSource({
      config: sourceConfig(db.url, uniqueName('src')),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    await query(db.url, `INSERT INTO every_type VALUES ${VALUES}`, [2, BIG, TEXTS]);
    await log.until(() => log.events.some((e) => e.op === 'c'), 30_000, 'the streamed row');

    const snap = log.events.find((e) => e.op === 'r')!;
    const streamed = log.events.find((e) => e.op === 'c')!;
    expect(snap.after).toEqual(expected(1));
    expect(streamed.after).toEqual(expected(2));

    const schema = log.schemas.find((s) => s.table === 'every_type')!;
    const kinds = Object.fromEntries(schema.columns.map((c) => [c.name, c.type]));
    expect(kinds).toMatchObject({
      n_free: { kind: 'numeric' },
      n_fixed: { kind: 'decimal', precision: 12, scale: 2 },
      vc: { kind: 'text', maxLength: 10 },
      bp: { kind: 'text', maxLength: 5, fixed: true },
      a_mood: { kind: 'list', element: { kind: 'enum', typeName: 'public.mood' } },
      a_pos: { kind: 'list', element: { kind: 'int32' } },
      m: { kind: 'enum', typeName: 'public.mood' },
      p: { kind: 'int32' },
      p_price: { kind: 'decimal', precision: 8, scale: 2 },
      jb: { kind: 'json', binary: true },
      unknown_money: { kind: 'text' },
    });
  });

  it('stops with a clear error naming the column for an infinite timestamp', async () => {
    await query(db.url, 'CREATE TABLE odd (id int PRIMARY KEY, at timestamptz)');
    const log = new MemoryLog();
    source = await startSource({
      config: sourceConfig(db.url, uniqueName('src'), '  tables: [public.odd]\n  snapshot: never'),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    await query(db.url, `INSERT INTO odd VALUES (1, 'infinity')`);
    const err = await source.done.then(
      () => null,
      (e: unknown) => e,
    );
    expect(isTidemarkError(err, 'unsupported_value')).toBe(true);
    expect((err as Error).message).toContain('public.odd.at');
    expect(log.events).toHaveLength(0);
  });
});
