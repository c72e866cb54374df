import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TABLE_OPTIONS, type TableOptions } from '../../../src/config/schema';
import type { ChangeEvent } from '../../../src/core/change-event';
import { TidemarkError } from '../../../src/core/errors';
import type { TableSchema } from '../../../src/core/table-schema';
import { silentLogger } from '../../../src/observe/logger';
import { FileOffsetStore } from '../../../src/offsets/file-offset-store';
import { ChannelBuffer } from '../../../src/sink/channel-buffer';
import { CommitCoordinator } from '../../../src/sink/commit-coordinator';
import { PartedRoundVoid, PartRefused } from '../../../src/sink/parted-rounds';
import type { CommitRound, SinkTarget, TableChanges } from '../../../src/sink/sink-target';
import { insertEvent } from '../../support/change-events';

const schema: TableSchema = {
  schema: 'public',
  table: 't',
  version: 1,
  primaryKey: ['id'],
  columns: [{ name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false }],
};

const ev = (lsn: bigint, seq: number, id: number) => insertEvent(lsn, seq, { id });
/** Version 2 of public.t: a column added inside the transaction. */
const schemaV2: TableSchema = {
  ...schema,
  version: 2,
  columns: [
    ...schema.columns,
    { name: 'extra', attnum: 2, type: { kind: 'int32' }, pgType: 'integer', nullable: true },
  ],
};
const schemaOfEvent = (e: ChangeEvent) => (e.schemaVersion === 2 ? schemaV2 : schema);

/** An in-memory sink honouring the SinkTarget token contract, failing on command. */
class FakeSink implements SinkTarget {
  tokens = new Map<string, string>();
  rounds: CommitRound[] = [];
  failNext: Array<'transient' | 'fenced' | 'unknown-landed'> = [];
  /** Per call of prepareTables / of a round's evolve: `table@version` of each table. */
  prepared: string[][] = [];
  evolved: string[][] = [];
  /** Whether its rounds take a schema change (PartedRound.evolve), or refuse it. */
  evolves: 'yes' | 'refuse' | 'no' = 'yes';
  constructor(readonly name: string) {}
  async prepareTables(tables: readonly { schema: TableSchema }[]) {
    this.prepared.push(tables.map((t) => `${t.schema.table}@${t.schema.version}`));
  }
  async commitRound(r: CommitRound) {
    const f = this.failNext.shift();
    if (f === 'transient') throw new TidemarkError('transient', 'boom');
    for (const u of r.tokens)
      if ((this.tokens.get(u.channel) ?? null) !== u.expected) throw new TidemarkError('fenced', 'moved');
    if (f === 'fenced') throw new TidemarkError('fenced', 'moved');
    this.rounds.push(r);
    for (const u of r.tokens) this.tokens.set(u.channel, u.next);
    if (f === 'unknown-landed')
      throw new TidemarkError('commit_state_unknown', 'connection lost after COMMIT');
  }
  /** Parts staged by the open parted round; `aborted` counts rounds given up. */
  parts: TableChanges[][] = [];
  aborted = 0;
  async openRound() {
    const parts: TableChanges[][] = [];
    this.parts = parts;
    return {
      stage: async (tables: readonly TableChanges[]) => {
        parts.push([...tables]);
      },
      commit: async (r: Omit<CommitRound, 'tables'>) => {
        // every part's tables in one round: what the reader of this sink sees at once
        await this.commitRound({ ...r, tables: parts.flat() });
      },
      abort: async () => {
        this.aborted++;
      },
      ...(this.evolves === 'no'
        ? {}
        : {
            evolve: async (tables: readonly { schema: TableSchema }[]) => {
              if (this.evolves === 'refuse') throw new PartRefused(`${this.name}: cannot alter here`);
              this.evolved.push(tables.map((t) => `${t.schema.table}@${t.schema.version}`));
              // what the reader of this sink sees: the schema change in its place among the parts
              parts.push([]);
            },
          }),
    };
  }
  async readTokens() {
    return new Map(this.tokens);
  }
  async lastCut() {
    return null;
  }
  async close() {}
  marks: Array<[string, string | null]> = [];
  async markDropped(t: { schema: string; table: string }, at: string | null) {
    this.marks.push([`${t.schema}.${t.table}`, at]);
  }
}

