import type { Client } from 'pg';

export interface CatalogTable {
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i';
  readonly canSelect: boolean;
  readonly primaryKey: string[] | null;
  readonly identityIndex: string[] | null;
  /** UNLOGGED: none of its changes are in the WAL. */
  readonly unlogged: boolean;
}

export interface CatalogColumn {
  readonly name: string;
  readonly attnum: number;
  readonly typeOid: number;
  readonly typeMod: number;
  readonly notNull: boolean;
  /** A DEFAULT, an identity, or a domain type's default: Postgres computes a value for rows that do not give one. */
  readonly hasDefault: boolean;
  /**
   * The value rows that existed before the column was added read (ADD COLUMN … DEFAULT with a
   * constant: Postgres stores it once, atthasmissing), as text; null when there is none.
   */
  readonly missingText: string | null;
}

const KEY_COLUMNS = (flag: string) => `(
  SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
   WHERE i.indrelid = c.oid AND i.${flag})`;

export async function listTables(client: Client): Promise<CatalogTable[]> {
  const r = await client.query(`
    SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS table, c.relreplident AS replica_identity,
           has_table_privilege(c.oid, 'SELECT') AS can_select, c.relpersistence = 'u' AS unlogged,
           ${KEY_COLUMNS('indisprimary')} AS primary_key,
           ${KEY_COLUMNS('indisreplident')} AS identity_index
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
     ORDER BY 2, 3`);
  return r.rows.map((row) => ({
    oid: row.oid,
    schema: row.schema,
    table: row.table,
    replicaIdentity: row.replica_identity,
    canSelect: row.can_select,
    primaryKey: row.primary_key,
    identityIndex: row.identity_index,
    unlogged: row.unlogged,
  }));
}

/** Published columns in order: not dropped, not generated (pgoutput does not send those). */
export async function listColumns(client: Client, relationOid: number): Promise<CatalogColumn[]> {
  const r = await client.query(
    `SELECT attname AS name, attnum, atttypid::int AS type_oid, atttypmod AS type_mod, attnotnull AS not_null,
            (atthasdef OR attidentity <> ''
              OR EXISTS (SELECT 1 FROM pg_type t WHERE t.oid = atttypid AND t.typtype = 'd' AND t.typdefaultbin IS NOT NULL)
            ) AS has_default,
            CASE WHEN atthasmissing THEN (attmissingval::text::text[])[1] END AS missing_text
       FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
      ORDER BY attnum`,
    [relationOid],
  );
  return r.rows.map((row) => ({
    name: row.name,
    attnum: row.attnum,
    typeOid: row.type_oid,
    typeMod: row.type_mod,
    notNull: row.not_null,
    hasDefault: row.has_default,
    missingText: row.missing_text ?? null,
  }));
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(t: { schema: string; table: string }): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`;
}
