import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) and peak RSS of a live process, from /proc (Linux). */
export interface ProcessUsage {
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export function processUsage(pid: number): ProcessUsage | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return { cpuSeconds: (utime + stime) / TICKS_PER_SECOND, peakRssMiB: hwm ? Number(hwm[1]) / 1024 : 0 };
  } catch {
    return null;
  }
}

/** Samples a process until it exits and keeps the last reading (peak RSS is already a maximum). */
export class UsageSampler {
  private last: ProcessUsage | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 250);
  }

  sample(): ProcessUsage | null {
    const u = processUsage(this.pid);
    if (u) this.last = u;
    return this.last;
  }

  stop(): ProcessUsage | null {
    clearInterval(this.timer);
    return this.sample();
  }
}
