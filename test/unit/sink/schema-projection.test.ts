import { DEFAULT_TABLE_OPTIONS } from '../../../src/config/schema';
import type { ChangeEvent } from '../../../src/core/change-event';
import type { ColumnSchema, TableSchema } from '../../../src/core/table-schema';
import { silentLogger } from '../../../src/observe/logger';
import { CommitCoordinator } from '../../../src/sink/commit-coordinator';
import { tablesForSink } from '../../../src/sink/round-builder';
import { projectEvent } from '../../../src/sink/schema-projection';

const col = (
  name: string,
  attnum: number,
  kind: 'int32' | 'int64' | 'text' | 'float32' | 'float64',
): ColumnSchema => ({
  name,
  attnum,
  type: { kind } as ColumnSchema['type'],
  pgType: kind,
  nullable: attnum > 1,
});
const table = (version: number, columns: ColumnSchema[]): TableSchema => ({
  schema: 'public',
  table: 't',
  version,
  primaryKey: ['id'],
  columns,
});

// v1: id int, qty int, legacy text, gone text
const v1 = table(1, [
  col('id', 1, 'int32'),
  col('qty', 2, 'int32'),
  col('legacy', 3, 'text'),
  col('gone', 4, 'text'),
]);
// v2: qty widened to bigint, legacy renamed notes, gone dropped, color added
const v2 = table(2, [
  col('id', 1, 'int32'),
  col('qty', 2, 'int64'),
  col('notes', 3, 'text'),
  col('color', 5, 'text'),
]);

function update(
  version: number,
  lsn: bigint,
  after: Record<string, unknown>,
  unchanged: string[] = [],
): ChangeEvent {
  return {
    op: 'u',
    table: { schema: 'public', table: 't' },
    position: { lsn, seq: 0 },
    txId: 1,
    commitTimeMs: 0,
    schemaVersion: version,
    before: { id: after.id as number },
    after: after as ChangeEvent['after'],
    unchanged,
    snapshot: false,
  };
}

describe('rows from before a schema change, written with the newest schema', () => {
  it('renames by attnum, widens int to bigint, drops a dropped column and nulls an added one', () => {
    const e = projectEvent(update(1, 10n, { id: 7, qty: 3, gone: 'x' }, ['legacy']), v1, v2);
    expect(e.schemaVersion).toBe(2);
    expect(e.after).toEqual({ id: 7, qty: 3n, color: null });
    expect(e.before).toEqual({ id: 7 });
    // a TOAST-unchanged column keeps its meaning under its new name
    expect(e.unchanged).toEqual(['notes']);
  });

  it('projects the older rows of a round that spans the change, whatever channel they came from', () => {
    const schemas = new Map([
      [1, v1],
      [2, v2],
    ]);
    const tables = tablesForSink(
      [
        {
          channel: 'a',
          changes: [
            { event: update(2, 20n, { id: 1, qty: 9n, notes: 'n', color: 'red' }), offset: 0, bytes: 1 },
          ],
        },
        {
          channel: 'b',
          changes: [
            { event: update(1, 10n, { id: 2, qty: 4, legacy: 'l', gone: 'g' }), offset: 0, bytes: 1 },
          ],
        },
      ],
      new Map(),
      (ev) => schemas.get(ev.schemaVersion)!,
      () => ({ ...DEFAULT_TABLE_OPTIONS, onError: 'stop' }),
    );
    expect(tables).toHaveLength(1);
    expect(tables[0]!.schema.version).toBe(2);
    expect(tables[0]!.events.map((e) => [e.schemaVersion, e.after])).toEqual([
      [2, { id: 2, qty: 4n, notes: 'l', color: null }],
      [2, { id: 1, qty: 9n, notes: 'n', color: 'red' }],
    ]);
  });
});

describe('a table rebuilt at a schema version', () => {
  it('takes no change of an older version into a round', () => {
    const schemas = new Map([
      [1, v1],
      [2, v2],
    ]);
    const tables = tablesForSink(
      [
        {
          channel: 'a',
          changes: [
            { event: update(1, 10n, { id: 2, qty: 4, legacy: 'l', gone: 'g' }), offset: 0, bytes: 1 },
            { event: update(2, 20n, { id: 1, qty: 9n, notes: 'n', color: 'red' }), offset: 1, bytes: 1 },
          ],
        },
      ],
      new Map(),
      (ev) => schemas.get(ev.schemaVersion)!,
      () => ({ ...DEFAULT_TABLE_OPTIONS, onError: 'stop' }),
      new Map([['public.t', 2]]),
    );
    expect(tables[0]!.events.map((e) => e.after)).toEqual([{ id: 1, qty: 9n, notes: 'n', color: 'red' }]);
  });
});

describe('preparing the sinks for schema versions', () => {
  it('prepares only the newest version of a table and never goes back to an older one', async () => {
    const prepared: number[][] = [];
    const target = {
      name: 'rec',
      prepareTables: async (ts: Array<{ schema: TableSchema }>) => {
        prepared.push(ts.map((t) => t.schema.version));
      },
    };
    const coordinator = new CommitCoordinator({
      targets: [target as never],
      store: {} as never,
      logger: silentLogger,
      schemaOf: () => v2,
      optionsOf: () => ({ ...DEFAULT_TABLE_OPTIONS, onError: 'stop' }),
    });
    await coordinator.prepare([v2, v1]);
    await coordinator.prepare([v1]);
    await coordinator.prepare([v2]);
    expect(prepared).toEqual([[2]]);
  });
});
