import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load';
import { TidemarkError } from '../core/errors';
import { createLogger } from '../observe/logger';
import { runVerify, type SinkName, type VerifyReport } from '../verify/run-verify';
import { EXIT } from './exit-codes';
import { configOption, jsonOption } from './options';

const collect = (v: string, prev: string[]) => [...prev, v];

function count(text: string, what: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new TidemarkError('config', `${what} must be an integer ≥ ${min}, got "${text}"`);
  return n;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'Compare the source with the sinks at one consistent cut: per table and key range, row counts and a checksum over every column; names the first differing keys. Exit code 6 when they differ',
    )
    .addOption(configOption())
    .addOption(
      new Option('-t, --table <name>', 'only this table ("schema.table" or its name); repeatable')
        .default([])
        .argParser(collect),
    )
    .addOption(
      new Option('--sink <sink>', 'only this sink; repeatable')
        .choices(['iceberg', 'warehouse'])
        .default([])
        .argParser(collect),
    )
    .addOption(
      new Option(
        '--wait <seconds>',
        'how long to wait for the sinks to commit a cut past the source snapshot',
      ).default('30'),
    )
    .addOption(new Option('--ranges <n>', 'key ranges per table').default('64'))
    .addOption(new Option('--show <n>', 'differing keys to list per table').default('10'))
    .addOption(jsonOption())
    .action(
      async (opts: {
        config: string;
        table: string[];
        sink: string[];
        wait: string;
        ranges: string;
        show: string;
        json?: boolean;
      }) => {
        const config = loadConfigFile(opts.config);
        const report = await runVerify(
          config,
          {
            tables: opts.table,
            sinks: opts.sink as SinkName[],
            waitMs: count(opts.wait, '--wait', 0) * 1000,
            ranges: count(opts.ranges, '--ranges', 1),
            show: count(opts.show, '--show', 1),
          },
          createLogger('error', { command: 'verify' }),
        );
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderVerify(report));
        if (!report.agree) process.exitCode = EXIT.differs;
      },
    );
}

export function renderVerify(r: VerifyReport): string {
  const lines: string[] = [];
  lines.push(
    `pipeline ${r.pipeline}: source snapshot at ${r.sourceSnapshotLsn}, ${r.sinks.join(' and ')} read at cut ${r.cutLsn ?? '(none committed)'}${r.exact ? ' (exact: the source changes up to the cut are applied to the snapshot)' : ''}`,
  );
  for (const n of r.notes) lines.push(`note: ${n}`);
  for (const t of r.tables) {
    const sides = Object.keys(t.rows);
    const counts = sides.map((s) => `${s} ${t.rows[s]}`).join(', ');
    if (t.agree) {
      lines.push(`${t.table}: agree, ${t.rows.source} rows, checksum ${t.checksums.source}`);
    } else {
      lines.push(`${t.table}: DIFFERS (rows: ${counts})`);
      for (const x of t.differingRanges.slice(0, 10))
        lines.push(`  range ${x.range}: ${sides.map((s) => `${s} ${x.rows[s]}`).join(', ')}`);
      if (t.differingRanges.length > 10) lines.push(`  … and ${t.differingRanges.length - 10} more ranges`);
      for (const d of t.differences) lines.push(`  ${d.key}: ${d.side} ${d.what}`);
    }
    for (const n of t.notes) lines.push(`  note: ${n}`);
  }
  const bad = r.tables.filter((t) => !t.agree).length;
  lines.push(
    bad === 0 ? `all ${r.tables.length} table(s) agree` : `${bad} of ${r.tables.length} table(s) differ`,
  );
  return `${lines.join('\n')}\n`;
}
