import { collapseByKey } from '../../../src/sink/collapse';
import { ev } from '../support/change-events';

describe('collapseByKey', () => {
  it('keeps the last change per key in order of last change', () => {
    const b = collapseByKey(
      [
        ev('c', { id: 1, v: 'a' }),
        ev('c', { id: 2, v: 'b' }),
        ev('u', { id: 1, v: 'c' }),
        ev('d', { id: 2 }),
      ],
      ['id'],
    );
    expect(b.truncatedAt).toBeNull();
    expect(b.changes.map((c) => [c.kind, c.key.length > 0, c.kind === 'upsert' ? c.row : c.keyRow])).toEqual([
      ['upsert', true, { id: 1, v: 'c' }],
      ['delete', true, { id: 2 }],
    ]);
  });

  it('fills TOAST-unchanged columns from an earlier image in the batch, leaves the rest to the sink', () => {
    const b = collapseByKey(
      [
        ev('c', { id: 1, big: 'X'.repeat(10), v: 1 }),
        ev('u', { id: 1, v: 2 }, { unchanged: ['big'] }),
        ev('u', { id: 1, v: 3 }, { unchanged: ['big'] }),
        ev('u', { id: 2, v: 9 }, { unchanged: ['big'] }),
      ],
      ['id'],
    );
    const [one, two] = b.changes;
    expect(one).toMatchObject({ kind: 'upsert', row: { id: 1, big: 'X'.repeat(10), v: 3 }, unchanged: [] });
    expect(two).toMatchObject({ kind: 'upsert', row: { id: 2, v: 9 }, unchanged: ['big'] });
  });

  it('drops everything before a truncate and reports it', () => {
    const changes = [ev('c', { id: 1 }), ev('t', null), ev('c', { id: 2 })];
    const b = collapseByKey(changes, ['id']);
    expect(b.truncatedAt).toEqual(changes[1]!.position);
    expect(b.changes).toHaveLength(1);
  });

  it('rejects a change without its key', () => {
    expect(() => collapseByKey([ev('c', { v: 1 })], ['id'])).toThrow(/lacks key column "id"/);
  });
});
