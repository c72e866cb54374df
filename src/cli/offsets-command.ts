import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load';
import { TidemarkError } from '../core/errors';
import { formatLsn, parseLsn } from '../core/lsn';
import { createLogger } from '../observe/logger';
import { openOffsetStore } from '../offsets/open';
import {
  applyReset,
  blocking,
  planReset,
  type ResetPlan,
  type ResetTarget,
  readResets,
} from '../ops/offsets-reset';
import { configOption, jsonOption } from './options';

export function registerOffsetsCommand(program: Command): void {
  const offsets = program.command('offsets').description('Inspect or reset the stored offsets of a pipeline');
  offsets
    .command('show')
    .description(
      'Print the offset tokens per channel, the last watermark and the last resets from the offset store',
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .action(async (opts: { config: string; json?: boolean }) => {
      const config = loadConfigFile(opts.config);
      const store = openOffsetStore(config);
      try {
        const tokens = Object.fromEntries(
          [...(await store.readTokens())].sort(([a], [b]) => a.localeCompare(b)),
        );
        const w = await store.getWatermark();
        const watermark = w && {
          lsn: formatLsn(w.lsn),
          publishedAt: new Date(w.publishedAtMs).toISOString(),
          offsets: w.offsets,
        };
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ pipeline: config.pipeline, tokens, watermark, resets: await readResets(store) }, null, 2)}\n`,
          );
          return;
        }
        process.stdout.write(`pipeline ${config.pipeline}\n`);
        process.stdout.write(
          watermark ? `last watermark  ${watermark.lsn} at ${watermark.publishedAt}\n` : 'no watermark yet\n',
        );
        const entries = Object.entries(tokens);
        if (entries.length === 0) process.stdout.write('no offset tokens yet\n');
        const width = Math.max(7, ...entries.map(([c]) => c.length));
        if (entries.length > 0) process.stdout.write(`${'channel'.padEnd(width)}  token\n`);
        for (const [channel, token] of entries) process.stdout.write(`${channel.padEnd(width)}  ${token}\n`);
        const resets = await readResets(store);
        for (const r of resets.slice(-5))
          process.stdout.write(
            `reset at ${r.at} to ${r.target}${r.forced ? ' (forced)' : ''}: ${r.channels.length} channel(s), tables ${r.tables.join(', ')}\n`,
          );
      } finally {
        await store.close();
      }
    });

  offsets
    .command('reset')
    .description(
      'Move where a stopped pipeline resumes: back to an LSN (the changes after it are applied again), to the latest cut (offset store and consumer group from the sinks), or to a new snapshot. Prints the plan; changes nothing without --apply',
    )
    .addOption(configOption())
    .addOption(new Option('--to-lsn <lsn>', 'resume after this LSN ("X/Y")'))
    .addOption(
      new Option('--to-latest-cut', "set the offset store and the consumer group from the sinks' tokens"),
    )
    .addOption(new Option('--resnapshot', 'drop the slot: the next start copies every table again'))
    .addOption(new Option('-t, --table <name>', 'only the channels of this table'))
    .addOption(new Option('--force', 'go on although the plan skips changes or Kafka may have lost some'))
    .addOption(new Option('--apply', 'carry the plan out (and record it in the offset store)'))
    .addOption(jsonOption())
    .action(
      async (opts: {
        config: string;
        toLsn?: string;
        toLatestCut?: boolean;
        resnapshot?: boolean;
        table?: string;
        force?: boolean;
        apply?: boolean;
        json?: boolean;
      }) => {
        const targets = [opts.toLsn !== undefined, !!opts.toLatestCut, !!opts.resnapshot].filter(
          Boolean,
        ).length;
        if (targets !== 1)
          throw new TidemarkError(
            'config',
            'offsets reset needs exactly one of --to-lsn, --to-latest-cut, --resnapshot',
          );
        let target: ResetTarget;
        if (opts.toLsn !== undefined) {
          try {
            target = { kind: 'lsn', lsn: parseLsn(opts.toLsn) };
          } catch {
            throw new TidemarkError(
              'config',
              `--to-lsn ${opts.toLsn}: not an LSN (expected hex "X/Y", as Postgres prints it)`,
            );
          }
        } else target = { kind: opts.toLatestCut ? 'latest-cut' : 'resnapshot' };
        const config = loadConfigFile(opts.config);
        const logger = createLogger('warn', { command: 'offsets reset' });
        const store = openOffsetStore(config);
        try {
          const plan = await planReset(config, store, target, opts.table ?? null, logger);
          const blocked = blocking(plan, !!opts.force);
          if (!opts.apply || blocked.length > 0) {
            process.stdout.write(
              opts.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan, !!opts.force),
            );
            if (blocked.length > 0)
              throw new TidemarkError('config', `offsets reset refused: ${blocked[0]}`, {
                fix: plan.refusals.some((r) => r.forceable && r.why === blocked[0])
                  ? 'if that is what you want, add --force'
                  : 'fix that first; nothing was changed',
              });
            return;
          }
          const record = await applyReset(config, store, plan, !!opts.force, logger);
          process.stdout.write(
            opts.json
              ? `${JSON.stringify(record, null, 2)}\n`
              : `${renderPlan(plan, !!opts.force)}applied at ${record.at}; recorded in the offset store (see \`offsets show\`)\n`,
          );
        } finally {
          await store.close();
        }
      },
    );
}

export function renderPlan(plan: ResetPlan, force: boolean): string {
  const lines = [
    `offsets reset of pipeline ${plan.pipeline} to ${plan.target} (tables ${plan.tables.join(', ')})`,
  ];
  for (const c of plan.channels.filter((x) => x.move !== 'none'))
    lines.push(
      `  ${c.channel}: ${Object.entries(c.tokens)
        .map(([k, v]) => `${k} ${v ?? '-'}`)
        .join(', ')} → ${c.next} (${c.move})`,
    );
  for (const a of plan.actions) lines.push(`  will: ${a}`);
  for (const w of plan.warnings) lines.push(`  note: ${w}`);
  for (const r of plan.refusals)
    lines.push(
      `  ${r.forceable && force ? 'forced past' : 'refused'}: ${r.why}${r.forceable && !force ? ' (--force overrides)' : ''}`,
    );
  return `${lines.join('\n')}\n`;
}
