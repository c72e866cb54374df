/** kafkajs marks the protocol errors worth retrying (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION…). */
export function isRetriableKafkaError(e: unknown): boolean {
  type KafkaError = { retriable?: boolean; originalError?: unknown; cause?: unknown };
  for (let x = e as KafkaError | undefined, i = 0; x && i < 5; i++) {
    if (x.retriable === true) return true;
    x = (x.originalError ?? x.cause) as KafkaError | undefined;
  }
  return false;
}

/**
 * Runs `fn` again while it fails with an error Kafka says to retry, for up to `forMs`: topics
 * just created answer "not the leader" until their leaders are elected.
 */
export async function retryRetriableKafka<T>(fn: () => Promise<T>, forMs = 60_000): Promise<T> {
  const until = Date.now() + forMs;
  for (let delay = 100; ; delay = Math.min(2 * delay, 2000)) {
    try {
      return await fn();
    } catch (e) {
      if (!isRetriableKafkaError(e) || Date.now() + delay > until) throw e;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
