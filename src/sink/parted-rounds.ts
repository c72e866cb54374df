import type { ChangeEvent } from '../core/change-event';
import { encodeKey } from '../core/row-key';
import type { TableSchema } from '../core/table-schema';
import { tableKey } from '../core/table-schema';
import type { ChannelTake } from './round-builder';

/**
 * A parted round was given up in every sink (nothing of it is visible): the caller must read its
 * channels again from the sinks' tokens (the parts' changes left the buffers). `holdWhole`: the
 * round cannot be written in parts at all (see partRefusal): on the re-read, hold it whole.
 */
export class PartedRoundVoid extends Error {
  constructor(
    message: string,
    /** The commit LSN of the transaction the round was opened for. */
    readonly lsn: bigint,
    readonly holdWhole: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PartedRoundVoid';
  }
}

/**
 * A sink cannot take a schema change inside a round in parts (PartedRound.evolve): the round is
 * given up and its transaction held whole instead.
 */
export class PartRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PartRefused';
  }
}

/**
 * Why these changes cannot be one part of a parted round, or null. Parts are applied one after
 * the other, and within a part in position order; that is the source's order only for changes
 * of one key (a key stays on one channel, a channel is in order). So after the first part a part
 * holds no key change with unchanged (TOAST) columns (they are filled from the old key's row,
 * which an earlier part may have deleted already). A schema change is taken into the round by
 * the sinks (PartedRound.evolve) before the part that needs it. A truncate reaches every key, but
 * it is on every channel of its table: PartedCommit applies its first copy and passes over what
 * it erased (afterTruncates).
 */
export function partRefusal(
  takes: readonly ChannelTake[],
  first: boolean,
  schemaOf: (ev: ChangeEvent) => TableSchema,
): string | null {
  if (first) return null;
  for (const t of takes) {
    for (const { event } of t.changes) {
      if (event.op === 'c' && event.unchanged.length > 0 && event.before && event.after) {
        const keys = schemaOf(event).primaryKey;
        if (encodeKey(event.before, keys) !== encodeKey(event.after, keys))
          return `a key change of ${tableKey(event.table)} with unchanged (TOAST) columns`;
      }
    }
  }
  return null;
}
