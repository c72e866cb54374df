import type { Client } from 'pg';

/**
 * Writes a transactional logical message (`content` as JSON) into the WAL: the source meets it in
 * its stream at its place, once its transaction commits, and acts on it there (a refresh, a sweep,
 * a dropped table's clearing). Resolves with the message's LSN.
 */
export async function emitTransactionalMessage(
  client: Pick<Client, 'query'>,
  prefix: string,
  content: object,
): Promise<string> {
  const r = await client.query('SELECT pg_logical_emit_message(true, $1, $2)::text AS lsn', [
    prefix,
    JSON.stringify(content),
  ]);
  return r.rows[0].lsn as string;
}