function setup(lake: FakeSink, wh: FakeSink, failures: string[] = [], mode: TableOptions['mode'] = 'mirror') {
  const parts = { n: 0 };
  const store = new FileOffsetStore(join(mkdtempSync(join(tmpdir(), 'tm-coord-')), 'o.json'));
  const c = new CommitCoordinator({
    targets: [lake, wh],
    store,
    logger: silentLogger,
    schemaOf: schemaOfEvent,
    optionsOf: () => ({ ...DEFAULT_TABLE_OPTIONS, mode }),
    retryDelayMs: 1,
    onFailed: (sink, kind) => failures.push(`${sink}:${kind}`),
    onPart: () => parts.n++,
  });
  return { c, store, parts };
}

describe('CommitCoordinator', () => {
  it('commits only changes <= the cut, to every sink, then the offset store', async () => {
    const lake = new FakeSink('iceberg');
    const wh = new FakeSink('warehouse');
    const { c, store } = setup(lake, wh);
    await c.loadTokens();
    const b0 = new ChannelBuffer('t/0');
    const b1 = new ChannelBuffer('t/1');
    b0.push({ event: ev(10n, 0, 1), offset: 0, bytes: 1 });
    b1.push({ event: ev(10n, 1, 2), offset: 0, bytes: 1 });
    b0.push({ event: ev(20n, 0, 3), offset: 1, bytes: 1 });

    expect(await c.commitCut(10n, [b0, b1])).toBe(true);
    expect(lake.rounds[0]!.tables[0]!.events.map((e) => e.after!.id)).toEqual([1, 2]);
    expect(wh.rounds[0]!.tokens).toEqual([
      { channel: 't/0', expected: null, next: '0/A#0@1' },
      { channel: 't/1', expected: null, next: '0/A#1@1' },
    ]);
    expect(await store.readTokens()).toEqual(
      new Map([
        ['t/0', '0/A#0@1'],
        ['t/1', '0/A#1@1'],
      ]),
    );
    expect(b0.size).toBe(1);
    expect(await c.commitCut(10n, [b0, b1])).toBe(false);
  });

  it('retries a transient failure with the same round, and resolves an unknown outcome by the tokens', async () => {
    const lake = new FakeSink('iceberg');
    const wh = new FakeSink('warehouse');
    wh.failNext = ['transient', 'unknown-landed'];
    const failures: string[] = [];
    const { c } = setup(lake, wh, failures);
    await c.loadTokens();
    const b = new ChannelBuffer('t/0');
    b.push({ event: ev(10n, 0, 1), offset: 5, bytes: 1 });
    await c.commitCut(10n, [b]);
    expect(wh.rounds).toHaveLength(1);
    expect(wh.tokens.get('t/0')).toBe('0/A#0@6');
    expect(failures).toEqual(['warehouse:failed', 'warehouse:unknown']);
  });

  it('gives each sink only what it lacks after a crash between the two sink commits', async () => {
    // GIVEN the lakehouse committed up to 0/A#1 but the warehouse only up to 0/A#0
    const lake = new FakeSink('iceberg');
    const wh = new FakeSink('warehouse');
    lake.tokens.set('t/0', '0/A#1@2');
    wh.tokens.set('t/0', '0/A#0@1');
    const { c, store } = setup(lake, wh);
    expect(await c.loadTokens()).toEqual(new Map([['t/0', '0/A#0@1']]));
    expect(await store.readTokens()).toEqual(new Map([['t/0', '0/A#0@1']]));
    // WHEN the replayed change and a new one arrive
    const b = new ChannelBuffer('t/0');
    b.push({ event: ev(10n, 1, 2), offset: 1, bytes: 1 });
    b.push({ event: ev(30n, 0, 3), offset: 2, bytes: 1 });
    await c.commitCut(30n, [b]);
    // THEN the lakehouse gets only the new change, the warehouse both
    expect(lake.rounds[0]!.tables[0]!.events.map((e) => e.after!.id)).toEqual([3]);
    expect(wh.rounds[0]!.tables[0]!.events.map((e) => e.after!.id)).toEqual([2, 3]);
  });

  it('aborts a fenced round and puts its changes back', async () => {
    const lake = new FakeSink('iceberg');
    const wh = new FakeSink('warehouse');
    lake.failNext = ['fenced'];
    const failures: string[] = [];
    const { c } = setup(lake, wh, failures);
    await c.loadTokens();
    const b = new ChannelBuffer('t/0');
    b.push({ event: ev(10n, 0, 1), offset: 0, bytes: 1 });
    await expect(c.commitCut(10n, [b])).rejects.toThrow(/moved/);
    expect(b.size).toBe(1);
    expect(failures).toEqual(['iceberg:fenced']);
    // The sinks commit side by side: the warehouse landed while the lakehouse was fenced.
    expect(wh.rounds).toHaveLength(1);
    expect(lake.rounds).toHaveLength(0);
  });

  it('commits a round again only to the sink that failed while the other landed', async () => {
    const lake = new FakeSink('iceberg');
    const wh = new FakeSink('warehouse');
    lake.failNext = ['fenced'];
    const { c, store } = setup(lake, wh);
    await c.loadTokens();
    const b = new ChannelBuffer('t/0');
    b.push({ event: ev(10n, 0, 1), offset: 0, bytes: 1 });
    b.push({ event: ev(10n, 1, 2), offset: 1, bytes: 1 });
    await expect(c.commitCut(10n, [b])).rejects.toThrow(/moved/);
    expect(await store.readTokens()).toEqual(new Map()); // no sink-wide token moved yet
    expect(await c.commitCut(10n, [b])).toBe(true);
    expect(lake.rounds.map((r) => r.tables[0]!.events.map((e) => e.after!.id))).toEqual([[1, 2]]);
    expect(wh.rounds).toHaveLength(1); // nothing twice: its token filtered the round out
    expect(wh.tokens.get('t/0')).toBe(lake.tokens.get('t/0'));
    expect(await store.readTokens()).toEqual(new Map([['t/0', '0/A#1@2']]));
  });

  it('marks a dropped table in every sink once its changes are committed, and once only', async () => {
    const lake = new FakeSink('iceberg');
    const wh = new FakeSink('warehouse');
    const store = new FileOffsetStore(join(mkdtempSync(join(tmpdir(), 'tm-coord-')), 'o.json'));
    const dropped = [{ table: 'public.gone', droppedAt: '2026-12-02T09:00:00.000Z', noticedAtLsn: '0/30' }];
    const c = new CommitCoordinator({
      targets: [lake, wh],
      store,
      logger: silentLogger,
      schemaOf: schemaOfEvent,
      optionsOf: () => DEFAULT_TABLE_OPTIONS,
      droppedTables: async () => dropped,
      droppedCheckEveryMs: 0,
    });
    // the source noticed the drop at 0/30: a cut below it may still hold the table's last changes
    await c.markDroppedIfDue(0x2fn);
    expect(lake.marks).toEqual([]);
    await c.markDroppedIfDue(0x30n);
    await c.markDroppedIfDue(0x40n);
    expect(lake.marks).toEqual([['public.gone', '2026-12-02T09:00:00.000Z']]);
    expect(wh.marks).toEqual(lake.marks);
  });

  describe('a round in parts (a transaction larger than the buffers)', () => {
    const truncate = (lsn: bigint, seq: number): ChangeEvent => ({
      ...ev(lsn, seq, 0),
      op: 't',
      after: null,
    });
    /** A coordinator over a lakehouse and a warehouse fake, tokens loaded; `fail` sets their failNext. */
    const twoSinks = async (
      fail: { lake?: FakeSink['failNext']; wh?: FakeSink['failNext']; mode?: TableOptions['mode'] } = {},
    ) => {
      const lake = new FakeSink('iceberg');
      const wh = new FakeSink('warehouse');
      lake.failNext = fail.lake ?? [];
      wh.failNext = fail.wh ?? [];
      const { c, store, parts } = setup(lake, wh, [], fail.mode);
      await c.loadTokens();
      return { lake, wh, c, store, parts };
    };
    const ids = (r: CommitRound) => r.tables.flatMap((t) => t.events.map((e) => e.after?.id ?? 0));

    it('writes parts that no sink shows until the cut reaches the transaction, then one commit', async () => {
      // GIVEN transaction 0/14 spread over two channels, read in two pieces, and a later one
      const { lake, wh, c, store, parts } = await twoSinks();
      const b0 = new ChannelBuffer('t/0');
      const b1 = new ChannelBuffer('t/1');
      b0.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      b1.push({ event: ev(20n, 1, 2), offset: 0, bytes: 1 });
      // WHEN the first piece is staged
      expect(await c.stagePart(20n, [b0, b1])).toEqual({ staged: 2 });
      expect(c.partedAt).toBe(20n);
      expect([b0.size, b1.size]).toEqual([0, 0]);
      b0.push({ event: ev(20n, 2, 3), offset: 1, bytes: 1 });
      b1.push({ event: ev(30n, 0, 4), offset: 1, bytes: 1 });
      // THEN a cut below it commits nothing
      expect(await c.commitCut(19n, [b0, b1])).toBe(false);
      expect(lake.rounds).toHaveLength(0);
      expect(wh.rounds).toHaveLength(0);
      // AND the cut at it commits both pieces, once, with the last change of each channel as token
      expect(await c.commitCut(20n, [b0, b1])).toBe(true);
      expect(c.partedAt).toBeNull();
      expect(lake.parts.map((p) => p.flatMap((t) => t.events.map((e) => e.after!.id)))).toEqual([
        [1, 2],
        [3],
      ]);
      expect(ids(wh.rounds[0]!)).toEqual([1, 2, 3]);
      expect(wh.rounds[0]!.tokens).toEqual([
        { channel: 't/0', expected: null, next: '0/14#2@2' },
        { channel: 't/1', expected: null, next: '0/14#1@1' },
      ]);
      expect(await store.readTokens()).toEqual(
        new Map([
          ['t/0', '0/14#2@2'],
          ['t/1', '0/14#1@1'],
        ]),
      );
      expect(b1.size).toBe(1); // the later transaction waits for its own cut
      expect(parts.n).toBe(2); // counted in tidemark_sink_round_parts_total
    });

    it('commits the round at its own transaction, and what came after it as a usual round', async () => {
      // GIVEN a round in parts for 0/14, and a later transaction holding a truncate, read since
      const { wh, c } = await twoSinks();
      const b = new ChannelBuffer('t/0');
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b]);
      b.push({ event: ev(20n, 1, 2), offset: 1, bytes: 1 });
      b.push({ event: truncate(30n, 0), offset: 2, bytes: 1 });
      b.push({ event: ev(30n, 1, 3), offset: 3, bytes: 1 });
      // WHEN a cut past both comes
      expect(await c.commitCut(30n, [b])).toBe(true);
      // THEN the round commits at 0/14, the truncate's transaction in a round of its own after it
      expect(wh.rounds.map((r) => [r.cutLsn, ids(r)])).toEqual([
        [20n, [1, 2]],
        [30n, [0, 3]],
      ]);
      expect(b.size).toBe(0);
    });

    it("keeps a key change's two halves in one part when they sit on different channels", async () => {
      // GIVEN a round in parts for 0/14, and a key change 1 -> 9 at 0/14: its delete read on t/0,
      // its insert (a TOAST-unchanged note, in the old key's row) not yet read on t/1
      const { lake, wh, c } = await twoSinks();
      const b0 = new ChannelBuffer('t/0');
      const b1 = new ChannelBuffer('t/1');
      b0.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b0, b1]);
      const del: ChangeEvent = {
        ...ev(20n, 2, 0),
        op: 'd',
        before: { id: 1 },
        after: null,
        newKey: { id: 9 },
      };
      const ins: ChangeEvent = { ...ev(20n, 3, 9), before: { id: 1 }, unchanged: ['note'] };
      b0.push({ event: ev(20n, 1, 2), offset: 1, bytes: 1 });
      b0.push({ event: del, offset: 2, bytes: 1 });
      b0.push({ event: ev(20n, 5, 5), offset: 3, bytes: 1 });
      // WHEN the next part is staged
      expect(await c.stagePart(20n, [b0, b1])).toEqual({ staged: 1 });
      // THEN it stops before the delete, which waits in t/0's buffer for its insert
      expect(b0.size).toBe(2);
      // AND once t/1 has read the insert, the next part takes both halves
      b1.push({ event: ev(20n, 4, 4), offset: 0, bytes: 1 });
      b1.push({ event: ins, offset: 1, bytes: 1 });
      expect(await c.stagePart(20n, [b0, b1])).toEqual({ staged: 4 });
      expect(await c.commitCut(20n, [b0, b1])).toBe(true);
      expect(
        lake.parts.map((p) => p.flatMap((t) => t.events.map((e) => `${e.op}${e.after?.id ?? e.before?.id}`))),
      ).toEqual([['c1'], ['c2'], ['d1', 'c9', 'c4', 'c5']]);
      expect(wh.rounds.map((r) => r.cutLsn)).toEqual([20n]);
    });

    it('gives up a round, to be held whole, when a key change must be filled from a row an earlier part deleted', async () => {
      // GIVEN a delete without the new-key mark (a log written before it) in a part, its insert later
      const { wh, c } = await twoSinks();
      const b0 = new ChannelBuffer('t/0');
      const b1 = new ChannelBuffer('t/1');
      b0.push({ event: { ...ev(20n, 0, 0), op: 'd', before: { id: 1 }, after: null }, offset: 0, bytes: 1 });
      await c.stagePart(20n, [b0, b1]);
      b1.push({ event: { ...ev(20n, 1, 9), before: { id: 1 }, unchanged: ['note'] }, offset: 0, bytes: 1 });
      // WHEN the cut reaches the round THEN it is given up, to be read again and held whole
      const err = await c.commitCut(20n, [b0, b1]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartedRoundVoid);
      expect(err).toMatchObject({ holdWhole: true, lsn: 20n });
      expect((err as Error).message).toMatch(/whose delete is not in the last part/);
      expect(wh.rounds).toHaveLength(0);
    });

    it('takes a later transaction into a round already open, which then commits at the later cut', async () => {
      const { wh, c } = await twoSinks();
      const b0 = new ChannelBuffer('t/0');
      const b1 = new ChannelBuffer('t/1');
      b0.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b0, b1]);
      // t/1 is still reading 0/14 while t/0 has read on into 0/1E
      b0.push({ event: ev(30n, 0, 2), offset: 1, bytes: 1 });
      expect(await c.stagePart(30n, [b0, b1])).toEqual({ staged: 1 });
      expect(c.partedAt).toBe(30n);
      b1.push({ event: ev(20n, 1, 3), offset: 0, bytes: 1 });
      expect(await c.commitCut(20n, [b0, b1])).toBe(false);
      expect(await c.commitCut(30n, [b0, b1])).toBe(true);
      expect(ids(wh.rounds[0]!).sort()).toEqual([1, 2, 3]);
      expect(wh.rounds[0]!.cutLsn).toBe(30n);
    });

    it('applies a truncate in the first part holding a copy, and passes over what later parts bring from before it', async () => {
      // GIVEN a transaction whose truncate (seq 2) is on both channels; t/0 is read past it first
      const { lake, wh, c } = await twoSinks();
      const b0 = new ChannelBuffer('t/0');
      const b1 = new ChannelBuffer('t/1');
      b0.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      b0.push({ event: truncate(20n, 2), offset: 1, bytes: 1 });
      b0.push({ event: ev(20n, 3, 3), offset: 2, bytes: 1 });
      // WHEN it is written in parts: t/0's piece first, then t/1's (a change from before the truncate, its copy, one after)
      expect(await c.stagePart(20n, [b0, b1])).toEqual({ staged: 3 });
      b1.push({ event: ev(20n, 1, 2), offset: 0, bytes: 1 });
      b1.push({ event: truncate(20n, 2), offset: 1, bytes: 1 });
      b1.push({ event: ev(20n, 4, 4), offset: 2, bytes: 1 });
      expect(await c.commitCut(20n, [b0, b1])).toBe(true);
      // THEN the first part applies the truncate; the second brings only what came after it
      expect(
        lake.parts.map((p) => p.flatMap((t) => t.events.map((e) => `${e.op}${e.after?.id ?? ''}`))),
      ).toEqual([['c1', 't', 'c3'], ['c4']]);
      // AND both channels' tokens pass everything they read
      expect(wh.rounds[0]!.tokens.map((u) => u.next)).toEqual(['0/14#3@3', '0/14#4@3']);
    });

    it('keeps in an append table the changes from before a truncate that later parts bring (not its copies)', async () => {
      const { lake, c } = await twoSinks({ mode: 'append' });
      const b0 = new ChannelBuffer('t/0');
      const b1 = new ChannelBuffer('t/1');
      b0.push({ event: truncate(20n, 2), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b0, b1]);
      b1.push({ event: ev(20n, 1, 2), offset: 0, bytes: 1 });
      b1.push({ event: truncate(20n, 2), offset: 1, bytes: 1 });
      expect(await c.commitCut(20n, [b0, b1])).toBe(true);
      expect(
        lake.parts.map((p) => p.flatMap((t) => t.events.map((e) => `${e.op}${e.after?.id ?? ''}`))),
      ).toEqual([['t'], ['c2']]);
    });

    it('voids the round when a later part cannot be one, in every sink', async () => {
      const { lake, wh, c } = await twoSinks();
      const b = new ChannelBuffer('t/0');
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b]);
      // a key change whose TOAST-unchanged columns sit in the old key's row
      b.push({
        event: { ...ev(20n, 1, 7), before: { id: 1 }, unchanged: ['note'] },
        offset: 1,
        bytes: 1,
      });
      const err = await c.commitCut(20n, [b]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartedRoundVoid);
      expect((err as PartedRoundVoid).holdWhole).toBe(true);
      expect((err as PartedRoundVoid).lsn).toBe(20n);
      expect([lake.aborted, wh.aborted]).toEqual([1, 1]);
      expect([lake.rounds.length, wh.rounds.length]).toEqual([0, 0]);
      expect(c.partedAt).toBeNull();
    });

    it('voids the round on a retriable sink failure; the sink that committed keeps its tokens', async () => {
      const { lake, wh, c } = await twoSinks({ wh: ['transient'] });
      const b = new ChannelBuffer('t/0');
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b]);
      const err = await c.commitCut(20n, [b]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartedRoundVoid);
      expect((err as PartedRoundVoid).holdWhole).toBe(false);
      expect(lake.tokens.get('t/0')).toBe('0/14#0@1');
      // read again from the lowest token: the lakehouse has the change, the warehouse gets it
      expect(c.resumeToken('t/0')).toBeNull();
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      expect(await c.commitCut(20n, [b])).toBe(true);
      expect(lake.rounds).toHaveLength(1);
      expect(ids(wh.rounds[0]!)).toEqual([1]);
    });

    const v2 = (lsn: bigint, seq: number, id: number): ChangeEvent => ({
      ...ev(lsn, seq, id),
      schemaVersion: 2,
      after: { id, extra: id * 10 },
    });

    /** A round in parts opened at version 1, then version 2 read and the cut taken: its outcome. */
    const alteredInRound = async (c: CommitCoordinator) => {
      const b = new ChannelBuffer('t/0');
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b]);
      b.push({ event: v2(20n, 1, 2), offset: 1, bytes: 1 });
      return { b, err: await c.commitCut(20n, [b]).catch((e: unknown) => e) };
    };

    it("takes a schema change inside the transaction into every sink's round, before the part that needs it", async () => {
      // GIVEN a round in parts opened at version 1 of the table
      const { lake, wh, c } = await twoSinks();
      const b = new ChannelBuffer('t/0');
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      expect(await c.stagePart(20n, [b])).toEqual({ staged: 1 });
      expect(lake.prepared).toEqual([['t@1']]);
      // WHEN the transaction goes on after an ALTER TABLE (version 2) and commits
      b.push({ event: v2(20n, 1, 2), offset: 1, bytes: 1 });
      expect(await c.stagePart(20n, [b])).toEqual({ staged: 1 });
      b.push({ event: v2(20n, 2, 3), offset: 2, bytes: 1 });
      expect(await c.commitCut(20n, [b])).toBe(true);
      // THEN each sink's round took version 2 once, between the first part and the one needing it
      for (const sink of [lake, wh]) {
        expect(sink.evolved).toEqual([['t@2']]);
        expect(sink.parts.map((p) => p.flatMap((t) => t.events.map((e) => e.after!.id)))).toEqual([
          [1],
          [],
          [2],
          [3],
        ]);
        expect(sink.parts[2]![0]!.schema.version).toBe(2);
      }
      // AND the round committed whole; a usual round at version 2 after it prepares nothing again
      expect(ids(wh.rounds[0]!)).toEqual([1, 2, 3]);
      b.push({ event: v2(30n, 0, 4), offset: 3, bytes: 1 });
      expect(await c.commitCut(30n, [b])).toBe(true);
      expect(lake.prepared).toEqual([['t@1']]);
      expect(wh.rounds.map((r) => ids(r))).toEqual([[1, 2, 3], [4]]);
    });

    it('undoes a schema change taken into a round that is given up: the re-read prepares it again', async () => {
      // GIVEN a round that took version 2 of the table, whose warehouse commit then fails transiently
      const { wh, c } = await twoSinks({ wh: ['transient'] });
      const { b, err } = await alteredInRound(c);
      expect(err).toBeInstanceOf(PartedRoundVoid);
      expect((err as PartedRoundVoid).holdWhole).toBe(false);
      expect(wh.evolved).toEqual([['t@2']]);
      // WHEN the transaction is read again and committed as a usual round
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      b.push({ event: v2(20n, 1, 2), offset: 1, bytes: 1 });
      expect(await c.commitCut(20n, [b])).toBe(true);
      // THEN version 2 was prepared again in every sink (the warehouse had rolled its ALTER back)
      expect(wh.prepared).toEqual([['t@1'], ['t@2']]);
      expect(ids(wh.rounds[0]!)).toEqual([1, 2]);
    });

    it.each(['refuse', 'no'] as const)(
      'holds the round whole when a sink cannot take a schema change inside it (%s)',
      async (how) => {
        const { lake, wh, c } = await twoSinks();
        wh.evolves = how;
        const { err } = await alteredInRound(c);
        expect(err).toBeInstanceOf(PartedRoundVoid);
        expect((err as PartedRoundVoid).holdWhole).toBe(true);
        expect((err as Error).message).toMatch(
          how === 'refuse'
            ? /schema change: warehouse: cannot alter here/
            : /warehouse cannot change a table's schema/,
        );
        expect([lake.aborted, wh.aborted]).toEqual([1, 1]);
        expect([lake.rounds.length, wh.rounds.length]).toEqual([0, 0]);
      },
    );

    it('stops on a fenced part commit (another writer): no retry', async () => {
      const { wh, c } = await twoSinks({ lake: ['fenced'] });
      const b = new ChannelBuffer('t/0');
      b.push({ event: ev(20n, 0, 1), offset: 0, bytes: 1 });
      await c.stagePart(20n, [b]);
      const err = await c.commitCut(20n, [b]).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(PartedRoundVoid);
      expect((err as TidemarkError).kind).toBe('fenced');
      expect(wh.aborted).toBe(1);
    });
  });
});
