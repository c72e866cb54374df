import type { TidemarkError } from '../../../src/core/errors';
import { silentLogger } from '../../../src/observe/logger';
import type { CatalogTable } from '../../../src/source/setup/catalog';
import { tableKeyColumns } from '../../../src/source/setup/checks';
import { checkSlot } from '../../../src/source/setup/slot';
import { selectTables } from '../../../src/source/setup/table-patterns';

const existing = [
  { schema: 'public', table: 'orders' },
  { schema: 'inventory', table: 'items' },
  { schema: 'inventory', table: 'tmp_load' },
];

describe('table patterns', () => {
  it('applies names, wildcards and exclusions', () => {
    expect(selectTables(['public.orders', 'inventory.*', '!inventory.tmp_*'], existing)).toEqual([
      { schema: 'public', table: 'orders' },
      { schema: 'inventory', table: 'items' },
    ]);
  });

  it('refuses a missing table and a pattern that matches nothing', () => {
    expect(() => selectTables(['public.order'], existing)).toThrow(
      /source table public\.order does not exist/,
    );
    expect(() => selectTables(['sales.*'], existing)).toThrow(/pattern "sales\.\*" matches no table/);
  });
});

describe('table keys', () => {
  const base: CatalogTable = {
    oid: 1,
    schema: 'public',
    table: 't',
    replicaIdentity: 'd',
    canSelect: true,
    primaryKey: ['id'],
    identityIndex: null,
    unlogged: false,
  };

  it('uses the primary key, the identity index, or a configured key with FULL', () => {
    expect(tableKeyColumns(base, ['id', 'v'], undefined, silentLogger)).toEqual(['id']);
    expect(
      tableKeyColumns(
        { ...base, replicaIdentity: 'i', primaryKey: null, identityIndex: ['a', 'b'] },
        ['a', 'b'],
        undefined,
        silentLogger,
      ),
    ).toEqual(['a', 'b']);
    expect(
      tableKeyColumns({ ...base, replicaIdentity: 'f', primaryKey: null }, ['a', 'b'], ['a'], silentLogger),
    ).toEqual(['a']);
  });

  it('explains how to fix a table whose deletes could not be mirrored', () => {
    const noKey = { ...base, primaryKey: null };
    expect(() => tableKeyColumns(noKey, ['a'], undefined, silentLogger)).toThrow(
      /public\.t has no primary key and no REPLICA IDENTITY FULL/,
    );
    expect(() => tableKeyColumns(noKey, ['a'], ['a'], silentLogger)).toThrow(
      /configured key but not REPLICA IDENTITY FULL/,
    );
    expect(() => tableKeyColumns({ ...base, canSelect: false }, ['id'], undefined, silentLogger)).toThrow(
      /no SELECT privilege on public\.t/,
    );
  });
});

describe('replication slot checks', () => {
  const slot = {
    plugin: 'pgoutput',
    database: 'app',
    confirmedFlushLsn: 0x16b3748n,
    active: false,
    invalidated: null,
  } as const;

  it('takes a valid pgoutput slot of the database', () => {
    expect(() => checkSlot(slot, 'tidemark_shop', 'app')).not.toThrow();
  });

  it('refuses a slot PostgreSQL invalidated, naming why, where it stood and how to go on', () => {
    const check = (invalidated: 'wal' | 'conflict') => {
      try {
        checkSlot({ ...slot, invalidated }, 'tidemark_shop', 'app');
      } catch (e) {
        return e as TidemarkError;
      }
      throw new Error('expected a refusal');
    };
    const wal = check('wal');
    expect(wal.kind).toBe('source_setup');
    expect(wal.message).toMatch(
      /replication slot tidemark_shop was invalidated by PostgreSQL \(it held back more WAL than max_slot_wal_keep_size allows.*after its last confirmed position \(0\/16B3748\) can no longer be read/,
    );
    expect(wal.fix).toMatch(/tidemark offsets reset --resnapshot --apply/);
    expect(check('conflict').message).toMatch(/a recovery conflict on the standby/);
  });
});
