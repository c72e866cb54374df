import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TidemarkError } from '../core/errors';
import { compareTokens, parseToken } from '../core/offset-token';
import { decodeWatermark, encodeWatermark, type Watermark } from '../log/watermark';
import type { Lease, OffsetStore } from './offset-store';

interface FileState {
  tokens: Record<string, string>;
  watermark: string | null;
  state: Record<string, string>;
  leases: Record<string, { owner: string; fence: number; expiresAt: number }>;
  fences: Record<string, number>;
}

/**
 * OffsetStore in one JSON file for the embedded mode (one process, so leases are local).
 * Every write replaces the file atomically (write temp, fsync, rename): a crash leaves the
 * old or the new state, never half of one.
 */
export class FileOffsetStore implements OffsetStore {
  private s: FileState;

  constructor(private readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    try {
      this.s = JSON.parse(readFileSync(path, 'utf8')) as FileState;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new TidemarkError(
          'corrupt_state',
          `offsets file ${path} cannot be read: ${(e as Error).message}`,
          {
            cause: e,
            fix: 'restore it, or delete it to rebuild the offsets from the sinks',
          },
        );
      }
      this.s = { tokens: {}, watermark: null, state: {}, leases: {}, fences: {} };
    }
  }

  private persist(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.s));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
  }

  async readTokens(): Promise<Map<string, string>> {
    return new Map(Object.entries(this.s.tokens));
  }

  async advanceTokens(tokens: ReadonlyMap<string, string>, lease?: Lease): Promise<boolean> {
    if (lease && !this.holds(lease)) return false;
    for (const [channel, token] of tokens) {
      const current = this.s.tokens[channel];
      if (current === undefined || compareTokens(parseToken(token), parseToken(current)) > 0)
        this.s.tokens[channel] = token;
    }
    this.persist();
    return true;
  }

  async resetTokens(tokens: ReadonlyMap<string, string>): Promise<void> {
    this.s.tokens = Object.fromEntries(tokens);
    this.persist();
  }

  async putWatermark(w: Watermark): Promise<void> {
    this.s.watermark = encodeWatermark(w);
    this.persist();
  }

  async getWatermark(): Promise<Watermark | null> {
    return this.s.watermark === null ? null : decodeWatermark(this.s.watermark);
  }

  async get(key: string): Promise<string | null> {
    return this.s.state[key] ?? null;
  }

  async set(key: string, value: string): Promise<void> {
    this.s.state[key] = value;
    this.persist();
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<Lease | null> {
    const held = this.s.leases[name];
    if (held && held.owner !== owner && held.expiresAt > Date.now()) return null;
    const fence = held?.owner === owner ? held.fence : (this.s.fences[name] = (this.s.fences[name] ?? 0) + 1);
    this.s.leases[name] = { owner, fence, expiresAt: Date.now() + ttlMs };
    this.persist();
    return { name, owner, fence };
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<boolean> {
    if (!this.holds(lease)) return false;
    this.s.leases[lease.name]!.expiresAt = Date.now() + ttlMs;
    return true;
  }

  async releaseLease(lease: Lease): Promise<void> {
    if (this.holds(lease)) {
      delete this.s.leases[lease.name];
      this.persist();
    }
  }

  async close(): Promise<void> {}

  private holds(lease: Lease): boolean {
    const held = this.s.leases[lease.name];
    return !!held && held.owner === lease.owner && held.fence === lease.fence && held.expiresAt > Date.now();
  }
}
