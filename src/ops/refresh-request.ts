import { Client } from 'pg';
import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import { sourceClientConfig } from '../source/pg-connection';
import { refreshRequest } from '../source/table-refresh';

/** The one table of the publication that `name` ("schema.table" or a bare name) designates. */
export async function publishedTable(c: Client, config: Config, name: string): Promise<string> {
  const published = (
    await c.query('SELECT schemaname AS s, tablename AS t FROM pg_publication_tables WHERE pubname = $1', [
      config.source.publication,
    ])
  ).rows.map((r: { s: string; t: string }) => `${r.s}.${r.t}`);
  const match = published.filter((p) => p === name || p.endsWith(`.${name}`));
  if (match.length !== 1)
    throw new TidemarkError(
      'config',
      `--table ${name}: ${match.length === 0 ? 'not a table' : 'ambiguous among the tables'} of publication ${config.source.publication}`,
      { fix: `choose one of ${published.join(', ') || '(none: run the pipeline once first)'}` },
    );
  return match[0]!;
}

/**
 * Asks the running source (or the next one to start) to copy a table again while it streams:
 * a transactional message in the WAL, acted on at its place in the stream once committed.
 */
export async function requestRefresh(
  config: Config,
  name: string,
  reason: string,
): Promise<{ table: string; id: string; lsn: string }> {
  const c = new Client(sourceClientConfig(config.source.url.reveal(), 'tidemark-snapshot'));
  await c.connect();
  try {
    const table = await publishedTable(c, config, name);
    const req = refreshRequest(config.source.slot, table, reason);
    const lsn = (
      await c.query('SELECT pg_logical_emit_message(true, $1, $2)::text AS lsn', [req.prefix, req.content])
    ).rows[0].lsn as string;
    return { table, id: req.id, lsn };
  } finally {
    await c.end();
  }
}
