import type { Kafka, KafkaMessage } from 'kafkajs';

export interface ReadMessage {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/**
 * Reads every message of the given topics from `from` (default: the start) up to each
 * partition's end as it was when the call began, with a throw-away consumer group that commits
 * nothing. For bounded reads (schemas, inspection, tests), not for streaming.
 */
export async function readToEnd(
  kafka: Kafka,
  topics: readonly string[],
  onMessage: (m: ReadMessage) => void | Promise<void>,
  from: ReadonlyMap<string, number> = new Map(),
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<string, number>(); // "topic/partition" -> end offset to reach
  const starts: Array<{ topic: string; partition: number; offset: string }> = [];
  try {
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const start = Math.max(Number(p.low), from.get(`${topic}/${p.partition}`) ?? 0);
        if (Number(p.high) > start) {
          remaining.set(`${topic}/${p.partition}`, Number(p.high));
          starts.push({ topic, partition: p.partition, offset: String(start) });
        }
      }
    }
  } finally {
    await admin.disconnect();
  }
  if (remaining.size === 0) return;
  const consumer = kafka.consumer({
    groupId: `tidemark-reader-${process.pid}-${Date.now()}-${Math.random()}`,
    maxWaitTimeInMs: 200,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...new Set(starts.map((s) => s.topic))], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const key = `${topic}/${partition}`;
            const end = remaining.get(key);
            if (end === undefined) return;
            if (Number(message.offset) < end) await onMessage({ topic, partition, message });
            if (Number(message.offset) + 1 >= end) {
              remaining.delete(key);
              if (remaining.size === 0) resolve();
            }
          },
        })
        .catch(reject);
      for (const s of starts) consumer.seek(s);
    });
  } finally {
    await consumer.disconnect();
  }
}
