import { randomUUID } from 'node:crypto';
import { RedisOffsetStore } from '../../../src/offsets/redis-offset-store';

describe('RedisOffsetStore against a real Redis', () => {
  const pipeline = `t${randomUUID().slice(0, 8)}`;
  const store = new RedisOffsetStore(process.env.TIDEMARK_REDIS_URL!, pipeline);
  afterAll(() => store.close());

  it('moves tokens forward only (the Lua script compares positions, not strings)', async () => {
    await store.advanceTokens(new Map([['orders/0', '0/A#9@10']]));
    // "0/A#10" sorts before "0/A#9" as text; it is nevertheless the later position.
    await store.advanceTokens(
      new Map([
        ['orders/0', '0/A#10@11'],
        ['orders/1', '0/9#0@1'],
      ]),
    );
    await store.advanceTokens(new Map([['orders/0', '0/A#9@10']]));
    expect(await store.readTokens()).toEqual(
      new Map([
        ['orders/0', '0/A#10@11'],
        ['orders/1', '0/9#0@1'],
      ]),
    );
  });

  it('gives one lease at a time and fences the old holder', async () => {
    const a = await store.acquireLease('committer', 'worker-a', 50);
    expect(a).not.toBeNull();
    expect(await store.acquireLease('committer', 'worker-b', 10_000)).toBeNull();
    await new Promise((r) => setTimeout(r, 120)); // let the 50 ms lease expire in Redis
    const b = await store.acquireLease('committer', 'worker-b', 10_000);
    expect(b!.fence).toBeGreaterThan(a!.fence);
    expect(await store.advanceTokens(new Map([['orders/0', 'F/0#0@99']]), a!)).toBe(false);
    expect((await store.readTokens()).get('orders/0')).toBe('0/A#10@11');
    expect(await store.renewLease(a!, 1000)).toBe(false);
    expect(await store.advanceTokens(new Map([['orders/0', 'F/0#0@99']]), b!)).toBe(true);
    await store.releaseLease(b!);
    expect(await store.acquireLease('committer', 'worker-c', 1000)).not.toBeNull();
  });

  it('keeps source state and the last watermark', async () => {
    await store.set('snapshot:public.orders', 'done');
    expect(await store.get('snapshot:public.orders')).toBe('done');
    await store.putWatermark({ lsn: 0x16n, offsets: { 'shop.public.orders': { 0: 4 } }, publishedAtMs: 5 });
    expect(await store.getWatermark()).toEqual({
      lsn: 0x16n,
      offsets: { 'shop.public.orders': { 0: 4 } },
      publishedAtMs: 5,
    });
  });
});
