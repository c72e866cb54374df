import './kafkajs-linear-grouping';
import { Kafka, type LogEntry, logLevel } from 'kafkajs';
import type { KafkaLogConfig } from '../config/schema';
import type { Logger } from '../observe/logger';

/** One kafkajs client per process, logging through our logger at warn and above. */
export function createKafka(cfg: KafkaLogConfig, logger: Logger, role: string): Kafka {
  return new Kafka({
    clientId: `${cfg.clientId}-${role}`,
    brokers: cfg.brokers,
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
