import type { TableRef } from '../../core/table-schema';
import type { TableMetadata } from './table-metadata';

/** A table's identity in a catalog: namespace (one level, the source schema) and name. */
export interface TableIdent {
  readonly namespace: string;
  readonly name: string;
}

/**
 * The Iceberg tables source tables are mirrored into: in `namespace` (sinks.iceberg.namespace)
 * when one is configured, else in a namespace named as their schema; under the table's name.
 */
export function identIn(namespace: string | undefined): (t: TableRef) => TableIdent {
  return (t) => ({ namespace: namespace ?? t.schema, name: t.table });
}

/** The Iceberg table a source table is mirrored into by default: its schema is the namespace. */
export const identOf = identIn(undefined);

export function identText(t: TableIdent): string {
  return `${t.namespace}.${t.name}`;
}

/**
 * One table's compare-and-set: move the metadata pointer from `expected` to `next`. A catalog
 * that writes metadata files itself (`writesMetadata`, the REST catalog) derives its change from
 * the metadata objects instead: `expectedMetadata` is the table as the writer read it at
 * `expected`, `nextMetadata` the table it wants; `next` is then not read (on a create it is the
 * file the writer wrote, which the catalog registers).
 */
export interface MetadataSwap {
  readonly table: TableIdent;
  /** null = the table must not exist yet (create). */
  readonly expected: string | null;
  readonly next: string;
  readonly expectedMetadata?: TableMetadata | null;
  readonly nextMetadata?: TableMetadata;
}

/** A table as a catalog holds it right after a commit: its metadata file and what it says. */
export interface CommittedTable {
  readonly location: string;
  readonly metadata: TableMetadata;
}

/**
 * Outcome of a catalog commit. `conflict`: another writer moved a pointer; nothing landed
 * (certainly not committed). `unknown`: the outcome is not known (connection lost during
 * COMMIT); the caller must reload and look for its commit id before anything else.
 */
export type SwapOutcome =
  | {
      readonly kind: 'committed';
      /**
       * Per table (identText), the catalog's current metadata right after the commit, when the
       * catalog wrote it (REST): its file is not `next`. Another writer may have committed after
       * this one already; the caller compares the main snapshot with its own.
       */
      readonly tables?: ReadonlyMap<string, CommittedTable>;
    }
  | { readonly kind: 'conflict'; readonly table: TableIdent }
  | { readonly kind: 'unknown'; readonly cause: unknown };

/**
 * A catalog of Iceberg tables: where each table's current metadata file is. Contract:
 * `swap` applies all swaps atomically (all tables move or none), each conditional on its
 * expected pointer; it resolves `committed` only once the catalog made them durable.
 */
export interface Catalog {
  readonly name: string;
  /**
   * True when the catalog writes the metadata files itself from the swaps' metadata objects
   * (REST): the writer then writes none but a new table's first, and reads the locations a
   * committed swap reports.
   */
  readonly writesMetadata?: boolean;
  ensureNamespace(namespace: string): Promise<void>;
  /** The current metadata location, or null when the table does not exist. */
  currentLocation(table: TableIdent): Promise<string | null>;
  swap(swaps: readonly MetadataSwap[]): Promise<SwapOutcome>;
  dropTable(table: TableIdent): Promise<void>;
  /** Every table of this catalog, optionally of one namespace. */
  listTables(namespace?: string): Promise<TableIdent[]>;
  close(): Promise<void>;
}
