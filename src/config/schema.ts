import { z } from 'zod';
import * as D from './defaults';
import { Secret } from './secret';

const identifier = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,40}$/, 'must be lower-case letters, digits and _, starting with a letter');
/** A schema or table name in the config: as in the database, spaces inside allowed, no dot. */
const NAME_PART = '[^.\\s](?:[^.]*[^.\\s])?';
/** "schema.table", e.g. a key of `tables:` or `source.keys`. */
export const QUALIFIED_NAME = new RegExp(`^${NAME_PART}\\.${NAME_PART}$`);
const tablePattern = z
  .string()
  .regex(
    new RegExp(`^!?${NAME_PART}\\.${NAME_PART}$`),
    'must be "schema.table" (names as in the database, case-sensitive, spaces inside allowed); * wildcards allowed, a leading ! excludes',
  );
// Numbers may come from ${ENV} references, which are strings: coerce, then validate.
const positiveInt = z.coerce.number().int().positive();

/** A size as DuckDB reads it: KB, MB, … are powers of 1000, KiB, MiB, … of 1024. */
const SIZE = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i;
function sizeBytes(v: string): number {
  const m = SIZE.exec(v);
  if (!m) return Number.NaN;
  const unit = m[2]!.toLowerCase();
  const power = ['k', 'm', 'g', 't'].indexOf(unit[0]!) + 1;
  return Number(m[1]) * (unit[1] === 'i' ? 1024 : 1000) ** power;
}

const sourceSchema = z
  .object({
    url: z.string().min(1),
    tables: z.array(tablePattern).min(1),
    snapshot: z.enum(['initial', 'never']).default('initial'),
    slot: identifier.optional(),
    publication: identifier.optional(),
    snapshotParallelism: positiveInt.default(D.DEFAULT_SNAPSHOT_PARALLELISM),
    snapshotChunkRows: positiveInt.default(D.DEFAULT_SNAPSHOT_CHUNK_ROWS),
    heartbeatIntervalMs: positiveInt.default(D.DEFAULT_HEARTBEAT_MS),
    watermarkIntervalMs: positiveInt.default(D.DEFAULT_WATERMARK_MS),
    /** How often to look for new tables matching `tables` (they join while streaming goes on); 0: at start only. */
    discoverEveryMs: z.coerce.number().int().min(0).default(D.DEFAULT_DISCOVER_MS),
    maxInFlightEvents: positiveInt.default(D.DEFAULT_MAX_IN_FLIGHT_EVENTS),
    /** Stop with an alert-worthy error when the slot lags more than this: WAL bytes written but not confirmed. */
    maxLagBytes: positiveInt.optional(),
    /**
     * HMAC-SHA256 key for `tables.<t>.mask` columns (their values leave the source as the hex
     * HMAC of their text). From the environment only; rotating it changes every masked value.
     */
    maskKey: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Key columns for tables without a primary key, e.g. { "public.events": ["id", "at"] }. */
    keys: z.record(z.string(), z.array(z.string()).min(1)).default({}),
  })
  .strict();

const kafkaLogSchema = z
  .object({
    kind: z.literal('kafka'),
    brokers: z
      .union([z.string(), z.array(z.string())])
      .transform((b) => (Array.isArray(b) ? b : b.split(',')).map((s) => s.trim()).filter(Boolean)),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .optional(),
    partitions: positiveInt.default(D.DEFAULT_PARTITIONS),
    replicationFactor: positiveInt.default(1),
    compression: z.enum(['none', 'gzip']).default('gzip'),
    /** The topics' max.message.bytes (set when tidemark creates them): the largest change it can carry. */
    maxMessageBytes: positiveInt
      .min(1024 * 1024, { message: "must be at least 1048576 (1 MiB, Kafka's own default)" })
      .max(D.MAX_MAX_MESSAGE_BYTES, {
        message: `must be at most ${D.MAX_MAX_MESSAGE_BYTES} (a produce request above the broker's socket.request.max.bytes, 100 MiB by default, is refused)`,
      })
      .default(D.DEFAULT_MAX_MESSAGE_BYTES),
    clientId: z.string().default('tidemark'),
    /** TLS to the brokers: true (the system's CAs), or files for a private CA and client certificates. */
    ssl: z
      .union([
        z.boolean(),
        z
          .object({
            caFile: z.string().min(1).optional(),
            certFile: z.string().min(1).optional(),
            keyFile: z.string().min(1).optional(),
            rejectUnauthorized: z.boolean().default(true),
          })
          .strict(),
      ])
      .optional(),
    /** SASL authentication; the password only from the environment. */
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z
          .string()
          .min(1)
          .transform((v) => new Secret(v)),
      })
      .strict()
      .optional(),
  })
  .strict();

