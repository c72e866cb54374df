/** A table's identity in a catalog: namespace (one level, the source schema) and name. */
export interface TableIdent {
  readonly namespace: string;
  readonly name: string;
}

export function identText(t: TableIdent): string {
  return `${t.namespace}.${t.name}`;
}

/** One table's compare-and-set: move the metadata pointer from `expected` to `next`. */
export interface MetadataSwap {
  readonly table: TableIdent;
  /** null = the table must not exist yet (create). */
  readonly expected: string | null;
  readonly next: string;
}

/**
 * Outcome of a catalog commit. `conflict`: another writer moved a pointer; nothing landed
 * (certainly not committed). `unknown`: the outcome is not known (connection lost during
 * COMMIT); the caller must reload and look for its commit id before anything else.
 */
export type SwapOutcome =
  | { readonly kind: 'committed' }
  | { readonly kind: 'conflict'; readonly table: TableIdent }
  | { readonly kind: 'unknown'; readonly cause: unknown };

/**
 * A catalog of Iceberg tables: where each table's current metadata file is. Contract:
 * `swap` applies all swaps atomically (all tables move or none), each conditional on its
 * expected pointer; it resolves `committed` only once the catalog made them durable.
 */
export interface Catalog {
  readonly name: string;
  ensureNamespace(namespace: string): Promise<void>;
  /** The current metadata location, or null when the table does not exist. */
  currentLocation(table: TableIdent): Promise<string | null>;
  swap(swaps: readonly MetadataSwap[]): Promise<SwapOutcome>;
  dropTable(table: TableIdent): Promise<void>;
  /** Every table of this catalog, optionally of one namespace. */
  listTables(namespace?: string): Promise<TableIdent[]>;
  close(): Promise<void>;
}
