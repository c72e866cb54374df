import { randomUUID } from 'node:crypto';
import type { ChangeEvent, Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import { encodeKey } from '../../core/row-key';
import type { TableRef, TableSchema } from '../../core/table-schema';
import { type CollapsedBatch, collapseByKey } from '../collapse';
import { fillValue } from '../schema-projection';
import { castText } from '../text-casts';
import { appendRows } from './append-rows';
import type { Catalog, TableIdent } from './catalog';
import { identText } from './catalog';
import { type CommitOptions, type CommitResult, commitStaged } from './catalog-commit';
import { withDroppedMark } from './dropped-mark';
import type { FileIO } from './file-io';
import { rowsPerFileOf } from './file-sizing';
import { columnTypeOfIceberg, type IcebergField, initialSchema } from './iceberg-types';
import { swapMetadata } from './metadata-swap';
import type { PartitionConfig } from './partitioning';
import { buildSpec } from './partitioning';
import { checkSchema } from './schema-check';
import { ATTNUMS_PROPERTY, attnumProperty, evolveSchema } from './schema-evolution';
import { COMMIT_ID_PROPERTY } from './snapshot-builder';
import { buildOnLive } from './snapshot-chain';
import { softDeleteBatch } from './soft-delete';
import type { StagedChange } from './staged-change';
import { storedRows } from './stored-rows';
import {
  type CompactOptions,
  commitMetadata,
  compactTable,
  expireSnapshots,
  removeOrphanFiles,
} from './table-maintenance';
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
import { emptyChange, REBUILT_PROPERTY, rebuiltMetadata } from './table-rebuild';
import { scanLiveRows, schemaOfSnapshot } from './table-scan';
import { stageAppendRows, stageBatch } from './table-stager';
import type { TableState } from './table-state';
import { loadMetadata, rebuildIndex, recordCommitted } from './table-state';

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
}

export interface CreateTableOptions {
  readonly properties?: Readonly<Record<string, string>>;
  /** Partition fields, in order (per-table config). */
  readonly partition?: readonly PartitionConfig[];
  /** The table's mode (table-mode.ts; default mirror), recorded in the table: an existing table must match. */
  readonly mode?: TableMode;
}

export type { CommitOptions, CommitResult } from './catalog-commit';