const embeddedLogSchema = z.object({ kind: z.literal('embedded') }).strict();

const offsetsSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('redis'),
      url: z.string().min(1),
      /** PEM file of a private CA for a rediss:// URL. */
      caFile: z.string().min(1).optional(),
    })
    .strict(),
  z.object({ kind: z.literal('file'), path: z.string().min(1) }).strict(),
]);

const icebergSchema = z
  .object({
    catalog: z.discriminatedUnion('kind', [
      z
        .object({ kind: z.literal('sql'), url: z.string().min(1), name: z.string().default('tidemark') })
        .strict(),
      z
        .object({
          kind: z.literal('rest'),
          /** The catalog's base URL (its routes are <url>/v1/…). */
          url: z.string().min(1),
          /** The warehouse to ask the catalog for (GET /v1/config?warehouse=…). */
          warehouse: z.string().optional(),
          /** A bearer token; from the environment only. */
          token: z
            .string()
            .min(1)
            .transform((v) => new Secret(v))
            .optional(),
          /** OAuth2 client credentials "client_id:client_secret", exchanged for tokens; from the environment only. */
          credential: z
            .string()
            .min(1)
            .transform((v) => new Secret(v))
            .optional(),
          /** The OAuth2 token endpoint (default <url>/v1/oauth/tokens). */
          oauth2ServerUri: z.string().min(1).optional(),
          scope: z.string().min(1).default(D.DEFAULT_REST_OAUTH_SCOPE),
          /** PEM file of a private CA for an https:// catalog. */
          caFile: z.string().min(1).optional(),
          requestTimeoutMs: positiveInt.default(D.DEFAULT_REST_REQUEST_TIMEOUT_MS),
          /**
           * A server without multi-table commits (POST …/transactions/commit): true commits a
           * round's tables one by one, losing their atomicity; false (default) refuses such a round.
           */
          allowNonAtomicCommits: z.boolean().default(false),
        })
        .strict(),
    ]),
    /** Where data and metadata files go: a local path or s3://bucket/prefix. */
    location: z.string().min(1),
    /**
     * One Iceberg namespace for every mirrored table (named as the source table); by default
     * each table goes to the namespace named as its source schema. One level: no dot.
     */
    namespace: z
      .string()
      .min(1)
      .refine((n) => !n.includes('.'), { message: 'must be one namespace level, without a dot' })
      .optional(),
    targetFileBytes: positiveInt.default(D.DEFAULT_TARGET_FILE_BYTES),
    /**
     * Automatic maintenance by the committer, between rounds: compaction of a table's small
     * files (and of those with many deleted rows) once it has this many data and delete files,
     * and snapshot expiry (by age beyond keepSnapshots, and by count beyond maxSnapshots) with
     * orphan removal. compactAtFiles 0 turns compaction off. The commits wait while a pass runs:
     * it starts no table's work once passBudgetMs has gone by, and the next pass begins with the
     * first table it did not reach.
     */
    maintenance: z
      .object({
        compactAtFiles: z.coerce.number().int().min(0).default(D.DEFAULT_COMPACT_AT_FILES),
        targetFileRows: positiveInt.default(D.DEFAULT_COMPACT_TARGET_ROWS),
        expireAfterMs: z.coerce.number().int().min(0).default(D.DEFAULT_EXPIRE_AFTER_MS),
        keepSnapshots: positiveInt.default(D.DEFAULT_KEEP_SNAPSHOTS),
        maxSnapshots: positiveInt.default(D.DEFAULT_MAX_SNAPSHOTS),
        checkEveryMs: positiveInt.default(D.DEFAULT_MAINTENANCE_CHECK_MS),
        passBudgetMs: z.coerce.number().int().min(0).default(D.DEFAULT_MAINTENANCE_PASS_BUDGET_MS),
      })
      .strict()
      .refine((m) => m.maxSnapshots >= m.keepSnapshots, {
        message: 'maxSnapshots must be at least keepSnapshots (the snapshots always kept)',
        path: ['maxSnapshots'],
      })
      .default({
        compactAtFiles: D.DEFAULT_COMPACT_AT_FILES,
        targetFileRows: D.DEFAULT_COMPACT_TARGET_ROWS,
        expireAfterMs: D.DEFAULT_EXPIRE_AFTER_MS,
        keepSnapshots: D.DEFAULT_KEEP_SNAPSHOTS,
        maxSnapshots: D.DEFAULT_MAX_SNAPSHOTS,
        checkEveryMs: D.DEFAULT_MAINTENANCE_CHECK_MS,
        passBudgetMs: D.DEFAULT_MAINTENANCE_PASS_BUDGET_MS,
      }),
    s3: z
      .object({
        endpoint: z.string().optional(),
        region: z.string().default('us-east-1'),
        forcePathStyle: z.boolean().default(true),
      })
      .strict()
      .optional(),
  })
  .strict();

const warehouseSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('duckdb'),
      path: z.string().min(1),
      /**
       * DuckDB's memory_limit, a size such as 512MiB or 2GB; DuckDB's own (80% of the memory it
       * sees) when not given. Not bounded by default: DuckDB keeps each primary-key index whole in
       * this memory (about 70 bytes per 32-character text key), so a low default would stop large tables.
       */
      memoryLimit: z
        .string()
        .regex(SIZE, 'a size such as 512MiB or 2GB')
        .refine(
          (v) => sizeBytes(v) >= 64 * 2 ** 20,
          'at least 64MiB: DuckDB stages each part of a round there',
        )
        .optional(),
    })
    .strict(),
  z.object({ kind: z.literal('postgres'), url: z.string().min(1), schema: z.string().optional() }).strict(),
]);

const sinksSchema = z
  .object({
    iceberg: icebergSchema.optional(),
    warehouse: warehouseSchema.optional(),
    commitIntervalMs: positiveInt.default(D.DEFAULT_COMMIT_INTERVAL_MS),
    batchMaxRows: positiveInt.default(D.DEFAULT_BATCH_MAX_ROWS),
    batchMaxBytes: positiveInt.default(D.DEFAULT_BATCH_MAX_BYTES),
    /** Kafka mode: bytes fetched per partition per request (compressed), on top of the buffer bound. */
    fetchBytesPerPartition: positiveInt.default(D.DEFAULT_FETCH_BYTES_PER_PARTITION),
  })
  .strict();

const tableOptionsSchema = z
  .object({
    mode: z.enum(['mirror', 'append', 'soft-delete']).default('mirror'),
    partitionBy: z.array(z.string()).default([]),
    exclude: z.array(z.string()).default([]),
    mask: z.array(z.string()).default([]),
    onError: z.enum(['dead-letter', 'stop']).default('dead-letter'),
    onIncompatibleSchema: z.enum(['stop', 'rebuild', 'cast-to-string']).default('stop'),
    /**
     * `never`: the table is not copied by tidemark on its own (the initial snapshot, a table
     * joining, a partition attached, …): its rows reach the sinks as they change. Absent: as
     * source.snapshot says. `tidemark snapshot --table` still copies it when asked.
     */
    snapshot: z.enum(['never']).optional(),
    /** Full refresh: the table is copied again this often (0: never; `tidemark snapshot` on demand). */
    refreshEveryMs: z.coerce
      .number()
      .int()
      .refine((v) => v === 0 || v >= 1000, 'must be 0 (never) or at least 1000 ms')
      .default(0),
  })
  .strict();

const observeSchema = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(D.DEFAULT_METRICS_PORT),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    shutdownDeadlineMs: positiveInt.default(D.DEFAULT_SHUTDOWN_DEADLINE_MS),
  })
  .strict();

export const configSchema = z
  .object({
    pipeline: identifier,
    source: sourceSchema,
    log: z.discriminatedUnion('kind', [kafkaLogSchema, embeddedLogSchema]),
    offsets: offsetsSchema,
    sinks: sinksSchema.default({
      commitIntervalMs: D.DEFAULT_COMMIT_INTERVAL_MS,
      batchMaxRows: D.DEFAULT_BATCH_MAX_ROWS,
      batchMaxBytes: D.DEFAULT_BATCH_MAX_BYTES,
      fetchBytesPerPartition: D.DEFAULT_FETCH_BYTES_PER_PARTITION,
    }),
    tables: z.record(z.string(), tableOptionsSchema).default({}),
    observe: observeSchema.default({
      port: D.DEFAULT_METRICS_PORT,
      logLevel: 'info',
      shutdownDeadlineMs: D.DEFAULT_SHUTDOWN_DEADLINE_MS,
    }),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type TableOptions = z.infer<typeof tableOptionsSchema>;
/** The options of a table the config does not name. */
export const DEFAULT_TABLE_OPTIONS: TableOptions = Object.freeze(tableOptionsSchema.parse({}));
export type KafkaLogConfig = z.infer<typeof kafkaLogSchema>;
export type WarehouseConfig = z.infer<typeof warehouseSchema>;
export type IcebergConfig = z.infer<typeof icebergSchema>;
