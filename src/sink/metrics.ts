import { Counter, Gauge, Histogram, metricsFor, type Registry } from '../observe/metrics';

/** Sink-side metrics: commits per sink, rows per table and op, the last cut, buffered changes. */
export const sinkMetrics = (registry: Registry) =>
  metricsFor(registry, 'sink', (r) => ({
    commits: new Counter({
      name: 'tidemark_sink_commits_total',
      help: 'Consistent cuts committed, per sink',
      labelNames: ['sink'] as const,
      registers: [r],
    }),
    commitFailures: new Counter({
      name: 'tidemark_sink_commit_failures_total',
      help: 'Commit rounds that failed (fenced, unknown outcome, or a sink error), per kind',
      labelNames: ['kind'] as const,
      registers: [r],
    }),
    commitSeconds: new Histogram({
      name: 'tidemark_sink_commit_duration_seconds',
      help: 'Time one sink took to commit one cut',
      labelNames: ['sink'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [r],
    }),
    changes: new Counter({
      name: 'tidemark_sink_changes_total',
      help: 'Changes committed into the sinks, per table and op',
      labelNames: ['table', 'op'] as const,
      registers: [r],
    }),
    lastCutLsn: new Gauge({
      name: 'tidemark_sink_last_cut_lsn',
      help: 'Commit LSN of the last consistent cut committed (as a number)',
      registers: [r],
    }),
    lastCommitTime: new Gauge({
      name: 'tidemark_sink_last_commit_timestamp_seconds',
      help: 'When the last cut was committed',
      registers: [r],
    }),
    lagSeconds: new Gauge({
      name: 'tidemark_sink_lag_seconds',
      help: 'Source commit time of the newest committed change, behind now (end-to-end freshness)',
      registers: [r],
    }),
    pausedTables: new Gauge({
      name: 'tidemark_sink_paused_tables',
      help: 'Tables paused by an operator (tidemark pause): their changes wait in Kafka',
      registers: [r],
    }),
    bufferedChanges: new Gauge({
      name: 'tidemark_sink_buffered_changes',
      help: 'Changes read and not yet committed',
      registers: [r],
    }),
    endToEndSeconds: new Histogram({
      name: 'tidemark_sink_end_to_end_seconds',
      help: 'Source commit to committed in every sink, per source transaction (snapshot rows excluded)',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
      registers: [r],
    }),
    cutChanges: new Histogram({
      name: 'tidemark_sink_cut_changes',
      help: 'Changes in one committed cut',
      buckets: [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
      registers: [r],
    }),
    cutBytes: new Histogram({
      name: 'tidemark_sink_cut_bytes',
      help: 'Bytes (as read from the log) of the changes in one committed cut',
      buckets: [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9],
      registers: [r],
    }),
    lastCommittedLsn: new Gauge({
      name: 'tidemark_sink_last_committed_lsn',
      help: 'Commit LSN of the last cut each sink committed (as a number)',
      labelNames: ['sink'] as const,
      registers: [r],
    }),
    consumerLag: new Gauge({
      name: 'tidemark_sink_consumer_lag_messages',
      help: 'Messages in a partition after the last one this sink worker read',
      labelNames: ['topic', 'partition'] as const,
      registers: [r],
    }),
    roundParts: new Counter({
      name: 'tidemark_sink_round_parts_total',
      help: 'Parts written to the sinks of transactions larger than the buffer bound (visible once their round commits)',
      registers: [r],
    }),
    heldWhole: new Counter({
      name: 'tidemark_sink_held_whole_total',
      help: 'Transactions larger than the buffer bound held whole in memory, as they cannot be written in parts',
      registers: [r],
    }),
    maintenanceFiles: new Counter({
      name: 'tidemark_sink_maintenance_files_total',
      help: 'Files rewritten by automatic compaction or deleted by snapshot expiry and orphan removal',
      labelNames: ['sink', 'kind'] as const,
      registers: [r],
    }),
  }));

export type SinkMetrics = ReturnType<typeof sinkMetrics>;
