import type { Server } from 'node:http';
import type { Config } from './config/load';
import { TidemarkError } from './core/errors';
import { openChangeLogWriter } from './log/open';
import { createLogger } from './observe/logger';
import { startHealthServer } from './observe/health-server';
import { createRegistry } from './observe/metrics';
import { openOffsetStore } from './offsets/open';
import { Shutdown } from './shutdown';
import { type SourceHandle, startSource } from './source';

export type Role = 'source' | 'all';

/**
 * Composition root: builds the stages from the validated config, runs them until a signal or a
 * fatal error, then stops them in order (source input first, then the log, then the stores).
 * Rejects with the fatal error, if any, so the CLI can map it to an exit code.
 */
export async function runPipeline(config: Config, role: Role): Promise<void> {
  const logger = createLogger(config.observe.logLevel, { pipeline: config.pipeline, role });
  const registry = createRegistry(config.pipeline);
  const shutdown = new Shutdown(logger, config.observe.shutdownDeadlineMs);
  let fatal: unknown = null;

  const store = openOffsetStore(config);
  let source: SourceHandle | null = null;
  let phase = 'starting';
  let server: Server | null = null;
  try {
    // Health first: /healthz must answer while a long snapshot runs, or Kubernetes kills us.
    server = await startHealthServer(config.observe.port, registry, {
      notReadyReason: () => (source ? source.notReadyReason() : phase),
    });
    const log = await openChangeLogWriter(config, { logger, registry, store });
    phase = 'source starting (snapshot or setup)';
    const started = startSource({ config, log, state: store, logger, registry });
    const first = await Promise.race([started.then((s) => ({ source: s })), shutdown.requested.then((why) => ({ why }))]);
    if ('why' in first) {
      logger.info({ why: first.why }, 'stopping before the source finished starting');
      started.then((s) => s.stop()).catch(() => {});
    } else {
      source = first.source;
      const s = first.source;
      shutdown.add('source', () => s.stop());
      s.done.catch((e: unknown) => {
        fatal = e;
        shutdown.fail('source failed');
      });
      logger.info({ port: config.observe.port, ...s.status() }, 'tidemark running');
      const why = await shutdown.requested;
      logger.info({ why }, 'stopping');
    }
    shutdown.add('change log', () => log.close());
  } catch (e) {
    fatal = e;
  }
  shutdown.add('offset store', () => store.close());
  shutdown.add('health server', () => new Promise<void>((r) => (server ? server.close(() => r()) : r())));
  await shutdown.run();
  if (fatal) throw fatal instanceof Error ? fatal : new TidemarkError('internal', String(fatal));
}
