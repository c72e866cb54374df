/**
 * Which files a compaction rewrites (compaction.ts compactTable does the writing). Pure, so
 * that the policy is tested apart from the files.
 */

/**
 * A data file this share of whose rows is deleted is rewritten by a routine (`small`) compaction;
 * below it the file stays and only its position deletes are merged. Iceberg's own rewrite action
 * defaults its delete-ratio-threshold to the same 0.3: rewriting a big file for a few deleted rows
 * would cost the whole file each time.
 */
export const DELETED_RATIO = 0.3;

export interface DataFileFacts {
  readonly path: string;
  readonly rows: number;
  /** Rows of it the table's position deletes remove. */
  readonly deleted: number;
}

export interface RewritePolicy {
  /** `all`: every live row into new files; `small`: small files and those with many deleted rows. */
  readonly select: 'all' | 'small';
  /** Rows per new file. */
  readonly perFile: number;
  /**
   * At most this many new files' worth of live rows in one pass (smallest files first), so an
   * automatic pass between rounds holds the commits up for a bounded time; none when absent.
   * Files whose rows are all deleted cost no reading and are always taken.
   */
  readonly maxNewFiles?: number;
}

/** The data files to rewrite, by path. A single file with nothing deleted is never worth it. */
export function dataFilesToRewrite(files: readonly DataFileFacts[], p: RewritePolicy): Set<string> {
  const small = Math.max(1, Math.floor(p.perFile / 2));
  const out = new Set<string>();
  const candidates: DataFileFacts[] = [];
  for (const f of files) {
    if (f.deleted >= f.rows) out.add(f.path);
    else if (p.select === 'all' || f.rows < small || f.deleted / f.rows >= DELETED_RATIO) candidates.push(f);
  }
  const live = (f: DataFileFacts) => f.rows - f.deleted;
  candidates.sort((a, b) => live(a) - live(b));
  const budget = p.maxNewFiles === undefined ? Number.POSITIVE_INFINITY : p.maxNewFiles * p.perFile;
  let used = 0;
  let taken = 0;
  for (const f of candidates) {
    // The first one goes even past the budget: a file bigger than it would never be compacted.
    if (taken > 0 && used + live(f) > budget) break;
    out.add(f.path);
    used += live(f);
    taken++;
  }
  if (out.size === 1) {
    const only = files.find((f) => out.has(f.path))!;
    if (only.deleted === 0) out.clear();
  }
  return out;
}

export interface DeleteFileFacts {
  readonly path: string;
  /** Its partition (tupleKey of its partition tuple): position deletes are merged per partition. */
  readonly partition: string;
  /** The data files it holds positions of. */
  readonly targets: ReadonlySet<string>;
}

/**
 * The position-delete files to drop: in each partition, all of them once there is more than one,
 * or once one points at a data file that is rewritten or gone. What they hold for the data files
 * that stay is written again as one file per partition; a partition's lone delete file pointing
 * only at files that stay is kept as it is (a pass then has nothing to do there).
 */
export function deleteFilesToDrop(
  deleteFiles: readonly DeleteFileFacts[],
  rewrite: ReadonlySet<string>,
  liveData: ReadonlySet<string>,
): Set<string> {
  const byPartition = new Map<string, DeleteFileFacts[]>();
  for (const d of deleteFiles) {
    const list = byPartition.get(d.partition);
    if (list) list.push(d);
    else byPartition.set(d.partition, [d]);
  }
  const out = new Set<string>();
  for (const list of byPartition.values()) {
    const stale = list.some((d) => [...d.targets].some((t) => rewrite.has(t) || !liveData.has(t)));
    if (list.length > 1 || stale) for (const d of list) out.add(d.path);
  }
  return out;
}
