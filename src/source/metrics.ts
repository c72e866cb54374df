import { Counter, Gauge, metricsFor, type Registry } from '../observe/metrics';

export const sourceMetrics = (registry: Registry) =>
  metricsFor(registry, 'source', (r) => ({
    changes: new Counter({
      name: 'tidemark_source_changes_total',
      help: 'Changes decoded from the slot, per table and op (c, u, d, t)',
      labelNames: ['table', 'op'] as const,
      registers: [r],
    }),
    schemaChanges: new Counter({
      name: 'tidemark_source_schema_changes_total',
      help: 'Table schema changes seen in the stream (a new schema version), per table',
      labelNames: ['table'] as const,
      registers: [r],
    }),
    droppedTables: new Gauge({
      name: 'tidemark_source_dropped_tables',
      help: 'Mirrored tables dropped in the source (their sink tables are kept, marked as dropped)',
      registers: [r],
    }),
    snapshotRows: new Counter({
      name: 'tidemark_source_snapshot_rows_total',
      help: 'Rows read by the initial snapshot, per table',
      labelNames: ['table'] as const,
      registers: [r],
    }),
    snapshotChunks: new Gauge({
      name: 'tidemark_source_snapshot_chunks',
      help: 'Key-range chunks the initial snapshot planned, per table it is copying',
      labelNames: ['table'] as const,
      registers: [r],
    }),
    snapshotChunksDone: new Gauge({
      name: 'tidemark_source_snapshot_chunks_done',
      help: 'Chunks of those durable in the log (also those an interrupted attempt made durable), per table',
      labelNames: ['table'] as const,
      registers: [r],
    }),
    snapshotTablesPending: new Gauge({
      name: 'tidemark_source_snapshot_tables_pending',
      help: 'Tables the initial snapshot has still to copy',
      registers: [r],
    }),
    lagBytes: new Gauge({
      name: 'tidemark_source_slot_lag_bytes',
      help: 'pg_current_wal_lsn() - confirmed_flush_lsn of the slot',
      registers: [r],
    }),
    retainedWalBytes: new Gauge({
      name: 'tidemark_source_slot_retained_wal_bytes',
      help: 'pg_current_wal_lsn() - restart_lsn of the slot',
      registers: [r],
    }),
    confirmedLsn: new Gauge({
      name: 'tidemark_source_confirmed_lsn',
      help: 'LSN the slot was last confirmed to (as a number)',
      registers: [r],
    }),
    lastCommitTime: new Gauge({
      name: 'tidemark_source_last_commit_timestamp_seconds',
      help: 'Commit time of the last transaction read',
      registers: [r],
    }),
    lastHeartbeat: new Gauge({
      name: 'tidemark_source_last_heartbeat_timestamp_seconds',
      help: 'When the last heartbeat came back through the slot',
      registers: [r],
    }),
  }));

export type SourceMetrics = ReturnType<typeof sourceMetrics>;
