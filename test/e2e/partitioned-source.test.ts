import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../support/services';
import { settled } from '../support/settled';
import { killAllTidemarks, pipelineYaml, runPipeline, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

/**
 * A partitioned table in the source (declarative partitioning, rows routed to partitions by
 * date) is mirrored as one table, as applications see it: its changes reach Postgres' WAL under
 * the partitions, which must not be passed over as unknown tables (they were, before: only the
 * snapshot landed). Rows moving between partitions and a partition created while streaming land
 * in Iceberg (read by PyIceberg) and the warehouse; a table attached as a partition with its rows
 * (no row changes in the WAL) is copied. A partition truncated on its own or detached writes no
 * row changes the partitioned table's stream carries: the sinks keep those rows, and the source
 * says so.
 */
const DDL = `
CREATE TABLE events (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events SELECT g, DATE '2024-06-01' + (g % 2) * 365, 'v' || g FROM generate_series(1, 10) g;
`;

type Ev = { id: number; at: unknown; v: string | null };
const atText = (at: unknown) =>
  at instanceof Date
    ? at.toISOString().slice(0, 10)
    : new Date(Number((at as { date: number }).date) * 86_400_000).toISOString().slice(0, 10);
const lines = (rows: Ev[]) => rows.map((r) => `${r.id}|${atText(r.at)}|${r.v}`).sort();

describe.each(['embedded', 'kafka'] as const)('a partitioned source table (%s)', (mode) => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    src = await createTestDatabase(`e2e_part${mode[0]}`);
    wh = await createTestDatabase(`e2e_partw${mode[0]}`);
    await psql(src.url, DDL);
    dir = mkdtempSync(join(tmpdir(), 'tm-part-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  /** The warehouse's rows once they equal `expected`, or as they are after 90 s. */
  const waitForLines = (expected: string[]) =>
    settled(
      async () => lines(await psql<Ev>(wh.url, 'SELECT id, at, v FROM public.events').catch(() => [])),
      expected,
    );

  it('is mirrored as one table, whatever partition its rows are in', async () => {
    // GIVEN the partitioned table copied by the initial snapshot
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      pipelineYaml(mode, src.name, dir, 'public.events', 'discoverEveryMs: 500'),
    );
    const proc = await runPipeline(config, { SRC_URL: src.url, WH_URL: wh.url });
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // WHEN rows change in each partition, move between them, and a new partition is created
    await psql(
      src.url,
      `INSERT INTO events VALUES (100, '2024-02-02', 'new 2024'), (101, '2025-03-03', 'new 2025');
       UPDATE events SET v = 'changed' WHERE id IN (1, 2);
       UPDATE events SET at = '2025-07-07' WHERE id = 4;
       DELETE FROM events WHERE id = 5;
       CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
       INSERT INTO events VALUES (102, '2026-01-01', 'in a new partition');`,
    );
    // AND a table with rows is attached as a partition
    await psql(
      src.url,
      `CREATE TABLE events_2027 (id int, at date, v text, PRIMARY KEY (id, at));
       INSERT INTO events_2027 VALUES (200, '2027-05-05', 'attached'), (201, '2027-06-06', 'attached too');
       ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');`,
    );
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const mirrored = lines(await psql<Ev>(src.url, 'SELECT id, at, v FROM events'));
    expect(await waitForLines(mirrored)).toEqual(mirrored);

    // WHEN one partition is truncated on its own and another detached
    const kept = lines(
      await psql<Ev>(
        src.url,
        'SELECT id, at, v FROM events_2024 UNION ALL SELECT id, at, v FROM events_2026',
      ),
    );
    await psql(src.url, 'TRUNCATE events_2024');
    await psql(src.url, 'ALTER TABLE events DETACH PARTITION events_2026');
    await psql(src.url, "INSERT INTO events VALUES (103, '2024-12-12', 'after the truncate')");
    await waitForSlot(src.url, `tidemark_${src.name}`);

    // THEN the source says the sinks keep those rows
    const until = Date.now() + 30_000;
    while (!/partition detached or dropped/.test(proc.stderr()) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 300));
    expect(proc.stderr()).toMatch(
      /"partition":"public.events_2024".*partition truncated or rewritten on its own/,
    );
    expect(proc.stderr()).toMatch(/"partition":"public.events_2026".*partition detached or dropped/);
    // AND both sinks hold the source's rows, and still those of the two partitions
    const expected = [
      ...new Set([...lines(await psql<Ev>(src.url, 'SELECT id, at, v FROM events')), ...kept]),
    ].sort();
    expect(await waitForLines(expected)).toEqual(expected);
    expect(await proc.terminate()).toBe(0);
    const ice = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.events');
    expect(lines(ice.rows as Ev[])).toEqual(expected);
  }, 300_000);
});
