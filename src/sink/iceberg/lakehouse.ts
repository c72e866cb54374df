import { randomUUID } from 'node:crypto';
import type { ChangeEvent, Row } from '../../core/change-event';
import { TidemarkError } from '../../core/errors';
import { encodeKey } from '../../core/row-key';
import { type TableRef, type TableSchema, tableKey } from '../../core/table-schema';
import { type CollapsedBatch, collapseByKey } from '../collapse';
import { appendRows } from './append-rows';
import type { Catalog, TableIdent } from './catalog';
import { type TableIdent as Ident, identIn, identText } from './catalog';
import { type CommitOptions, type CommitResult, commitStaged } from './catalog-commit';
import { type CompactOptions, compactTable } from './compaction';
import { withDroppedMark } from './dropped-mark';
import type { FileIO } from './file-io';
import { rowsPerFileOf } from './file-sizing';
import { initialSchema } from './iceberg-types';
import { swapMetadata } from './metadata-swap';
import type { PartitionConfig } from './partitioning';
import { buildSpec } from './partitioning';
import { evolveInRound, evolveTable, rebuildTable, type SchemaChangeHost } from './schema-change-commit';
import { checkSchema } from './schema-check';
import { ATTNUMS_PROPERTY, attnumProperty } from './schema-evolution';
import { COMMIT_ID_PROPERTY } from './snapshot-builder';
import { buildOnLive } from './snapshot-chain';
import { softDeleteBatch } from './soft-delete';
import type { StagedChange } from './staged-change';
import { storedRows } from './stored-rows';
import { commitMetadata, expireSnapshots, removeOrphanFiles } from './table-maintenance';
import type { TableMetadata } from './table-metadata';
import { currentSchema, currentSnapshot, loggedAfter, newTableMetadata } from './table-metadata';
import {
  checkBuiltMode,
  checkModeColumns,
  MODE_PROPERTY,
  type TableMode,
  tableModeOf,
  withModeFields,
} from './table-mode';
import { REBUILT_PROPERTY } from './table-rebuild';
import { scanLiveRows, schemaOfSnapshot } from './table-scan';
import { stageAppendRows, stageBatch } from './table-stager';
import type { TableState } from './table-state';
import { loadMetadata, rebuildIndex } from './table-state';

export interface LakehouseOptions {
  readonly catalog: Catalog;
  readonly io: FileIO;
  /** Warehouse root location (file:///… or s3://…); a table lives at <root>/<namespace>/<name>. */
  readonly warehouse: string;
  /** Rows per data file at most (default 1,000,000: files of tens to hundreds of MB for typical rows). */
  readonly targetFileRows?: number;
  /** Bytes per data file to aim at, from the bytes per row the table's files show (file-sizing.ts). */
  readonly targetFileBytes?: number;
  /** Commit attempts on conflicts before giving up with commit_failed (default 8). */
  readonly maxCommitAttempts?: number;
  /** One namespace for every table (sinks.iceberg.namespace); by default each source schema's own. */
  readonly namespace?: string;
}

export interface CreateTableOptions {
  readonly properties?: Readonly<Record<string, string>>;
  /** Partition fields, in order (per-table config). */
  readonly partition?: readonly PartitionConfig[];
  /** The table's mode (table-mode.ts; default mirror), recorded in the table: an existing table must match. */
  readonly mode?: TableMode;
}

export { identOf } from './catalog';

/** The source table ("schema.table") an Iceberg table mirrors, recorded when tidemark creates it. */
export const SOURCE_TABLE_PROPERTY = 'tidemark.source-table';
export type { CommitOptions, CommitResult } from './catalog-commit';

/**
 * The lakehouse writer: Iceberg v2 tables, one per source table, written as Parquet data files
 * and position-delete files. Contract: `stage` writes files but commits nothing; `commit`
 * makes all staged tables' snapshots visible atomically and resolves only once the catalog
 * committed. A rejected commit is a TidemarkError: `fenced` or `commit_failed` (certainly not
 * committed: the staged files may be deleted with `discard`) or `commit_state_unknown` (never
 * delete files then: reload and look for the commit id with `findCommit`).
 */
export class Lakehouse {
  private readonly tables = new Map<string, TableState>();

  /** The Iceberg table a source table is mirrored into (catalog.ts identIn). */
  readonly identOf: (t: TableRef) => Ident;

  constructor(private readonly opts: LakehouseOptions) {
    this.identOf = identIn(opts.namespace);
  }

