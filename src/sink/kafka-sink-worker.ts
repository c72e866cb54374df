import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { isTidemarkError } from '../core/errors';
import { formatLsn, type Lsn, minLsn } from '../core/lsn';
import { parseToken } from '../core/offset-token';
import { parseTableKey, tableKey } from '../core/table-schema';
import type { SchemaRegistry } from '../log/schema-registry';
import { tableTopic } from '../log/topics';
import type { Watermark } from '../log/watermark';
import type { Logger } from '../observe/logger';
import { type BatchReaderContext, readBatch } from './batch-reader';
import { ChannelBuffer, heldIn } from './channel-buffer';
import type { CommitCoordinator } from './commit-coordinator';
import type { DeadLetters } from './dead-letters';
import {
  asTopicPartitions,
  channelOf,
  channelsToReadOn,
  partitionOfChannel,
  topicOfChannel,
} from './kafka-channels';
import { PartedRoundVoid } from './parted-rounds';

export interface KafkaSinkWorkerOptions {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topicPrefix: string;
  readonly registry: SchemaRegistry;
  readonly coordinator: CommitCoordinator;
  readonly deadLetters: DeadLetters;
  readonly logger: Logger;
  /** The newest watermark published by the source (Redis copy). */
  readonly latestWatermark: () => Promise<Watermark | null>;
  readonly commitIntervalMs: number;
  readonly maxBufferedBytes: number;
  readonly maxBufferedRows: number;
  /** Bytes fetched per partition per request (sinks.fetchBytesPerPartition). */
  readonly fetchBytesPerPartition: number;
  /** Told the number of buffered changes after each fetch and commit (for a gauge). */
  readonly onBuffered?: (changes: number) => void;
  /** Messages left in a partition after the batch just read (consumer lag). */
  readonly onLag?: (topic: string, partition: number, messages: number) => void;
  /** Tables an operator paused ("schema.table"), read at every commit tick. */
  readonly pausedTables?: () => Promise<ReadonlySet<string>>;
  /** Told the paused tables whenever they change (for a gauge). */
  readonly onPaused?: (tables: readonly string[]) => void;
  /** Pauses one table (a schema change its sinks cannot follow); with `optionsOf`, per its policy. */
  readonly pauseTable?: (table: string, reason: string) => Promise<void>;
  readonly optionsOf?: (table: string) => { onIncompatibleSchema: string };
}

/** How often, at most, the schema topic is read again for topics the watermarks name and it does not. */
const UNKNOWN_TOPIC_RECHECK_MS = 5000;

/**
 * One sink worker: a member of the sink consumer group. Each assigned partition is a channel
 * with its own buffer. Every commit interval it takes the newest watermark W that it has read
 * up to on every assigned channel and has the coordinator commit everything ≤ W; then it
 * commits the Kafka offsets after the tokens. Memory is bounded: past the byte/row bound it
 * pauses fetching and commits at once; a round's changes leave the buffers as it starts, so
 * fetching goes on while it is written (at most the bound buffered plus one round in flight).
 */
export class KafkaSinkWorker {
  private readonly consumer: Consumer;
  private readonly buffers = new Map<string, ChannelBuffer>();
  /** The table topics subscribed to. */
  private readonly topics = new Set<string>();
  /** Topics of paused tables: not fetched, not in cuts; their changes wait in Kafka. */
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private committing: Promise<void> | null = null;
  private paused = false;
  private stopped = false;
  private fatal: ((e: unknown) => void) | null = null;
  /** Transactions up to this commit LSN are held whole in memory, not written in parts (see commitOnce). */
  private holdWholeUpTo: Lsn = -1n;
  /** A rebalance or a pause came while a round in parts was open: its buffers hold changes after the parts. */
  private mustRewind = false;
  /** Channels let read on while the buffers are full (see fullAndStuck), until their next fetch. */
  private readonly readingOn = new Set<string>();
  lastCutLsn: Lsn = 0n;
  /** Rejects when the worker cannot go on (a sink error that is not retryable). */
  readonly done: Promise<void>;

