import type { Client } from 'pg';
import { TidemarkError } from '../../core/errors';
import type { Logger } from '../../observe/logger';
import type { CatalogTable } from './catalog';

/** The server must decode logical WAL and the role must be allowed to stream it. */
export async function checkServer(client: Client): Promise<void> {
  const wal = (await client.query('SHOW wal_level')).rows[0].wal_level as string;
  if (wal !== 'logical') {
    throw new TidemarkError(
      'source_setup',
      `the source has wal_level=${wal}; logical replication needs wal_level=logical`,
      {
        fix: 'run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (on managed services, set the logical replication parameter)',
      },
    );
  }
  const role = (
    await client.query(
      'SELECT current_user AS name, rolreplication OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user',
    )
  ).rows[0];
  if (!role?.ok) {
    throw new TidemarkError('source_setup', `role ${role?.name ?? '?'} may not use replication`, {
      fix: `ALTER ROLE ${role?.name ?? '<role>'} WITH REPLICATION;`,
    });
  }
}

/**
 * The key of each table: the primary key (or the replica
 * identity index); with REPLICA IDENTITY FULL a configured key, else the primary key, else every
 * column. A table whose deletes and key changes could not be mirrored is a start-up error.
 */
export function tableKeyColumns(
  t: CatalogTable,
  columns: readonly string[],
  configured: readonly string[] | undefined,
  logger: Logger,
): string[] {
  const name = `${t.schema}.${t.table}`;
  if (t.unlogged) {
    throw new TidemarkError(
      'source_setup',
      `${name} is UNLOGGED: Postgres writes none of its changes to the WAL, so they cannot be streamed (nor can it join a publication)`,
      { fix: `ALTER TABLE ${name} SET LOGGED; or leave it out of source.tables ("!${name}")` },
    );
  }
  if (!t.canSelect) {
    throw new TidemarkError('source_setup', `no SELECT privilege on ${name}`, {
      fix: `GRANT SELECT ON ${name} TO <tidemark role>;`,
    });
  }
  if (configured) {
    const missing = configured.filter((c) => !columns.includes(c));
    if (missing.length > 0)
      throw new TidemarkError(
        'config',
        `config key "source.keys.${name}": no column ${missing.join(', ')} in ${name}`,
      );
    if (t.replicaIdentity !== 'f' && !sameColumns(configured, t.primaryKey ?? t.identityIndex ?? [])) {
      throw new TidemarkError(
        'source_setup',
        `${name} has a configured key but not REPLICA IDENTITY FULL, so its deletes would not carry that key`,
        {
          fix: `ALTER TABLE ${name} REPLICA IDENTITY FULL;`,
        },
      );
    }
    return [...configured];
  }
  switch (t.replicaIdentity) {
    case 'd':
      if (t.primaryKey) return t.primaryKey;
      break;
    case 'i':
      if (t.identityIndex) return t.identityIndex;
      break;
    case 'f':
      if (t.primaryKey) return t.primaryKey;
      logger.warn(
        { table: name },
        'table has no key: every column is its key, so identical duplicate rows are mirrored as one (configure source.keys to choose a key)',
      );
      return [...columns];
    default:
      break;
  }
  throw new TidemarkError(
    'source_setup',
    `${name} has no primary key and no REPLICA IDENTITY FULL: its updates and deletes cannot be mirrored`,
    {
      fix: `add a primary key, or ALTER TABLE ${name} REPLICA IDENTITY FULL; (and optionally name a key in source.keys)`,
    },
  );
}

function sameColumns(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

/**
 * Rows are plain objects keyed by column name, so a column named like a property every object
 * inherits (`__proto__`, `constructor`, `toString`, …) would be lost on write (`__proto__`) or,
 * when absent from a row (TOAST-unchanged), read back as a function. Such a table is refused
 * rather than mirrored wrongly.
 */
export function checkColumnNames(table: string, columns: readonly string[]): void {
  const bad = columns.filter((c) => c in Object.prototype);
  if (bad.length > 0)
    throw new TidemarkError(
      'source_setup',
      `${table} has column ${bad.map((c) => JSON.stringify(c)).join(', ')}, a name tidemark cannot mirror (it names a built-in property of JavaScript objects)`,
      { fix: `rename the column, or leave it out with tables.${table}.exclude`, table },
    );
}
