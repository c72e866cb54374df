import type { ChangeEvent } from '../core/change-event';
import { tableKey } from '../core/table-schema';
import type { ChannelTake } from './round-builder';

/**
 * A parted round was given up in every sink (nothing of it is visible): the caller must read its
 * channels again from the sinks' tokens (the parts' changes left the buffers). `holdWhole`: the
 * round cannot be written in parts at all (a schema change a sink cannot take into it, or
 * unfillableKeyChange): on the re-read, hold it whole.
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
 * An update that changes the key is two changes at consecutive sequence numbers: a `d` of the old
 * key, marked with the new one (ChangeEvent.newKey), and a `c` of the new key whose `before` is
 * the old key. The `c` takes the values of its TOAST-unchanged columns from the old key's row, and
 * the two halves can sit on different channels (each goes by its own key). A part holds both or
 * neither: the old key's row must hold every earlier change of that key (they come before the `d`
 * on its channel) and must not have been deleted yet (by the `d`, in an earlier part).
 */
function partnerOf(ev: ChangeEvent): string | null {
  if (ev.op === 'd' && ev.newKey) return positionText(ev.position.lsn, ev.position.seq + 1);
  if (ev.op === 'c' && ev.before) return positionText(ev.position.lsn, ev.position.seq - 1);
  return null;
}

function positionText(lsn: bigint, seq: number): string {
  return `${lsn}#${seq}`;
}

/**
 * Splits takes into what a part may write and, per channel, the tail that waits in its buffer for
 * a later part: a channel's take ends before the first key-change half whose partner the part
 * does not hold (its channel has not read that far yet, or ends before it for the same reason).
 * No deadlock: the oldest half held back waits for a partner its channel has not read yet (not
 * for one held back in turn), so that channel reading on lets a later part, or the commit, take
 * both.
 */
export function keepKeyChangesWhole(takes: readonly ChannelTake[]): {
  part: ChannelTake[];
  rest: ChannelTake[];
} {
  // The halves in each take, in order: key changes are rare, so the fixed point below runs on them only.
  const halves = takes.map((t) => {
    const out: { at: number; self: string; partner: string }[] = [];
    t.changes.forEach(({ event }, at) => {
      const partner = partnerOf(event);
      if (partner) out.push({ at, self: positionText(event.position.lsn, event.position.seq), partner });
    });
    return out;
  });
  const ends = takes.map((t) => t.changes.length);
  for (let trimmed = true; trimmed; ) {
    trimmed = false;
    const held = new Set<string>();
    halves.forEach((hs, i) => {
      for (const h of hs) if (h.at < ends[i]!) held.add(h.self);
    });
    halves.forEach((hs, i) => {
      const lone = hs.find((h) => h.at < ends[i]! && !held.has(h.partner));
      if (lone) {
        ends[i] = lone.at;
        trimmed = true;
      }
    });
  }
  return {
    part: takes.map((t, i) => ({ channel: t.channel, changes: t.changes.slice(0, ends[i]) })),
    rest: takes
      .map((t, i) => ({ channel: t.channel, changes: t.changes.slice(ends[i]) }))
      .filter((t) => t.changes.length > 0),
  };
}

/**
 * At the commit every change of the round is read, so both halves of every key change are there,
 * but for a `d` that an earlier part wrote without its mark (a log written before tidemark marked
 * key changes) or that went to the dead letters: then a `c` that must take TOAST-unchanged values
 * from the old key's row cannot be written in parts. Its reason, or null.
 */
export function unfillableKeyChange(takes: readonly ChannelTake[]): string | null {
  const fills = takes.flatMap((t) =>
    t.changes.filter(({ event }) => event.op === 'c' && event.before && event.unchanged.length > 0),
  );
  if (fills.length === 0) return null;
  const deletes = new Set<string>();
  for (const t of takes)
    for (const { event } of t.changes)
      if (event.op === 'd') deletes.add(positionText(event.position.lsn, event.position.seq));
  for (const { event } of fills)
    if (!deletes.has(partnerOf(event)!))
      return `a key change of ${tableKey(event.table)} with unchanged (TOAST) columns whose delete is not in the last part (an earlier one wrote it without its new-key mark, or it went to the dead letters)`;
  return null;
}
