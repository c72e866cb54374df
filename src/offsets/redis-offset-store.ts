import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { TidemarkError } from '../core/errors';
import { decodeWatermark, encodeWatermark, type Watermark } from '../log/watermark';
import type { Lease, OffsetStore } from './offset-store';
import { redisKeys } from './redis-keys';
import { tokenSortKey } from './token-order';

const lua = (name: string) => readFileSync(join(__dirname, 'lua', `${name}.lua`), 'utf8');

type ScriptedRedis = Redis & {
  advanceTokens(k1: string, k2: string, k3: string, ...argv: string[]): Promise<number>;
  acquireLease(k1: string, k2: string, owner: string, ttl: string): Promise<string | null>;
  renewLease(k1: string, owner: string, fence: string, ttl: string): Promise<number>;
  releaseLease(k1: string, owner: string, fence: string): Promise<number>;
};

/** OffsetStore on Redis; guarded writes are the Lua scripts in ./lua (see their headers). */
export class RedisOffsetStore implements OffsetStore {
  private readonly redis: ScriptedRedis;
  private readonly keys: ReturnType<typeof redisKeys>;

  /**
   * `url`: redis://[user:password@]host:port[/db], or rediss:// for TLS; `caPem` trusts a
   * private CA for rediss://.
   */
  constructor(url: string, pipeline: string, caPem?: string) {
    this.keys = redisKeys(pipeline);
    const redis = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 20,
      enableOfflineQueue: true,
      ...(caPem && url.startsWith('rediss:') ? { tls: { ca: [caPem] } } : {}),
    });
    redis.defineCommand('advanceTokens', { numberOfKeys: 3, lua: lua('advance-tokens') });
    redis.defineCommand('acquireLease', { numberOfKeys: 2, lua: lua('acquire-lease') });
    redis.defineCommand('renewLease', { numberOfKeys: 1, lua: lua('renew-lease') });
    redis.defineCommand('releaseLease', { numberOfKeys: 1, lua: lua('release-lease') });
    // ioredis reconnects by itself; an error event without a listener would crash the process.
    redis.on('error', () => {});
    this.redis = redis as ScriptedRedis;
  }

  async ready(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (e) {
      const msg = (e as Error).message;
      if (/WRONGPASS|NOAUTH|invalid password/i.test(msg))
        throw new TidemarkError('config', `Redis refused the credentials of offsets.url: ${msg}`, {
          cause: e,
          fix: 'put the right user and password in the URL (redis://user:password@host:port), from the environment',
        });
      throw new TidemarkError('transient', `Redis does not answer: ${msg}`, { cause: e });
    }
  }

  async readTokens(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys.tokens)));
  }

  async advanceTokens(tokens: ReadonlyMap<string, string>, lease?: Lease): Promise<boolean> {
    if (tokens.size === 0) return true;
    const argv: string[] = [lease?.owner ?? '', lease ? String(lease.fence) : ''];
    for (const [channel, token] of tokens) argv.push(channel, token, tokenSortKey(token));
    const r = await this.redis.advanceTokens(
      this.keys.tokens,
      this.keys.tokenOrder,
      lease ? this.keys.lease(lease.name) : '',
      ...argv,
    );
    return r === 1;
  }

  async resetTokens(tokens: ReadonlyMap<string, string>): Promise<void> {
    const m = this.redis.multi().del(this.keys.tokens, this.keys.tokenOrder);
    for (const [channel, token] of tokens) {
      m.hset(this.keys.tokens, channel, token).hset(this.keys.tokenOrder, channel, tokenSortKey(token));
    }
    await m.exec();
  }

  async putWatermark(w: Watermark): Promise<void> {
    await this.redis.set(this.keys.watermark, encodeWatermark(w));
  }

  async getWatermark(): Promise<Watermark | null> {
    const text = await this.redis.get(this.keys.watermark);
    return text === null ? null : decodeWatermark(text);
  }

  async get(key: string): Promise<string | null> {
    return this.redis.hget(this.keys.state, key);
  }

  async set(key: string, value: string): Promise<void> {
    await this.redis.hset(this.keys.state, key, value);
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<Lease | null> {
    const fence = await this.redis.acquireLease(
      this.keys.lease(name),
      this.keys.fence(name),
      owner,
      String(ttlMs),
    );
    return fence === null ? null : { name, owner, fence: Number(fence) };
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<boolean> {
    return (
      (await this.redis.renewLease(
        this.keys.lease(lease.name),
        lease.owner,
        String(lease.fence),
        String(ttlMs),
      )) === 1
    );
  }

  async releaseLease(lease: Lease): Promise<void> {
    await this.redis.releaseLease(this.keys.lease(lease.name), lease.owner, String(lease.fence));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