  /**
   * Creates the table if it does not exist (idempotent), then loads it. The mode is recorded in
   * the table (MODE_PROPERTY); an existing table built in another mode is refused, as the
   * warehouse refuses one (a mirror cannot become a change history in place).
   */
  async createTable(schema: TableSchema, options: CreateTableOptions = {}): Promise<void> {
    const ident = this.identOf(schema);
    const mode = options.mode ?? 'mirror';
    checkModeColumns(schema, mode, identText(ident));
    if ((await this.opts.catalog.currentLocation(ident)) === null) {
      await this.opts.catalog.ensureNamespace(ident.namespace);
      const { schema: ice, lastColumnId } = withModeFields(initialSchema(schema), mode);
      const location = `${this.opts.warehouse.replace(/\/$/, '')}/${ident.namespace}/${ident.name}`;
      const spec = buildSpec(ice, options.partition ?? [], identText(ident));
      const m = newTableMetadata(location, ice, lastColumnId, spec, {
        ...options.properties,
        [ATTNUMS_PROPERTY]: attnumProperty(schema, ice),
        [MODE_PROPERTY]: mode,
        [SOURCE_TABLE_PROPERTY]: tableKey(schema),
      });
      const file = `${location}/metadata/00000-${randomUUID()}.metadata.json`;
      await this.opts.io.write(file, Buffer.from(JSON.stringify(m), 'utf8'));
      const out = await swapMetadata(this.opts.catalog, this.opts.io, [
        { table: ident, expected: null, next: file, expectedMetadata: null, nextMetadata: m },
      ]);
      if (out.kind === 'unknown')
        throw new TidemarkError('commit_state_unknown', `table ${identText(ident)}: create outcome unknown`, {
          cause: out.cause,
        });
    }
    const built = (await this.open(ident, true)).metadata;
    checkBuiltMode(built, mode, identText(ident));
    // One namespace for every schema (sinks.iceberg.namespace): two tables of one name would meet.
    const source = built.properties[SOURCE_TABLE_PROPERTY];
    if (source !== undefined && source !== tableKey(schema))
      throw new TidemarkError(
        'config',
        `Iceberg table ${identText(ident)} mirrors ${source}, so ${tableKey(schema)} cannot be mirrored into it`,
        {
          fix: 'two mirrored tables of one name in different schemas cannot share sinks.iceberg.namespace: leave it unset (each schema its own namespace) or mirror one of them',
        },
      );
  }

  /** Loads a table's metadata (cached) and, unless fresh, its key index (none for an append table). */
  private async open(ident: TableIdent, reload = false): Promise<TableState> {
    const key = identText(ident);
    let st = this.tables.get(key);
    if (!st || reload) {
      const loaded = await loadMetadata(this.opts.catalog, this.opts.io, ident);
      if (!loaded)
        throw new TidemarkError(
          'schema_incompatible',
          `table ${key} does not exist in catalog ${this.opts.catalog.name}`,
        );
      if (st && st.metadataLocation === loaded.location) return st;
      st = {
        ident,
        metadataLocation: loaded.location,
        metadata: loaded.metadata,
        index: null,
        filePartitions: new Map(),
      };
      this.tables.set(key, st);
    }
    if (!st.index && tableModeOf(st.metadata) !== 'append')
      st.index = await rebuildIndex(this.opts.io, st.metadata, ident, st.filePartitions);
    return st;
  }

  /** The table's current metadata, as the catalog has it now. */
  async metadata(table: TableRef): Promise<TableMetadata> {
    return (await this.open(this.identOf(table), true)).metadata;
  }

  /**
   * Evolves the table's Iceberg schema to a changed source schema (schema-change-commit.ts),
   * committing a metadata-only change or, for filled and cast columns, rewritten rows. Resolves
   * true when the schema changed.
   */
  evolve(schema: TableSchema): Promise<boolean> {
    return evolveTable(this.schemaChangeHost(), schema);
  }

  /**
   * `evolve` between the parts of a round in parts (schema-change-commit.ts evolveInRound): the
   * schema change is held in the cached state until the round commits; a rewrite of the rows it
   * needs comes back as one more part, already taken into the key index (as stagePart's).
   */
  async evolveInRound(schema: TableSchema): Promise<StagedChange | null> {
    const staged = await evolveInRound(this.schemaChangeHost(), schema);
    return staged && this.takeIntoIndex(schema, staged);
  }

  /** `onIncompatibleSchema: rebuild`: the table emptied on a fresh schema (schema-change-commit.ts). */
  rebuild(schema: TableSchema, options: CreateTableOptions = {}): Promise<void> {
    return rebuildTable(this.schemaChangeHost(), schema, options.partition);
  }

  private schemaChangeHost(): SchemaChangeHost {
    return {
      io: this.opts.io,
      catalog: this.opts.catalog,
      identOf: (t) => this.identOf(t),
      open: (ident, reload) => this.open(ident, reload),
      forget: (ident) => this.tables.delete(identText(ident)),
      stage: (schema, batch) => this.stage(schema, batch),
      build: (base, baseLocation, staged, props, replaceAll) =>
        this.build(base, baseLocation, staged, props, replaceAll),
    };
  }

