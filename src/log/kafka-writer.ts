import './kafkajs-linear-grouping';
import './kafkajs-fast-paths';
import {
  type Admin,
  CompressionTypes,
  ConfigResourceTypes,
  type Kafka,
  type Message,
  type Producer,
} from 'kafkajs';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../config/defaults';
import type { ChangeEvent } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import { formatLsn, type Lsn } from '../core/lsn';
import { type TableSchema, tableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import type { Registry } from '../observe/metrics';
import type { ChangeLogWriter } from './change-log';
import {
  type EnvelopeContext,
  encodeEnvelope,
  encodeKey,
  NEW_KEY_HEADER,
  OLD_KEY_HEADER,
  POSITION_HEADER,
  SCHEMA_VERSION_HEADER,
} from './envelope';
import { retryRetriableKafka } from './kafka-retry';
import { logMetrics } from './metrics';
import { partitionForKey } from './murmur2';
import type { SchemaChange } from './schema-change';
import { encodeSchemaRecord, schemaRecordKey } from './schema-record';
import { deadLetterTopic, MAX_TOPIC_LENGTH, schemaTopic, tableTopic, watermarkTopic } from './topics';
import { encodeWatermark, type Watermark, WatermarkTracker } from './watermark';

const SNAPSHOT_WATERMARK_INTERVAL_MS = 1_000;

export interface KafkaWriterOptions {
  readonly kafka: Kafka;
  readonly topicPrefix: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly compression: 'none' | 'gzip';
  readonly envelope: EnvelopeContext;
  readonly logger: Logger;
  /** Called after a watermark is on the watermark topic (e.g. to mirror it into Redis). */
  readonly onWatermark?: (w: Watermark) => Promise<void>;
  /** Upper bound of messages in one produce round trip. */
  readonly maxBatchMessages?: number;
  /** Upper bound of one partition's uncompressed bytes in one produce round trip. */
  readonly maxPartitionBytes?: number;
  /** max.message.bytes of the table and dead-letter topics tidemark creates (log.maxMessageBytes). */
  readonly maxMessageBytes?: number;
  readonly registry?: Registry;
}

interface Pending {
  readonly messages: Array<{ topic: string; partition: number; lsn: Lsn; message: Message }>;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  /** Messages already handed to a produce request (a large append goes out in several). */
  next: number;
}

/**
 * Uncompressed bytes of one partition's record batch in one request. The broker refuses a
 * batch above its message.max.bytes (1 MiB by default) whatever the compression, so a large
 * transaction must not become one huge batch: this keeps each below it, with room for headers.
 */
const DEFAULT_MAX_PARTITION_BYTES = 900_000;
const RECORD_OVERHEAD_BYTES = 24;

function messageBytes(m: Message): number {
  let n =
    RECORD_OVERHEAD_BYTES +
    (m.value ? (m.value as Buffer).length : 0) +
    (m.key ? (m.key as Buffer).length : 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + (v ? String(v).length : 0);
  return n;
}

/**
 * Kafka implementation of the ChangeLogWriter contract (see change-log.ts).
 *
 * Appends are group-committed: while one produce round trip is in flight, later appends queue
 * up and go out together in the next one. Exactly one round trip is in flight at a time, so
 * offsets follow append order, the idempotent producer never reorders, and every resolved
 * append tells us exact offsets for the watermark tracker.
 */
export class KafkaChangeLogWriter implements ChangeLogWriter {
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly schemas = new Map<string, Map<number, TableSchema>>();
  private readonly partitionCount = new Map<string, number>();
  private readonly tracker = new WatermarkTracker();
  /**
   * Appends from `queueHead` on are not fully sent (a head index: shift() is O(n) per call); the
   * slots before it are emptied as they resolve, so sent messages are not kept alive by the array.
   */
  private queue: Array<Pending | null> = [];
  private queueHead = 0;
  private sending = false;
  private broken: Error | null = null;
  private readonly maxBatch: number;
  private readonly metrics?: ReturnType<typeof logMetrics>;
  private publishedLsn: Lsn = 0n;
  private lastSnapshotWatermarkMs = 0;

  constructor(private readonly o: KafkaWriterOptions) {
    this.producer = o.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    this.admin = o.kafka.admin();
    this.maxBatch = o.maxBatchMessages ?? 20_000;
    if (o.registry) this.metrics = logMetrics(o.registry);
  }

  async start(): Promise<void> {
    await Promise.all([this.producer.connect(), this.admin.connect()]);
    await this.createTopics([
      {
        topic: schemaTopic(this.o.topicPrefix),
        numPartitions: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
      { topic: deadLetterTopic(this.o.topicPrefix), numPartitions: 1, configEntries: this.sizeConfig() },
      {
        topic: watermarkTopic(this.o.topicPrefix),
        numPartitions: 1,
        configEntries: [{ name: 'retention.ms', value: String(7 * 86_400_000) }],
      },
    ]);
  }

  async ensureTables(tables: readonly TableSchema[]): Promise<void> {
    const topics = tables.map((t) => tableTopic(this.o.topicPrefix, t));
    await this.createTopics(
      topics.map((topic) => ({ topic, numPartitions: this.o.partitions, configEntries: this.sizeConfig() })),
    );
    // (topics just created answer "not the leader" until their leaders are elected)
    const meta = await retryRetriableKafka(() => this.admin.fetchTopicMetadata({ topics }));
    for (const t of meta.topics) this.partitionCount.set(t.name, t.partitions.length);
    // Changes written before this process started (by an earlier run) are ≤ any future watermark's
    // LSN or replays of it; a sink must have read them before it commits a cut, so seed the tracker
    // with the current end of every partition.
    for (const topic of topics) {
      for (const p of await retryRetriableKafka(() => this.admin.fetchTopicOffsets(topic))) {
        const high = Number(p.high);
        if (high > 0) this.tracker.record(topic, p.partition, 0n, high - 1);
      }
    }
  }

  async publishSchema(schema: TableSchema, change?: SchemaChange): Promise<void> {
    const key = tableKey(schema);
    let versions = this.schemas.get(key);
    if (!versions) this.schemas.set(key, (versions = new Map()));
    versions.set(schema.version, schema);
    await this.producer.send({
      topic: schemaTopic(this.o.topicPrefix),
      acks: -1,
      messages: [{ key: schemaRecordKey(schema), value: encodeSchemaRecord(schema, change) }],
    });
  }

  append(events: readonly ChangeEvent[]): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (events.length === 0) return Promise.resolve();
    let messages: Pending['messages'];
    try {
      messages = this.toMessages(events);
    } catch (e) {
      return Promise.reject(e);
    }
    const snapshotLsn = events[0]!.snapshot ? events[0]!.position.lsn : null;
    return new Promise<void>((resolve, reject) => {
      const done =
        snapshotLsn === null
          ? resolve
          : () => {
              resolve();
              this.snapshotProgress(snapshotLsn);
            };
      this.queue.push({ messages, resolve: done, reject, next: 0 });
      void this.pump();
    });
  }

  /**
   * Every snapshot row sits at one position LSN (the consistent point - 1), and the source's
   * watermark for it comes only once the whole snapshot is in the log. Publishing it as rows
   * land lets the sinks commit a long snapshot piece by piece instead of buffering it whole.
   */
  private snapshotProgress(lsn: Lsn): void {
    const now = Date.now();
    if (now - this.lastSnapshotWatermarkMs < SNAPSHOT_WATERMARK_INTERVAL_MS || this.publishedLsn > lsn)
      return;
    this.lastSnapshotWatermarkMs = now;
    this.publishWatermark(lsn).catch((e: unknown) =>
      this.o.logger.warn({ err: (e as Error).message }, 'snapshot progress watermark not published'),
    );
  }

  async publishWatermark(lsn: Lsn): Promise<void> {
    if (lsn > this.publishedLsn) this.publishedLsn = lsn;
    const w = this.tracker.cut(lsn, Date.now());
    await this.producer.send({
      topic: watermarkTopic(this.o.topicPrefix),
      acks: -1,
      messages: [{ value: encodeWatermark(w) }],
    });
    await this.o.onWatermark?.(w);
    this.metrics?.watermarks.inc();
  }

  async close(): Promise<void> {
    while (this.sending || (this.queue.length > this.queueHead && !this.broken))
      await new Promise((r) => setTimeout(r, 10));
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }

  private toMessages(events: readonly ChangeEvent[]): Pending['messages'] {
    const now = Date.now();
    const out: Pending['messages'] = [];
    // An append is mostly one table and one transaction: its schema, topic and LSN text are
    // looked up and formatted once per run of equal ones, not per change.
    let table: ChangeEvent['table'] | null = null;
    let version = -1;
    let schema: TableSchema | undefined;
    let topic = '';
    let partitions = 0;
    let lsn = -1n;
    let lsnText = '';
    for (const ev of events) {
      if (
        !table ||
        ev.schemaVersion !== version ||
        ev.table.table !== table.table ||
        ev.table.schema !== table.schema
      ) {
        table = ev.table;
        version = ev.schemaVersion;
        schema = this.schemas.get(tableKey(ev.table))?.get(ev.schemaVersion);
        if (!schema)
          throw new TidemarkError(
            'internal',
            `no schema version ${ev.schemaVersion} published for ${tableKey(ev.table)}`,
          );
        topic = tableTopic(this.o.topicPrefix, ev.table);
        partitions = this.partitionCount.get(topic) ?? 0;
        if (!partitions)
          throw new TidemarkError('internal', `topic ${topic} was not ensured before the first append`);
      }
      if (ev.position.lsn !== lsn) {
        lsn = ev.position.lsn;
        lsnText = formatLsn(lsn);
      }
      const headers: Record<string, string> = {
        [POSITION_HEADER]: `${lsnText}#${ev.position.seq}`, // formatPosition(ev.position)
        [SCHEMA_VERSION_HEADER]: String(ev.schemaVersion),
      };
      // A key change's pair (change-builder.ts): a `c` has a `before` only then.
      if (ev.op === 'd' && ev.newKey) headers[NEW_KEY_HEADER] = encodeKey(schema!, ev.newKey).toString();
      else if (ev.op === 'c' && ev.before) headers[OLD_KEY_HEADER] = encodeKey(schema!, ev.before).toString();
      const value = encodeEnvelope(ev, schema!, this.o.envelope, now);
      if (ev.op === 't') {
        // A truncate concerns every key, so every partition (channel) gets it, in order.
        for (let p = 0; p < partitions; p++)
          out.push({
            topic,
            partition: p,
            lsn: ev.position.lsn,
            message: { key: null, value, headers, partition: p },
          });
        continue;
      }
      const image = ev.op === 'd' ? ev.before : ev.after;
      if (!image)
        throw new TidemarkError('malformed_event', `${tableKey(ev.table)}: ${ev.op} event without its image`);
      const key = encodeKey(schema!, image);
      const partition = partitionForKey(key, partitions);
      out.push({ topic, partition, lsn: ev.position.lsn, message: { key, value, headers, partition } });
    }
    return out;
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    const maxBytes = this.o.maxPartitionBytes ?? DEFAULT_MAX_PARTITION_BYTES;
    try {
      while (this.queue.length > this.queueHead && !this.broken) {
        // The next request: messages in append order until the message bound, or until one
        // partition's batch would pass the byte bound (a lone oversized message still goes).
        const batch: Pending['messages'] = [];
        const bytes = new Map<string, number>();
        let full = false;
        for (let i = this.queueHead; i < this.queue.length; i++) {
          const p = this.queue[i]!;
          for (; p.next < p.messages.length; p.next++) {
            const m = p.messages[p.next]!;
            const k = `${m.topic}/${m.partition}`;
            const size = messageBytes(m.message);
            const b = bytes.get(k) ?? 0;
            if (batch.length > 0 && (batch.length >= this.maxBatch || b + size > maxBytes)) {
              full = true;
              break;
            }
            bytes.set(k, b + size);
            batch.push(m);
          }
          if (full) break;
        }
        try {
          await this.sendOnce(batch);
          while (
            this.queueHead < this.queue.length &&
            this.queue[this.queueHead]!.next === this.queue[this.queueHead]!.messages.length
          ) {
            const done = this.queue[this.queueHead]!;
            this.queue[this.queueHead++] = null;
            done.resolve();
          }
          if (this.queueHead === this.queue.length) {
            this.queue = [];
            this.queueHead = 0;
          } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
            this.queue = this.queue.slice(this.queueHead);
            this.queueHead = 0;
          }
        } catch (e) {
          this.metrics?.produceErrors.inc();
          this.broken = produceError(e, batch, maxBytes);
          for (let i = this.queueHead; i < this.queue.length; i++) this.queue[i]?.reject(this.broken);
          this.queue = [];
          this.queueHead = 0;
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private async sendOnce(batch: Pending['messages']): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    const order = new Map<string, Lsn[]>(); // "topic/partition" -> lsn of each message in send order
    for (const m of batch) {
      let list = byTopic.get(m.topic);
      if (!list) byTopic.set(m.topic, (list = []));
      list.push(m.message);
      const k = `${m.topic}/${m.partition}`;
      let lsns = order.get(k);
      if (!lsns) order.set(k, (lsns = []));
      lsns.push(m.lsn);
    }
    const stopTimer = this.metrics?.produceSeconds.startTimer();
    const results = await this.producer.sendBatch({
      acks: -1,
      compression: this.o.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
    stopTimer?.();
    for (const r of results) {
      const lsns = order.get(`${r.topicName}/${r.partition}`) ?? [];
      this.metrics?.produced.inc({ table: r.topicName.slice(this.o.topicPrefix.length + 1) }, lsns.length);
      const base = Number(r.baseOffset);
      lsns.forEach((lsn, i) => {
        this.tracker.record(r.topicName, r.partition, lsn, base + i);
      });
    }
  }

  private get maxMessageBytes(): number {
    return this.o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Topics that carry whole rows take rows larger than Kafka's 1 MiB default. */
  private sizeConfig(): Array<{ name: string; value: string }> {
    return [{ name: 'max.message.bytes', value: String(this.maxMessageBytes) }];
  }

  /**
   * Creates the topics that do not exist. Existing ones keep their settings (they may be the
   * operator's); one that takes smaller messages than log.maxMessageBytes is reported, since a
   * change above its limit will stop the source.
   */
  private async createTopics(
    topics: Array<{
      topic: string;
      numPartitions: number;
      configEntries?: Array<{ name: string; value: string }>;
    }>,
  ): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    await this.warnOfSmallerLimits(
      topics.filter(
        (t) => existing.has(t.topic) && t.configEntries?.some((c) => c.name === 'max.message.bytes'),
      ),
    );
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return;
    const long = missing.find((t) => t.topic.length > MAX_TOPIC_LENGTH);
    if (long)
      throw new TidemarkError(
        'config',
        `topic name ${long.topic} is ${long.topic.length} characters long; Kafka allows ${MAX_TOPIC_LENGTH}`,
        { fix: 'choose a shorter log.topicPrefix (or pipeline name)' },
      );
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({ ...t, replicationFactor: this.o.replicationFactor })),
    });
    this.o.logger.info({ topics: missing.map((t) => t.topic) }, 'created Kafka topics');
  }

  private async warnOfSmallerLimits(topics: ReadonlyArray<{ topic: string }>): Promise<void> {
    if (topics.length === 0) return;
    const described = await retryRetriableKafka(() =>
      this.admin.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((t) => ({
          type: ConfigResourceTypes.TOPIC,
          name: t.topic,
          configNames: ['max.message.bytes'],
        })),
      }),
    );
    for (const r of described.resources) {
      const limit = Number(r.configEntries.find((c) => c.configName === 'max.message.bytes')?.configValue);
      if (Number.isFinite(limit) && limit < this.maxMessageBytes)
        this.o.logger.warn(
          { topic: r.resourceName, maxMessageBytes: limit, configured: this.maxMessageBytes },
          `topic takes changes up to ${limit} bytes only, less than log.maxMessageBytes: a larger row will stop the source; raise it with kafka-configs.sh --alter --entity-type topics --entity-name ${r.resourceName} --add-config max.message.bytes=${this.maxMessageBytes}`,
        );
    }
  }
}

/**
 * Why a produce failed. The broker's refusal of an oversized batch names no table, and is no
 * outage: restarting cannot help, so it is a config error that says which topic, the sizes and
 * the fix. Anything else is transient.
 */
function produceError(e: unknown, batch: Pending['messages'], maxPartitionBytes: number): TidemarkError {
  const message = (e as Error).message;
  if (!/larger than the max message size/.test(message) || batch.length === 0)
    return new TidemarkError('transient', `producing to Kafka failed: ${message}`, { cause: e });
  const biggest = batch.reduce((a, b) => (messageBytes(b.message) > messageBytes(a.message) ? b : a));
  return new TidemarkError(
    'config',
    `producing to Kafka failed: ${message}: the largest change in the request (${biggest.topic}) is ${messageBytes(biggest.message)} bytes before compression, and one partition's batch is up to ${maxPartitionBytes} bytes; the topic's max.message.bytes (log.maxMessageBytes when tidemark created it) must be above both`,
    {
      cause: e,
      fix: `raise the topic's limit (kafka-configs.sh --alter --entity-type topics --entity-name ${biggest.topic} --add-config max.message.bytes=<bytes>) and log.maxMessageBytes, or leave the large column out (tables.<t>.exclude); nothing past this change was acknowledged`,
    },
  );
}
