import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
/** The CLI as operators run it. */
export const BIN = join(ROOT, 'bin', 'tidemark');

/**
 * The node flags bin/tidemark's first line gives (`#!/usr/bin/env -S node <flags>`): a child run
 * as `node bin/tidemark` skips that line, so tests and benchmarks pass them as an installed
 * `tidemark` (and the container) gets them.
 */
export const NODE_FLAGS: readonly string[] = (() => {
  const first = readFileSync(BIN, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node((?: --[a-z0-9-]+(?:=\S+)?)*)$/.exec(first);
  if (!m) throw new Error(`bin/tidemark's first line is not "#!/usr/bin/env -S node <flags>": ${first}`);
  return m[1]!.split(' ').filter(Boolean);
})();

/** A free TCP port on loopback for a process's health server. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface TidemarkProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything the process wrote to stderr (its JSON log lines). */
  stderr(): string;
  stdout(): string;
  exited: Promise<number | null>;
  /** Resolves once /readyz answers 200 (or rejects when the process exits first or times out). */
  ready(timeoutMs?: number): Promise<void>;
  kill9(): Promise<void>;
  terminate(): Promise<number | null>;
}

const live = new Set<ChildProcess>();

/** SIGKILLs every tidemark this test file started that still runs (for afterAll: a failed test must not leave them behind). */
export async function killAllTidemarks(): Promise<void> {
  const waits = [...live].map(
    (c) =>
      new Promise<void>((r) => {
        if (c.exitCode !== null || c.signalCode !== null) return r();
        c.once('exit', () => r());
        c.kill('SIGKILL');
      }),
  );
  await Promise.all(waits);
}

/** Runs the real CLI (`bin/tidemark`) as a child process, as an operator would. */
export function startTidemark(args: string[], env: NodeJS.ProcessEnv = {}, port = 0): TidemarkProcess {
  const child = spawn(process.execPath, [...NODE_FLAGS, BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    port,
    stderr: () => err,
    stdout: () => out,
    exited,
    async ready(timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (done) throw new Error(`tidemark exited before it was ready:\n${err.slice(-4000)}`);
        try {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`);
          if (r.status === 200) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`tidemark not ready within ${timeoutMs} ms:\n${err.slice(-4000)}`);
    },
    async kill9() {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
    async terminate() {
      if (!done) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one CLI command to its end (as an operator would) and returns its exit code and output. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 180_000,
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `tidemark run --config <config>` with its health port at METRICS_PORT, once it is ready. */
export async function runPipeline(config: string, env: NodeJS.ProcessEnv): Promise<TidemarkProcess> {
  const port = await freePort();
  const proc = startTidemark(['run', '--config', config], { ...env, METRICS_PORT: String(port) }, port);
  await proc.ready(90_000);
  return proc;
}

/**
 * A Kafka-mode config (Redis offsets, Iceberg on a SQLite catalog in `dir`, a PostgreSQL
 * warehouse from ${WH_URL}, the source from ${SRC_URL}, the health port from ${METRICS_PORT}),
 * with short intervals for tests; `extra` is appended (e.g. a `tables:` section).
 */
export function kafkaPipelineYaml(pipeline: string, dir: string, tables: string, extra = ''): string {
  return `pipeline: ${pipeline}
source: { url: \${SRC_URL}, tables: [${tables}], heartbeatIntervalMs: 500, watermarkIntervalMs: 200 }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${METRICS_PORT} }
${extra}`;
}

/** `tidemark status --json` of a pipeline. */
export async function pipelineStatus(
  config: string,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, unknown>> {
  return JSON.parse((await runCli(['status', '--json', '--config', config], env)).stdout);
}

/**
 * Waits until `status` shows a table refresh (copy) of `table` finished, one requested after
 * `since` (an ISO time) when given; `proc`'s log on timeout.
 */
export async function waitForRefresh(
  config: string,
  env: NodeJS.ProcessEnv,
  table: string,
  proc: TidemarkProcess,
  timeoutMs = 120_000,
  since = '',
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const refreshes = (await pipelineStatus(config, env)).refreshes as Array<{
      table: string;
      requestedAt: string;
      finishedAt?: string;
    }>;
    if (refreshes.some((x) => x.table === table && x.finishedAt && x.requestedAt > since)) return;
    if (Date.now() > until)
      throw new Error(`${table} was not copied: ${JSON.stringify(refreshes)}\n${proc.stderr().slice(-3000)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/**
 * The embedded counterpart of kafkaPipelineYaml: no Kafka, offsets in a file in `dir`, Iceberg on a
 * SQLite catalog in `dir`, a PostgreSQL warehouse from ${WH_URL}; `source` adds source options.
 */
export function embeddedPipelineYaml(pipeline: string, dir: string, tables: string, source = ''): string {
  return `pipeline: ${pipeline}
source: { url: \${SRC_URL}, tables: [${tables}], heartbeatIntervalMs: 500${source ? `, ${source}` : ''} }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: \${METRICS_PORT} }
`;
}

/** kafkaPipelineYaml or embeddedPipelineYaml, with `source` options added to the source section. */
export function pipelineYaml(
  mode: 'embedded' | 'kafka',
  pipeline: string,
  dir: string,
  tables: string,
  source = '',
): string {
  if (mode === 'embedded') return embeddedPipelineYaml(pipeline, dir, tables, source);
  const yaml = kafkaPipelineYaml(pipeline, dir, tables);
  return source ? yaml.replace('heartbeatIntervalMs: 500', `heartbeatIntervalMs: 500, ${source}`) : yaml;
}

export function writeConfig(dir: string, name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

/** Peak resident set size of a process, in MiB (VmHWM). */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

/** The text a tidemark process serves at /metrics. */
export async function metricsOf(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Sum of a metric's samples over its labels, in /metrics text. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** The process's exit code once it exits, or 'running' if it still runs after `ms`. */
export async function exitCodeWithin(proc: TidemarkProcess, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      proc.exited,
      new Promise<'running'>((r) => {
        timer = setTimeout(() => r('running'), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
