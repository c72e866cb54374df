import { type Command, Option } from 'commander';
import { Client } from 'pg';
import { loadConfigFile } from '../config/load';
import { TidemarkError } from '../core/errors';
import { openOffsetStore } from '../offsets/open';
import { readPausedTables, setTablePaused } from '../ops/paused-tables';
import { publishedTable } from '../ops/refresh-request';
import { sourceClientConfig } from '../source/pg-connection';
import { configOption, jsonOption } from './options';

/**
 * `tidemark pause|resume --table T`: the running sink stops committing one table (its changes
 * wait in Kafka, the slot and the other tables go on) and later catches it up from its tokens.
 */
export function registerPauseCommands(program: Command): void {
  for (const paused of [true, false]) {
    const cmd = program
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'Stop applying one table in the sinks while the others go on: its changes wait in Kafka (the slot is not held), and the table stays as it was at its last cut'
          : 'Apply a paused table again: the sinks catch it up from their tokens',
      )
      .addOption(configOption())
      .addOption(
        new Option('-t, --table <name>', 'the table ("schema.table" or its name)').makeOptionMandatory(),
      )
      .addOption(jsonOption());
    if (paused) cmd.addOption(new Option('--reason <text>', 'why, shown by `tidemark status`'));
    cmd.action(async (opts: { config: string; table: string; reason?: string; json?: boolean }) => {
      const config = loadConfigFile(opts.config);
      if (config.log.kind !== 'kafka')
        throw new TidemarkError(
          'config',
          `${paused ? 'pause' : 'resume'}: a paused table's changes wait in Kafka; with log.kind ${config.log.kind} they would hold the slot and every other table`,
          { fix: 'run the pipeline with the Kafka log (log.kind: kafka) to pause single tables' },
        );
      const c = new Client(sourceClientConfig(config.source.url.reveal(), 'tidemark-pause'));
      await c.connect();
      let table: string;
      try {
        table = await publishedTable(c, config, opts.table);
      } finally {
        await c.end();
      }
      const store = openOffsetStore(config);
      try {
        const was = (await readPausedTables(store)).some((p) => p.table === table);
        const now = await setTablePaused(store, table, paused, opts.reason ?? '');
        const text = paused
          ? `${table} ${was ? 'was already' : 'is'} paused: the running sink stops applying it within a commit interval`
          : `${table} ${was ? 'resumes' : 'was not paused'}: the running sink catches it up from its tokens`;
        process.stdout.write(
          opts.json ? `${JSON.stringify({ table, paused, pausedTables: now })}\n` : `${text}\n`,
        );
      } finally {
        await store.close();
      }
    });
  }
}
