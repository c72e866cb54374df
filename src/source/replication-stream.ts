import type { ClientConfig } from 'pg';
import { LogicalReplicationService } from 'pg-logical-replication';
import type { ChangeEvent, Row } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import { formatLsn, type Lsn, parseLsn } from '../core/lsn';
import { parseTableKey, type TableRef } from '../core/table-schema';
import type { ChangeLogWriter } from '../log/change-log';
import { describeSchemaChange } from '../log/schema-change';
import type { Logger } from '../observe/logger';
import { AckTracker, type TxnRecord } from './ack-tracker';
import {
  deleteEvents,
  insertEvents,
  sweptKeyEvent,
  type TxnContext,
  truncateEvent,
  updateEvents,
} from './change-builder';
import { CLEAR_TABLE } from './dropped-tables';
import { encodingError } from './encoding-error';
import type { SourceMetrics } from './metrics';
import type { PgoutputMessage, RelationMessage } from './pgoutput/messages';
import { type DecodeFailure, TidemarkPgoutputPlugin } from './pgoutput/plugin';
import { parseSweepRequest, SWEEP_REQUEST } from './sweep-request';
import { REFRESH_HIGH, REFRESH_LOW, REFRESH_REQUEST, type TableRefresher } from './table-refresh';
import type { SourceTable, TableSchemas } from './table-schemas';

/** Events per append: large transactions reach the log in chunks this big. */
const CHUNK_EVENTS = 2_000;
const ACK_INTERVAL_MS = 1_000;

export interface ReplicationStreamOptions {
  readonly clientConfig: ClientConfig;
  readonly slot: string;
  readonly publication: string;
  readonly log: ChangeLogWriter;
  readonly schemas: TableSchemas;
  readonly logger: Logger;
  readonly metrics: SourceMetrics;
  readonly maxInFlightEvents: number;
  readonly watermarkIntervalMs: number;
  /** The slot's confirmed position when streaming starts. */
  readonly startLsn: Lsn;
  /** Table refreshes (`tidemark snapshot --table`) driven by watermark messages in the stream. */
  readonly refresher?: TableRefresher;
  /**
   * Told every Relation message before its changes (TableDiscovery.admit): false when the
   * table's changes are passed over (renamed to a name `source.tables` does not take).
   */
  readonly admit?: (table: TableRef, relationOid: number) => Promise<boolean>;
}

/**
 * Reads the slot and appends every transaction to the change log in commit order.
 *
 * The slot is confirmed only through the AckTracker: up to the end of the newest transaction
 * that is durable in the log together with every earlier one. pg-logical-replication's own
 * acknowledgement is switched off (its timer would confirm the last *received* LSN), and
 * keepalives are answered here with the durable LSN. Appends are pipelined, bounded by
 * maxInFlightEvents; past the bound the handler waits, and flow control stops reading.
 */
