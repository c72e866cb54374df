import type { Command } from 'commander';
import { loadConfigFile } from '../config/load';
import { createLogger } from '../observe/logger';
import { openOffsetStore } from '../offsets/open';
import { type PipelineStatus, readPipelineStatus } from '../ops/pipeline-status';
import { configOption, jsonOption } from './options';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      'Show slot lag and retained WAL, snapshot progress, the last cut in each sink, and per channel the token in the offset store next to the tokens in the sinks, with Kafka consumer lag',
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .action(async (opts: { config: string; json?: boolean }) => {
      const config = loadConfigFile(opts.config);
      const store = openOffsetStore(config);
      try {
        const s = await readPipelineStatus(config, store, createLogger('warn', { command: 'status' }));
        process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : renderStatus(s));
      } finally {
        await store.close();
      }
    });
}

const bytes = (n: number | null) => {
  if (n === null) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
};

export function renderStatus(s: PipelineStatus): string {
  const lines: string[] = [`pipeline ${s.pipeline}: ${s.tables.length} table(s) ${s.tables.join(', ')}`];
  const sl = s.slot;
  lines.push(
    sl.exists
      ? `slot ${sl.name}: ${sl.active ? 'active' : 'inactive'}, confirmed ${sl.confirmedLsn}, lag ${bytes(sl.lagBytes)}, retained WAL ${bytes(sl.retainedWalBytes)}`
      : `slot ${sl.name}: does not exist (tidemark creates it at the first run)`,
  );
  lines.push(
    s.snapshot === null
      ? 'snapshot: no state recorded'
      : `snapshot: ${s.snapshot.complete ? 'complete' : `in progress, ${s.snapshot.doneTables.length} table(s) done`}`,
  );
  for (const t of s.snapshot?.inProgress ?? [])
    lines.push(`  ${t.table}: ${t.chunksDone} of ${t.chunks} chunks durable`);
  lines.push(
    s.watermark ? `last watermark ${s.watermark.lsn} at ${s.watermark.publishedAt}` : 'no watermark yet',
  );
  for (const p of s.pausedTables)
    lines.push(
      `paused ${p.table} since ${p.since}${p.reason ? ` (${p.reason})` : ''}: its changes wait in Kafka`,
    );
  for (const d of s.droppedTables)
    lines.push(
      `dropped ${d.table} in the source (noticed ${d.droppedAt}): its sink tables keep their rows, marked as dropped`,
    );
  for (const r of s.rebuiltTables)
    lines.push(
      `rebuilt ${r.table} at schema version ${r.version} (${r.requestedAt}) after a schema change its sinks could not follow: ${r.copyAsked ? 'the source is copying it again (see its refresh)' : 'waiting for the source to copy it again'}`,
    );
  for (const r of s.refreshes)
    lines.push(
      `refresh ${r.table}${r.reason ? ` (${r.reason})` : ''}: ${r.rows} rows copied, ${r.finishedAt ? `complete at ${r.finishedAt}` : `in progress since ${r.requestedAt}`}`,
    );
  for (const k of s.sinks) {
    lines.push(
      k.error
        ? `sink ${k.sink}: cannot read (${k.error})`
        : `sink ${k.sink}: last cut ${k.lastCutLsn ?? 'none yet'}${k.lastCommitAt ? ` at ${k.lastCommitAt}` : ''}`,
    );
  }
  if (s.channels.length > 0) {
    const stores = Object.keys(s.channels[0]!.tokens);
    const header = ['channel', ...stores.map((x) => `token in ${x}`), 'consumer lag'];
    const rows = s.channels.map((c) => [
      c.channel,
      ...stores.map((x) => c.tokens[x] ?? '-'),
      c.consumerLag === null ? '-' : String(c.consumerLag),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [header, ...rows])
      lines.push(
        r
          .map((v, i) => v.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      );
  }
  return `${lines.join('\n')}\n`;
}
