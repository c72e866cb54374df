import { type Command, Option } from 'commander';
import { type Config, loadConfigFile } from '../config/load';
import { TidemarkError } from '../core/errors';
import { parseTableKey } from '../core/table-schema';
import type { TableIdent } from '../sink/iceberg/catalog';
import { Lakehouse } from '../sink/iceberg/lakehouse';
import { openCatalog } from '../sink/iceberg/open-catalog';
import { openFileIO } from '../sink/iceberg/open-file-io';
import { configOption, jsonOption } from './options';

/** "7d", "12h", "30m", "45s" or plain milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m)
    throw new TidemarkError('config', `${what} must be a duration like 7d, 12h, 30m or 45s, got "${text}"`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * unit;
}

async function withLake<T>(
  config: Config,
  fn: (lake: Lakehouse, tables: TableIdent[]) => Promise<T>,
  table?: string,
): Promise<T> {
  const cfg = config.sinks.iceberg;
  if (!cfg)
    throw new TidemarkError(
      'config',
      'config key "sinks.iceberg" is not set: there is no Iceberg table to maintain',
    );
  const catalog = await openCatalog(cfg.catalog);
  try {
    const { io, warehouse } = openFileIO(cfg);
    const all = await catalog.listTables();
    let tables = all;
    if (table) {
      const t = parseTableKey(table);
      tables = all.filter((x) => x.namespace === t.schema && x.name === t.table);
      if (tables.length === 0)
        throw new TidemarkError(
          'config',
          `--table ${table}: no such Iceberg table in catalog ${catalog.name}`,
        );
    }
    return await fn(new Lakehouse({ catalog, io, warehouse }), tables);
  } finally {
    await catalog.close();
  }
}

const tableOption = () =>
  new Option('-t, --table <schema.table>', 'only this table (default: every table in the catalog)');

/**
 * `compact` and `expire`: Iceberg maintenance on demand. Both commit through the catalog's
 * compare-and-set, so they may run while the sink commits: a sink whose staged change lost to a
 * compaction stages it again.
 */
export function registerMaintenanceCommands(program: Command): void {
  program
    .command('compact')
    .description(
      'Rewrite each Iceberg table\'s live rows into fewer, larger data files without position deletes (one "replace" snapshot)',
    )
    .addOption(configOption())
    .addOption(tableOption())
    .addOption(new Option('--target-file-rows <n>', 'rows per data file').default('1000000'))
    .addOption(jsonOption())
    .action(async (opts: { config: string; table?: string; targetFileRows: string; json?: boolean }) => {
      const rows = Number(opts.targetFileRows);
      if (!Number.isInteger(rows) || rows <= 0)
        throw new TidemarkError(
          'config',
          `--target-file-rows must be a positive integer, got "${opts.targetFileRows}"`,
        );
      const config = loadConfigFile(opts.config);
      const out = await withLake(
        config,
        async (lake, tables) => {
          const results = [];
          for (const t of tables) {
            const r = await lake.compact({ schema: t.namespace, table: t.name }, rows);
            results.push({ table: `${t.namespace}.${t.name}`, ...r });
          }
          return results;
        },
        opts.table,
      );
      process.stdout.write(
        opts.json
          ? `${JSON.stringify(out, null, 2)}\n`
          : out
              .map(
                (r) =>
                  `${r.table}: ${r.rewrittenFiles ? `${r.rewrittenFiles} file(s) rewritten into ${r.newFiles}` : 'nothing to compact'}\n`,
              )
              .join(''),
      );
    });

  program
    .command('expire')
    .description(
      'Expire old Iceberg snapshots (their files are deleted when no kept snapshot needs them), then delete orphan files',
    )
    .addOption(configOption())
    .addOption(tableOption())
    .addOption(new Option('--older-than <duration>', 'expire snapshots older than this').default('7d'))
    .addOption(new Option('--keep-last <n>', 'always keep this many newest snapshots').default('10'))
    .addOption(
      new Option(
        '--orphans-older-than <duration>',
        'delete unreferenced files older than this (younger ones may belong to a commit in flight)',
      ).default('1d'),
    )
    .addOption(jsonOption())
    .action(
      async (opts: {
        config: string;
        table?: string;
        olderThan: string;
        keepLast: string;
        orphansOlderThan: string;
        json?: boolean;
      }) => {
        const keepLast = Number(opts.keepLast);
        if (!Number.isInteger(keepLast) || keepLast < 1)
          throw new TidemarkError(
            'config',
            `--keep-last must be an integer of at least 1, got "${opts.keepLast}"`,
          );
        const olderThanMs = parseDuration(opts.olderThan, '--older-than');
        const orphansOlderThanMs = parseDuration(opts.orphansOlderThan, '--orphans-older-than');
        const config = loadConfigFile(opts.config);
        const out = await withLake(
          config,
          async (lake, tables) => {
            const results = [];
            for (const t of tables) {
              const r = await lake.expire(
                { schema: t.namespace, table: t.name },
                { keepLast, olderThanMs, orphansOlderThanMs },
              );
              results.push({ table: `${t.namespace}.${t.name}`, ...r });
            }
            return results;
          },
          opts.table,
        );
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(out, null, 2)}\n`
            : out
                .map(
                  (r) =>
                    `${r.table}: ${r.expired} snapshot(s) expired, ${r.deletedFiles} file(s) deleted, ${r.orphans} orphan file(s) deleted\n`,
                )
                .join(''),
        );
      },
    );
}