export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private readonly tracker: AckTracker;
  private readonly relations = new Map<number, TableRef>();
  /** Relations whose changes are not mirrored (see `admit`). */
  private readonly passedOver = new Set<number>();
  private txn: { ctx: TxnContext; record: TxnRecord; chunk: ChangeEvent[] } | null = null;
  private inFlight = 0;
  /** Messages received but not handled yet (the library queues them for flow control). */
  private unhandled = 0;
  /** Appends not resolved yet, with the transaction each belongs to. */
  private readonly pending = new Map<Promise<void>, TxnRecord>();
  private failed: Error | null = null;
  private stopping = false;
  private lastAcked: Lsn;
  private lastWatermark: Lsn = 0n;
  private watermarkTicks = 0;
  private timers: NodeJS.Timeout[] = [];
  private rejectDone!: (e: Error) => void;
  private resolveDone!: () => void;
  /** Settles when streaming ends: resolves after stop(), rejects with the fatal error. */
  readonly done: Promise<void>;
  /** Highest number of events in flight to the log at once (for tests and metrics). */
  maxInFlightSeen = 0;

  constructor(private readonly o: ReplicationStreamOptions) {
    this.tracker = new AckTracker(o.startLsn);
    this.lastAcked = o.startLsn;
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {});
    this.service = new LogicalReplicationService(o.clientConfig, {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: true },
    });
  }

  get flushLsn(): Lsn {
    return this.tracker.flushLsn;
  }

  async start(): Promise<void> {
    this.service.on('data', (_lsn: string, msg: PgoutputMessage | DecodeFailure) => this.onMessage(msg));
    this.service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) =>
      this.onKeepalive(parseLsn(lsn), shouldRespond),
    );
    this.service.on('error', (e: Error) => this.fail(e));
    const started = new Promise<void>((resolve) => this.service.once('start', () => resolve()));
    this.service
      .subscribe(
        new TidemarkPgoutputPlugin({
          publication: this.o.publication,
          onParsed: () => void this.unhandled++,
        }) as never,
        this.o.slot,
        '0/0',
      )
      .catch((e: Error) => {
        if (!this.stopping) this.fail(streamEndError(e));
      });
    await Promise.race([started, this.done]);
    if (this.stopping || this.failed) return; // stopped while starting: no timers to leak
    this.timers.push(setInterval(() => void this.acknowledge(false), ACK_INTERVAL_MS));
    this.timers.push(setInterval(() => void this.publishWatermark(), this.o.watermarkIntervalMs));
  }

  /** Stops reading, waits for in-flight appends, confirms what is durable, closes the stream. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done.catch(() => {});
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.pending.keys()]);
    if (!this.failed) {
      await this.acknowledge(true);
      await this.publishWatermark();
    }
    await this.service.stop().catch(() => {});
    this.resolveDone();
  }

  private fail(e: Error): void {
    if (this.failed || this.stopping) return;
    this.failed = e;
    for (const t of this.timers) clearInterval(t);
    this.o.logger.error({ err: e.message }, 'replication stream failed');
    void this.service.stop().catch(() => {});
    this.rejectDone(e);
  }

  private async onMessage(msg: PgoutputMessage | DecodeFailure): Promise<void> {
    try {
      if (this.failed || this.stopping) return; // not confirmed: it will be replayed
      if (msg.tag === 'decode-failure') throw msg.error;
      await this.handle(msg);
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.unhandled--;
    }
  }

  private async handle(msg: PgoutputMessage): Promise<void> {
    switch (msg.tag) {
      case 'begin':
        this.txn = {
          ctx: { commitLsn: msg.finalLsn, xid: msg.xid, commitTimeMs: msg.commitTimeMs, seq: 0 },
          record: this.tracker.begin(msg.finalLsn),
          chunk: [],
        };
        return;
      case 'relation':
        return this.onRelation(msg);
      case 'insert':
      case 'update':
      case 'delete': {
        if (this.passedOver.has(msg.relationOid)) return;
        const { table, txn } = this.context(msg.relationOid);
        const events =
          msg.tag === 'insert'
            ? insertEvents(table, txn.ctx, msg)
            : msg.tag === 'update'
              ? updateEvents(table, txn.ctx, msg)
              : deleteEvents(table, txn.ctx, msg);
        for (const e of events) {
          txn.chunk.push(e);
          this.o.metrics.changes.inc({ table: `${e.table.schema}.${e.table.table}`, op: e.op });
          this.o.refresher?.onChange(e, table.schema.primaryKey);
        }
        if (txn.chunk.length >= CHUNK_EVENTS) await this.flushChunk();
        return;
      }
      case 'truncate':
        for (const oid of msg.relationOids) {
          if (this.passedOver.has(oid)) continue;
          const { table, txn } = this.context(oid);
          const e = truncateEvent(table, txn.ctx);
          txn.chunk.push(e);
          this.o.refresher?.onChange(e, table.schema.primaryKey);
          this.o.metrics.changes.inc({ table: `${table.schema.schema}.${table.schema.table}`, op: 't' });
        }
        return;
      case 'commit': {
        const txn = this.txn;
        if (!txn)
          throw new TidemarkError('malformed_event', 'Commit without Begin in the replication stream');
        await this.flushChunk();
        this.tracker.commit(txn.record, msg.endLsn);
        this.o.log.endTransaction?.(txn.ctx.commitLsn);
        this.o.metrics.lastCommitTime.set(msg.commitTimeMs / 1000);
        this.txn = null;
        return;
      }
      case 'message': {
        if (msg.prefix === 'tidemark_heartbeat') this.o.metrics.lastHeartbeat.set(Date.now() / 1000);
        if (msg.prefix === CLEAR_TABLE) return this.onClear(msg.content);
        if (msg.prefix === SWEEP_REQUEST) return this.onSweep(msg.content);
        const r = this.o.refresher;
        if (!r) return;
        if (msg.prefix === REFRESH_REQUEST) await r.onRequest(msg.content);
        else if (msg.prefix === REFRESH_LOW) r.onLow(msg.content);
        else if (msg.prefix === REFRESH_HIGH) {
          const chunk = r.onHigh(msg.content);
          if (chunk) chunk.appended((await this.appendRefreshRows(chunk.table, chunk.rows, msg.lsn)).durable);
        }
        return;
      }
      default:
        return; // origin, type: nothing to mirror
    }
  }

  /**
   * A refresh chunk's rows as snapshot events at the high watermark's position, appended like a
   * transaction there (the slot is confirmed past it only once they are durable). Resolves once
   * appended in stream order, with a promise that resolves once they are durable.
   */
  private async appendRefreshRows(
    t: SourceTable,
    rows: readonly Row[],
    lsn: Lsn,
  ): Promise<{ durable: Promise<void> }> {
    if (this.txn)
      throw new TidemarkError('malformed_event', 'a non-transactional message inside a transaction');
    // A message's LSN is the end of its record, where the next record (perhaps a commit, whose
    // changes sit at its start LSN) begins: one byte less lies inside the message, so the rows
    // sort after every earlier transaction and before every later one, never tied with one.
    const at = lsn - 1n;
    const ctx: TxnContext = { commitLsn: at, xid: 0, commitTimeMs: Date.now(), seq: 0 };
    const record = this.tracker.begin(at);
    const txn = { ctx, record, chunk: [] as ChangeEvent[] };
    this.txn = txn;
    const table = { schema: t.schema.schema, table: t.schema.table };
    for (const after of rows) {
      txn.chunk.push({
        op: 'r',
        table,
        position: { lsn: at, seq: ctx.seq++ },
        txId: 0,
        commitTimeMs: ctx.commitTimeMs,
        schemaVersion: t.schema.version,
        before: null,
        after,
        unchanged: [],
        snapshot: true,
      });
      if (txn.chunk.length >= CHUNK_EVENTS) await this.flushChunk();
    }
    await this.flushChunk();
    const appends = [...this.pending].filter(([, rec]) => rec === record).map(([p]) => p);
    this.tracker.commit(record, lsn);
    this.o.log.endTransaction?.(at);
    this.txn = null;
    this.o.metrics.changes.inc({ table: `${table.schema}.${table.table}`, op: 'r' }, rows.length);
    return { durable: Promise.all(appends).then(() => {}) };
  }

  private async onRelation(msg: RelationMessage): Promise<void> {
    const ref = { schema: msg.schema, table: msg.name };
    if (this.o.admit && !(await this.o.admit(ref, msg.relationOid))) {
      this.relations.delete(msg.relationOid);
      this.passedOver.add(msg.relationOid);
      return;
    }
    this.passedOver.delete(msg.relationOid);
    this.relations.set(msg.relationOid, ref);
    const before = this.o.schemas.get(ref)?.schema;
    const { table, changed } = await this.o.schemas.resolve(ref, msg.relationOid, msg.columns, {
      kind: msg.replicaIdentity,
      columns: msg.columns.filter((c) => c.key).map((c) => c.name),
    });
    if (changed) {
      // Events decoded with the old schema go out first; the new version is published before
      // any event that uses it, with what it changed (from this transaction on).
      await this.flushChunk();
      const change = before
        ? describeSchemaChange(before, table.schema, this.txn?.ctx.commitLsn ?? null)
        : undefined;
      await this.o.log.publishSchema(table.schema, change);
      this.o.schemas.markPublished(ref);
    }
  }

  /**
   * A dropped table created again (dropped-tables.ts): a truncate at the message's place empties
   * what the sinks kept of the old one. Another pipeline's message, or a replay of one for a table
   * not mirrored now, is passed over.
   */
  private onClear(content: Buffer): void {
    let req: { slot?: string; table?: string };
    try {
      req = JSON.parse(content.toString('utf8'));
    } catch {
      return;
    }
    if (req.slot !== this.o.slot || !req.table) return;
    const table = this.o.schemas.get(parseTableKey(req.table));
    if (!table || !this.txn) return;
    const e = truncateEvent(table, this.txn.ctx);
    this.txn.chunk.push(e);
    this.o.refresher?.onChange(e, table.schema.primaryKey);
    this.o.metrics.changes.inc({ table: req.table, op: 't' });
  }

  /**
   * `tidemark sweep`: deletes, at the message's place, keys no row of the table held there (see
   * sweep-request.ts). Another pipeline's request, one for a table not mirrored now, and one
   * that cannot be read are passed over: the command can be run again.
   */
  private async onSweep(content: Buffer): Promise<void> {
    let req: ReturnType<typeof parseSweepRequest>;
    try {
      req = parseSweepRequest(content);
    } catch (e) {
      this.o.logger.warn({ err: (e as Error).message }, 'a sweep request passed over');
      return;
    }
    if (req.slot !== this.o.slot) return;
    const table = this.o.schemas.get(parseTableKey(req.table));
    if (!table || !this.txn) return;
    if (req.keys.some((k) => k.length !== table.schema.primaryKey.length)) {
      this.o.logger.warn({ table: req.table }, 'a sweep request for another key passed over');
      return;
    }
    const txn = this.txn;
    // Every key decoded first: a request the source cannot read is passed over whole (were it to
    // fail the stream, the restart would meet it again).
    const seq = txn.ctx.seq;
    let events: ChangeEvent[];
    try {
      events = req.keys.map((key) => sweptKeyEvent(table, txn.ctx, key));
    } catch (e) {
      txn.ctx.seq = seq;
      this.o.logger.warn({ table: req.table, err: (e as Error).message }, 'a sweep request passed over');
      return;
    }
    for (const e of events) {
      txn.chunk.push(e);
      this.o.refresher?.onChange(e, table.schema.primaryKey);
      if (txn.chunk.length >= CHUNK_EVENTS) await this.flushChunk();
    }
    this.o.metrics.changes.inc({ table: req.table, op: 'd' }, req.keys.length);
    this.o.logger.info(
      { table: req.table, keys: req.keys.length },
      'sweep: keys the source does not hold deleted',
    );
  }

  private context(relationOid: number) {
    const ref = this.relations.get(relationOid);
    const table = ref && this.o.schemas.get(ref);
    if (!table)
      throw new TidemarkError(
        'malformed_event',
        `change for relation ${relationOid} before its Relation message`,
      );
    if (!this.txn)
      throw new TidemarkError('malformed_event', 'change outside a transaction in the replication stream');
    return { table, txn: this.txn };
  }

  private async flushChunk(): Promise<void> {
    const txn = this.txn;
    if (!txn || txn.chunk.length === 0) return;
    const events = txn.chunk;
    const count = events.length; // the callbacks must not hold the events (embedded: parts free them)
    txn.chunk = [];
    this.inFlight += count;
    this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.inFlight);
    this.tracker.appendStarted(txn.record);
    const p: Promise<void> = this.o.log.append(events).then(
      () => {
        this.inFlight -= count;
        this.pending.delete(p);
        this.tracker.appendResolved(txn.record);
      },
      (e: unknown) => {
        this.pending.delete(p);
        this.fail(e instanceof Error ? e : new Error(String(e)));
      },
    );
    this.pending.set(p, txn.record);
    // Backpressure: past the bound, wait for the oldest appends before reading on. Where appends
    // resolve only at commit (embedded), the open transaction's own cannot resolve yet: waiting
    // on them would never end, so only earlier transactions' appends are waited for (the open
    // one is held whole, as its cut needs it).
    while (this.inFlight > this.o.maxInFlightEvents && !this.failed) {
      const oldest = [...this.pending].find(([, rec]) => !this.o.log.resolvesOnCommit || rec !== txn.record);
      if (!oldest) break;
      await oldest[0];
    }
    if (this.o.log.room) await this.o.log.room();
  }

  private async onKeepalive(walEnd: Lsn, shouldRespond: boolean): Promise<void> {
    // Keepalives bypass the library's queue: only when every message received before this one
    // has been handled is the WAL end known to hold no unsent transaction of ours.
    if (!this.txn && this.unhandled === 0) this.tracker.idleAdvance(walEnd);
    if (shouldRespond || this.tracker.flushLsn > this.lastAcked) await this.acknowledge(true);
  }

  /** Confirms the slot up to the durable LSN (never further). */
  private async acknowledge(force: boolean): Promise<void> {
    const lsn = this.tracker.flushLsn;
    if (lsn === 0n || (!force && lsn <= this.lastAcked) || this.failed) return;
    // The library reports the LSN it is given plus one: give it one less, so the slot's
    // confirmed_flush_lsn is exactly the end of the last durable transaction.
    await this.service.acknowledge(formatLsn(lsn - 1n));
    this.lastAcked = lsn;
    this.o.metrics.confirmedLsn.set(Number(lsn));
  }

  private async publishWatermark(): Promise<void> {
    const w = this.tracker.watermarkLsn;
    this.watermarkTicks++;
    // A new watermark when something became durable; the same one now and then when idle, so
    // a sink that lost the last one (e.g. Redis flushed) gets it back.
    if (w === 0n || this.failed || (w <= this.lastWatermark && this.watermarkTicks < 10)) return;
    this.watermarkTicks = 0;
    try {
      await this.o.log.publishWatermark(w);
      this.lastWatermark = w;
    } catch (e) {
      this.o.logger.warn(
        { err: (e as Error).message, lsn: formatLsn(w) },
        'publishing a watermark failed; will retry',
      );
    }
  }
}

/**
 * Why the replication stream ended: undecodable text and a slot PostgreSQL invalidated stop it for
 * good, anything else is retried.
 */
function streamEndError(e: Error): TidemarkError {
  // PostgreSQL invalidated the slot while it streamed: no restart can read on (setup/slot.ts
  // checkSlot says the same at start, with the fix).
  if (
    /can no longer get changes from replication slot|cannot read from logical replication slot/.test(
      e.message,
    )
  )
    return new TidemarkError('source_setup', `replication stream ended: ${e.message}`, {
      cause: e,
      fix: 'the slot was invalidated by PostgreSQL: copy every table again with a new slot (tidemark offsets reset --resnapshot --apply); raise max_slot_wal_keep_size so that it does not happen again',
    });
  return (
    encodingError(e, 'the replication stream stopped') ??
    new TidemarkError('transient', `replication stream ended: ${e.message}`, { cause: e })
  );
}
