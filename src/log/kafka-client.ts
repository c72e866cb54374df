import './kafkajs-linear-grouping';
import './kafkajs-fast-paths';
import { readFileSync } from 'node:fs';
import { Kafka, type KafkaConfig, type LogEntry, logLevel, type SASLOptions } from 'kafkajs';
import type { KafkaLogConfig } from '../config/schema';
import { TidemarkError } from '../core/errors';
import type { Logger } from '../observe/logger';

function readPem(path: string | undefined, key: string): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new TidemarkError(
      'config',
      `config key "log.ssl.${key}": cannot read ${path}: ${(e as Error).message}`,
    );
  }
}

function tlsOptions(ssl: KafkaLogConfig['ssl']): KafkaConfig['ssl'] {
  if (ssl === undefined || typeof ssl === 'boolean') return ssl;
  const ca = readPem(ssl.caFile, 'caFile');
  return {
    ca: ca === undefined ? undefined : [ca],
    cert: readPem(ssl.certFile, 'certFile'),
    key: readPem(ssl.keyFile, 'keyFile'),
    rejectUnauthorized: ssl.rejectUnauthorized,
  };
}

/** One kafkajs client per process, logging through our logger at warn and above. */
export function createKafka(cfg: KafkaLogConfig, logger: Logger, role: string): Kafka {
  const sasl = cfg.sasl;
  return new Kafka({
    clientId: `${cfg.clientId}-${role}`,
    brokers: cfg.brokers,
    ssl: tlsOptions(cfg.ssl),
    sasl:
      sasl &&
      ({
        mechanism: sasl.mechanism,
        username: sasl.username,
        password: sasl.password.reveal(),
      } as SASLOptions),
    logLevel: logLevel.WARN,
    // A broker restart must stall us, not kill us: the slot is only acknowledged after Kafka acks.
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 20 },
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...rest } = log;
        const fields = { component: 'kafkajs', ...rest };
        if (level <= logLevel.ERROR) logger.error(fields, message);
        else logger.warn(fields, message);
      },
  });
}