export const identOf = (t: TableRef): TableIdent => ({ namespace: t.schema, name: t.table });

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

  constructor(private readonly opts: LakehouseOptions) {}

  /**
   * Creates the table if it does not exist (idempotent), then loads it. The mode is recorded in
   * the table (MODE_PROPERTY); an existing table built in another mode is refused, as the
   * warehouse refuses one (a mirror cannot become a change history in place).
   */
  async createTable(schema: TableSchema, options: CreateTableOptions = {}): Promise<void> {
    const ident = identOf(schema);
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
    checkBuiltMode((await this.open(ident, true)).metadata, mode, identText(ident));
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
    return (await this.open(identOf(table), true)).metadata;
  }

  /**
   * Evolves the table's Iceberg schema to a changed source schema (see schema-evolution.ts),
   * committing a metadata-only change. Resolves true when the schema changed.
   */
  async evolve(schema: TableSchema): Promise<boolean> {
    const st = await this.open(identOf(schema), true);
    const m = st.metadata;
    const where = identText(st.ident);
    const attnums = JSON.parse(m.properties[ATTNUMS_PROPERTY] ?? '{}') as Record<string, number>;
    const mode = tableModeOf(m);
    checkModeColumns(schema, mode, where);
    const next = evolveSchema(schema, currentSchema(m), attnums, m['last-column-id'], where, mode);
    if (!next) return false;
    const fills = schema.columns
      .filter((c) => c.fill !== undefined && attnums[String(c.attnum)] === undefined)
      .map((c) => ({ name: c.name, value: fillValue(schema, c) }))
      .filter((f) => f.value !== null);
    // A change history keeps what the rows were (as the warehouse's append tables do): there the
    // column did not exist, so an append table's earlier rows are not filled.
    // Likewise a column cast to text (sink/text-casts.ts): its new field gets the old values' text.
    if ((fills.length > 0 || next.casts.length > 0) && currentSnapshot(m) && mode !== 'append') {
      checkNotPartitionedBy(m, next.casts, where);
      await this.evolveAndFill(st, schema, next, fills);
      return true;
    }
    const updated: TableMetadata = {
      ...withEvolvedSchema(m, next),
      'metadata-log': loggedAfter(m, st.metadataLocation),
    };
    const file = `${m.location}/metadata/${String(m['last-sequence-number']).padStart(5, '0')}-${randomUUID()}.metadata.json`;
    if (!this.opts.catalog.writesMetadata)
      await this.opts.io.write(file, Buffer.from(JSON.stringify(updated), 'utf8'));
    const out = await this.swapOne(st, file, updated, 'schema change');
    if (recordCommitted(this.opts.catalog, st, out, updated, file)) this.tables.delete(identText(st.ident));
    return true;
  }

  /**
   * `onIncompatibleSchema: rebuild`: one commit gives the table a schema built afresh for
   * `schema` (new field ids after every id used so far, so old snapshots keep their meaning), a
   * partition spec on it, and a snapshot that holds no file: the table is empty, its history
   * intact for time travel. The snapshot carries the previous one's tokens and records
   * REBUILT_PROPERTY; a second call for the same version does nothing. The mode stays the one
   * the table was built in.
   */
  async rebuild(schema: TableSchema, options: CreateTableOptions = {}): Promise<void> {
    const st = await this.open(identOf(schema), true);
    const m = st.metadata;
    const where = identText(st.ident);
    if (m.properties[REBUILT_PROPERTY] === String(schema.version)) return;
    const next = rebuiltMetadata(m, schema, options.partition ?? [], where);
    const empty = emptyChange(st.ident, st.metadataLocation);
    const props = {
      ...carriedTokens(m),
      [COMMIT_ID_PROPERTY]: randomUUID(),
      [REBUILT_PROPERTY]: String(schema.version),
    };
    const b = await this.build(next, st.metadataLocation, empty, props, true);
    const out = await this.swapOne(st, b.metadataLocation, b.metadata, 'rebuild');
    recordCommitted(this.opts.catalog, st, out, b.metadata, b.metadataLocation);
    // reloaded (an empty key index, the new spec's partitions) at its next use
    this.tables.delete(where);
  }

  /**
   * Swaps one table from `base` (its metadata at st.metadataLocation; st.metadata unless given)
   * to the new metadata; anything but a landed commit throws (a conflict: certainly not committed).
   */
  private async swapOne(
    st: TableState,
    next: string,
    nextMetadata: TableMetadata,
    what: string,
    base: TableMetadata = st.metadata,
  ) {
    const out = await swapMetadata(this.opts.catalog, this.opts.io, [
      { table: st.ident, expected: st.metadataLocation, next, expectedMetadata: base, nextMetadata },
    ]);
    if (out.kind !== 'committed')
      throw new TidemarkError(
        out.kind === 'conflict' ? 'commit_failed' : 'commit_state_unknown',
        `table ${identText(st.ident)}: ${what} not committed (${out.kind})`,
      );
    return out;
  }

  /** The schema version the table was last rebuilt at (REBUILT_PROPERTY), or null. */
  async rebuiltVersion(table: TableRef): Promise<number | null> {
    const v = (await this.open(identOf(table), true)).metadata.properties[REBUILT_PROPERTY];
    return v === undefined ? null : Number(v);
  }

  /**
   * A schema change that adds columns Postgres filled with a constant default in every existing
   * row, or casts columns to text. Iceberg v2 has no column defaults nor a promotion to string,
   * so the rows are rewritten with the value (position deletes plus new data files) in the same
   * commit as the new schema: no reader ever sees the column null, and a crash leaves either
   * the old table or the new one. The snapshot carries
   * the previous one's tokens (it moves none) but no cut LSN: it is no state the source was in,
   * so readers looking for the table as of a cut pass over it. The live rows are read into
   * memory (a rewrite of a very large table wants a streaming version).
   */
  private async evolveAndFill(
    st: TableState,
    schema: TableSchema,
    next: NonNullable<ReturnType<typeof evolveSchema>>,
    fills: ReadonlyArray<{ name: string; value: Value }>,
  ): Promise<void> {
    const m = st.metadata;
    const where = identText(st.ident);
    const oldFields = currentSchema(m).fields;
    const events: ChangeEvent[] = [];
    let seq = 0;
    for await (const { row } of scanLiveRows(this.opts.io, m, where, oldFields)) {
      const after: Row = {};
      for (const f of next.schema.fields) {
        const cast = next.casts.find((c) => c.to.id === f.id);
        if (cast) {
          after[f.name] = castText(row[cast.from.name] ?? null, columnTypeOfIceberg(cast.from.type));
          continue;
        }
        const old = oldFields.find((o) => o.id === f.id);
        const v = old ? (row[old.name] ?? null) : null;
        after[f.name] = f.type === 'long' && typeof v === 'number' ? BigInt(v) : v;
      }
      for (const fill of fills) after[fill.name] = fill.value;
      const before: Row = {};
      for (const k of schema.primaryKey) before[k] = after[k] ?? null;
      events.push({
        op: 'u',
        table: { schema: schema.schema, table: schema.table },
        position: { lsn: 0n, seq: seq++ },
        txId: 0,
        commitTimeMs: 0,
        schemaVersion: schema.version,
        before,
        after,
        unchanged: [],
        snapshot: false,
      });
    }
    const evolved = withEvolvedSchema(m, next);
    st.metadata = evolved;
    try {
      const staged = await this.stage(schema, collapseByKey(events, schema.primaryKey));
      const props = {
        ...carriedTokens(m),
        [COMMIT_ID_PROPERTY]: randomUUID(),
        ...(fills.length > 0 ? { 'tidemark.filled-columns': fills.map((f) => f.name).join(',') } : {}),
        ...(next.casts.length > 0
          ? { 'tidemark.cast-columns': next.casts.map((c) => c.to.name).join(',') }
          : {}),
      };
      const b = await this.build(evolved, st.metadataLocation, staged, props);
      const out = await this.swapOne(
        st,
        b.metadataLocation,
        b.metadata,
        'schema change with rewritten rows',
        m,
      );
      if (recordCommitted(this.opts.catalog, st, out, b.metadata, b.metadataLocation))
        this.tables.delete(identText(st.ident));
      for (const [file, tuple] of staged.filePartitions) st.filePartitions.set(file, tuple);
      if (st.index)
        for (const op of staged.indexOps)
          op.file === null ? st.index.delete(op.key) : st.index.set(op.key, op.file, op.pos);
    } catch (e) {
      st.metadata = m; // not committed: the table is as it was
      st.index = null;
      throw e;
    }
  }

  /**
   * Writes one table's changes of a round (position order) the way its mode wants (table-mode.ts);
   * commits nothing. mirror and soft-delete: collapsed per key first (`stage`); append: one row
   * per change (append-rows.ts).
   */
  async stageChanges(schema: TableSchema, events: readonly ChangeEvent[]): Promise<StagedChange> {
    const st = await this.open(identOf(schema));
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
    const staged = await this.stageChanges(schema, events);
    const st = await this.open(identOf(schema));
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
    const st = await this.open(identOf(schema));
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
    const ident = identOf(table);
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

  /** Compaction (see table-maintenance.ts); the writer's key index is rebuilt afterwards. */
  async compact(
    table: TableRef,
    targetFileRows: number,
    select: CompactOptions['select'] = 'all',
  ): Promise<{ rewrittenFiles: number; newFiles: number }> {
    const st = await this.open(identOf(table), true);
    try {
      return await compactTable(this.opts.catalog, this.opts.io, st, {
        targetFileRows,
        targetFileBytes: this.opts.targetFileBytes,
        select,
      });
    } finally {
      st.index = null;
      st.filePartitions.clear();
    }
  }

  /** Snapshot expiry, then orphan-file removal (see table-maintenance.ts). */
  async expire(
    table: TableRef,
    opts: { keepLast: number; olderThanMs: number; orphansOlderThanMs: number },
  ): Promise<{ expired: number; deletedFiles: number; orphans: number }> {
    const st = await this.open(identOf(table), true);
    const e = await expireSnapshots(this.opts.catalog, this.opts.io, st, opts);
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
    const st = await this.open(identOf(table), true);
    return currentSnapshot(st.metadata)?.summary ?? null;
  }

  /** The stored rows of `keys` (rows holding the key columns), by encoded key; missing keys are absent. */
  async lookupRows(schema: TableSchema, keys: readonly Row[]): Promise<Map<string, Row>> {
    const st = await this.open(identOf(schema));
    return storedRows(
      this.opts.io,
      st,
      keys.map((k) => encodeKey(k, schema.primaryKey)),
    );
  }

  /** Every live row of the table, at its current snapshot or at `snapshotId` (time travel). */
  async scan(table: TableRef, snapshotId?: number): Promise<Row[]> {
    const st = await this.open(identOf(table), true);
    const fields = schemaOfSnapshot(st.metadata, snapshotId).fields;
    const rows: Row[] = [];
    for await (const r of scanLiveRows(this.opts.io, st.metadata, identText(st.ident), fields, snapshotId))
      rows.push(r.row);
    return rows;
  }
}

