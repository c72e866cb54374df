import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TABLE_OPTIONS, type TableOptions } from '../../../src/config/schema';
import type { ChangeEvent, Op, Row } from '../../../src/core/change-event';
import type { TableSchema } from '../../../src/core/table-schema';
import type { TableMetadata } from '../../../src/sink/iceberg/table-metadata';
import { IcebergTarget } from '../../../src/sink/iceberg-target';
import type { TableChanges } from '../../../src/sink/sink-target';
import { byId, readWithJava, readWithPyIceberg } from './iceberg-fixtures';

const text = (name: string, attnum: number) => ({
  name,
  attnum,
  type: { kind: 'text' as const },
  pgType: 'text',
  nullable: true,
});
const ITEMS: TableSchema = {
  schema: 'public',
  table: 'items',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
    text('name', 2),
    text('note', 3),
  ],
};
const TAGS: TableSchema = { ...ITEMS, table: 'tags' };
const OPTIONS: TableOptions = { ...DEFAULT_TABLE_OPTIONS, onError: 'stop' };

let seq = 0;
function ev(schema: TableSchema, lsn: number, op: Op, row: Row, unchanged: string[] = []): ChangeEvent {
  return {
    op,
    table: { schema: schema.schema, table: schema.table },
    position: { lsn: BigInt(lsn), seq: seq++ },
    txId: lsn,
    commitTimeMs: 0,
    schemaVersion: 1,
    before: op === 'c' ? null : { id: row.id! },
    after: op === 'd' ? null : row,
    unchanged,
    snapshot: false,
  };
}
const part = (schema: TableSchema, events: ChangeEvent[]): TableChanges => ({
  schema,
  options: OPTIONS,
  events,
});

/**
 * A round written in parts (one source transaction larger than the sink's buffers): the parts'
 * files sit in storage while no reader sees them, a later part replaces and deletes rows of an
 * earlier one and fills TOAST-unchanged columns from them, and one multi-table commit makes the
 * whole transaction visible. Read back by PyIceberg and by Iceberg's Java library.
 */
