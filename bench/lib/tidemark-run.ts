import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, NODE_FLAGS } from '../../test/support/tidemark-process';
import { type ProcessUsage, UsageSampler } from './process-usage';

const ROOT = join(__dirname, '..', '..');

/** One tidemark process run through the real CLI, with its CPU and memory sampled. */
export class TidemarkRun {
  private readonly child: ChildProcess;
  private readonly sampler: UsageSampler;
  private stderr = '';
  private stopping = false;
  readonly exited: Promise<number | null>;
  /** Set by the caller: a process that dies mid-measure must end the wait with its log. */
  onUnexpectedExit: ((e: Error) => void) | null = null;

  private constructor(
    readonly name: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly port: number,
  ) {
    // --cpu-prof when BENCH_CPU_PROF names a folder: the profile of the hottest path.
    const prof = process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, `--cpu-prof-name=${name}.cpuprofile`]
      : [];
    // scripts/bench compiles tidemark first and names the entry; bin/tidemark (tsx) otherwise.
    const entry = process.env.TIDEMARK_BENCH_ENTRY ?? join(ROOT, 'bin', 'tidemark');
    this.child = spawn(process.execPath, [...prof, ...NODE_FLAGS, entry, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, TIDEMARK_METRICS_PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
    void this.exited.then((code) => {
      if (!this.stopping)
        this.onUnexpectedExit?.(
          new Error(`${this.name} exited with ${code} during the run:\n${this.stderr.slice(-4000)}`),
        );
    });
    this.sampler = new UsageSampler(this.child.pid!);
  }

  static async start(
    name: string,
    configPath: string,
    role: 'source' | 'sink' | 'all',
    env: NodeJS.ProcessEnv,
  ): Promise<TidemarkRun> {
    return new TidemarkRun(name, ['run', '--config', configPath, '--role', role], env, await freePort());
  }

  async ready(timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < until) {
      if (exited) throw new Error(`${this.name} exited before it was ready:\n${this.stderr}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.port}/readyz`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.stderr}`);
  }

  /** Sum of one metric's samples from /metrics (0 when absent). */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  usage(): ProcessUsage | null {
    return this.sampler.sample();
  }

  /** SIGTERM, wait, and the usage figures of the whole run. */
  async stop(): Promise<ProcessUsage | null> {
    const last = this.sampler.sample();
    this.stopping = true;
    this.child.kill('SIGTERM');
    const code = await this.exited;
    this.sampler.stop();
    if (code !== 0) throw new Error(`${this.name} exited with ${code}:\n${this.stderr}`);
    return last;
  }

  kill(): void {
    this.stopping = true;
    this.child.kill('SIGKILL');
  }
}

export function writeConfig(dir: string, name: string, yaml: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

/** `wait` unless one of the processes dies first (then its log is the error). */
export function watching<T>(runs: readonly TidemarkRun[], wait: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    for (const r of runs) r.onUnexpectedExit = reject;
    wait.then(resolve, reject);
  });
}
