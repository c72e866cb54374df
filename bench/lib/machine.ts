import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly postgres: string;
  readonly kafka: string;
  readonly date: string;
}

export function machineInfo(pgBin: string, kafkaVersion: string): MachineInfo {
  let postgres = 'unknown';
  try {
    postgres = execFileSync(`${pgBin}/postgres`, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as unknown
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    postgres,
    kafka: kafkaVersion,
    date: new Date().toISOString(),
  };
}
