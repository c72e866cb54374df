import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TABLE_OPTIONS, type TableOptions } from '../../../src/config/schema';
import type { ChangeEvent, Op, Row } from '../../../src/core/change-event';
import { compareTokens, parseToken, type TokenUpdate } from '../../../src/core/offset-token';
import type { ColumnSchema, TableSchema } from '../../../src/core/table-schema';
import { LocalFileIO } from '../../../src/sink/iceberg/file-io';
import { Lakehouse } from '../../../src/sink/iceberg/lakehouse';
import { SqlCatalog } from '../../../src/sink/iceberg/sql-catalog';
import { IcebergTarget } from '../../../src/sink/iceberg-target';
import { type ChannelTake, tablesForSink, tokenAfter } from '../../../src/sink/round-builder';
import { readWithPyIceberg } from './iceberg-fixtures';

/**
 * The three table modes through the sink's own path (IcebergTarget.commitRound with rounds built
 * by round-builder from channel takes, tokens in the snapshot summaries), read back by PyIceberg:
 * inserts, TOAST-unchanged updates, a key change, deletes, a truncate, a re-insert, a replayed
 * round and a restart that re-reads committed changes, compaction and expiry, then a new column.
 */
type Mode = TableOptions['mode'];
const MODES: readonly Mode[] = ['mirror', 'soft-delete', 'append'];
const tableOf = (mode: Mode) => `people_${mode.replace('-', '_')}`;
const PARTITION: Record<Mode, string[]> = {
  mirror: [],
  'soft-delete': ['bucket[4](id)'],
  append: ['day(_tidemark_commit_time)'],
};

const col = (name: string, attnum: number, type: ColumnSchema['type'], pgType: string): ColumnSchema => ({
  name,
  attnum,
  type,
  pgType,
  nullable: attnum !== 1,
});
const COLUMNS: ColumnSchema[] = [
  col('id', 1, { kind: 'int32' }, 'integer'),
  col('name', 2, { kind: 'text' }, 'text'),
  col('doc', 3, { kind: 'text' }, 'text'),
  col('amount', 4, { kind: 'decimal', precision: 12, scale: 2 }, 'numeric(12,2)'),
];
const schemaOf = (mode: Mode, version: 1 | 2): TableSchema => ({
  schema: 'public',
  table: tableOf(mode),
  version,
  primaryKey: ['id'],
  // note: added with DEFAULT 'none' (Postgres gives it to the existing rows without a change)
  columns:
    version === 1 ? COLUMNS : [...COLUMNS, { ...col('note', 5, { kind: 'text' }, 'text'), fill: 'none' }],
});
const optionsOf = (mode: Mode): TableOptions => ({
  ...DEFAULT_TABLE_OPTIONS,
  mode,
  partitionBy: PARTITION[mode],
  onError: 'stop',
});

/** Commit times, one source transaction per day (so the append table spans day partitions). */
const T = [0, 1, 2, 3, 4, 5, 6].map((d) => Date.UTC(2024, 0, 1 + d, 12));
type Change = [op: Op, before: Row | null, after: Row | null, unchanged?: string[]];
/** The source transactions: [commit LSN, commit time, changes]. */
const TX: Record<string, [bigint, number, Change[]]> = {
  A: [
    0x100n,
    T[1]!,
    [
      ['c', null, { id: 1, name: 'ann', doc: 'big-1', amount: '1.00' }],
      ['c', null, { id: 2, name: 'bob', doc: 'big-2', amount: '2.00' }],
      ['c', null, { id: 3, name: 'cy', doc: 'big-3', amount: '3.00' }],
      ['c', null, { id: 4, name: 'dee', doc: 'big-4', amount: '4.00' }],
    ],
  ],
  B: [
    0x200n,
    T[2]!,
    [
      ['u', { id: 1 }, { id: 1, name: 'ann2', amount: '1.50' }, ['doc']],
      ['u', { id: 1 }, { id: 1, name: 'ann3', amount: '1.75' }, ['doc']],
      ['d', { id: 2 }, null],
      // a key change: the source sends the delete of the old key and an insert naming it
      ['d', { id: 3 }, null],
      ['c', { id: 3 }, { id: 30, name: 'cy', doc: 'big-3', amount: '3.00' }],
      ['c', null, { id: 5, name: 'eve', doc: 'big-5', amount: '5.00' }],
      ['u', { id: 5 }, { id: 5, name: 'eve2', amount: '5.50' }, ['doc']],
    ],
  ],
  C: [
    0x300n,
    T[3]!,
    [
      ['t', null, null],
      ['c', null, { id: 6, name: 'fay', doc: 'big-6', amount: '6.00' }],
    ],
  ],
  D: [
    0x400n,
    T[4]!,
    [
      ['c', null, { id: 1, name: 'ann-again', doc: 'big-1b', amount: '1.00' }],
      ['d', { id: 6 }, null],
    ],
  ],
  E: [0x500n, T[5]!, [['u', { id: 1 }, { id: 1, name: 'ann-final', amount: '1.25' }, ['doc']]]],
  F: [
    0x600n,
    T[6]!,
    [
      ['c', null, { id: 7, name: 'gus', doc: 'big-7', amount: '7.00', note: 'n7' }],
      ['u', { id: 1 }, { id: 1, name: 'ann-v2', amount: '1.25', note: 'n1' }, ['doc']],
    ],
  ],
};