  /** The schema version the table was last rebuilt at (REBUILT_PROPERTY), or null. */
  async rebuiltVersion(table: TableRef): Promise<number | null> {
    const v = (await this.open(this.identOf(table), true)).metadata.properties[REBUILT_PROPERTY];
    return v === undefined ? null : Number(v);
  }

  /**
   * Writes one table's changes of a round (position order) the way its mode wants (table-mode.ts);
   * commits nothing. mirror and soft-delete: collapsed per key first (`stage`); append: one row
   * per change (append-rows.ts).
   */
  async stageChanges(schema: TableSchema, events: readonly ChangeEvent[]): Promise<StagedChange> {
    const st = await this.open(this.identOf(schema));
    if (tableModeOf(st.metadata) !== 'append')
      return this.stage(schema, collapseByKey(events, schema.primaryKey));
    checkSchema(schema, currentSchema(st.metadata), identText(st.ident));
    return stageAppendRows(this.opts.io, st, appendRows(schema, events), {
      targetFileRows: this.rowsPerFile(st),
    });
  }

  /**
   * One part of a round written in parts (sink-target.ts PartedRound): written as stageChanges
   * writes a round's changes, and taken into the key index and file partitions at once, so that
   * the next part's position deletes and TOAST fills see this part's rows. The cached table
   * state is then ahead of the catalog: `forget` it unless the round's commit lands. Committed
   * with the table's other parts, in order, by one `commit` (each part its own snapshot).
   */
  async stagePart(schema: TableSchema, events: readonly ChangeEvent[]): Promise<StagedChange> {
    return this.takeIntoIndex(schema, await this.stageChanges(schema, events));
  }

  private async takeIntoIndex(schema: TableSchema, staged: StagedChange): Promise<StagedChange> {
    const st = await this.open(this.identOf(schema));
    for (const [file, tuple] of staged.filePartitions) st.filePartitions.set(file, tuple);
    if (st.index)
      for (const op of staged.indexOps)
        op.file === null ? st.index.delete(op.key) : st.index.set(op.key, op.file, op.pos);
    return { ...staged, indexOps: [] };
  }

  /** Drops the cached state of these tables (a parted round that did not land): reloaded at next use. */
  forget(tables: readonly TableIdent[]): void {
    for (const t of tables) this.tables.delete(identText(t));
  }

  /** Writes a collapsed batch's files (mirror, or soft-delete: see soft-delete.ts); commits nothing. */
  async stage(schema: TableSchema, batch: CollapsedBatch): Promise<StagedChange> {
    const st = await this.open(this.identOf(schema));
    const where = identText(st.ident);
    checkSchema(schema, currentSchema(st.metadata), where);
    const mode = tableModeOf(st.metadata);
    if (mode === 'append')
      throw new TidemarkError(
        'internal',
        `table ${where} is an append table: its changes go through stageChanges`,
      );
    const lookup = async (keys: readonly string[]) => storedRows(this.opts.io, st, keys);
    let input = batch;
    if (mode === 'soft-delete') {
      // The stored rows a delete rewrites; a truncate rewrites every live one (read into memory).
      const keys = batch.truncatedAt
        ? [...st.index!.entriesLive()].map((e) => e.key)
        : batch.changes.filter((c) => c.kind === 'delete').map((c) => c.key);
      input = softDeleteBatch(batch, keys.length > 0 ? await lookup(keys) : new Map());
    }
    return stageBatch(this.opts.io, st, input, {
      targetFileRows: this.rowsPerFile(st),
      lookup,
      skipPartialsOfAbsentRows: st.metadata.properties[REBUILT_PROPERTY] !== undefined,
    });
  }

  private rowsPerFile(st: TableState): number {
    return rowsPerFileOf(st.metadata, this.opts.targetFileRows ?? 1_000_000, this.opts.targetFileBytes);
  }

  /** Deletes a staged change's files: only after a commit that certainly did not land. */
  async discard(staged: readonly StagedChange[]): Promise<void> {
    for (const s of staged) for (const f of s.files) await this.opts.io.delete(f);
  }

  /**
   * Commits staged changes, all tables in one catalog swap (catalog-commit.ts): conditional on
   * each table's base, retried on conflicts, and never a plain failure when the outcome is unknown.
   */
  commit(staged: readonly StagedChange[], opts: CommitOptions): Promise<CommitResult> {
    return commitStaged(
      {
        io: this.opts.io,
        catalog: this.opts.catalog,
        maxAttempts: this.opts.maxCommitAttempts ?? 8,
        open: (ident, reload) => this.open(ident, reload),
        forget: (ident) => this.tables.delete(identText(ident)),
        findCommit: (tables, commitId) => this.findCommit(tables, commitId),
      },
      staged,
      opts,
    );
  }