  constructor(private readonly o: KafkaSinkWorkerOptions) {
    this.consumer = o.kafka.consumer({
      groupId: o.groupId,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: o.fetchBytesPerPartition, // see DEFAULT_FETCH_BYTES_PER_PARTITION
      maxBytes: 5 * o.fetchBytesPerPartition,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.done = new Promise((_resolve, reject) => (this.fatal = reject));
    this.done.catch(() => {});
    this.reader = {
      registry: o.registry,
      deadLetters: o.deadLetters,
      tableOfTopic: (topic) => this.tableOfTopic(topic),
    };
  }

  private readonly reader: BatchReaderContext;

  async start(tables: ReadonlyArray<{ schema: string; table: string }>): Promise<void> {
    await this.o.coordinator.loadTokens();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => this.onAssignment(e.payload.memberAssignment));
    await this.consume(tables.map((t) => tableTopic(this.o.topicPrefix, t)));
    this.timer = setInterval(() => void this.tick(), this.o.commitIntervalMs);
  }

  private async consume(topics: readonly string[]): Promise<void> {
    for (const t of topics) this.topics.add(t);
    await this.consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await this.run();
  }

  private run(): Promise<void> {
    return this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (p) => this.onBatch(p),
    });
  }

  /**
   * Reads every channel again from the sinks' tokens: the consumer leaves the group and joins
   * again, and the new assignment seeks each channel there (onAssignment). For a round in parts
   * that was given up: its changes left the buffers, and what was read after them must not be
   * committed without them.
   */
  private async rewind(): Promise<void> {
    await this.o.coordinator.abortParted();
    this.mustRewind = false;
    if (this.stopped) {
      this.buffers.clear(); // stopping: the next start reads them again from the tokens
      return;
    }
    await this.consumer.stop();
    this.buffers.clear();
    this.paused = false;
    this.readingOn.clear();
    await this.run();
  }

  /**
   * A table that joined the source while this worker runs shows up as a topic in the watermarks:
   * its schema is read, and the consumer leaves the group and joins again with that topic too
   * (kafkajs subscribes only while stopped). What was buffered is dropped and read again from
   * the sinks' tokens (the new assignment seeks every channel there), so nothing read twice is
   * applied twice. True when the worker re-joined (the cut waits for the next tick).
   */
  private registryReadAt = 0;

  private async joinNewTopics(w: Watermark): Promise<boolean> {
    const unseen = Object.keys(w.offsets).filter((t) => !this.topics.has(t));
    if (unseen.length === 0 || this.stopped) return false; // a stopping worker joins nothing
    if (Date.now() - this.registryReadAt < UNKNOWN_TOPIC_RECHECK_MS) return false;
    this.registryReadAt = Date.now();
    await this.o.registry.refresh();
    const known = new Set(this.o.registry.tables().map((t) => tableTopic(this.o.topicPrefix, t)));
    const fresh = unseen.filter((t) => known.has(t));
    if (fresh.length === 0) return false;
    this.o.logger.info({ topics: fresh }, 'new tables in the log: consuming their topics too');
    await this.o.coordinator.abortParted(); // its changes are read again with the rest
    await this.consumer.stop();
    this.buffers.clear();
    this.paused = false;
    this.readingOn.clear();
    await this.consume(fresh);
    return true;
  }

  /** Stops fetching, commits what is committable (unless told not to), leaves the group. */
  async stop(opts: { commit: boolean } = { commit: true }): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.committing;
    try {
      if (opts.commit) await this.commitOnce();
    } finally {
      // A round in parts its transaction's end has not reached: nothing of it is visible, and
      // its changes are read again from the tokens at the next start.
      await this.o.coordinator.abortParted();
      await this.consumer.disconnect();
    }
  }

  bufferedRows(): number {
    return heldIn(this.buffers.values()).rows;
  }

  private onAssignment(assignment: Record<string, number[]>): void {
    const assigned = new Set<string>();
    for (const [topic, parts] of Object.entries(assignment))
      for (const p of parts) assigned.add(channelOf(topic, p));
    // Revoked channels: their changes will be read again by their new owner.
    for (const ch of [...this.buffers.keys()]) if (!assigned.has(ch)) this.buffers.delete(ch);
    if (this.o.coordinator.partedAt !== null) this.mustRewind = true;
    for (const [topic, parts] of Object.entries(assignment)) {
      for (const partition of parts) {
        const ch = channelOf(topic, partition);
        if (this.buffers.has(ch)) continue;
        const buffer = this.newBuffer(ch);
        this.buffers.set(ch, buffer);
        // Where every sink's commits end on this channel (no token: nothing committed, so from
        // the start, whatever offsets the group committed). Also counts as read up to there, so
        // a partition with nothing new does not hold back the next cut.
        const token = this.o.coordinator.resumeToken(ch);
        const next = token ? parseToken(token).nextOffset : 0;
        if (next >= 0) {
          buffer.readOffset = next - 1;
          buffer.contiguous = true;
          this.consumer.seek({ topic, partition, offset: String(next) });
        }
      }
    }
    // A rebalance may hand back a paused table's partitions: they stay paused.
    const held = [...this.held].filter((t) => assignment[t]);
    if (held.length > 0) this.consumer.pause(held.map((topic) => ({ topic })));
    this.o.logger.info({ channels: [...assigned] }, 'partitions assigned');
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat } = payload;
    // A batch fetched before its table was paused: dropped, read again when it resumes.
    if (this.held.has(batch.topic)) return;
    const ch = channelOf(batch.topic, batch.partition);
    let buffer = this.buffers.get(ch);
    if (!buffer) this.buffers.set(ch, (buffer = this.newBuffer(ch)));
    const floor = this.o.coordinator.resumeToken(ch);
    const read = await readBatch(payload, buffer, floor ? parseToken(floor).position : null, this.reader);
    if (read === 'interrupted') return;
    if (read !== 'read') {
      this.stopped = true;
      this.fatal?.(read.fatal);
      return;
    }
    await heartbeat();
    const held = heldIn(this.buffers.values());
    this.o.onBuffered?.(held.rows);
    this.o.onLag?.(batch.topic, batch.partition, Number(batch.offsetLag()));
    if (held.bytes > this.o.maxBufferedBytes || held.rows > this.o.maxBufferedRows) {
      if (!this.paused) {
        this.paused = true;
        this.consumer.pause(this.topicsPaused());
        this.o.logger.info(held, 'buffers full: pausing consumption and committing now');
        void this.tick(); // a full buffer is committed now, not at the next interval
      } else if (this.readingOn.delete(ch)) {
        // A channel let read on past the bound (see fullAndStuck) reads one fetch per tick. The
        // topic is paused whole again and its other channels still reading on resumed: kafkajs's
        // pause of single partitions would lift the pause of all the topic's other ones.
        this.consumer.pause([{ topic: batch.topic }]);
        const still = [...this.readingOn].filter((c) => topicOfChannel(c) === batch.topic);
        if (still.length > 0)
          this.consumer.resume([{ topic: batch.topic, partitions: still.map(partitionOfChannel) }]);
      }
    }
  }

  /**
   * `onIncompatibleSchema: stop` for one table (and what `cast-to-string` cannot cast, or a
   * rebuild that failed): a schema change a sink cannot follow pauses that table (as `tidemark
   * pause` would, with the error as the reason) and the others go on; its
   * changes wait in Kafka until an operator resolves it and runs `tidemark resume`. True when the
   * error was such a change and the table is now paused.
   */
  private async stopTable(e: unknown): Promise<boolean> {
    if (!isTidemarkError(e, 'schema_incompatible') || !e.table || !this.o.pauseTable) return false;
    await this.o.pauseTable(e.table, e.describe());
    this.o.logger.error(
      { table: e.table, err: e.message, fix: e.fix },
      'table stopped: a schema change its sinks cannot follow; the other tables go on (tidemark resume --table once resolved)',
    );
    await this.applyPauses();
    return true;
  }

  /** The topics the buffer bound pauses and resumes (a paused table's stay paused). */
  private topicsPaused() {
    const topics = new Set([...this.buffers.keys()].map((c) => topicOfChannel(c)));
    return [...topics].filter((t) => !this.held.has(t)).map((topic) => ({ topic }));
  }

  /**
   * Follows `tidemark pause|resume`: a paused table's topic stops being fetched and its buffered
   * changes are dropped (nothing of it is committed until it resumes); a resumed one is read again
   * from the sinks' tokens and joins the next cuts, catching up from there.
   */
  private async applyPauses(): Promise<void> {
    if (!this.o.pausedTables) return;
    const paused = new Set(
      [...(await this.o.pausedTables())].map((t) => tableTopic(this.o.topicPrefix, parseTableKey(t))),
    );
    const hold = [...paused].filter((t) => this.topics.has(t) && !this.held.has(t));
    const release = [...this.held].filter((t) => !paused.has(t));
    if (hold.length === 0 && release.length === 0) return;
    // A round in parts may hold the paused table's changes: given up, everything read again.
    if (this.o.coordinator.partedAt !== null) this.mustRewind = true;
    for (const topic of hold) {
      this.held.add(topic);
      for (const [ch, b] of this.buffers) if (ch.startsWith(`${topic}/`)) b.clear();
    }
    if (hold.length > 0) this.consumer.pause(hold.map((topic) => ({ topic })));
    for (const topic of release) {
      this.held.delete(topic);
      for (const ch of [...this.buffers.keys()].filter((c) => c.startsWith(`${topic}/`))) {
        const b = this.newBuffer(ch);
        this.buffers.set(ch, b);
        const token = this.o.coordinator.resumeToken(ch);
        const next = token ? parseToken(token).nextOffset : 0;
        b.readOffset = next - 1;
        b.contiguous = next >= 0;
        if (next >= 0)
          this.consumer.seek({
            topic,
            partition: partitionOfChannel(ch),
            offset: String(next),
          });
      }
    }
    if (release.length > 0) this.consumer.resume(release.map((topic) => ({ topic })));
    const tables = [...this.held].map((t) => this.tableOfTopic(t));
    this.o.logger.info({ paused: tables, resumed: release, newlyPaused: hold }, 'paused tables changed');
    this.o.onPaused?.(tables);
  }

  /** The table of one of the pipeline's data topics (topic names may differ from table names: log/topics.ts). */
  private tableOfTopic(topic: string): string {
    const t = this.o.registry.tables().find((x) => tableTopic(this.o.topicPrefix, x) === topic);
    return t ? tableKey(t) : topic.slice(this.o.topicPrefix.length + 1);
  }

  private async tick(): Promise<void> {
    if (this.committing || this.stopped) return;
    this.taken = { rows: 0, bytes: 0 };
    let again = false;
    this.committing = this.commitOnce()
      // Reading went on while the round was written and filled the buffers again: the next
      // round starts now. Only after a round that took a quarter of the bound or more: one that
      // could take little (the buffers hold a transaction not yet whole) waits for the interval,
      // instead of a run of tiny commits, each a snapshot.
      .then(() => {
        const bound = { rows: this.o.maxBufferedRows, bytes: this.o.maxBufferedBytes };
        again = this.paused && (this.taken.rows * 4 >= bound.rows || this.taken.bytes * 4 >= bound.bytes);
      })
      .catch((e: unknown) => this.fatal?.(e))
      .finally(() => {
        this.committing = null;
        if (again) void this.tick();
      });
  }

  /** What the rounds (commits and parts) of the current tick took out of the buffers. */
  private taken = { rows: 0, bytes: 0 };
  private resumeQueued = false;

  /**
   * A channel buffer whose changes, once a round takes them, free room at once: reading goes on
   * while the round is written (its database and storage waits overlap the decoding of the next
   * one), so the sink holds up to the buffer bound in the buffers plus one round in flight.
   * Checked once per round, after it took from every buffer (the takes are one synchronous loop).
   */
  private newBuffer(ch: string): ChannelBuffer {
    return new ChannelBuffer(ch, (rows, bytes) => {
      this.taken.rows += rows;
      this.taken.bytes += bytes;
      if (this.resumeQueued) return;
      this.resumeQueued = true;
      queueMicrotask(() => {
        this.resumeQueued = false;
        this.resumeIfRoom();
      });
    });
  }

  /**
   * Commits the highest cut every channel is complete for: the newest watermark W where a
   * channel has read up to W's offsets, else just below the commit LSN of the last change the
   * channel read (its log is in commit order). So a sink far behind a fast source commits what
   * its buffers hold instead of reading on towards a W that lies beyond the buffer bound.
   */
  private async commitOnce(): Promise<void> {
    try {
      await this.commitCut();
    } catch (e) {
      if (!(e instanceof PartedRoundVoid)) throw e;
      if (e.holdWhole && e.lsn > this.holdWholeUpTo) {
        this.holdWholeUpTo = e.lsn;
        this.o.coordinator.noteHeldWhole();
      }
      this.o.logger.warn(
        { err: e.message, cause: (e.cause as Error | undefined)?.message, holdWhole: e.holdWhole },
        'a round in parts was given up (nothing of it is visible): reading its channels again from the tokens',
      );
      await this.rewind();
    }
  }

  private async commitCut(): Promise<void> {
    if (this.mustRewind) return this.rewind();
    // The same W may be committed again: during the initial snapshot every row sits at the
    // snapshot's position (consistent point - 1) and new rows keep arriving under it.
    const w = await this.o.latestWatermark();
    if (!w) return this.resumeIfRoom();
    if (await this.joinNewTopics(w)) return;
    await this.applyPauses();
    if (this.mustRewind) return this.rewind(); // a pause came while a round in parts was open
    let cut = w.lsn;
    let limitedBy: ChannelBuffer | null = null;
    for (const [ch, buffer] of this.buffers) {
      const topic = topicOfChannel(ch);
      if (this.held.has(topic)) continue;
      const needed = w.offsets[topic]?.[partitionOfChannel(ch)];
      if (needed !== undefined && buffer.readOffset < needed && buffer.completeBelow() < cut) {
        cut = buffer.completeBelow();
        limitedBy = buffer;
      }
    }
    const buffers = [...this.buffers.values()].filter((b) => !this.held.has(topicOfChannel(b.channel)));
    let committed: boolean;
    try {
      committed = cut >= 0n && (await this.o.coordinator.commitCut(cut, buffers));
    } catch (e) {
      if (!(await this.stopTable(e))) throw e;
      return; // the round was put back; the next tick commits the other tables
    }
    if (!committed && cut < w.lsn && this.paused) return this.fullAndStuck(w, limitedBy, buffers);
    if (cut > this.lastCutLsn) this.lastCutLsn = cut;
    await this.o.coordinator.markDroppedIfDue(this.lastCutLsn);
    this.o.onBuffered?.(this.bufferedRows());
    if (committed) {
      const offsets = buffers
        .map((b) => ({ b, token: this.o.coordinator.resumeToken(b.channel) }))
        .filter((x) => x.token && parseToken(x.token).nextOffset >= 0)
        .map(({ b, token }) => ({
          topic: topicOfChannel(b.channel),
          partition: partitionOfChannel(b.channel),
          offset: String(parseToken(token!).nextOffset),
        }));
      if (offsets.length > 0) await this.consumer.commitOffsets(offsets);
      this.o.logger.debug({ cut: formatLsn(w.lsn) }, 'cut committed');
    }
    this.resumeIfRoom();
  }

  /**
   * The buffers are full and nothing is below the reachable cut: every change held belongs to a
   * transaction the cut has not reached, the oldest of them L. When what is held up to L is at
   * least half the bound, it is written to the sinks as a part of a round committed once the cut
   * reaches L (CommitCoordinator.stagePart): memory stays bounded however large L is, and
   * whichever channel holds the cut back (one still reading L, or one that has read nothing yet).
   * Otherwise the channels that hold the cut back read on, those with less than their share of
   * the bound first (the others filled the buffers before their fetches came); all of them only
   * when L is held whole (it cannot be written in parts: then it needs more than the bound).
   */
  private async fullAndStuck(w: Watermark, holding: ChannelBuffer | null, buffers: ChannelBuffer[]) {
    const bound = { rows: this.o.maxBufferedRows, bytes: this.o.maxBufferedBytes };
    const firsts = buffers.map((b) => b.firstLsn()).filter((l) => l >= 0n);
    const L = firsts.length > 0 ? firsts.reduce(minLsn) : -1n;
    const whole = L >= 0n && L <= this.holdWholeUpTo;
    if (L >= 0n && !whole) {
      const up = buffers
        .map((b) => b.sizeUpTo(L))
        .reduce((a, b) => ({ rows: a.rows + b.rows, bytes: a.bytes + b.bytes }));
      if (up.rows * 2 >= bound.rows || up.bytes * 2 >= bound.bytes) {
        // Nothing staged: a key change's other half is on a channel that holds the cut back.
        if ((await this.o.coordinator.stagePart(L, buffers)).staged > 0) return this.resumeIfRoom();
      }
    }
    if (whole)
      this.o.logger.warn(
        { cut: formatLsn(w.lsn) },
        'a transaction needs more than the buffer bound holds: reading on past it',
      );
    else
      this.o.logger.debug(
        { channel: holding?.channel, cut: formatLsn(w.lsn) },
        'buffers full before a channel read enough: reading on',
      );
    const readOn = channelsToReadOn(buffers, w, this.held, bound, whole);
    for (const b of readOn) this.readingOn.add(b.channel);
    this.consumer.resume(asTopicPartitions(readOn));
  }

  private resumeIfRoom(): void {
    if (!this.paused) return;
    const held = heldIn(this.buffers.values());
    if (held.bytes <= this.o.maxBufferedBytes / 2 && held.rows <= this.o.maxBufferedRows / 2) {
      this.paused = false;
      this.readingOn.clear();
      this.consumer.resume(this.topicsPaused());
    }
  }
}