function events(mode: Mode, tx: string, version: 1 | 2 = 1): ChangeEvent[] {
  const [lsn, at, changes] = TX[tx]!;
  return changes.map(([op, before, after, unchanged], seq) => ({
    op,
    table: { schema: 'public', table: tableOf(mode) },
    position: { lsn, seq },
    txId: Number(lsn),
    commitTimeMs: at,
    schemaVersion: version,
    before,
    after,
    unchanged: unchanged ?? [],
    snapshot: false,
  }));
}

/** One channel per table (its partition 0), holding the given transactions. */
function takes(txs: string[], version: 1 | 2 = 1): ChannelTake[] {
  return MODES.map((mode) => ({
    channel: `public.${tableOf(mode)}/0`,
    changes: txs.flatMap((tx) => events(mode, tx, version)).map((event) => ({ event, offset: -1, bytes: 1 })),
  }));
}

const modeOfTable = (table: string) => MODES.find((m) => tableOf(m) === table)!;

/** What the commit coordinator does for one sink: drop what the sink holds, move tokens forward. */
async function commitTakes(target: IcebergTarget, round: ChannelTake[], commitId: string) {
  const tokens = await target.readTokens();
  const tables = tablesForSink(
    round,
    tokens,
    (ev) => schemaOf(modeOfTable(ev.table.table), ev.schemaVersion as 1 | 2),
    (key) => optionsOf(modeOfTable(key.split('.')[1]!)),
  );
  const updates: TokenUpdate[] = [];
  for (const t of round) {
    const expected = tokens.get(t.channel) ?? null;
    const next = tokenAfter(t)!;
    if (expected === null || compareTokens(parseToken(next), parseToken(expected)) > 0)
      updates.push({ channel: t.channel, expected, next });
  }
  let cutLsn = 0n;
  for (const t of round)
    for (const c of t.changes) if (c.event.position.lsn > cutLsn) cutLsn = c.event.position.lsn;
  const r = { cutLsn, commitId, tables, tokens: updates };
  await target.commitRound(r);
  return { round: r, changes: tables.reduce((n, t) => n + t.events.length, 0) };
}

// Tagged values as read_table.py prints them.
const tstz = (ms: number) => ({ tstz: String(BigInt(ms) * 1000n) });
const dec = (v: string | null) => (v === null ? null : { decimal: v });
function person(
  id: number | null,
  name: string | null,
  doc: string | null,
  amount: string | null,
  note?: string,
) {
  return { id, name, doc, amount: dec(amount), note: note ?? null };
}