  /** buildSnapshot on a live (undropped) base; see snapshot-chain.ts. */
  private build(
    base: TableMetadata,
    baseLocation: string,
    staged: StagedChange,
    props: Record<string, string>,
    replaceAll = false,
  ) {
    return buildOnLive(
      this.opts.io,
      this.opts.catalog.writesMetadata === true,
      base,
      baseLocation,
      staged,
      props,
      replaceAll,
    );
  }

  /**
   * Sets (an ISO time) or clears (null) the mark of a table dropped in the source, in a
   * metadata-only commit: its rows and snapshots stay. False when the table is absent or already so.
   */
  async markDropped(table: TableRef, droppedAt: string | null): Promise<boolean> {
    const ident = this.identOf(table);
    const loaded = await loadMetadata(this.opts.catalog, this.opts.io, ident);
    if (!loaded) return false;
    const m = loaded.metadata;
    const marked = withDroppedMark(m, droppedAt);
    if (!marked) return false;
    const st: TableState = {
      ident,
      metadataLocation: loaded.location,
      metadata: m,
      index: null,
      filePartitions: new Map(),
    };
    await commitMetadata(this.opts.catalog, this.opts.io, st, {
      ...marked,
      'last-updated-ms': Date.now(),
      'metadata-log': loggedAfter(m, loaded.location),
    });
    this.tables.delete(identText(ident)); // a cached state is a version behind now
    return true;
  }

  /**
   * Compaction (see compaction.ts). The writer's key index and file partitions follow the rows
   * it moved, so the next round does not read the table again to rebuild them.
   */
  async compact(
    table: TableRef,
    targetFileRows: number,
    select: CompactOptions['select'] = 'all',
    maxNewFiles?: number,
  ): Promise<{ rewrittenFiles: number; newFiles: number }> {
    const st = await this.open(this.identOf(table), true);
    try {
      return await compactTable(this.opts.catalog, this.opts.io, st, {
        targetFileRows,
        targetFileBytes: this.opts.targetFileBytes,
        select,
        maxNewFiles,
      });
    } catch (e) {
      // The index may be ahead of the table, or the commit's outcome unknown: rebuilt at the next open.
      st.index = null;
      st.filePartitions.clear();
      throw e;
    }
  }

  /** Snapshot expiry, then (unless told not to) orphan-file removal (see table-maintenance.ts). */
  async expire(
    table: TableRef,
    opts: {
      keepLast: number;
      olderThanMs: number;
      maxSnapshots?: number;
      /** Files older than this that nothing references go; null: no orphan sweep this time. */
      orphansOlderThanMs: number | null;
    },
  ): Promise<{ expired: number; deletedFiles: number; orphans: number }> {
    const st = await this.open(this.identOf(table), true);
    const e = await expireSnapshots(this.opts.catalog, this.opts.io, st, opts);
    if (opts.orphansOlderThanMs === null) return { ...e, orphans: 0 };
    const orphans = await removeOrphanFiles(this.opts.io, st, { olderThanMs: opts.orphansOlderThanMs });
    return { ...e, orphans: orphans.length };
  }

  /** True when every table's snapshots include one carrying `commitId`. */
  async findCommit(tables: readonly TableIdent[], commitId: string): Promise<boolean> {
    for (const t of tables) {
      const st = await this.open(t, true);
      if (!st.metadata.snapshots.some((s) => s.summary[COMMIT_ID_PROPERTY] === commitId)) return false;
    }
    return true;
  }

  /** The current snapshot's summary (tidemark.* tokens: the sink's source of truth on restart). */
  async readSummary(table: TableRef): Promise<Readonly<Record<string, string>> | null> {
    const st = await this.open(this.identOf(table), true);
    return currentSnapshot(st.metadata)?.summary ?? null;
  }

  /** The stored rows of `keys` (rows holding the key columns), by encoded key; missing keys are absent. */
  async lookupRows(schema: TableSchema, keys: readonly Row[]): Promise<Map<string, Row>> {
    const st = await this.open(this.identOf(schema));
    return storedRows(
      this.opts.io,
      st,
      keys.map((k) => encodeKey(k, schema.primaryKey)),
    );
  }

  /** Every live row of the table, at its current snapshot or at `snapshotId` (time travel). */
  async scan(table: TableRef, snapshotId?: number): Promise<Row[]> {
    const st = await this.open(this.identOf(table), true);
    const fields = schemaOfSnapshot(st.metadata, snapshotId).fields;
    const rows: Row[] = [];
    for await (const r of scanLiveRows(this.opts.io, st.metadata, identText(st.ident), fields, snapshotId))
      rows.push(r.row);
    return rows;
  }
}
