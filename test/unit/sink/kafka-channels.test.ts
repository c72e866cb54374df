import { asTopicPartitions, channelOf, channelsToReadOn } from '../../../src/sink/kafka-channels';

const buffer = (channel: string, readOffset: number, size: number) => ({
  channel,
  readOffset,
  size,
  bytes: size * 100,
});

describe('Kafka sink channels', () => {
  it('names a channel by topic and partition, and groups channels per topic for pause and resume', () => {
    expect(channelOf('shop.public.items', 3)).toBe('shop.public.items/3');
    expect(asTopicPartitions([{ channel: 'a.b/0' }, { channel: 'x/1' }, { channel: 'a.b/2' }])).toEqual([
      { topic: 'a.b', partitions: [0, 2] },
      { topic: 'x', partitions: [1] },
    ]);
  });

  it('lets read on the channels behind the watermark, those under their share of the bound first', () => {
    const w = { lsn: 0x10n, publishedAtMs: 0, offsets: { t: { 0: 50, 1: 50, 2: 50 }, p: { 0: 9 } } };
    const bound = { rows: 300, bytes: 1 << 20 };
    const full = buffer('t/0', 10, 200); // behind, holds more than its share (300 / 4)
    const starved = buffer('t/1', 10, 5); // behind, under its share
    const done = buffer('t/2', 50, 5); // read up to the watermark's offset
    const paused = buffer('p/0', 0, 0); // a paused table's channel
    const all = [full, starved, done, paused];
    expect(channelsToReadOn(all, w, new Set(['p']), bound, false)).toEqual([starved]);
    // none starved: every channel behind; a transaction held whole: every channel behind too
    expect(channelsToReadOn([full, done], w, new Set(), bound, false)).toEqual([full]);
    expect(channelsToReadOn(all, w, new Set(['p']), bound, true)).toEqual([full, starved]);
  });
});
