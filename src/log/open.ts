import type { Config } from '../config/load';
import { TidemarkError } from '../core/errors';
import type { Logger } from '../observe/logger';
import type { Registry } from '../observe/metrics';
import type { OffsetStore } from '../offsets/offset-store';
import type { ChangeLogWriter } from './change-log';
import { createKafka } from './kafka-client';
import { KafkaChangeLogWriter } from './kafka-writer';

/** The source's change log, from config. Watermarks are mirrored into the offset store. */
export async function openChangeLogWriter(
  config: Config,
  deps: { logger: Logger; registry: Registry; store: OffsetStore },
): Promise<ChangeLogWriter> {
  if (config.log.kind !== 'kafka') {
    throw new TidemarkError(
      'config',
      'config key "log.kind": "embedded" runs source and sinks in one process; use `tidemark run --role all` with sinks configured',
    );
  }
  const writer = new KafkaChangeLogWriter({
    kafka: createKafka(config.log, deps.logger, 'source'),
    topicPrefix: config.topicPrefix,
    partitions: config.log.partitions,
    replicationFactor: config.log.replicationFactor,
    compression: config.log.compression,
    maxMessageBytes: config.log.maxMessageBytes,
    envelope: { name: config.topicPrefix, db: databaseName(config.source.url.reveal()) },
    logger: deps.logger.child({ stage: 'log' }),
    registry: deps.registry,
    onWatermark: (w) => deps.store.putWatermark(w),
  });
  try {
    await writer.start();
  } catch (e) {
    throw kafkaStartError(config, e);
  }
  return writer;
}

/** Why Kafka could not be used, as an operator needs it: refused credentials are not an outage. */
export function kafkaStartError(config: Config, e: unknown): TidemarkError {
  if (config.log.kind === 'kafka' && isSaslRefusal(e))
    return new TidemarkError(
      'config',
      `Kafka at ${config.log.brokers.join(',')} refused the SASL credentials of user "${config.log.sasl?.username}": ${(e as Error).message}`,
      { cause: e, fix: 'check log.sasl (mechanism, username) and the password in its environment variable' },
    );
  return new TidemarkError(
    'transient',
    `cannot reach Kafka at ${config.log.kind === 'kafka' ? config.log.brokers.join(',') : '-'}: ${(e as Error).message}`,
    {
      cause: e,
      fix: 'check log.brokers and that the brokers are up (and log.ssl when they expect TLS)',
    },
  );
}

function isSaslRefusal(e: unknown): boolean {
  for (
    let x = e as { name?: string; cause?: unknown; originalError?: unknown } | undefined, i = 0;
    x && i < 5;
    i++
  ) {
    if (x.name === 'KafkaJSSASLAuthenticationError') return true;
    x = (x.originalError ?? x.cause) as typeof x;
  }
  return false;
}

function databaseName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
  } catch {
    return 'postgres';
  }
}
