import { Client } from 'pg';
import { formatPosition } from '../../../src/core/position';
import { silentLogger } from '../../../src/observe/logger';
import { type SourceDeps, type SourceHandle, startSource as start } from '../../../src/source';
import { MemoryStateStore } from '../../../src/source/state-store';
import { createTestDatabase, type TestDatabase, uniqueName } from '../../support/services';
import { MemoryLog } from './memory-log';
import { currentLsn, mirror, query, slotConfirmed, sourceConfig, waitFor } from './source-helpers';

describe('the replication reader against a real Postgres', () => {
  let db: TestDatabase;
  let running: SourceHandle[] = [];
  /** Starts a source that afterEach stops even when the test failed half-way. */
  const startSource = async (deps: SourceDeps) => {
    const h = await start(deps);
    running.push(h);
    if (deps.log instanceof MemoryLog) logs.push(deps.log);
    return h;
  };
  let logs: MemoryLog[] = [];
  beforeEach(async () => {
    db = await createTestDatabase('src');
  });
  afterEach(async () => {
    for (const l of logs) l.release(); // a graceful stop waits for held appends
    for (const h of running) await h.stop().catch(() => {});
    running = [];
    logs = [];
    await db.drop();
  });

  it('streams inserts, updates (TOAST-unchanged, key change), deletes and truncates with exact values and positions', async () => {
    // GIVEN two tables, one with an out-of-line text column
    await query(
      db.url,
      `
      CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), doc text, seen timestamptz);
      ALTER TABLE accounts ALTER COLUMN doc SET STORAGE EXTERNAL;
      CREATE TABLE audit (id bigserial PRIMARY KEY, what jsonb);`,
    );
    const log = new MemoryLog();
    const pipeline = uniqueName('src');
    const source = await startSource({
      config: sourceConfig(db.url, pipeline),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    const big = Array.from({ length: 300 }, (_, i) => `${i}:${Math.sin(i)}`).join('|');

    // WHEN a workload runs
    await query(
      db.url,
      `INSERT INTO accounts VALUES (1, 'ann', 10.50, $1, '2024-05-01 10:00:00.123456+00'), (2, 'bob', -3, NULL, NULL)`,
      [big],
    );
    await query(db.url, `UPDATE accounts SET balance = balance + 1 WHERE id = 1`);
    await query(db.url, `UPDATE accounts SET id = 3 WHERE id = 2`);
    await query(db.url, `INSERT INTO audit (what) VALUES ('{"k": [1, "two"]}')`);
    await query(db.url, `DELETE FROM accounts WHERE id = 3`);
    await query(db.url, `TRUNCATE audit`);
    await log.until(() => log.events.filter((e) => e.op === 't').length === 1, 30_000, 'the truncate');
    await source.stop();

    // THEN the events are exactly these, in commit order, with increasing positions
    const acc = log.events.filter((e) => e.table.table === 'accounts');
    expect(acc.map((e) => e.op)).toEqual(['c', 'c', 'u', 'd', 'c', 'd']);
    expect(acc[0]!.after).toEqual({
      id: 1,
      owner: 'ann',
      balance: '10.50',
      doc: big,
      seen: BigInt(Date.UTC(2024, 4, 1, 10)) * 1000n + 123456n,
    });
    expect(acc[2]).toMatchObject({
      before: { id: 1 },
      after: { id: 1, owner: 'ann', balance: '11.50' },
      unchanged: ['doc'],
    });
    expect(acc[3]).toMatchObject({ op: 'd', before: { id: 2 }, newKey: { id: 3 } });
    expect(acc[4]).toMatchObject({
      op: 'c',
      before: { id: 2 },
      after: { id: 3, owner: 'bob', balance: '-3.00', doc: null },
    });
    const audit = log.events.filter((e) => e.table.table === 'audit');
    expect(audit.map((e) => e.op)).toEqual(['c', 't']);
    expect(audit[0]!.after).toEqual({ id: 1n, what: '{"k": [1, "two"]}' });
    const positions = log.events.map((e) => e.position);
    for (let i = 1; i < positions.length; i++) {
      const [a, b] = [positions[i - 1]!, positions[i]!];
      expect(a.lsn < b.lsn || (a.lsn === b.lsn && a.seq < b.seq)).toBe(true);
    }
    expect(log.schemas.map((s) => `${s.table}@${s.version}`).sort()).toEqual(['accounts@1', 'audit@1']);
    expect(log.schemas.find((s) => s.table === 'accounts')!.columns.map((c) => c.pgType)).toEqual([
      'integer',
      'text',
      'numeric(12,2)',
      'text',
      'timestamptz',
    ]);
  });

  it('ends a table written to during the initial snapshot equal to the source', async () => {
    // GIVEN a table big enough for several chunks and a writer that keeps changing it
    await query(
      db.url,
      `CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, note text);
      INSERT INTO items SELECT g, g, 'n' || g FROM generate_series(1, 30000) g; ANALYZE items;`,
    );
    let stop = false;
    const writer = (async () => {
      const c = new Client({ connectionString: db.url });
      await c.connect();
      try {
        for (let i = 0; !stop; i++) {
          await c.query('UPDATE items SET v = v + 1 WHERE id = $1', [1 + ((i * 7919) % 30000)]);
          await c.query('DELETE FROM items WHERE id = $1', [1 + ((i * 104729) % 30000)]);
          await c.query(
            `INSERT INTO items VALUES ($1, 0, 'late') ON CONFLICT (id) DO UPDATE SET note = 'again'`,
            [30000 + (i % 500)],
          );
        }
      } finally {
        await c.end();
      }
    })();
    const log = new MemoryLog();
    const pipeline = uniqueName('src');
    // WHEN the source snapshots it in parallel chunks while the writer runs
    const source = await startSource({
      config: sourceConfig(db.url, pipeline, '  snapshotChunkRows: 4000\n  snapshotParallelism: 3'),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    // the writer keeps going until the snapshot is over and streaming started
    await waitFor('the snapshot to end', async () => source.status().phase === 'streaming');
    expect(source.status().snapshot).toEqual({ tablesTotal: 1, tablesDone: 1, complete: true });
    stop = true;
    await writer;
    const end = await currentLsn(db.url);
    await waitFor(
      'the slot to confirm every write',
      async () => (await slotConfirmed(db.url, `tidemark_${pipeline}`)) >= end,
    );
    await source.stop();

    // THEN snapshot rows plus the stream give exactly the source rows
    expect(log.events.filter((e) => e.op === 'r').length).toBeGreaterThanOrEqual(29000);
    const rows = await query<{ id: number; v: number; note: string }>(
      db.url,
      'SELECT id, v, note FROM items ORDER BY id',
    );
    const got = [...mirror(log.events, 'public.items', ['id']).values()].sort(
      (a, b) => (a.id as number) - (b.id as number),
    );
    expect(got).toEqual(rows);
  });

  it('holds every commit below currentLsn() in the log once the slot is confirmed up to it, with asynchronous commits', async () => {
    // GIVEN a streaming source and a writer whose commits reach the WAL file later
    // (synchronous_commit=off: the WAL write position lags the last commits)
    await query(db.url, 'CREATE TABLE t (id int PRIMARY KEY)');
    const log = new MemoryLog();
    const pipeline = uniqueName('src');
    const source = await startSource({
      config: sourceConfig(db.url, pipeline, '  snapshot: never'),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    await waitFor('streaming', async () => source.status().phase === 'streaming');
    const writer = new Client({ connectionString: db.url });
    await writer.connect();
    try {
      await writer.query('SET synchronous_commit = off');
      for (let i = 1; i <= 10; i++) {
        // WHEN one more row commits and the test waits for the slot to confirm currentLsn()
        await writer.query('INSERT INTO t VALUES ($1)', [i]);
        const end = await currentLsn(db.url);
        await waitFor(
          'the slot to confirm the commit',
          async () => (await slotConfirmed(db.url, `tidemark_${pipeline}`)) >= end,
        );
        // THEN that commit is durable in the log (what the tests below rely on before stopping)
        expect(log.durable.filter((e) => e.op === 'c').map((e) => e.after!.id)).toContain(i);
      }
    } finally {
      await writer.end();
    }
    await source.stop();
  });

  it('redoes only the chunks not yet durable after a crash during the snapshot, without losing rows', async () => {
    // GIVEN two tables, and a log that fails in the middle of the snapshot
    await query(
      db.url,
      `CREATE TABLE small (id int PRIMARY KEY, v text);
      INSERT INTO small SELECT g, 's' || g FROM generate_series(1, 100) g;
      CREATE TABLE large (id int PRIMARY KEY, v int NOT NULL);
      INSERT INTO large SELECT g, g FROM generate_series(1, 20000) g; ANALYZE large;`,
    );
    const pipeline = uniqueName('src');
    const state = new MemoryStateStore();
    const cfg = sourceConfig(db.url, pipeline, '  snapshotChunkRows: 3000\n  snapshotParallelism: 1');
    const first = new MemoryLog();
    first.failAfterEvents = 8000;
    const crashed = await startSource({ config: cfg, log: first, state, logger: silentLogger });
    await expect(crashed.done).rejects.toThrow(/log failed mid-way/);
    await crashed.stop();
    const slot = `tidemark_${pipeline}`;
    const confirmedAtCrash = await slotConfirmed(db.url, slot);

    // WHEN the source changes in between and a new reader starts with the same state
    await query(db.url, `UPDATE large SET v = -v WHERE id % 7 = 0`);
    await query(db.url, `DELETE FROM large WHERE id % 11 = 0`);
    await query(db.url, `INSERT INTO large SELECT g, g FROM generate_series(20001, 20500) g`);
    await query(db.url, `UPDATE small SET v = 'changed' WHERE id < 10`);
    const second = new MemoryLog();
    const again = await startSource({ config: cfg, log: second, state, logger: silentLogger });
    const end = await currentLsn(db.url);
    await waitFor('the slot to confirm every write', async () => (await slotConfirmed(db.url, slot)) >= end);
    await again.stop();

    // THEN the slot was not confirmed before the snapshot ended, and the durable events of both
    // runs applied in position order give exactly the source rows
    expect(confirmedAtCrash).toBeLessThanOrEqual(first.events[0]!.position.lsn + 1n);
    const all = [...first.durable, ...second.events];
    for (const [table, sql] of [
      ['public.large', 'SELECT id, v FROM large ORDER BY id'],
      ['public.small', 'SELECT id, v FROM small ORDER BY id'],
    ] as const) {
      const rows = await query<{ id: number }>(db.url, sql);
      const got = [...mirror(all, table, ['id']).values()].sort(
        (a, b) => (a.id as number) - (b.id as number),
      );
      expect(got).toEqual(rows);
    }
    // the redone table's rows sort after the interrupted attempt's rows
    const firstLarge = first.durable.filter((e) => e.table.table === 'large');
    const redone = second.events.filter((e) => e.op === 'r' && e.table.table === 'large');
    expect(redone.length).toBeGreaterThan(0);
    expect(redone[0]!.position.seq).toBeGreaterThan(Math.max(...firstLarge.map((e) => e.position.seq)));
    // only the chunks not durable before the crash were copied again: the first run's finished
    // chunks (the smallest ids: chunks are read in key order, one at a time) hold every id below
    // the first one copied again, and the second run copied exactly the rows from there on. (How
    // many chunks finished depends on the sampled bounds: at least the first, of about 3,000 rows.)
    const redoneFrom = Math.min(...redone.map((e) => e.after!.id as number));
    const finished = new Set(firstLarge.map((e) => e.after!.id as number).filter((id) => id < redoneFrom));
    expect(finished.size).toBe(redoneFrom - 1);
    expect(finished.size).toBeGreaterThan(1000);
    const [{ n }] = await query<{ n: number }>(
      db.url,
      'SELECT count(*)::int AS n FROM large WHERE id >= $1',
      [redoneFrom],
    );
    expect(redone.length).toBe(n);
  });

  it('plans chunks of about snapshotChunkRows rows on plain and partitioned tables, analyzed or not', async () => {
    // GIVEN a plain table never analyzed (as after a restore) and a partitioned one, analyzed
    await query(
      db.url,
      `CREATE TABLE plain (id int PRIMARY KEY, note text);
      INSERT INTO plain SELECT g, repeat('x', 600) FROM generate_series(1, 60000) g;
      CREATE TABLE parted (id int PRIMARY KEY, note text) PARTITION BY RANGE (id);
      CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (0) TO (30000);
      CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (30000) TO (90000);
      INSERT INTO parted SELECT g, repeat('y', 60) FROM generate_series(1, 80000) g;
      ANALYZE parted;`,
    );
    // (a state store that keeps every plan written: a finished table's plan is dropped)
    const state = new MemoryStateStore();
    const plans = new Map<string, string[][]>();
    const spy = {
      get: (k: string) => state.get(k),
      async set(k: string, v: string) {
        const table = /:snapshot:plan:(.*)$/.exec(k)?.[1];
        if (table && v) plans.set(table, (JSON.parse(v) as { bounds: string[][] }).bounds);
        await state.set(k, v);
      },
    };
    const pipeline = uniqueName('src');
    const log = new MemoryLog();
    const source = await startSource({
      config: sourceConfig(db.url, pipeline, '  snapshotChunkRows: 5000\n  snapshotParallelism: 2'),
      log,
      state: spy,
      logger: silentLogger,
    });
    await waitFor('the snapshot to end', async () => source.status().phase === 'streaming');
    await source.stop();

    // THEN each table was cut into chunks none of which holds a large share of it
    for (const [table, total] of [
      ['public.plain', 60000],
      ['public.parted', 80000],
    ] as const) {
      const bounds = (plans.get(table) ?? []).map((b) => Number(b[0]));
      // about total / 5000 chunks: the unanalyzed table is sized by counting sampled pages
      expect(bounds.length).toBeGreaterThanOrEqual((total / 5000) * 0.6);
      expect(bounds.length).toBeLessThanOrEqual((total / 5000) * 1.6);
      const edges = [0, ...bounds, total + 1];
      const sizes = edges.slice(1).map((hi, i) => hi - edges[i]!);
      expect(Math.max(...sizes)).toBeLessThan(total / 3);
    }
    // AND every row was copied once
    expect(log.events.filter((e) => e.op === 'r').length).toBe(140000);
  });

  it('copies the tables after a restart that follows a stop between creating the slot and recording its consistent point', async () => {
    // GIVEN a table, and a state store that fails when the new slot's consistent point is recorded
    await query(
      db.url,
      `CREATE TABLE t (id int PRIMARY KEY, v text);
      INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g;`,
    );
    const pipeline = uniqueName('src');
    const slot = `tidemark_${pipeline}`;
    const state = new MemoryStateStore();
    let failed = false;
    const failingState = {
      get: (key: string) => state.get(key),
      async set(key: string, value: string) {
        if (!failed && key === `source:${slot}:snapshot` && JSON.parse(value).consistentPoint !== '0/0') {
          failed = true;
          throw new Error('state store down');
        }
        await state.set(key, value);
      },
    };
    const cfg = sourceConfig(db.url, pipeline);
    await expect(
      start({ config: cfg, log: new MemoryLog(), state: failingState, logger: silentLogger }),
    ).rejects.toThrow(/state store down/);
    expect(failed).toBe(true);
    expect(await slotConfirmed(db.url, slot)).toBeGreaterThan(0n); // the slot exists

    // WHEN the source changes and a new reader starts with the same state
    await query(db.url, `UPDATE t SET v = 'changed' WHERE id <= 10`);
    await query(db.url, `DELETE FROM t WHERE id > 490`);
    const log = new MemoryLog();
    const again = await startSource({ config: cfg, log, state, logger: silentLogger });
    await waitFor('streaming', async () => again.status().phase === 'streaming');
    const end = await currentLsn(db.url);
    await waitFor('the slot to confirm every write', async () => (await slotConfirmed(db.url, slot)) >= end);
    await again.stop();

    // THEN the table was copied (and the log gives exactly the source rows)
    expect(log.events.filter((e) => e.op === 'r').length).toBe(490);
    const rows = await query<{ id: number }>(db.url, 'SELECT id, v FROM t ORDER BY id');
    const got = [...mirror(log.events, 'public.t', ['id']).values()].sort(
      (a, b) => (a.id as number) - (b.id as number),
    );
    expect(got).toEqual(rows);
  });

  it('never confirms the slot past what the log holds durably, and replays with identical positions', async () => {
    await query(db.url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');
    const pipeline = uniqueName('src');
    const state = new MemoryStateStore();
    const first = new MemoryLog();
    const source = await startSource({
      config: sourceConfig(db.url, pipeline, '  snapshot: never'),
      log: first,
      state,
      logger: silentLogger,
    });
    await query(db.url, `INSERT INTO t VALUES (1, 'durable')`);
    await first.until(() => first.durable.length === 1, 30_000, 'the first change to be durable');
    const slot = `tidemark_${pipeline}`;
    await waitFor(
      'the first change to be confirmed',
      async () => (await slotConfirmed(db.url, slot)) > first.events[0]!.position.lsn,
    );

    // GIVEN a log that stops acknowledging
    first.hold();
    const confirmedSeen: bigint[] = [];
    for (let i = 2; i <= 40; i++) {
      await query(db.url, `INSERT INTO t VALUES ($1, 'held')`, [i]);
      await query(db.url, `UPDATE t SET v = 'again' WHERE id = $1`, [i]);
      confirmedSeen.push(await slotConfirmed(db.url, slot));
    }
    await first.until(() => first.events.length === 1 + 39 * 2, 30_000, 'every held change to be read');
    // keepalives and heartbeats keep coming while held (a fixed wait: we assert that nothing happens)
    await new Promise((r) => setTimeout(r, 1500));
    confirmedSeen.push(await slotConfirmed(db.url, slot));
    // THEN the slot never passed the first transaction the log did not acknowledge
    const firstHeldCommit = first.events[1]!.position.lsn;
    expect(first.heldCount).toBeGreaterThan(0);
    for (const c of confirmedSeen) expect(c).toBeLessThan(firstHeldCommit);
    // and every watermark published so far covers only durable commits
    expect(first.watermarks.length).toBeGreaterThan(0);
    for (const w of first.watermarks) expect(w).toBeLessThan(firstHeldCommit);
    expect(first.watermarks).toContain(first.events[0]!.position.lsn);

    // WHEN the log loses the held appends, the reader stops, and a new one starts on the same slot
    first.failHeld();
    await expect(source.done).rejects.toThrow(/log lost these appends/);
    await source.stop();
    const second = new MemoryLog();
    const again = await startSource({
      config: sourceConfig(db.url, pipeline, '  snapshot: never'),
      log: second,
      state,
      logger: silentLogger,
    });
    await second.until(() => second.events.length >= 78, 30_000, 'the replay');
    await again.stop();

    // THEN every change the first reader saw comes again with the same position and content
    const replayed = new Map(second.events.map((e) => [formatPosition(e.position), e]));
    for (const e of first.events.slice(1)) expect(replayed.get(formatPosition(e.position))).toEqual(e);
    expect(
      second.events.some((e) => formatPosition(e.position) === formatPosition(first.events[0]!.position)),
    ).toBe(false);
  });

  it('keeps advancing the slot on an idle database (heartbeat)', async () => {
    await query(db.url, 'CREATE TABLE quiet (id int PRIMARY KEY)');
    const pipeline = uniqueName('src');
    const source = await startSource({
      config: sourceConfig(db.url, pipeline),
      log: new MemoryLog(),
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    const slot = `tidemark_${pipeline}`;
    const start = await slotConfirmed(db.url, slot);
    await waitFor(
      'the idle slot to advance',
      async () => (await slotConfirmed(db.url, slot)) > start,
      30_000,
    );
    await source.stop();
  });

  it('stops with a clear error when the slot lags more than source.maxLagBytes', async () => {
    await query(db.url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');
    const log = new MemoryLog();
    const source = await startSource({
      config: sourceConfig(db.url, uniqueName('src'), '  snapshot: never\n  maxLagBytes: 100000'),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    log.hold(); // nothing becomes durable, so the slot cannot be confirmed
    // Several transactions: the slot may be confirmed into the WAL of one still being written
    // (nothing before its commit is lost), but never past the first commit that is not durable.
    for (let k = 0; k < 10; k++)
      await query(
        db.url,
        `INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(${k * 500 + 1}, ${k * 500 + 500}) g`,
      );
    const err = await source.done.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/lags \d+ bytes of WAL behind, over source.maxLagBytes=100000/);
  });

  it('passes a one-million-row transaction with a bounded number of events in flight', async () => {
    await query(db.url, 'CREATE TABLE bulk (id int PRIMARY KEY, v text)');
    const log = new MemoryLog();
    const pipeline = uniqueName('src');
    const source = await startSource({
      config: sourceConfig(db.url, pipeline, '  snapshot: never\n  maxInFlightEvents: 20000'),
      log,
      state: new MemoryStateStore(),
      logger: silentLogger,
    });
    await query(db.url, `INSERT INTO bulk SELECT g, 'row ' || g FROM generate_series(1, 1000000) g`);
    await log.until(() => log.durable.length === 1_000_000, 240_000, 'one million changes');
    await source.stop();
    // The bound plus at most one chunk past it.
    expect(log.maxInFlight).toBeLessThanOrEqual(20_000 + 2_000);
    expect(new Set(log.events.map((e) => e.position.seq)).size).toBe(1_000_000);
  }, 300_000);
});
