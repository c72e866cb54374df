import { Counter, Histogram, metricsFor, type Registry } from '../observe/metrics';

export const logMetrics = (registry: Registry) =>
  metricsFor(registry, 'log', (r) => ({
    produced: new Counter({
      name: 'tidemark_log_produced_messages_total',
      help: 'Change messages acknowledged by Kafka, per table',
      labelNames: ['table'] as const,
      registers: [r],
    }),
    produceErrors: new Counter({
      name: 'tidemark_log_produce_errors_total',
      help: 'Failed produce round trips',
      registers: [r],
    }),
    produceSeconds: new Histogram({
      name: 'tidemark_log_produce_seconds',
      help: 'Duration of one produce round trip (acks=all)',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    }),
    watermarks: new Counter({
      name: 'tidemark_log_watermarks_total',
      help: 'Watermarks published',
      registers: [r],
    }),
  }));
