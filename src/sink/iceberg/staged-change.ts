import type { TableIdent } from './catalog';
import type { ManifestFileRecord } from './manifests';

/** One index change to apply once the snapshot that carries it is committed. */
export type IndexOp =
  | { readonly key: string; readonly file: string; readonly pos: number }
  | { readonly key: string; readonly file: null };

/**
 * A table's change written to storage but not committed: data and delete files and their
 * manifests (entries carry the snapshot id and inherit the sequence number, so the same
 * manifests serve every commit attempt). Until a commit lands, `files` are garbage the caller may delete.
 */
export interface StagedChange {
  readonly table: TableIdent;
  /** The id of the snapshot that will carry the change (fixed at stage time, kept across commit attempts). */
  readonly snapshotId: number;
  /** The metadata location the change was computed against. */
  readonly baseLocation: string;
  /**
   * The schema its files were written with: one a commit's base must hold (a schema change staged
   * inside a round in parts is in no committed base until the round commits; see TableState.pendingBase).
   */
  readonly schemaId?: number;
  readonly truncate: boolean;
  /** Manifest list entries of the new manifests, without snapshot id and sequence number yet. */
  readonly manifests: readonly Omit<
    ManifestFileRecord,
    'added_snapshot_id' | 'sequence_number' | 'min_sequence_number'
  >[];
  readonly indexOps: readonly IndexOp[];
  readonly added: {
    dataFiles: number;
    records: number;
    deleteFiles: number;
    positionDeletes: number;
    bytes: number;
  };
  /** Partition tuple of each new data file. */
  readonly filePartitions: readonly (readonly [string, Record<string, unknown>])[];
  /** Every location written for this change (data, delete and manifest files). */
  readonly files: readonly string[];
}
