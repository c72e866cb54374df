import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load';
import { runPipeline } from '../main';
import { configOption } from './options';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run the pipeline (until SIGTERM/SIGINT, then stop gracefully)')
    .addOption(configOption())
    .addOption(
      new Option('-r, --role <role>', 'which stages this process runs')
        .choices(['source', 'sink', 'all'])
        .default('all'),
    )
    .action(async (opts: { config: string; role: 'source' | 'sink' | 'all' }) => {
      const config = loadConfigFile(opts.config);
      await runPipeline(config, opts.role);
    });
}
