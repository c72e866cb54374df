import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from './machine';

export interface Figure {
  readonly group: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly detail?: string;
}

export interface Report {
  readonly machine: MachineInfo;
  readonly scale: number;
  readonly figures: readonly Figure[];
  readonly notes: readonly string[];
}

const GOALS = `Goals (issue 8): end to end ≥ 50,000 changes/s into both sinks with Kafka in the path, then
half the raw slot-read rate; p99 source commit → visible in both sinks ≤ 2 s at 10k changes/s;
initial snapshot ≥ 200,000 rows/s into both sinks; source RSS ≤ 512 MiB through a 1M-row
transaction; sink RSS bounded by its buffers.`;

/** Writes <time>.json and <time>.md under `dir`, and copies the markdown to latest.md when asked. */
export function writeReport(
  dir: string,
  r: Report,
  opts: { latest: boolean },
): { json: string; markdown: string } {
  const stamp = r.machine.date.replace(/[:.]/g, '-');
  const json = join(dir, `${stamp}.json`);
  const markdown = join(dir, `${stamp}.md`);
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  const m = r.machine;
  const lines = [
    '# tidemark benchmark results',
    '',
    `${m.date}, \`npm run bench\` (bench/run.ts), scale ${r.scale}. Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB RAM,`,
    `shared by PostgreSQL, Kafka, Redis and tidemark. ${m.postgres}; Kafka ${m.kafka} (KRaft, one broker); Node ${m.node}.`,
    'Every figure of one run comes from the same machine state, so the ratios to the limits hold.',
    '',
    GOALS,
    '',
  ];
  let group = '';
  for (const f of r.figures) {
    if (f.group !== group) {
      group = f.group;
      lines.push('', `## ${group}`, '', '| measure | figure | notes |', '|---|---:|---|');
    }
    lines.push(`| ${f.name} | ${f.value.toLocaleString('en-US')} ${f.unit} | ${f.detail ?? ''} |`);
  }
  if (r.notes.length) lines.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  writeFileSync(markdown, `${lines.join('\n')}\n`);
  if (opts.latest) copyFileSync(markdown, join(dir, 'latest.md'));
  return { json, markdown };
}
