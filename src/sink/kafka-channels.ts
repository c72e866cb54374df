import type { Watermark } from '../log/watermark';

/**
 * A Kafka sink's channel is one partition of a table topic, named "topic/partition": the name its
 * offset token is stored under in every sink and in the offset store.
 */
export const channelOf = (topic: string, partition: number): string => `${topic}/${partition}`;
export const topicOfChannel = (ch: string): string => ch.slice(0, ch.lastIndexOf('/'));
export const partitionOfChannel = (ch: string): number => Number(ch.slice(ch.lastIndexOf('/') + 1));

/** Channels as kafkajs's pause/resume takes them: per topic, its partitions. */
export function asTopicPartitions(
  channels: readonly { readonly channel: string }[],
): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const { channel } of channels) {
    const topic = topicOfChannel(channel);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), partitionOfChannel(channel)]);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/**
 * The buffers are full before the cut reached a transaction: the channels that hold the cut back
 * (not read up to the watermark's offsets; a paused table's are not in cuts) read on, those with
 * less than their share of the bound first (the others filled the buffers before their fetches
 * came); all of them when the transaction is held whole (it needs more than the bound anyway).
 */
export function channelsToReadOn<
  B extends { channel: string; readOffset: number; size: number; bytes: number },
>(
  buffers: readonly B[],
  w: Watermark,
  held: ReadonlySet<string>,
  bound: { rows: number; bytes: number },
  whole: boolean,
): B[] {
  const share = Math.max(1, buffers.length);
  const lagging = buffers.filter((b) => {
    const topic = topicOfChannel(b.channel);
    const needed = w.offsets[topic]?.[partitionOfChannel(b.channel)];
    return !held.has(topic) && needed !== undefined && b.readOffset < needed;
  });
  const starved = lagging.filter((b) => b.size * share < bound.rows && b.bytes * share < bound.bytes);
  return whole || starved.length === 0 ? lagging : starved;
}
