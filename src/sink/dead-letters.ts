import type { KafkaMessage, Producer } from 'kafkajs';
import { isTidemarkError, TidemarkError } from '../core/errors';
import type { Logger } from '../observe/logger';
import { Counter, metricsFor, type Registry } from '../observe/metrics';

export interface DeadLetter {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
  readonly error: unknown;
  /** "schema.table" when known. */
  readonly table: string | undefined;
}

/**
 * Events that cannot be decoded or applied. Per table policy: `dead-letter` sends the original
 * message, untouched, to the dead-letter topic with the reason in headers and goes on; `stop`
 * throws, which stops the worker before anything past the event is committed.
 */
export class DeadLetters {
  private readonly counter: Counter<'table'>;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly policyOf: (table: string | undefined) => 'dead-letter' | 'stop',
    private readonly logger: Logger,
    registry: Registry,
  ) {
    this.counter = metricsFor(
      registry,
      'dead-letters',
      (r) =>
        new Counter({
          name: 'tidemark_sink_dead_letters_total',
          help: 'Events sent to the dead-letter topic',
          labelNames: ['table'] as const,
          registers: [r],
        }),
    );
  }

  async send(d: DeadLetter): Promise<void> {
    const reason = isTidemarkError(d.error)
      ? d.error.message
      : String((d.error as Error)?.message ?? d.error);
    if (this.policyOf(d.table) === 'stop') {
      throw new TidemarkError(
        'malformed_event',
        `stopping on a bad event at ${d.topic}/${d.partition}@${d.message.offset}: ${reason}`,
        {
          cause: d.error,
          fix: "fix or skip the event (tidemark offsets reset), or set the table's onError to dead-letter",
        },
      );
    }
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: [
        {
          key: d.message.key,
          value: d.message.value,
          headers: {
            'tidemark.error': reason,
            'tidemark.source.topic': d.topic,
            'tidemark.source.partition': String(d.partition),
            'tidemark.source.offset': d.message.offset,
          },
        },
      ],
    });
    this.counter.inc({ table: d.table ?? 'unknown' });
    this.logger.warn(
      { topic: d.topic, partition: d.partition, offset: d.message.offset, reason },
      'event sent to the dead-letter topic',
    );
  }
}
