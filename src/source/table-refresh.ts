import { randomUUID } from 'node:crypto';
import { Client, type ClientConfig } from 'pg';
import type { ChangeEvent, Row } from '../core/change-event';
import { encodeKey } from '../core/row-key';
import { parseTableKey, tableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import { decodeRow, RAW_TEXT } from './column-decoding';
import { qualified, quoteIdent } from './setup/catalog';
import type { SourceStateStore } from './state-store';
import type { SourceTable, TableSchemas } from './table-schemas';
import { emitTransactionalMessage } from './wal-message';

/** Prefixes of the WAL messages that drive a refresh (pg_logical_emit_message). */
export const REFRESH_REQUEST = 'tidemark_refresh';
export const REFRESH_LOW = 'tidemark_refresh_low';
export const REFRESH_HIGH = 'tidemark_refresh_high';

/** A refresh of one table, as kept in the state store (so a restart resumes it). */
export interface RefreshState {
  readonly id: string;
  readonly table: string;
  /**
   * Raw text of the key of the last row copied; null before the first chunk, and always for a
   * table with a masked key column (its clear value must not leave the source: a restart then
   * copies such a table from its start).
   */
  readonly after: string[] | null;
  readonly rows: number;
  readonly requestedAt: string;
  readonly finishedAt?: string;
  /** Why the copy was asked for (`tidemark snapshot`, a table joining, …), for `status`; absent in older states. */
  readonly reason?: string;
}

/**
 * Asks the running source (or the next one to start) for a refresh of `table`, and says why: a
 * transactional message in the WAL, acted on at its place in the stream once committed. The CLI
 * and the source itself ask the same way. Resolves with the request's id and the message's LSN.
 */
export async function emitRefreshRequest(
  client: Client,
  slot: string,
  table: string,
  reason: string,
): Promise<{ id: string; lsn: string }> {
  const id = `${slot}:${Date.now()}:${randomUUID().slice(0, 8)}`;
  return { id, lsn: await emitTransactionalMessage(client, REFRESH_REQUEST, { slot, table, id, reason }) };
}

export function refreshStateKey(slot: string): string {
  return `source:${slot}:refreshes`;
}

export async function readRefreshes(state: SourceStateStore, slot: string): Promise<RefreshState[]> {
  return JSON.parse((await state.get(refreshStateKey(slot))) ?? '[]') as RefreshState[];
}

interface Chunked {
  readonly emitted: number;
  readonly durable: Promise<void>;
}

interface Window {
  readonly table: string;
  /** Keys changed between the low and the high watermark. */
  readonly changed: Set<string>;
  /** Every change read since the window was set up, with its transaction (see `invisible`). */
  readonly seen: { xid: number; key: string | null }[];
  truncated: boolean;
  open: boolean;
  rows: Row[];
  version: number;
  /** Transactions the chunk's snapshot did not see (null until the SELECT ran). */
  invisible: ((xid: number) => boolean) | null;
  /** Settles at the high watermark: the rows appended and when they are durable (null: redo the chunk). */
  settle: (result: Chunked | null) => void;
}

/**
 * Whether a transaction (its 32-bit xid, as pgoutput sends it) was invisible to a snapshot
 * printed by pg_current_snapshot() ("xmin:xmax:xip,…", 64-bit xids): in progress then, or
 * started after. xids wrap around at 2^32, so they compare modulo 2^32.
 */
export function invisibleTo(snapshot: string): (xid: number) => boolean {
  const [, xmaxText, xipText] = snapshot.split(':');
  const low = (t: string) => Number(BigInt(t) & 0xffffffffn);
  const xmax = low(xmaxText!);
  const inProgress = new Set((xipText ?? '').split(',').filter(Boolean).map(low));
  return (xid) => inProgress.has(xid) || (xid - xmax) >>> 0 < 0x80000000;
}

export interface RefreshDeps {
  readonly clientConfig: ClientConfig;
  readonly state: SourceStateStore;
  readonly slot: string;
  readonly schemas: TableSchemas;
  readonly chunkRows: number;
  readonly logger: Logger;
}

/** A chunk at its high watermark: the stream appends `rows`, then reports when they are durable. */
export interface RefreshChunk {
  readonly table: SourceTable;
  readonly rows: Row[];
  appended(durable: Promise<void>): void;
}

/**
 * Re-copies a table while streaming goes on (`tidemark snapshot --table`), in key-ordered
 * chunks, with the watermark method of DBLog (Netflix) and Debezium's incremental snapshots:
 * for each chunk it writes a low watermark into the WAL, SELECTs the chunk, writes a high
 * watermark. The stream, reading the WAL in order, notes the keys of every change to the table
 * between the two; at the high watermark it drops those keys from the chunk (the stream already
 * carries a value as new or newer) and emits the rest as snapshot rows at the high watermark's
 * position. A row the SELECT read is then never newer than a change that follows it in the log,
 * so the sinks end with the source's rows. Rows deleted in the source but still in a sink are not
 * removed (a copy only upserts): `tidemark verify` finds them.
 */
export class TableRefresher {
  private client: Client | null = null;
  private readonly windows = new Map<string, Window>();
  private readonly queue: RefreshState[] = [];
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly d: RefreshDeps) {}

  /** Resumes the refreshes a stop or crash interrupted. */
  async resume(): Promise<void> {
    for (const r of await readRefreshes(this.d.state, this.d.slot)) if (!r.finishedAt) this.enqueue(r);
  }

  /** A request message read from the stream. */
  async onRequest(content: Buffer): Promise<void> {
    let req: { slot?: string; table?: string; id?: string; reason?: unknown };
    try {
      req = JSON.parse(content.toString('utf8'));
    } catch {
      return;
    }
    if (req.slot !== this.d.slot || !req.table || !req.id) return; // another pipeline's
    const known = await readRefreshes(this.d.state, this.d.slot);
    if (known.some((r) => r.id === req.id)) return; // a replayed request
    if (!this.d.schemas.get(parseTableKey(req.table))) {
      this.d.logger.warn({ table: req.table }, 'refresh requested for a table this pipeline does not mirror');
      return;
    }
    const r: RefreshState = {
      id: req.id,
      table: req.table,
      after: null,
      rows: 0,
      requestedAt: new Date().toISOString(),
      ...(typeof req.reason === 'string' ? { reason: req.reason } : {}),
    };
    await this.save(r);
    this.d.logger.info({ table: r.table, id: r.id, reason: r.reason }, 'table refresh requested');
    this.enqueue(r);
  }

  onLow(content: Buffer): void {
    const w = this.windows.get(content.toString('utf8'));
    if (w) w.open = true;
  }

  /** Every change the stream reads, in order: the keys a chunk must give way to. */
  onChange(e: ChangeEvent, key: readonly string[]): void {
    if (this.windows.size === 0) return;
    const table = tableKey(e.table);
    for (const w of this.windows.values()) {
      if (w.table !== table) continue;
      const keys = [e.before, e.after].filter((r) => r !== null).map((r) => encodeKey(r!, key));
      if (e.op === 't') w.seen.push({ xid: e.txId, key: null });
      for (const k of keys) w.seen.push({ xid: e.txId, key: k });
      if (!w.open) continue;
      if (e.op === 't') w.truncated = true;
      for (const k of keys) w.changed.add(k);
    }
  }

  /**
   * The high watermark of a chunk: its rows that no change in the window touched, for the stream
   * to append at the watermark's position. Null when there is nothing to append.
   */
  onHigh(content: Buffer): RefreshChunk | null {
    const id = content.toString('utf8');
    const w = this.windows.get(id);
    if (!w) return null;
    this.windows.delete(id);
    const t = this.d.schemas.get(parseTableKey(w.table));
    if (!t || !w.open || t.schema.version !== w.version) {
      // The schema changed under the chunk (or the stream restarted inside it): read it again.
      w.settle(null);
      return null;
    }
    // A transaction can write its commit record before the low watermark yet become visible only
    // after the chunk's snapshot was taken (Postgres makes commits visible after logging them):
    // its changes precede the window in the stream but are newer than the chunk. Give way to them too.
    for (const x of w.seen) {
      if (!w.invisible?.(x.xid)) continue;
      if (x.key === null) w.truncated = true;
      else w.changed.add(x.key);
    }
    const rows = w.truncated ? [] : w.rows.filter((r) => !w.changed.has(encodeKey(r, t.schema.primaryKey)));
    if (rows.length === 0) {
      w.settle({ emitted: 0, durable: Promise.resolve() });
      return null;
    }
    return { table: t, rows, appended: (durable) => w.settle({ emitted: rows.length, durable }) };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const w of this.windows.values()) w.settle(null);
    this.windows.clear();
    // A chunk waiting for the sinks to take its rows (embedded mode) may not see them now.
    await Promise.race([this.running?.catch(() => {}), new Promise((r) => setTimeout(r, 2_000).unref())]);
    await this.client?.end().catch(() => {});
    this.client = null;
  }

  private enqueue(r: RefreshState): void {
    if (this.queue.some((q) => q.table === r.table)) return;
    this.queue.push(r);
    if (!this.running)
      this.running = this.drain().finally(() => {
        this.running = null;
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopping) {
      const r = this.queue[0]!;
      try {
        await this.copy(r);
      } catch (e) {
        this.d.logger.error(
          { table: r.table, err: (e as Error).message },
          'table refresh failed; it resumes at the next start',
        );
      }
      this.queue.shift();
    }
  }

  private async connection(): Promise<Client> {
    if (!this.client) {
      const c = new Client(this.d.clientConfig);
      c.on('error', () => {});
      await c.connect();
      this.client = c;
    }
    return this.client;
  }

  private async copy(start: RefreshState): Promise<void> {
    let r = start;
    const ref = parseTableKey(r.table);
    // Progress is saved once a chunk's rows are durable; the next chunk need not wait for that.
    let progress = Promise.resolve();
    this.d.logger.info({ table: r.table, id: r.id, resumed: r.after !== null }, 'table refresh copying');
    let after = r.after;
    for (let chunk = 0; !this.stopping; chunk++) {
      const t = this.d.schemas.get(ref);
      if (!t) throw new Error(`${r.table} is no longer mirrored`);
      const c = await this.connection();
      const s = t.schema;
      const keyAt = s.primaryKey.map((k) => s.columns.findIndex((col) => col.name === k));
      const key = s.primaryKey.map(quoteIdent).join(', ');
      const id = `${r.id}:${chunk}`;
      let settled: Chunked | null = null;
      const ready = new Promise<void>((resolve) => {
        this.windows.set(id, {
          table: r.table,
          changed: new Set(),
          seen: [],
          invisible: null,
          truncated: false,
          open: false,
          rows: [],
          version: s.version,
          settle: (result) => {
            settled = result;
            resolve();
          },
        });
      });
      await c.query('SELECT pg_logical_emit_message(false, $1, $2)', [REFRESH_LOW, id]);
      const params = after ?? [];
      // One snapshot for the chunk and for the list of transactions it does not see.
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const snap = (await c.query('SELECT pg_current_snapshot()::text AS s')).rows[0].s as string;
      const res = await c.query({
        text: `SELECT ${s.columns.map((col) => quoteIdent(col.name)).join(', ')} FROM ${qualified(s)}${
          after ? ` WHERE (${key}) > (${params.map((_, i) => `$${i + 1}`).join(', ')})` : ''
        } ORDER BY ${key} LIMIT ${this.d.chunkRows}`,
        values: params,
        rowMode: 'array',
        types: RAW_TEXT,
      });
      await c.query('COMMIT');
      const raw = res.rows as (string | null)[][];
      const w = this.windows.get(id);
      if (w) w.invisible = invisibleTo(snap);
      if (w) w.rows = raw.map((values) => decodeRow(t, values, r.table));
      await c.query('SELECT pg_logical_emit_message(false, $1, $2)', [REFRESH_HIGH, id]);
      await ready;
      const done = settled as Chunked | null;
      if (done === null) {
        if (this.stopping) return;
        continue; // schema changed: the same chunk again, with the new schema
      }
      const last = raw[raw.length - 1];
      if (last) after = keyAt.map((i) => last[i] as string);
      const keyMasked = keyAt.some((i) => t.maskers[i] !== null);
      r = {
        ...r,
        after: keyMasked ? null : after,
        rows: r.rows + done.emitted,
        ...(raw.length < this.d.chunkRows ? { finishedAt: new Date().toISOString() } : {}),
      };
      const next = r;
      progress = progress.then(() => done.durable).then(() => this.save(next));
      progress.catch(() => {}); // awaited at the end; a failure must not go unhandled meanwhile
      if (r.finishedAt) {
        await progress;
        this.d.logger.info({ table: r.table, id: r.id, rows: r.rows }, 'table refresh complete');
        return;
      }
    }
  }

  private saving: Promise<void> = Promise.resolve();

  /** One read-modify-write at a time (requests and chunk progress both write the list). */
  private save(r: RefreshState): Promise<void> {
    this.saving = this.saving.then(async () => {
      const all = (await readRefreshes(this.d.state, this.d.slot)).filter((x) => x.id !== r.id);
      // Keep the unfinished ones and the last finished few, for `status`.
      const finished = all.filter((x) => x.finishedAt).slice(-9);
      const open = all.filter((x) => !x.finishedAt);
      await this.d.state.set(refreshStateKey(this.d.slot), JSON.stringify([...finished, ...open, r]));
    });
    return this.saving;
  }
}
