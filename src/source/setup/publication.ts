import type { Client } from 'pg';
import { TidemarkError } from '../../core/errors';
import type { TableRef } from '../../core/table-schema';
import type { Logger } from '../../observe/logger';
import { qualified, quoteIdent } from './catalog';

/**
 * Creates the pipeline's publication, or makes an existing one publish exactly the mirrored
 * tables. A pre-created FOR ALL TABLES publication is used as it is (least-privilege setups).
 */
export async function ensurePublication(
  client: Client,
  name: string,
  tables: readonly TableRef[],
  logger: Logger,
): Promise<void> {
  const pub = (
    await client.query(
      'SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1',
      [name],
    )
  ).rows[0];
  const list = tables.map(qualified).join(', ');
  try {
    if (!pub) {
      await client.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${list}`);
      logger.info({ publication: name, tables: tables.length }, 'created publication');
      return;
    }
    if (!pub.pubinsert || !pub.pubupdate || !pub.pubdelete || !pub.pubtruncate) {
      throw new TidemarkError('source_setup', `publication ${name} does not publish every operation`, {
        fix: `ALTER PUBLICATION ${name} SET (publish = 'insert, update, delete, truncate');`,
      });
    }
    if (pub.puballtables) return;
    const current = new Set(
      (
        await client.query('SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1', [
          name,
        ])
      ).rows.map((r) => `${r.schemaname}.${r.tablename}`),
    );
    const wanted = new Set(tables.map((t) => `${t.schema}.${t.table}`));
    if (current.size === wanted.size && [...wanted].every((t) => current.has(t))) return;
    await client.query(`ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${list}`);
    logger.info({ publication: name, tables: tables.length }, 'updated publication tables');
  } catch (e) {
    if (e instanceof TidemarkError) throw e;
    throw new TidemarkError(
      'source_setup',
      `cannot create or alter publication ${name}: ${(e as Error).message}`,
      {
        cause: e,
        fix: `as the tables' owner: CREATE PUBLICATION ${name} FOR TABLE ${list}; (tidemark then only reads it)`,
      },
    );
  }
}
