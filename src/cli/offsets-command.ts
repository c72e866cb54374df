import type { Command } from 'commander';
import { loadConfigFile } from '../config/load';
import { formatLsn } from '../core/lsn';
import { openOffsetStore } from '../offsets/open';
import { configOption, jsonOption } from './options';

export function registerOffsetsCommand(program: Command): void {
  const offsets = program.command('offsets').description('Inspect the stored offsets of a pipeline');
  offsets
    .command('show')
    .description('Print the offset tokens per channel and the last watermark from the offset store')
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
            `${JSON.stringify({ pipeline: config.pipeline, tokens, watermark }, null, 2)}\n`,
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
      } finally {
        await store.close();
      }
    });
}
