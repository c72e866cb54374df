import { Client } from 'pg';
import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import { sourceClientConfig } from '../source/pg-connection';
import { emitRefreshRequest } from '../source/table-refresh';

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

/** `tidemark snapshot --table`: a refresh of the publication's table `name` (see emitRefreshRequest). */
export async function requestRefresh(
  config: Config,
  name: string,
  reason: string,
): Promise<{ table: string; id: string; lsn: string }> {
  const c = new Client(sourceClientConfig(config.source.url.reveal(), 'tidemark-snapshot'));
  await c.connect();
  try {
    const table = await publishedTable(c, config, name);
    return { table, ...(await emitRefreshRequest(c, config.source.slot, table, reason)) };
  } finally {
    await c.end();
  }
}
