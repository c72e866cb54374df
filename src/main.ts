import type { Server } from 'node:http';
import type { Config } from './config/load';
import { TidemarkError } from './core/errors';
import { EmbeddedChangeLog } from './log/embedded-log';
import { openChangeLogWriter } from './log/open';
import { startHealthServer } from './observe/health-server';
import type { Logger } from './observe/logger';
import { createLogger } from './observe/logger';
import { createRegistry, type Registry } from './observe/metrics';
import type { OffsetStore } from './offsets/offset-store';
import { openOffsetStore } from './offsets/open';
import { RoleLease } from './offsets/role-lease';
import { Shutdown } from './shutdown';
import { openEmbeddedSink } from './sink/embedded-sink';
import { startKafkaSink } from './sink/kafka-sink';
import type { SinkHandle } from './sink/sink-handle';
import { type SourceHandle, startSource } from './source';

export type Role = 'source' | 'sink' | 'all';

/** What is running, for readiness and progress displays. */
export interface Running {
  source: SourceHandle | null;
  sink: SinkHandle | null;
  phase: string;
}

interface Context {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly store: OffsetStore;
  readonly shutdown: Shutdown;
  readonly running: Running;
  /** Stops the process on a stage's fatal error, keeping the first error for the exit code. */
  readonly fatal: (e: unknown, stage: string) => void;
}

/**
 * Composition root: builds the stages from the validated config, runs them until a signal or a
 * fatal error, then stops them in order (source input first, then the log, then the sinks,
 * then the stores). Rejects with the fatal error, if any, so the CLI can map it to an exit code.
 */
export interface PipelineHooks {
  /** Metrics land here (the demo's progress display reads them). */
  readonly registry?: Registry;
  /** Called at once with the live `Running` record, which fills in as stages start. */
  readonly onRunning?: (r: Running) => void;
  /** A graceful stop, as on SIGTERM, when this resolves. */
  readonly stopWhen?: Promise<string>;
  /** False when the caller handles SIGINT/SIGTERM itself (and stops through `stopWhen`). */
  readonly handleSignals?: boolean;
}

export async function runPipeline(config: Config, role: Role, hooks: PipelineHooks = {}): Promise<void> {
  if (config.log.kind === 'embedded' && role !== 'all') {
    throw new TidemarkError(
      'config',
      `config key "log.kind": "embedded" runs source and sinks in one process, so --role ${role} cannot use it`,
      {
        fix: 'run with --role all, or use log.kind kafka to split the roles',
      },
    );
  }
  const logger = createLogger(config.observe.logLevel, { pipeline: config.pipeline, role });
  const registry = hooks.registry ?? createRegistry(config.pipeline);
  const shutdown = new Shutdown(logger, config.observe.shutdownDeadlineMs, hooks.handleSignals ?? true);
  void hooks.stopWhen?.then((why) => shutdown.stop(why));
  let firstFatal: unknown = null;
  const running: Running = { source: null, sink: null, phase: 'starting' };
  hooks.onRunning?.(running);
  const ctx: Context = {
    config,
    logger,
    registry,
    store: openOffsetStore(config),
    shutdown,
    running,
    fatal: (e, stage) => {
      firstFatal ??= e;
      shutdown.stop(`${stage} failed`);
    },
  };
  let server: Server | null = null;
  try {
    // Health first: /healthz must answer while a long snapshot runs, or Kubernetes kills us.
    server = await startHealthServer(config.observe.port, registry, {
      notReadyReason: () => notReady(running),
    });
    await ctx.store.ready?.();
    const started = config.log.kind === 'embedded' ? runEmbedded(ctx) : runOnKafka(ctx, role);
    const first = await Promise.race([started.then(() => null), shutdown.requested.then((why) => why)]);
    if (first !== null) {
      logger.info({ why: first }, 'stopping before every stage finished starting');
      started.catch(() => {});
    } else {
      logger.info({ port: config.observe.port, ...running.source?.status() }, 'tidemark running');
      logger.info({ why: await shutdown.requested }, 'stopping');
    }
  } catch (e) {
    firstFatal ??= e;
  }
  shutdown.add('offset store', () => ctx.store.close());
  shutdown.add('health server', () => new Promise<void>((r) => (server ? server.close(() => r()) : r())));
  await shutdown.run();
  if (firstFatal)
    throw firstFatal instanceof Error ? firstFatal : new TidemarkError('internal', String(firstFatal));
}