/**
 * The offset tokens of the current snapshot, for a snapshot that moves none (a schema rewrite,
 * a rebuild): the tokens are read from the current snapshot, so it must carry them on.
 */
function carriedTokens(m: TableMetadata): Record<string, string> {
  return Object.fromEntries(
    Object.entries(currentSnapshot(m)?.summary ?? {}).filter(([k]) => k.startsWith('tidemark.token.')),
  );
}

/** `m` with the evolved schema current (a new schema id) and the attnum map that goes with it. */
function withEvolvedSchema(
  m: TableMetadata,
  next: NonNullable<ReturnType<typeof evolveSchema>>,
): TableMetadata {
  const schemaId = Math.max(...m.schemas.map((x) => x['schema-id'])) + 1;
  return {
    ...m,
    'last-updated-ms': Date.now(),
    'last-column-id': next.lastColumnId,
    schemas: [...m.schemas, { ...next.schema, 'schema-id': schemaId }],
    'current-schema-id': schemaId,
    properties: { ...m.properties, [ATTNUMS_PROPERTY]: JSON.stringify(next.attnums) },
  };
}

/** A cast replaces a field by a new one: a partition spec built on the old field would lose its source. */
function checkNotPartitionedBy(
  m: TableMetadata,
  casts: readonly { from: IcebergField; to: IcebergField }[],
  where: string,
): void {
  const spec = m['partition-specs'].find((p) => p['spec-id'] === m['default-spec-id']);
  for (const c of casts)
    if (spec?.fields.some((f) => f['source-id'] === c.from.id))
      throw new TidemarkError(
        'schema_incompatible',
        `table ${where}: column "${c.to.name}" would be cast to text, but the table is partitioned by it`,
        { fix: 'partition the table by another column, or revert the type change' },
      );
}
