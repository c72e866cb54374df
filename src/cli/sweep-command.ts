import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load';
import { createLogger } from '../observe/logger';
import { runSweep } from '../ops/sweep';
import { configOption, jsonOption } from './options';

export function registerSweepCommand(program: Command): void {
  program
    .command('sweep')
    .description(
      'Delete from the sinks the rows of one table that the source no longer holds (left by changes the sinks never got; a copy only upserts): the keys each sink holds are looked up in the source, and the running source deletes the missing ones at their place in the stream. Writers of the table wait briefly under a SHARE lock per 500 keys found',
    )
    .addOption(configOption())
    .addOption(
      new Option('-t, --table <name>', 'the table ("schema.table" or its name)').makeOptionMandatory(),
    )
    .addOption(new Option('--dry-run', 'only count the keys the sinks hold and the source does not'))
    .addOption(jsonOption())
    .action(async (opts: { config: string; table: string; dryRun?: boolean; json?: boolean }) => {
      const config = loadConfigFile(opts.config);
      const r = await runSweep(config, opts.table, createLogger('error', { command: 'sweep' }), {
        dryRun: opts.dryRun === true,
      });
      const read = Object.entries(r.read)
        .map(([sink, n]) => `${n} in ${sink}`)
        .join(', ');
      const text = opts.dryRun
        ? `${r.table}: ${r.found} key(s) in the sinks that the source does not hold (read ${read || 'none'}); nothing requested (--dry-run)`
        : r.requested === 0
          ? `${r.table}: no key in the sinks that the source does not hold (read ${read || 'none'})`
          : `${r.table}: ${r.requested} key(s) in the sinks that the source does not hold: their deletes are in the WAL up to ${r.lsn}, and the running pipeline applies them (read ${read})`;
      process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${text}\n`);
    });
}
