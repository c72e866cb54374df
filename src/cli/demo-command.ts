import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { TidemarkError } from '../core/errors';
import { runDemo } from '../demo/run-demo';
import { EXIT } from './exit-codes';

/** TIDEMARK_PG_URL from the environment, else from the .services/env that scripts/services writes. */
function defaultSourceUrl(): string | undefined {
  if (process.env.TIDEMARK_PG_URL) return process.env.TIDEMARK_PG_URL;
  const env = join(__dirname, '..', '..', '.services', 'env');
  if (!existsSync(env)) return undefined;
  const m = /^(?:export )?TIDEMARK_PG_URL=["']?([^"'\n]+)/m.exec(readFileSync(env, 'utf8'));
  return m?.[1];
}

const number = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new TidemarkError('config', `${what} must be a non-negative number, got "${v}"`);
  return n;
};

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Mirror a throw-away shop database with a live workload into a local Iceberg folder and a DuckDB file (embedded mode), showing progress; Ctrl-C stops it',
    )
    .addOption(
      new Option(
        '--source-url <url>',
        'a PostgreSQL server with wal_level=logical (default: TIDEMARK_PG_URL or .services/env)',
      ),
    )
    .addOption(
      new Option(
        '--dir <folder>',
        'where the lake, the DuckDB file and the offsets go (emptied first)',
      ).default('tidemark-demo'),
    )
    .addOption(
      new Option('--database <name>', 'the demo database created (dropped first) on that server').default(
        'demo_shop',
      ),
    )
    .addOption(
      new Option('--scale <n>', 'seed size: 1 is 10k customers, 1k products, 40k orders')
        .default(1)
        .argParser(number('--scale')),
    )
    .addOption(
      new Option('--rate <tx/s>', 'workload transactions per second').default(50).argParser(number('--rate')),
    )
    .addOption(
      new Option('--duration <seconds>', 'stop by itself after this long; 0 runs until Ctrl-C')
        .default(0)
        .argParser(number('--duration')),
    )
    .action(
      async (opts: {
        sourceUrl?: string;
        dir: string;
        database: string;
        scale: number;
        rate: number;
        duration: number;
      }) => {
        const sourceUrl = opts.sourceUrl ?? defaultSourceUrl();
        if (!sourceUrl) {
          throw new TidemarkError('config', 'no PostgreSQL to run the demo against', {
            fix: 'run `bash scripts/services up pg` first (or npm run demo), or pass --source-url',
          });
        }
        if (!/^[a-z_][a-z0-9_]*$/.test(opts.database)) {
          throw new TidemarkError(
            'config',
            `--database must be lower-case letters, digits and _, got "${opts.database}"`,
          );
        }
        const counts = await runDemo({
          sourceUrl,
          dir: opts.dir,
          database: opts.database,
          scale: opts.scale,
          ratePerSecond: Math.max(1, opts.rate),
          durationSeconds: opts.duration,
        });
        const differ = counts.filter((c) => c.warehouse !== c.source || c.iceberg !== c.source);
        if (differ.length > 0) {
          process.stderr.write(
            `tidemark: the mirror differs from the source in ${differ.map((c) => c.table).join(', ')}\n`,
          );
          process.exit(EXIT.differs);
        }
        process.exit(EXIT.ok);
      },
    );
}
