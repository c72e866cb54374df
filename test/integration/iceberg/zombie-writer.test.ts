import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TABLE_OPTIONS, type TableOptions } from '../../../src/config/schema';
import type { ChangeEvent } from '../../../src/core/change-event';
import type { TableSchema } from '../../../src/core/table-schema';
import { IcebergTarget } from '../../../src/sink/iceberg-target';
import type { CommitRound } from '../../../src/sink/sink-target';
import { readWithPyIceberg } from './iceberg-fixtures';

const ITEMS: TableSchema = {
  schema: 'public',
  table: 'items',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
    { name: 'qty', attnum: 2, type: { kind: 'int32' }, pgType: 'integer', nullable: true },
  ],
};
const OPTIONS: TableOptions = { ...DEFAULT_TABLE_OPTIONS, onError: 'stop' };
const CHANNEL = 'items/0';

/** A round setting `qty` of ids 1..3 at source position `lsn`, moving the channel's token `from` → its own. */
function round(lsn: number, qty: number, from: string | null, commitId: string): CommitRound {
  const events: ChangeEvent[] = [1, 2, 3].map((id, seq) => ({
    op: 'u',
    table: { schema: 'public', table: 'items' },
    position: { lsn: BigInt(lsn), seq },
    txId: lsn,
    commitTimeMs: 0,
    schemaVersion: 1,
    before: { id },
    after: { id, qty },
    unchanged: [],
    snapshot: false,
  }));
  return {
    cutLsn: BigInt(lsn),
    commitId,
    tables: [{ schema: ITEMS, options: OPTIONS, events }],
    tokens: [{ channel: CHANNEL, expected: from, next: `0/${lsn.toString(16)}#2@${lsn}` }],
  };
}

/**
 * A committer that lost its role (frozen, then resumed) still holds an open lakehouse. Its first
 * round after waking is fenced by the catalog conflict; that failure reloads the table, so the
 * next round it tries (its graceful-stop commit) builds on the successor's snapshot without any
 * conflict: the tokens must fence it there too, or it writes its stale rows a second time beside
 * the successor's (found in the Kafka fencing end-to-end test: keys read twice by PyIceberg).
 */
describe('Iceberg sink: a zombie writer after a successor took over', () => {
  let dir: string;
  const config = () => ({
    catalog: { kind: 'sql' as const, url: `sqlite://${dir}/catalog.db`, name: 'tidemark' },
    location: `${dir}/lake`,
    targetFileBytes: 1 << 27,
  });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iceberg-zombie-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('every round of the zombie is fenced, and the table holds each key once', async () => {
    // GIVEN a first committer that committed round 1, then froze
    const zombie = await IcebergTarget.open(config());
    await zombie.prepareTables([{ schema: ITEMS, options: OPTIONS }]);
    await zombie.readTokens();
    await zombie.commitRound(round(0x10, 1, null, 'r1'));
    const t1 = '0/10#2@16';
    // AND a successor that read the tokens from the table and committed round 2
    const successor = await IcebergTarget.open(config());
    await successor.prepareTables([{ schema: ITEMS, options: OPTIONS }]);
    expect((await successor.readTokens()).get(CHANNEL)).toBe(t1);
    await successor.commitRound(round(0x20, 2, t1, 'r2'));

    // WHEN the zombie wakes and commits the round it had, then its final one
    const first = await zombie.commitRound(round(0x18, 9, t1, 'z1')).catch((e) => e);
    const last = await zombie.commitRound(round(0x19, 9, t1, 'z2')).catch((e) => e);

    // THEN both are fenced
    expect(first).toMatchObject({ kind: 'fenced' });
    expect(last).toMatchObject({ kind: 'fenced' });
    // AND the table holds round 2's rows, each key once, and the successor's token
    const { rows } = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.items');
    expect([...rows].sort((a, b) => (a as { id: number }).id - (b as { id: number }).id)).toEqual([
      { id: 1, qty: 2 },
      { id: 2, qty: 2 },
      { id: 3, qty: 2 },
    ]);
    expect((await successor.readTokens()).get(CHANNEL)).toBe('0/20#2@32');
    await zombie.close();
    await successor.close();
  });
});
