import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load';
import { openOffsetStore } from '../offsets/open';
import { requestRefresh } from '../ops/refresh-request';
import { readRefreshes } from '../source/table-refresh';
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
      const { table, id, lsn } = await requestRefresh(config, opts.table, 'tidemark snapshot');
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
