import type { Watermark } from '../log/watermark';

/** A lease held by one process: its fencing token grows with every new holder. */
export interface Lease {
  readonly name: string;
  readonly owner: string;
  readonly fence: number;
}

/**
 * Where tidemark keeps its fast-restart state: per-channel offset tokens (a copy; the sinks'
 * own commits are the truth), the last watermark, leases, and small source state (snapshot
 * progress, schema versions). Redis in production, a local file in embedded mode.
 *
 * Contract:
 * - `advanceTokens` moves each channel's token forward only: a token at or behind the stored
 *   one is ignored, never written. With a lease it is also fenced: nothing is written unless
 *   the lease is still held with that fencing token. All-or-nothing per call.
 * - Every write resolves only once the store has taken it (Redis: appendonly per its fsync policy).
 */
export interface OffsetStore {
  readTokens(): Promise<Map<string, string>>;
  /** Returns false (and writes nothing) when fenced out. */
  advanceTokens(tokens: ReadonlyMap<string, string>, lease?: Lease): Promise<boolean>;
  /** Operator reset: replaces tokens, including moving them backwards. */
  resetTokens(tokens: ReadonlyMap<string, string>): Promise<void>;

  putWatermark(w: Watermark): Promise<void>;
  getWatermark(): Promise<Watermark | null>;

  /** Small named values (source state such as snapshot progress). */
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;

  acquireLease(name: string, owner: string, ttlMs: number): Promise<Lease | null>;
  renewLease(lease: Lease, ttlMs: number): Promise<boolean>;
  releaseLease(lease: Lease): Promise<void>;

  /** Fails fast, with an error naming the cause, when the store is unreachable or refuses us. */
  ready?(): Promise<void>;

  close(): Promise<void>;
}
