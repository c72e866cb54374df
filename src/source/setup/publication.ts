import type { Client } from 'pg';
import { TidemarkError } from '../../core/errors';
import type { TableRef } from '../../core/table-schema';
import type { Logger } from '../../observe/logger';
import { qualified, quoteIdent } from './catalog';

/**
 * Creates the pipeline's publication, or makes an existing one publish exactly the mirrored
 * tables. A pre-created FOR ALL TABLES publication is used as it is (least-privilege setups).
 *
 * A partitioned table's changes are written to the WAL under its partitions, which the mirror
 * does not know as tables: the publication publishes them as the partitioned table's
 * (publish_via_partition_root), so rows, moves between partitions and partitions added later
 * all reach the one table. tidemark's own publication always does; an existing one is switched
 * when it holds a partitioned table.
 *
 * Returns the tables an existing publication lacked and now publishes again: for a table the
 * pipeline mirrored already, its changes since it left the publication were never streamed.
 */
export async function ensurePublication(
  client: Client,
  name: string,
  tables: readonly TableRef[],
  logger: Logger,
): Promise<TableRef[]> {
  const pub = (
    await client.query(
      `SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate,
              (to_jsonb(p) ->> 'pubviaroot')::boolean AS pubviaroot
         FROM pg_publication p WHERE pubname = $1`,
      [name],
    )
  ).rows[0];
  const list = tables.map(qualified).join(', ');
  const viaRoot =
    Number((await client.query("SELECT current_setting('server_version_num') AS v")).rows[0].v) >= 130000;
  const partitioned = await partitionedTables(client, tables);
  if (partitioned.length > 0 && !viaRoot)
    throw new TidemarkError(
      'source_setup',
      `${partitioned.join(', ')} is partitioned: mirroring a partitioned table needs PostgreSQL 13 or later (publish_via_partition_root)`,
      { fix: 'mirror its partitions as tables instead (source.tables), or upgrade PostgreSQL' },
    );
  try {
    if (!pub) {
      await client.query(
        `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${list}${viaRoot ? ' WITH (publish_via_partition_root = true)' : ''}`,
      );
      logger.info({ publication: name, tables: tables.length }, 'created publication');
      return [];
    }
    if (partitioned.length > 0 && !pub.pubviaroot) {
      await client.query(`ALTER PUBLICATION ${quoteIdent(name)} SET (publish_via_partition_root = true)`);
      logger.info(
        { publication: name, partitioned },
        'publication now publishes partitioned tables under their own name (publish_via_partition_root)',
      );
    }
    if (!pub.pubinsert || !pub.pubupdate || !pub.pubdelete || !pub.pubtruncate) {
      throw new TidemarkError('source_setup', `publication ${name} does not publish every operation`, {
        fix: `ALTER PUBLICATION ${name} SET (publish = 'insert, update, delete, truncate');`,
      });
    }
    if (pub.puballtables) return [];
    const current = new Set(
      (
        await client.query('SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1', [
          name,
        ])
      ).rows.map((r) => `${r.schemaname}.${r.tablename}`),
    );
    const wanted = new Set(tables.map((t) => `${t.schema}.${t.table}`));
    if (current.size === wanted.size && [...wanted].every((t) => current.has(t))) return [];
    await client.query(`ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${list}`);
    logger.info({ publication: name, tables: tables.length }, 'updated publication tables');
    return tables.filter((t) => !current.has(`${t.schema}.${t.table}`));
  } catch (e) {
    if (e instanceof TidemarkError) throw e;
    throw new TidemarkError(
      'source_setup',
      `cannot create or alter publication ${name}: ${(e as Error).message}`,
      {
        cause: e,
        fix: `as the tables' owner: CREATE PUBLICATION ${name} FOR TABLE ${list} WITH (publish_via_partition_root = true); (tidemark then only reads it)`,
      },
    );
  }
}

/** The tables among `tables` that are partitioned ("schema.table"). */
async function partitionedTables(client: Client, tables: readonly TableRef[]): Promise<string[]> {
  if (tables.length === 0) return [];
  const r = await client.query(
    `SELECT t.s || '.' || t.r AS name
       FROM unnest($1::text[], $2::text[]) AS t(s, r)
       JOIN pg_namespace n ON n.nspname = t.s
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.r
      WHERE c.relkind = 'p'`,
    [tables.map((t) => t.schema), tables.map((t) => t.table)],
  );
  return r.rows.map((row) => row.name as string);
}
