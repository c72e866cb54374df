/** Named defaults, each with the reason it is what it is. */

/** Kafka topics per table: enough to spread a busy table over several sink workers on 2–8 cores. */
export const DEFAULT_PARTITIONS = 6;
/**
 * Largest change (one row's envelope, compressed) the table and dead-letter topics take: Kafka's
 * own default is 1 MiB, which one row with a large jsonb, text or bytea value passes easily.
 * The broker's socket.request.max.bytes (100 MiB by default) bounds a produce request.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;
export const MAX_MAX_MESSAGE_BYTES = 96 * 1024 * 1024;
/** Snapshot reads: 4 connections saturate 2 cores of Postgres without starving the live stream. */
export const DEFAULT_SNAPSHOT_PARALLELISM = 4;
/** Rows per key-range chunk: big enough to amortise a query, small enough to resume after a crash cheaply. */
export const DEFAULT_SNAPSHOT_CHUNK_ROWS = 50_000;
/** Heartbeat on an idle database: every 10 s keeps retained WAL to one segment or so. */
export const DEFAULT_HEARTBEAT_MS = 10_000;
/**
 * Watermarks: five a second, so that the cut a commit tick takes is at most 200 ms older than
 * the source (at one a second, a change waited up to a second for its watermark and another for
 * the tick: p99 2.5 s). Each is one small Kafka message and one Redis write.
 */
export const DEFAULT_WATERMARK_MS = 200;
/** New tables: a catalog query every 30 s costs nothing, and a table created now joins within it. */
export const DEFAULT_DISCOVER_MS = 30_000;
/** Commit interval: ~1 s gives second-level freshness without one tiny Iceberg snapshot per change. */
export const DEFAULT_COMMIT_INTERVAL_MS = 1_000;
/** Micro-batch bounds: memory stays bounded whatever the backlog. */
export const DEFAULT_BATCH_MAX_ROWS = 200_000;
export const DEFAULT_BATCH_MAX_BYTES = 128 * 1024 * 1024;
/**
 * Kafka fetch per partition, compressed: a few thousand typical changes per round trip (at 1 MiB
 * the sink was fetch-bound). Much more makes kafkajs decode tens of megabytes in one go, starving
 * the group heartbeat and the committer lease (seen at 8 MiB on a 1M-row transaction).
 */
export const DEFAULT_FETCH_BYTES_PER_PARTITION = 2 * 1024 * 1024;
/** Iceberg target data file size (the common engine default). */
export const DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024;
/** Source memory bound: events in flight to the log before the reader stops reading the slot. */
export const DEFAULT_MAX_IN_FLIGHT_EVENTS = 50_000;
/** Prometheus' conventional exporter port range; 9464 is the OpenTelemetry exporter's default. */
export const DEFAULT_METRICS_PORT = 9464;
/** Graceful stop must finish before Kubernetes' default 30 s grace period kills us. */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 25_000;

/** Automatic Iceberg maintenance (sinks.iceberg.maintenance). */
export const DEFAULT_COMPACT_AT_FILES = 100;
export const DEFAULT_COMPACT_TARGET_ROWS = 1_000_000;
/** Snapshots (and orphan files) older than a day go, beyond the newest kept ones. */
export const DEFAULT_EXPIRE_AFTER_MS = 86_400_000;
export const DEFAULT_KEEP_SNAPSHOTS = 100;
/**
 * Whatever their age, a table keeps at most this many snapshots: every commit writes the table
 * metadata whole, about 1 KB a snapshot, and a sink commits about once a second (a day of them
 * would be some 90 MB written per commit).
 */
export const DEFAULT_MAX_SNAPSHOTS = 1000;
export const DEFAULT_MAINTENANCE_CHECK_MS = 60_000;
/** A maintenance pass starts no further table after this long (the commits wait for it). */
export const DEFAULT_MAINTENANCE_PASS_BUDGET_MS = 2_000;

/** REST catalog (sinks.iceberg.catalog, kind rest): a call answers in milliseconds; 30 s covers a
 * server writing a large metadata file to slow storage before a commit is declared unknown. */
export const DEFAULT_REST_REQUEST_TIMEOUT_MS = 30_000;
/** The OAuth2 scope Iceberg's own REST clients ask for. */
export const DEFAULT_REST_OAUTH_SCOPE = 'catalog';
