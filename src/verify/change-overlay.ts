import type { ChangeEvent, Row } from '../core/change-event';
import { encodeKey } from '../core/row-key';

interface Entry {
  /** The key's image after the last change; for a deleted key, the image it had before. */
  row: Row | null;
  deleted: boolean;
  /** Columns the changes did not carry (unchanged TOAST): their value is the snapshot row's. */
  pending: Set<string>;
  /** Which snapshot row holds the pending values (the key before any key change). */
  baseKey: Row | null;
}

/**
 * One table's changes between the source snapshot and the cut, folded per key: laid over the
 * snapshot's rows it gives the table as of the cut. A change that left TOASTed columns out
 * takes them from the key's earlier image in the window or, failing that, from the snapshot
 * row (`pendingLookups` lists those, `fill` puts the values in).
 */
export class ChangeOverlay {
  private readonly entries = new Map<string, Entry>();
  /** A TRUNCATE in the window: no snapshot row survives. */
  truncated = false;

  constructor(private readonly key: readonly string[]) {}

  apply(ev: ChangeEvent): void {
    if (ev.op === 't') {
      this.truncated = true;
      this.entries.clear();
      return;
    }
    if (ev.op === 'd') {
      const k = encodeKey(ev.before!, this.key);
      const prev = this.entries.get(k);
      this.entries.set(k, {
        row: prev?.row ?? null,
        deleted: true,
        pending: prev?.pending ?? new Set(),
        baseKey: prev ? prev.baseKey : this.keyOf(ev.before!),
      });
      return;
    }
    const after = ev.after!;
    const k = encodeKey(after, this.key);
    const row: Row = { ...after };
    const pending = new Set<string>();
    let baseKey: Row | null = null;
    if (ev.unchanged.length > 0) {
      // An insert made by a key change names the old key in `before`: its row has the values.
      const from = ev.before ? encodeKey(ev.before, this.key) : k;
      const base = this.entries.get(from);
      for (const c of ev.unchanged) {
        if (base?.row && c in base.row) row[c] = base.row[c]!;
        else pending.add(c);
      }
      if (base) for (const c of base.pending) if (ev.unchanged.includes(c)) pending.add(c);
      if (pending.size > 0) baseKey = base ? base.baseKey : this.keyOf(ev.before ?? after);
    }
    this.entries.set(k, { row, deleted: false, pending, baseKey });
  }

  private keyOf(r: Row): Row {
    return Object.fromEntries(this.key.map((c) => [c, r[c] ?? null]));
  }

  /** True when the snapshot row of this encoded key is replaced (or removed) by the window. */
  covers(encodedKey: string): boolean {
    return this.truncated || this.entries.has(encodedKey);
  }

  /** Snapshot rows whose values the overlay still needs, by their key. */
  pendingLookups(): Row[] {
    const out = new Map<string, Row>();
    for (const e of this.entries.values())
      if (e.pending.size > 0 && e.baseKey) out.set(encodeKey(e.baseKey, this.key), e.baseKey);
    return [...out.values()];
  }

  /** Gives the pending columns their snapshot values (`rows` by encoded key). */
  fill(rows: ReadonlyMap<string, Row>): void {
    for (const e of this.entries.values()) {
      if (e.pending.size === 0 || !e.baseKey || !e.row) continue;
      const base = rows.get(encodeKey(e.baseKey, this.key));
      for (const c of e.pending) e.row[c] = base?.[c] ?? null;
      e.pending.clear();
    }
  }

  /** The rows the window leaves in place of the snapshot's (deleted keys excluded). */
  *rows(): Generator<Row> {
    for (const e of this.entries.values()) if (!e.deleted && e.row) yield e.row;
  }

  get size(): number {
    return this.entries.size;
  }
}