function notReady(r: Running): string | null {
  if (r.source) {
    const why = r.source.notReadyReason();
    if (why) return why;
  }
  if (r.sink && r.sink.status().phase !== 'consuming') return 'sink is starting';
  return r.source || r.sink ? null : r.phase;
}

/**
 * Embedded mode: one process, an in-memory log, the slot as the replay log. The sinks open
 * first (a bad sink config fails before a slot is created), the source publishes its tables,
 * then the runner restores tokens from the sinks and commits every interval.
 */
async function runEmbedded(ctx: Context): Promise<void> {
  const { config, logger, registry, store, shutdown, running } = ctx;
  const log = new EmbeddedChangeLog({ rows: config.sinks.batchMaxRows, bytes: config.sinks.batchMaxBytes });
  running.phase = 'opening the sinks';
  const sinks = await openEmbeddedSink({ config, log, store, logger, registry });
  shutdown.add('sinks (unstarted)', async () => {
    if (!running.sink) await Promise.allSettled(sinks.targets.map((t) => t.close()));
  });
  running.phase = 'source starting (setup)';
  const source = await startSource({ config, log, state: store, logger, registry });
  running.source = source;
  // Stop both together: the source's in-flight appends resolve only when the sinks commit them;
  // what no cut covers (a transaction cut in half) is failed, stays unconfirmed, and is replayed.
  shutdown.add('source and sinks', async () => {
    const sourceStopped = source.stop();
    await running.sink?.stop();
    log.fail(new TidemarkError('transient', 'stopping: not committed, the slot replays it'));
    await sourceStopped;
  });
  source.done.catch((e: unknown) => ctx.fatal(e, 'source'));
  running.phase = 'sinks starting (restoring tokens)';
  const sink = await sinks.start();
  running.sink = sink;
  sink.done.catch((e: unknown) => ctx.fatal(e, 'sinks'));
}

/** Kafka mode: the source role writes the log, the sink role consumes it; `all` runs both. */
async function runOnKafka(ctx: Context, role: Role): Promise<void> {
  const { config, logger, registry, store, shutdown, running } = ctx;
  if (role !== 'sink') {
    // One reader per slot: a second source process stands by until the holder dies or stops.
    running.phase = 'source standing by (lease held by another process)';
    const lease = new RoleLease(store, 'source', logger, undefined, true);
    let stopping = false;
    void shutdown.requested.then(() => (stopping = true));
    const held = await lease.acquire(
      () => stopping,
      (e) => ctx.fatal(new TidemarkError('fenced', `${e.message}: this source stops`), 'source'),
    );
    if (!held) return;
    running.phase = 'connecting to Kafka';
    let source: Awaited<ReturnType<typeof startSource>>;
    let writer: Awaited<ReturnType<typeof openChangeLogWriter>>;
    try {
      writer = await openChangeLogWriter(config, { logger, registry, store });
      running.phase = 'source starting (setup)';
      source = await startSource({ config, log: writer, state: store, logger, registry });
    } catch (e) {
      await lease.release();
      throw e;
    }
    running.source = source;
    shutdown.add('source', () => source.stop());
    shutdown.add('change log', () => writer.close());
    // Released only once the slot is let go: a standby must not start reading before.
    shutdown.add('source lease', () => lease.release());
    source.done.catch((e: unknown) => ctx.fatal(e, 'source'));
  }
  if (role !== 'source') {
    running.phase = 'sink starting (committer lease, tokens)';
    let stopping = false;
    void shutdown.requested.then(() => (stopping = true));
    const pending = startKafkaSink({ config, store, logger, registry, isStopping: () => stopping });
    // Registered before it resolves: a standby waiting for the lease must stop on a signal too.
    shutdown.add('sink', async () => (await pending.catch(() => null))?.stop());
    const sink = await pending;
    running.sink = sink;
    sink.done.catch((e: unknown) => ctx.fatal(e, 'sink'));
  }
}