describe('Iceberg sink: a round in parts', () => {
  let dir: string;
  const db = () => join(dir, 'catalog.db');
  const config = () => ({
    catalog: { kind: 'sql' as const, url: `sqlite://${db()}`, name: 'tidemark' },
    location: `${dir}/lake`,
    targetFileBytes: 1 << 27,
  });
  const pyRows = async (table: string) => byId((await readWithPyIceberg(`sqlite:///${db()}`, table)).rows);
  /** The table's newest metadata file (the SQLite catalog points at the highest sequence). */
  const currentMetadata = (table: string): TableMetadata => {
    const metaDir = `${dir}/lake/public/${table}/metadata`;
    const newest = readdirSync(metaDir)
      .filter((f) => f.endsWith('.metadata.json'))
      .sort()
      .pop()!;
    return JSON.parse(readFileSync(join(metaDir, newest), 'utf8')) as TableMetadata;
  };
  const dataFiles = () => readdirSync(`${dir}/lake/public/items/data`).sort();
  /** A writer opened afresh on items (tokens read), with the table's rows and data files as they are. */
  const reopened = async () => {
    const sink = await IcebergTarget.open(config());
    await sink.prepareTables([{ schema: ITEMS, options: OPTIONS }]);
    await sink.readTokens();
    return { sink, before: await pyRows('public.items'), files: dataFiles() };
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-parted-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('parts are invisible until the commit, which shows the whole transaction in both tables', async () => {
    // GIVEN items 1..3 committed
    const sink = await IcebergTarget.open(config());
    await sink.prepareTables([
      { schema: ITEMS, options: OPTIONS },
      { schema: TAGS, options: OPTIONS },
    ]);
    await sink.readTokens();
    await sink.commitRound({
      cutLsn: 0x10n,
      commitId: 'r1',
      tables: [
        part(
          ITEMS,
          [1, 2, 3].map((id) => ev(ITEMS, 0x10, 'c', { id, name: `n${id}`, note: `note ${id}` })),
        ),
      ],
      tokens: [{ channel: 'items/0', expected: null, next: '0/10#2@3' }],
    });

    // WHEN transaction 0/20 is written in two parts
    const r = await sink.openRound();
    await r.stage([
      part(ITEMS, [
        ev(ITEMS, 0x20, 'c', { id: 10, name: 'ten', note: 'note 10' }),
        ev(ITEMS, 0x20, 'u', { id: 1, name: 'one', note: 'note 1b' }),
        ev(ITEMS, 0x20, 'd', { id: 2 }),
      ]),
      part(TAGS, [ev(TAGS, 0x20, 'c', { id: 100, name: 'tag', note: 'x' })]),
    ]);
    await r.stage([
      part(ITEMS, [
        ev(ITEMS, 0x20, 'u', { id: 10, name: 'TEN' }, ['note']), // fills from part 1's row
        ev(ITEMS, 0x20, 'u', { id: 1, name: 'uno' }, ['note']), // an update of an update
        ev(ITEMS, 0x20, 'u', { id: 3, name: 'three' }, ['note']), // fills from the committed row
        ev(ITEMS, 0x20, 'c', { id: 12, name: 'twelve', note: null }),
        ev(ITEMS, 0x20, 'd', { id: 12 }),
        ev(ITEMS, 0x20, 'c', { id: 12, name: 'twelve again', note: 'back' }),
      ]),
      part(TAGS, [ev(TAGS, 0x20, 'u', { id: 100, name: 'tag 2', note: 'y' })]),
    ]);
    // THEN no reader sees any of it yet
    expect((await pyRows('public.items')).map((x) => (x as Row).name)).toEqual(['n1', 'n2', 'n3']);
    expect(await pyRows('public.tags')).toEqual([]);

    // WHEN it commits
    await r.commit({
      cutLsn: 0x20n,
      commitId: 'r2',
      tokens: [
        { channel: 'items/0', expected: '0/10#2@3', next: '0/20#10@12' },
        { channel: 'tags/0', expected: null, next: '0/20#4@2' },
      ],
    });
    // THEN both readers see the transaction whole, each key once
    const items = [
      { id: 1, name: 'uno', note: 'note 1b' },
      { id: 3, name: 'three', note: 'note 3' },
      { id: 10, name: 'TEN', note: 'note 10' },
      { id: 12, name: 'twelve again', note: 'back' },
    ];
    expect(await pyRows('public.items')).toEqual(items);
    expect(byId((await readWithJava(`jdbc:sqlite:${db()}`, '', '', 'public.items')).rows)).toEqual(items);
    const tags = [{ id: 100, name: 'tag 2', note: 'y' }];
    expect(await pyRows('public.tags')).toEqual(tags);
    expect(byId((await readWithJava(`jdbc:sqlite:${db()}`, '', '', 'public.tags')).rows)).toEqual(tags);
    // AND the table gained one snapshot (the last of the parts' steps: no reader can time-travel
    // to a part), on the one before, its sequence number past every part's
    const m = currentMetadata('items');
    expect(m.snapshots).toHaveLength(2);
    const [before, round] = m.snapshots;
    expect(round!['parent-snapshot-id']).toBe(before!['snapshot-id']);
    expect(round!.summary['tidemark.commit-id']).toBe('r2');
    expect(round!.summary['tidemark.cut-lsn']).toBe('0/20');
    expect(round!['sequence-number']).toBe(before!['sequence-number'] + 2);
    expect(m['snapshot-log'].map((e) => e['snapshot-id'])).toEqual(m.snapshots.map((x) => x['snapshot-id']));
    expect(currentMetadata('tags').snapshots.map((x) => x.summary['tidemark.commit-id'])).toEqual(['r2']);
    const tokens = await sink.readTokens();
    expect(tokens.get('items/0')).toBe('0/20#10@12');
    expect(tokens.get('tags/0')).toBe('0/20#4@2');
    await sink.close();

    // AND a fresh writer (key index rebuilt from the table) updates the right rows
    const fresh = await IcebergTarget.open(config());
    await fresh.prepareTables([{ schema: ITEMS, options: OPTIONS }]);
    await fresh.readTokens();
    await fresh.commitRound({
      cutLsn: 0x30n,
      commitId: 'r3',
      tables: [part(ITEMS, [ev(ITEMS, 0x30, 'u', { id: 10, name: 'ten!' }, ['note'])])],
      tokens: [{ channel: 'items/0', expected: '0/20#10@12', next: '0/30#0@13' }],
    });
    expect((await pyRows('public.items')).find((x) => (x as Row).id === 10)).toEqual({
      id: 10,
      name: 'ten!',
      note: 'note 10',
    });
    await fresh.close();
  });

  test('an aborted round leaves the table and the writer as they were', async () => {
    const { sink, before, files } = await reopened();
    // GIVEN parts that replace rows 1 and 3
    const r = await sink.openRound();
    await r.stage([part(ITEMS, [ev(ITEMS, 0x40, 'u', { id: 1, name: 'gone', note: 'gone' })])]);
    await r.stage([part(ITEMS, [ev(ITEMS, 0x40, 'u', { id: 3, name: 'gone' }, ['note'])])]);
    expect(dataFiles().length).toBeGreaterThan(files.length);
    // WHEN the round is given up
    await r.abort();
    // THEN its files are gone and the table is unchanged
    expect(dataFiles()).toEqual(files);
    expect(await pyRows('public.items')).toEqual(before);
    // AND the same writer's next round finds the committed rows (its key index followed the abort)
    await sink.commitRound({
      cutLsn: 0x41n,
      commitId: 'r4',
      tables: [part(ITEMS, [ev(ITEMS, 0x41, 'u', { id: 3, name: 'tres' }, ['note'])])],
      tokens: [{ channel: 'items/0', expected: '0/30#0@13', next: '0/41#0@14' }],
    });
    const after = await pyRows('public.items');
    expect(after).toEqual(
      (before as Row[]).map((x) => (x.id === 3 ? { id: 3, name: 'tres', note: 'note 3' } : x)),
    );
    await sink.close();
  });

  test('a fenced commit writes nothing and the round cannot be used again', async () => {
    const { sink, before, files } = await reopened();
    const r = await sink.openRound();
    await r.stage([part(ITEMS, [ev(ITEMS, 0x50, 'u', { id: 1, name: 'stale', note: 'stale' })])]);
    const err = await r
      .commit({
        cutLsn: 0x50n,
        commitId: 'r5',
        tokens: [{ channel: 'items/0', expected: '0/10#2@3', next: '0/50#0@15' }],
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'fenced' });
    expect(dataFiles()).toEqual(files);
    expect(await pyRows('public.items')).toEqual(before);
    await expect(r.stage([])).rejects.toThrow(/after it ended/);
    await sink.close();
  });

  test('a schema change between parts lands with the round: a new column, a default that fills every row, a round given up', async () => {
    // GIVEN a table holding rows 1..2 and a round in parts that changed it
    const GROWS: TableSchema = { ...ITEMS, table: 'grows' };
    const sink = await IcebergTarget.open(config());
    await sink.prepareTables([{ schema: GROWS, options: OPTIONS }]);
    await sink.readTokens();
    await sink.commitRound({
      cutLsn: 0x60n,
      commitId: 'g1',
      tables: [
        part(
          GROWS,
          [1, 2].map((id) => ev(GROWS, 0x60, 'c', { id, name: `n${id}`, note: `note ${id}` })),
        ),
      ],
      tokens: [{ channel: 'grows/0', expected: null, next: '0/60#0@1' }],
    });
    const r = await sink.openRound();
    await r.stage([
      part(GROWS, [
        ev(GROWS, 0x70, 'c', { id: 10, name: 'ten', note: 'note 10' }),
        ev(GROWS, 0x70, 'u', { id: 1, name: 'one', note: 'note 1b' }),
      ]),
    ]);
    // WHEN the transaction adds a nullable column (no default) and writes on, TOAST-unchanged too
    const v2: TableSchema = {
      ...GROWS,
      version: 2,
      columns: [
        ...GROWS.columns,
        { name: 'extra', attnum: 4, type: { kind: 'int32' }, pgType: 'integer', nullable: true },
      ],
    };
    await r.evolve!([{ schema: v2, options: OPTIONS }]);
    const at2 = (e: ChangeEvent): ChangeEvent => ({ ...e, schemaVersion: 2 });
    await r.stage([
      part(v2, [
        at2(ev(v2, 0x70, 'u', { id: 10, name: 'TEN', extra: 5 }, ['note'])), // fills from part 1's row
        at2(ev(v2, 0x70, 'u', { id: 2, name: 'two', extra: 6 }, ['note'])), // from the committed row
        at2(ev(v2, 0x70, 'c', { id: 11, name: 'eleven', note: 'note 11', extra: 11 })),
      ]),
    ]);
    // THEN readers see neither the new column nor the round's rows yet
    const first = [
      { id: 1, name: 'n1', note: 'note 1' },
      { id: 2, name: 'n2', note: 'note 2' },
    ];
    expect(await pyRows('public.grows')).toEqual(first);
    // WHEN it commits
    await r.commit({
      cutLsn: 0x70n,
      commitId: 'g2',
      tokens: [{ channel: 'grows/0', expected: '0/60#0@1', next: '0/70#0@6' }],
    });
    // THEN PyIceberg and Iceberg's Java library read the whole transaction, the earlier part's rows without the column
    const expected = [
      { id: 1, name: 'one', note: 'note 1b', extra: null },
      { id: 2, name: 'two', note: 'note 2', extra: 6 },
      { id: 10, name: 'TEN', note: 'note 10', extra: 5 },
      { id: 11, name: 'eleven', note: 'note 11', extra: 11 },
    ];
    expect(await pyRows('public.grows')).toEqual(expected);
    expect(byId((await readWithJava(`jdbc:sqlite:${db()}`, '', '', 'public.grows')).rows)).toEqual(expected);

    // WHEN a later round in parts meets a column added with a default (Postgres gives it to every
    // row there, those the transaction wrote before the ALTER too), then writes on
    const r2 = await sink.openRound();
    await r2.stage([
      part(v2, [
        at2(ev(v2, 0x80, 'u', { id: 1, name: 'uno', note: 'x', extra: 1 })),
        at2(ev(v2, 0x80, 'c', { id: 12, name: 'twelve', note: 'note 12', extra: 12 })),
      ]),
    ]);
    const v3: TableSchema = {
      ...v2,
      version: 3,
      columns: [
        ...v2.columns,
        { name: 'flag', attnum: 5, type: { kind: 'bool' }, pgType: 'boolean', nullable: true, fill: 't' },
      ],
    };
    await r2.evolve!([{ schema: v3, options: OPTIONS }]);
    const at3 = (e: ChangeEvent): ChangeEvent => ({ ...e, schemaVersion: 3 });
    await r2.stage([
      part(v3, [
        at3(ev(v3, 0x80, 'u', { id: 10, name: 'TEN!', extra: 5, flag: false }, ['note'])),
        at3(ev(v3, 0x80, 'c', { id: 13, name: 'thirteen', note: 'note 13', extra: 13, flag: null })),
      ]),
    ]);
    // THEN nothing of it shows before the commit
    expect(await pyRows('public.grows')).toEqual(expected);
    await r2.commit({
      cutLsn: 0x80n,
      commitId: 'g3',
      tokens: [{ channel: 'grows/0', expected: '0/70#0@6', next: '0/80#0@10' }],
    });
    // AND after it every row holds the default but those the transaction set after the ALTER
    const filled = [
      { id: 1, name: 'uno', note: 'x', extra: 1, flag: true },
      { id: 2, name: 'two', note: 'note 2', extra: 6, flag: true },
      { id: 10, name: 'TEN!', note: 'note 10', extra: 5, flag: false },
      { id: 11, name: 'eleven', note: 'note 11', extra: 11, flag: true },
      { id: 12, name: 'twelve', note: 'note 12', extra: 12, flag: true },
      { id: 13, name: 'thirteen', note: 'note 13', extra: 13, flag: null },
    ];
    expect(await pyRows('public.grows')).toEqual(filled);
    expect(byId((await readWithJava(`jdbc:sqlite:${db()}`, '', '', 'public.grows')).rows)).toEqual(filled);

    // WHEN a round that added a column is given up
    const v4: TableSchema = {
      ...v3,
      version: 4,
      columns: [
        ...v3.columns,
        { name: 'late', attnum: 6, type: { kind: 'text' }, pgType: 'text', nullable: true },
      ],
    };
    const at4 = (e: ChangeEvent): ChangeEvent => ({ ...e, schemaVersion: 4 });
    const r3 = await sink.openRound();
    await r3.stage([
      part(v3, [at3(ev(v3, 0x90, 'u', { id: 2, name: 'dos', note: 'y', extra: 2, flag: true }))]),
    ]);
    await r3.evolve!([{ schema: v4, options: OPTIONS }]);
    await r3.abort();
    // THEN the table is as it was, and the column comes with the next round that prepares it
    expect(await pyRows('public.grows')).toEqual(filled);
    await sink.prepareTables([{ schema: v4, options: OPTIONS }]);
    await sink.commitRound({
      cutLsn: 0x90n,
      commitId: 'g4',
      tables: [
        part(v4, [
          at4(ev(v4, 0x90, 'u', { id: 2, name: 'dos', note: 'y', extra: 2, flag: true, late: 'l' })),
        ]),
      ],
      tokens: [{ channel: 'grows/0', expected: '0/80#0@10', next: '0/90#0@11' }],
    });
    expect((await pyRows('public.grows')).map((x) => (x as Row).late ?? null)).toEqual([
      null,
      'l',
      null,
      null,
      null,
      null,
    ]);
    await sink.close();
  });

  test('a table first met inside the round is created there, unless its snapshots hold newer tokens', async () => {
    const FIRST: TableSchema = { ...ITEMS, table: 'first_met' };
    const OLD: TableSchema = { ...ITEMS, table: 'come_back' };
    // GIVEN a table the stream comes back to, whose last commit holds the newest token of its channel
    const before = await IcebergTarget.open(config());
    await before.prepareTables([{ schema: OLD, options: OPTIONS }]);
    await before.readTokens();
    await before.commitRound({
      cutLsn: 0xa0n,
      commitId: 'c1',
      tables: [part(OLD, [ev(OLD, 0xa0, 'c', { id: 1, name: 'one', note: null })])],
      tokens: [{ channel: 'come_back/0', expected: null, next: '0/A0#0@1' }],
    });
    await before.close();
    // AND a writer that has not met either table (its tokens read from another one)
    const sink = await IcebergTarget.open(config());
    await sink.prepareTables([{ schema: ITEMS, options: OPTIONS }]);
    await sink.readTokens();
    // WHEN a round in parts meets a new table after its first part
    const r = await sink.openRound();
    await r.stage([part(ITEMS, [ev(ITEMS, 0xb0, 'c', { id: 50, name: 'fifty', note: null })])]);
    await r.evolve!([{ schema: FIRST, options: OPTIONS }]);
    await r.stage([part(FIRST, [ev(FIRST, 0xb0, 'c', { id: 7, name: 'seven', note: 'n' })])]);
    // THEN the table exists, empty, until the round commits, and then holds the rows
    expect(await pyRows('public.first_met')).toEqual([]);
    await r.commit({ cutLsn: 0xb0n, commitId: 'b1', tokens: [] });
    expect(await pyRows('public.first_met')).toEqual([{ id: 7, name: 'seven', note: 'n' }]);
    // WHEN a round meets the table holding a token newer than the writer's
    const r2 = await sink.openRound();
    await r2.stage([part(ITEMS, [ev(ITEMS, 0xc0, 'c', { id: 51, name: 'fifty-one', note: null })])]);
    // THEN it is refused (the round is then held whole, which prepares it and reads its tokens first)
    await expect(r2.evolve!([{ schema: OLD, options: OPTIONS }])).rejects.toThrow(
      /come_back, first met inside the round, holds a token of come_back\/0 newer than the round's/,
    );
    await sink.close();
  });
});