describe('Iceberg table modes (mirror, soft-delete, append), read back by PyIceberg', () => {
  let dir: string;
  let uri: string;
  const config = () => ({
    catalog: { kind: 'sql' as const, url: `sqlite://${dir}/catalog.db`, name: 'tidemark' },
    location: `${dir}/lake`,
    targetFileBytes: 1 << 27,
  });
  const read = async (mode: Mode) => (await readWithPyIceberg(uri, `public.${tableOf(mode)}`)).rows as Row[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-modes-'));
    uri = `sqlite:///${dir}/catalog.db`;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('each mode holds what the warehouse would, through replays, a restart, maintenance and a new column', async () => {
    // GIVEN the sink with one table per mode
    let target = await IcebergTarget.open(config());
    await target.prepareTables(MODES.map((m) => ({ schema: schemaOf(m, 1), options: optionsOf(m) })));

    // WHEN four rounds commit: inserts; TOAST-unchanged updates, deletes, a key change; a
    // truncate and an insert; a re-insert of a deleted key and a delete
    await commitTakes(target, takes(['A']), 'r1');
    await commitTakes(target, takes(['B']), 'r2');
    await commitTakes(target, takes(['C']), 'r3');
    const r4 = await commitTakes(target, takes(['D']), 'r4');

    // THEN committing round 4 again (a replay of the same tokens) is fenced: nothing is written twice
    await expect(target.commitRound({ ...r4.round, commitId: 'r4-again' })).rejects.toMatchObject({
      kind: 'fenced',
    });
    await target.close();

    // WHEN the sink restarts and is handed rounds 3 and 4 again (re-read from the log) with round 5
    target = await IcebergTarget.open({
      ...config(),
      maintenance: {
        compactAtFiles: 1,
        targetFileRows: 1000,
        expireAfterMs: 0,
        keepSnapshots: 1,
        maxSnapshots: 1000,
        checkEveryMs: 1000,
        passBudgetMs: 0,
      },
    });
    await target.prepareTables(MODES.map((m) => ({ schema: schemaOf(m, 1), options: optionsOf(m) })));
    const r5 = await commitTakes(target, takes(['C', 'D', 'E']), 'r5');
    // THEN only round 5's change reaches the tables (one per table)
    expect(r5.changes).toBe(3);

    // WHEN maintenance compacts the tables' files and expires the old snapshots, in passes with
    // no time to spare (each pass does one table, the next starts where it stopped)
    const passes: string[][] = [];
    for (const _ of MODES) {
      const done = await target.maintain();
      passes.push([...new Set(done.map((d) => d.table))]);
      expect(done.some((d) => d.kind === 'compact')).toBe(true);
    }
    // THEN the three passes reached every table once
    expect(passes.every((p) => p.length === 1)).toBe(true);
    expect(passes.flat().sort()).toEqual(MODES.map((m) => `public.${tableOf(m)}`).sort());
    // AND a column is added at the source, then a round writes it (and a TOAST-unchanged update)
    await commitTakes(target, takes(['F'], 2), 'r6');
    await target.close();

    // THEN the mirror holds the source's rows
    expect(sortById(await read('mirror'))).toEqual([
      person(1, 'ann-v2', 'big-1b', '1.25', 'n1'),
      person(7, 'gus', 'big-7', '7.00', 'n7'),
    ]);
    // AND the soft-delete table also the deleted rows, with the commit time of their delete or
    // truncate (and the added column's default, as every stored row has it in the warehouse)
    expect(sortById(await read('soft-delete'))).toEqual([
      { ...person(1, 'ann-v2', 'big-1b', '1.25', 'n1'), _tidemark_deleted_at: null },
      { ...person(2, 'bob', 'big-2', '2.00', 'none'), _tidemark_deleted_at: tstz(T[2]!) },
      { ...person(3, 'cy', 'big-3', '3.00', 'none'), _tidemark_deleted_at: tstz(T[2]!) },
      { ...person(4, 'dee', 'big-4', '4.00', 'none'), _tidemark_deleted_at: tstz(T[3]!) },
      { ...person(5, 'eve2', 'big-5', '5.50', 'none'), _tidemark_deleted_at: tstz(T[3]!) },
      { ...person(6, 'fay', 'big-6', '6.00', 'none'), _tidemark_deleted_at: tstz(T[4]!) },
      { ...person(7, 'gus', 'big-7', '7.00', 'n7'), _tidemark_deleted_at: null },
      { ...person(30, 'cy', 'big-3', '3.00', 'none'), _tidemark_deleted_at: tstz(T[3]!) },
    ]);
    // AND the append table every change once, in order, with op, LSN, seq and commit time; a
    // TOAST-unchanged value not in the round is null and named in _tidemark_unchanged; the added
    // column is null in the rows from before it (a history keeps what the rows were)
    const change = (
      tx: string,
      seq: number,
      op: Op,
      p: ReturnType<typeof person>,
      unchanged: string[] | null = null,
    ) => ({
      ...p,
      _tidemark_op: op,
      _tidemark_lsn: Number(TX[tx]![0]),
      _tidemark_seq: seq,
      _tidemark_commit_time: tstz(TX[tx]![1]),
      _tidemark_unchanged: unchanged,
    });
    const gone = (id: number | null) => person(id, null, null, null);
    const appended = (await read('append')).sort(
      (a, b) =>
        Number(a._tidemark_lsn) - Number(b._tidemark_lsn) ||
        Number(a._tidemark_seq) - Number(b._tidemark_seq),
    );
    expect(appended).toEqual([
      change('A', 0, 'c', person(1, 'ann', 'big-1', '1.00')),
      change('A', 1, 'c', person(2, 'bob', 'big-2', '2.00')),
      change('A', 2, 'c', person(3, 'cy', 'big-3', '3.00')),
      change('A', 3, 'c', person(4, 'dee', 'big-4', '4.00')),
      change('B', 0, 'u', person(1, 'ann2', null, '1.50'), ['doc']),
      change('B', 1, 'u', person(1, 'ann3', null, '1.75'), ['doc']),
      change('B', 2, 'd', gone(2)),
      change('B', 3, 'd', gone(3)),
      change('B', 4, 'c', person(30, 'cy', 'big-3', '3.00')),
      change('B', 5, 'c', person(5, 'eve', 'big-5', '5.00')),
      change('B', 6, 'u', person(5, 'eve2', 'big-5', '5.50')),
      change('C', 0, 't', gone(null)),
      change('C', 1, 'c', person(6, 'fay', 'big-6', '6.00')),
      change('D', 0, 'c', person(1, 'ann-again', 'big-1b', '1.00')),
      change('D', 1, 'd', gone(6)),
      change('E', 0, 'u', person(1, 'ann-final', null, '1.25'), ['doc']),
      change('F', 0, 'c', person(7, 'gus', 'big-7', '7.00', 'n7')),
      change('F', 1, 'u', person(1, 'ann-v2', null, '1.25', 'n1'), ['doc']),
    ]);
  }, 120_000);

  test('a table keeps its mode; an append table may have no key, the other modes need one', async () => {
    const catalog = await SqlCatalog.sqlite(join(dir, 'catalog2.db'));
    const lake = new Lakehouse({ catalog, io: new LocalFileIO(), warehouse: `file://${dir}/lake2` });
    try {
      await lake.createTable(schemaOf('append', 1), { mode: 'append' });
      await expect(lake.createTable(schemaOf('append', 1), { mode: 'mirror' })).rejects.toMatchObject({
        kind: 'schema_incompatible',
        message: expect.stringMatching(/built in append mode, now configured as mirror/),
      });
      const keyless = { ...schemaOf('append', 1), table: 'keyless', primaryKey: [] };
      await expect(lake.createTable(keyless, { mode: 'soft-delete' })).rejects.toMatchObject({
        kind: 'source_setup',
      });
      await lake.createTable(keyless, { mode: 'append' });
      const staged = await lake.stageChanges(keyless, [
        { ...events('append', 'A')[0]!, table: { schema: 'public', table: 'keyless' } },
      ]);
      await lake.commit([staged], { properties: {} });
      expect((await lake.scan(keyless)).map((r) => [r.id, r._tidemark_op])).toEqual([[1, 'c']]);
    } finally {
      await catalog.close();
    }
  });
});

function sortById(rows: Row[]): Row[] {
  return [...rows].sort((a, b) => Number(a.id) - Number(b.id));
}
