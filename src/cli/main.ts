import { Command } from 'commander';
import { registerDemoCommand } from './demo-command';
import { describeError } from './describe-error';
import { EXIT, exitCodeFor } from './exit-codes';
import { registerMaintenanceCommands } from './maintenance-command';
import { registerOffsetsCommand } from './offsets-command';
import { registerPauseCommands } from './pause-command';
import { registerRunCommand } from './run-command';
import { registerSnapshotCommand } from './snapshot-command';
import { registerStatusCommand } from './status-command';
import { registerSweepCommand } from './sweep-command';
import { registerVerifyCommand } from './verify-command';

const program = new Command();
program
  .name('tidemark')
  .description('Mirror PostgreSQL into Apache Iceberg and a SQL warehouse, continuously and exactly once.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Exit codes: ${EXIT.ok} ok, ${EXIT.failure} unexpected failure, ${EXIT.config} bad usage or config, ${EXIT.sourceSetup} source not set up,
            ${EXIT.unavailable} a service unreachable, ${EXIT.state} corrupt stored state, ${EXIT.differs} verify found differences.`,
  );
program.exitOverride();
program.configureOutput({ outputError: (text, write) => write(text) });

registerRunCommand(program);
registerOffsetsCommand(program);
registerStatusCommand(program);
registerDemoCommand(program);
registerMaintenanceCommands(program);
registerVerifyCommand(program);
registerSnapshotCommand(program);
registerSweepCommand(program);
registerPauseCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  const code = (e as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(EXIT.ok);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit(EXIT.config);
  process.stderr.write(`tidemark: ${describeError(e)}\n`);
  process.exit(exitCodeFor(e));
});
