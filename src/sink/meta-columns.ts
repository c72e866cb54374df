/**
 * tidemark's metadata columns in the target tables, one set of names for every sink (the
 * warehouse and the Iceberg tables hold the same columns with the same meaning, per table mode):
 * - append: `_tidemark_op` (c, r, u, d, t), `_tidemark_lsn` (the change's commit LSN),
 *   `_tidemark_seq` (its index in the transaction), `_tidemark_commit_time` (source commit time);
 * - soft-delete: `_tidemark_deleted_at` (commit time of the delete or truncate; null = live).
 * `_tidemark_unchanged` is a warehouse staging column; in an Iceberg append table it names the
 * TOAST-unchanged columns whose value was not sent (see iceberg/append-rows.ts).
 * The source's own columns never start with the `_tidemark_` prefix by convention.
 */
export const META = {
  op: '_tidemark_op',
  lsn: '_tidemark_lsn',
  seq: '_tidemark_seq',
  commitTime: '_tidemark_commit_time',
  deletedAt: '_tidemark_deleted_at',
  unchanged: '_tidemark_unchanged',
  idx: '_tidemark_idx',
} as const;
