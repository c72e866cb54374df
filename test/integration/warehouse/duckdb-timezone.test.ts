import { col, EventBuilder, makeFixture, opts, round, tableSchema, type WarehouseFixture } from './helpers';

const events = tableSchema('events', [col('id', { kind: 'int32' }), col('at', { kind: 'timestamptz' })]);

/**
 * DuckDB's session TimeZone is the machine's: staging a timestamptz (a value, or a change's commit
 * time) must store the instant itself, not a local reading of it.
 */
describe('duckdb warehouse: timestamptz under a TimeZone other than UTC', () => {
  let fx: WarehouseFixture;
  beforeEach(async () => {
    fx = await makeFixture('duckdb');
  });
  afterEach(async () => {
    await fx.dispose();
  });

  test('values and commit times keep their instants', async () => {
    // GIVEN an append table, and DuckDB set to New York time
    const w = await fx.open();
    await w.prepareTables([{ schema: events, options: opts('append') }]);
    await fx.read(`SET GLOBAL TimeZone = 'America/New_York'`);
    expect((await fx.read(`SELECT current_setting('TimeZone') AS tz`))[0]!.tz).toBe('America/New_York');
    // WHEN a change with a timestamptz value is committed
    const b = new EventBuilder(events).tx();
    const at = 1_733_330_000_123_456n; // 2024-12-04 16:33:20.123456 UTC
    const e = b.ev('c', null, { id: 1, at });
    await w.commitRound(
      round(
        [{ schema: events, mode: 'append', events: [e] }],
        [{ channel: 'events/0', expected: null, next: 't1' }],
      ),
    );
    // THEN the stored value and the commit time are those instants
    const [row] = await fx.read(
      'SELECT epoch_us("at") AS at, epoch_ms(_tidemark_commit_time) AS ct FROM public.events',
    );
    expect([row!.at, Number(row!.ct)]).toEqual([at, e.commitTimeMs]);
  });
});
