import Module from 'node:module';

/**
 * kafkajs groups each batch's messages per partition with `[...current, message]` inside a
 * reduce: quadratic in the batch size (8% of the source's CPU with 20k-message batches, and as
 * much again in garbage). kafkajs is unmaintained, so its module is replaced by a linear one of
 * the same contract, placed in the require cache before kafkajs loads it. Imported first by the
 * modules that load kafkajs; if kafkajs was loaded earlier the original stays (only slower).
 */
interface GroupArgs {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
}

function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: GroupArgs) {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const list = result[partition];
    if (list) list.push(message);
    else result[partition] = [message];
  }
  return result;
}

try {
  const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition');
  if (!require.cache[path]) {
    const m = new Module(path);
    m.filename = path;
    m.loaded = true;
    m.exports = groupMessagesPerPartition;
    require.cache[path] = m;
  }
} catch {
  // kafkajs laid out differently: keep its own implementation
}
