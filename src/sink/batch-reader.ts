import type { EachBatchPayload } from 'kafkajs';
import type { ChangeEvent } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import { comparePositions, type Position } from '../core/position';
import { decodeEnvelope, NEW_KEY_HEADER } from '../log/envelope';
import type { SchemaRegistry } from '../log/schema-registry';
import type { ChannelBuffer } from './channel-buffer';
import type { DeadLetters } from './dead-letters';

export interface BatchReaderContext {
  readonly registry: SchemaRegistry;
  readonly deadLetters: DeadLetters;
  /** The table ("schema.table") a data topic carries, for the dead letters' labels. */
  tableOfTopic(topic: string): string;
}

/**
 * How reading a fetched batch ended: every message read, cut short by a rebalance or a seek
 * (the rest is fetched again), or the worker must stop: a dead letter that could not be sent, or
 * changes Kafka deleted before they were read.
 */
export type BatchRead = 'read' | 'interrupted' | { readonly fatal: unknown };

/** Messages decoded between two yields to the event loop. */
const YIELD_EVERY_MESSAGES = 2_000;

/**
 * Decodes one fetched batch of a channel into its buffer. A change at or below the channel's
 * floor (the position every sink holds) is a replay: it only moves the read offset. A message
 * that cannot be decoded goes to the dead letters, and reading goes on.
 */
export async function readBatch(
  { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
  buffer: ChannelBuffer,
  floorPos: Position | null,
  ctx: BatchReaderContext,
): Promise<BatchRead> {
  const lookup = (s: string, t: string, v: number) => ctx.registry.get(s, t, v);
  let sinceYield = 0;
  // Offsets are resolved (kafkajs: where the next fetch starts) before every await and at the
  // end, not per message, and the batch is checked for a rebalance or seek (isRunning, isStale)
  // only after an await: nothing else runs between them, and both calls cost per message.
  let handled: string | null = null;
  const resolveHandled = () => {
    if (handled !== null) resolveOffset(handled);
    handled = null;
  };
  let awaited = true;
  for (const m of batch.messages) {
    if (awaited) {
      if (!isRunning() || isStale()) {
        resolveHandled();
        return 'interrupted';
      }
      awaited = false;
    }
    // A fetch holds up to megabytes of changes: decoding them in one go would starve the event
    // loop, and with it the group heartbeat and the committer lease renewal (both then expire).
    if (++sinceYield >= YIELD_EVERY_MESSAGES) {
      sinceYield = 0;
      resolveHandled();
      await new Promise((r) => setImmediate(r));
      await heartbeat();
      if (!isRunning() || isStale()) return 'interrupted';
    }
    const offset = Number(m.offset);
    if (buffer.contiguous && offset > buffer.readOffset + 1) {
      resolveHandled();
      return { fatal: logGap(batch.topic, batch.partition, buffer.readOffset + 1, offset, ctx) };
    }
    if (!m.value) {
      buffer.readOffset = Math.max(buffer.readOffset, offset);
      handled = m.offset;
      continue;
    }
    try {
      let event: ChangeEvent;
      const newKey = headerValue(m.headers?.[NEW_KEY_HEADER]);
      try {
        event = decodeEnvelope(m.value, lookup, newKey);
      } catch (e) {
        if (!(e instanceof TidemarkError) || !/unknown schema version/.test(e.message)) throw e;
        resolveHandled();
        awaited = true;
        await ctx.registry.refresh();
        event = decodeEnvelope(m.value, lookup, newKey);
      }
      if (floorPos && comparePositions(event.position, floorPos) <= 0) {
        buffer.readOffset = Math.max(buffer.readOffset, offset); // a replay every sink already holds
        buffer.sawLsn(event.position.lsn, event.snapshot);
      } else {
        buffer.push({ event, offset, bytes: m.value.length * 3 });
      }
    } catch (e) {
      resolveHandled();
      awaited = true;
      try {
        await ctx.deadLetters.send({
          topic: batch.topic,
          partition: batch.partition,
          message: m,
          error: e,
          table: ctx.tableOfTopic(batch.topic),
        });
      } catch (stop) {
        return { fatal: stop };
      }
      buffer.readOffset = Math.max(buffer.readOffset, offset);
    }
    handled = m.offset;
  }
  resolveHandled();
  return 'read';
}

/**
 * Changes [from, to) of a channel are gone from the log: the sinks cannot be made exact by
 * reading on, so nothing after them is committed.
 */
function logGap(
  topic: string,
  partition: number,
  from: number,
  to: number,
  ctx: BatchReaderContext,
): TidemarkError {
  const table = ctx.tableOfTopic(topic);
  return new TidemarkError(
    'corrupt_state',
    `Kafka no longer holds offsets ${from} to ${to - 1} of ${topic} partition ${partition} (table ${table}): they were deleted (retention) before the sinks committed them, so the sinks would miss those changes; nothing after them is committed`,
    {
      fix: `give the table topics a retention that outlasts any sink outage (retention.ms, retention.bytes); to go on, move the sinks past the hole and copy the table again: see "Kafka deleted changes the sinks had not read" in docs/OPERATIONS.md`,
      table,
    },
  );
}

/** A header as kafkajs gives it (repeated headers as an array: the first one counts). */
function headerValue(h: Buffer | string | (Buffer | string)[] | undefined): Buffer | string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
