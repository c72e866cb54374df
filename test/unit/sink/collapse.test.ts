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

  it("fills a key change's TOAST-unchanged columns from the old key: in the batch, else from storage", () => {
    // GIVEN key changes as the source sends them: a delete of the old key, an insert naming it
    const b = collapseByKey(
      [
        ev('c', { id: 1, big: 'B1', v: 1 }),
        ev('d', { id: 1 }),
        ev('c', { id: 10, v: 2 }, { before: { id: 1 }, unchanged: ['big'] }),
        ev('d', { id: 2 }),
        ev('c', { id: 20, v: 3 }, { before: { id: 2 }, unchanged: ['big'] }),
        ev('u', { id: 20, v: 4 }, { unchanged: ['big'] }),
        ev('c', { id: 3, v: 5 }, { before: { id: 3 }, unchanged: [] }),
      ],
      ['id'],
    );
    const byId = (id: number) => b.changes.find((c) => c.kind === 'upsert' && c.row.id === id);
    // THEN the old key's image in the batch fills it
    expect(byId(10)).toMatchObject({ row: { id: 10, big: 'B1', v: 2 }, unchanged: [] });
    expect(byId(10)).not.toHaveProperty('fillFrom');
    // AND without one, the sink is told to fill from the old key's stored row, through later updates
    expect(byId(20)).toMatchObject({
      row: { id: 20, v: 4 },
      unchanged: ['big'],
      fillFrom: { keyRow: { id: 2 } },
    });
    expect(byId(3)).not.toHaveProperty('fillFrom');
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
