import { type Command, Option } from 'commander';
import { Client } from 'pg';
import { loadConfigFile } from '../config/load';
import { TidemarkError } from '../core/errors';
import { openOffsetStore } from '../offsets/open';
import { sourceClientConfig } from '../source/pg-connection';
import { readRefreshes, refreshRequest } from '../source/table-refresh';
import { configOption, jsonOption } from './options';

export function registerSnapshotCommand(program: Command): void {
  program
    .command('snapshot')
    .description(
      'Copy one table again while streaming goes on: the running source reads it in key-ordered chunks between watermarks in the WAL, so the copy never overwrites a newer change',
    )
    .addOption(configOption())
    .addOption(
      new Option('-t, --table <name>', 'the table ("schema.table" or its name)').makeOptionMandatory(),
    )
    .addOption(new Option('--wait', 'wait until the copy is complete, printing its progress'))
    .addOption(jsonOption())
    .action(async (opts: { config: string; table: string; wait?: boolean; json?: boolean }) => {
      const config = loadConfigFile(opts.config);
      const c = new Client(sourceClientConfig(config.source.url.reveal(), 'tidemark-snapshot'));
      await c.connect();
      let table: string;
      let id: string;
      let lsn: string;
      try {
        const published = (
          await c.query(
            'SELECT schemaname AS s, tablename AS t FROM pg_publication_tables WHERE pubname = $1',
            [config.source.publication],
          )
        ).rows.map((r: { s: string; t: string }) => `${r.s}.${r.t}`);
        const match = published.filter((p) => p === opts.table || p.endsWith(`.${opts.table}`));
        if (match.length !== 1)
          throw new TidemarkError(
            'config',
            `--table ${opts.table}: ${match.length === 0 ? 'not a table' : 'ambiguous among the tables'} of publication ${config.source.publication}`,
            { fix: `choose one of ${published.join(', ') || '(none: run the pipeline once first)'}` },
          );
        table = match[0]!;
        const req = refreshRequest(config.source.slot, table);
        id = req.id;
        // Transactional: the source acts on it only once it is committed, at its place in the stream.
        lsn = (
          await c.query('SELECT pg_logical_emit_message(true, $1, $2)::text AS lsn', [
            req.prefix,
            req.content,
          ])
        ).rows[0].lsn;
      } finally {
        await c.end();
      }
      const out = (o: object, text: string) =>
        process.stdout.write(opts.json ? `${JSON.stringify(o)}\n` : `${text}\n`);
      out(
        { table, id, requestedAtLsn: lsn },
        `refresh of ${table} requested at ${lsn} (id ${id}): the running source copies it in chunks of ${config.source.snapshotChunkRows} rows while streaming; \`tidemark status\` shows its progress`,
      );
      if (!opts.wait) return;
      let last = -1;
      for (;;) {
        // Opened each time: the embedded mode's file store is read once when opened.
        const store = openOffsetStore(config);
        let r: Awaited<ReturnType<typeof readRefreshes>>[number] | undefined;
        try {
          r = (await readRefreshes(store, config.source.slot)).find((x) => x.id === id);
        } finally {
          await store.close();
        }
        if (r && r.rows !== last) {
          last = r.rows;
          out(
            { table, id, rows: r.rows, finished: !!r.finishedAt },
            `${table}: ${r.rows} rows copied${r.finishedAt ? ', complete' : ''}`,
          );
        }
        if (r?.finishedAt) return;
        await new Promise((res) => setTimeout(res, 500));
      }
    });
}
