import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load';
import { TidemarkError } from '../core/errors';
import { parseTableKey, type TableRef } from '../core/table-schema';
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

/**
 * Runs `op` on every Iceberg table of the config's catalog (or the one `--table` names), then
 * prints the results: JSON, or one `line` per table.
 */
async function eachTable<R extends object>(
  opts: { config: string; table?: string; json?: boolean },
  op: (lake: Lakehouse, table: TableRef) => Promise<R>,
  line: (r: R) => string,
): Promise<void> {
  const cfg = loadConfigFile(opts.config).sinks.iceberg;
  if (!cfg)
    throw new TidemarkError(
      'config',
      'config key "sinks.iceberg" is not set: there is no Iceberg table to maintain',
    );
  const catalog = await openCatalog(cfg.catalog);
  const out: Array<{ table: string } & R> = [];
  try {
    const { io, warehouse } = await openFileIO(cfg);
    let tables = await catalog.listTables();
    if (opts.table) {
      const t = parseTableKey(opts.table);
      tables = tables.filter((x) => x.namespace === t.schema && x.name === t.table);
      if (tables.length === 0)
        throw new TidemarkError(
          'config',
          `--table ${opts.table}: no such Iceberg table in catalog ${catalog.name}`,
        );
    }
    const lake = new Lakehouse({ catalog, io, warehouse, targetFileBytes: cfg.targetFileBytes });
    for (const t of tables)
      out.push({
        table: `${t.namespace}.${t.name}`,
        ...(await op(lake, { schema: t.namespace, table: t.name })),
      });
  } finally {
    await catalog.close();
  }
  process.stdout.write(
    opts.json ? `${JSON.stringify(out, null, 2)}\n` : out.map((r) => `${r.table}: ${line(r)}\n`).join(''),
  );
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
      'Rewrite each Iceberg table\'s live rows into fewer, larger data files without position deletes, or with --only-small its small and much-deleted files (one "replace" snapshot)',
    )
    .addOption(configOption())
    .addOption(tableOption())
    .addOption(new Option('--target-file-rows <n>', 'rows per data file').default('1000000'))
    .addOption(
      new Option(
        '--only-small',
        'rewrite only data files under half the target and those with 30% or more of their rows deleted; the position deletes of the big files that stay are merged into one file per partition',
      ),
    )
    .addOption(jsonOption())
    .action(
      async (opts: {
        config: string;
        table?: string;
        targetFileRows: string;
        onlySmall?: boolean;
        json?: boolean;
      }) => {
        const rows = Number(opts.targetFileRows);
        if (!Number.isInteger(rows) || rows <= 0)
          throw new TidemarkError(
            'config',
            `--target-file-rows must be a positive integer, got "${opts.targetFileRows}"`,
          );
        await eachTable(
          opts,
          (lake, table) => lake.compact(table, rows, opts.onlySmall ? 'small' : 'all'),
          (r) =>
            r.rewrittenFiles
              ? `${r.rewrittenFiles} file(s) rewritten into ${r.newFiles}`
              : 'nothing to compact',
        );
      },
    );

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
        await eachTable(
          opts,
          (lake, table) => lake.expire(table, { keepLast, olderThanMs, orphansOlderThanMs }),
          (r) =>
            `${r.expired} snapshot(s) expired, ${r.deletedFiles} file(s) deleted, ${r.orphans} orphan file(s) deleted`,
        );
      },
    );
}
