import { randomUUID } from 'node:crypto';
import type { ChangeEvent, Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { TableRef, TableSchema } from '../../core/table-schema';
import { type CollapsedBatch, collapseByKey } from '../collapse';
import { fillValue } from '../schema-projection';
import { castText } from '../text-casts';
import type { Catalog, TableIdent } from './catalog';
import { identText } from './catalog';
import type { FileIO } from './file-io';
import { columnTypeOfIceberg, type IcebergField } from './iceberg-types';
import { swapMetadata } from './metadata-swap';
import type { PartitionConfig } from './partitioning';
import { ATTNUMS_PROPERTY, evolveSchema } from './schema-evolution';
import { COMMIT_ID_PROPERTY } from './snapshot-builder';
import type { buildOnLive } from './snapshot-chain';
import type { StagedChange } from './staged-change';
import { storedRows } from './stored-rows';
import type { TableMetadata } from './table-metadata';
import { currentSchema, currentSnapshot, loggedAfter } from './table-metadata';
import { checkModeColumns, tableModeOf } from './table-mode';
import { emptyChange, REBUILT_PROPERTY, rebuiltMetadata } from './table-rebuild';
import { scanLiveRows } from './table-scan';
import type { TableState } from './table-state';
import { recordCommitted } from './table-state';

/**
 * Schema changes committed to an Iceberg table: a metadata-only evolution, an evolution that
 * rewrites the rows (filled or cast columns) in the same commit, and a rebuild on a fresh schema.
 * Each is one conditional swap of that table's metadata.
 */

/** What a schema change needs of the Lakehouse: its file IO, catalog, table cache and staging. */
export interface SchemaChangeHost {
  readonly io: FileIO;
  readonly catalog: Catalog;
  /** The Iceberg table a source table is mirrored into (Lakehouse.identOf). */
  identOf(t: TableRef): TableIdent;
  open(ident: TableIdent, reload?: boolean): Promise<TableState>;
  /** Drops a table's cached state (read again at the next open). */
  forget(ident: TableIdent): void;
  stage(schema: TableSchema, batch: CollapsedBatch): Promise<StagedChange>;
  /** buildSnapshot on a live base (snapshot-chain.ts buildOnLive). */
  build(
    base: TableMetadata,
    baseLocation: string,
    staged: StagedChange,
    props: Record<string, string>,
    replaceAll?: boolean,
  ): ReturnType<typeof buildOnLive>;
}

/**
 * Evolves the table's Iceberg schema to a changed source schema (see schema-evolution.ts),
 * committing a metadata-only change. Resolves true when the schema changed.
 */
export async function evolveTable(host: SchemaChangeHost, schema: TableSchema): Promise<boolean> {
  const st = await host.open(host.identOf(schema), true);
  const m = st.metadata;
  const where = identText(st.ident);
  const plan = planEvolution(m, schema, where);
  if (!plan) return false;
  const { next, fills } = plan;
  if (plan.rewrites && currentSnapshot(m)) {
    checkNotPartitionedBy(m, next.casts, where);
    await evolveAndFill(host, st, schema, next, fills);
    return true;
  }
  const updated: TableMetadata = {
    ...withEvolvedSchema(m, next),
    'metadata-log': loggedAfter(m, st.metadataLocation),
  };
  const file = `${m.location}/metadata/${String(m['last-sequence-number']).padStart(5, '0')}-${randomUUID()}.metadata.json`;
  if (!host.catalog.writesMetadata) await host.io.write(file, Buffer.from(JSON.stringify(updated), 'utf8'));
  const out = await swapOne(host, st, file, updated, 'schema change');
  if (recordCommitted(host.catalog, st, out, updated, file)) host.forget(st.ident);
  return true;
}

type Evolution = NonNullable<ReturnType<typeof evolveSchema>>;
type Fill = { readonly name: string; readonly value: Value };

/**
 * The schema `m` evolves to for `schema`, the columns whose existing rows get a constant default
 * (`fills`), and whether the rows must be rewritten for them or for columns cast to text; null
 * when nothing changes.
 */
function planEvolution(
  m: TableMetadata,
  schema: TableSchema,
  where: string,
): { next: Evolution; fills: Fill[]; rewrites: boolean } | null {
  const attnums = JSON.parse(m.properties[ATTNUMS_PROPERTY] ?? '{}') as Record<string, number>;
  const mode = tableModeOf(m);
  checkModeColumns(schema, mode, where);
  const next = evolveSchema(schema, currentSchema(m), attnums, m['last-column-id'], where, mode);
  if (!next) return null;
  const fills = schema.columns
    .filter((c) => c.fill !== undefined && attnums[String(c.attnum)] === undefined)
    .map((c) => ({ name: c.name, value: fillValue(schema, c) }))
    .filter((f) => f.value !== null);
  // A change history keeps what the rows were (as the warehouse's append tables do): there the
  // column did not exist, so an append table's earlier rows are not filled.
  // Likewise a column cast to text (sink/text-casts.ts): its new field gets the old values' text.
  return { next, fills, rewrites: (fills.length > 0 || next.casts.length > 0) && mode !== 'append' };
}

/**
 * A schema change between two parts of a round in parts (sink-target.ts PartedRound.evolve), made
 * in the writer's cached state only (TableState.pendingBase): it lands with the round's commit,
 * which is built on it, so no reader sees it earlier and a round given up leaves the table as it
 * was (its cached state is then forgotten). Where the rows must be rewritten (evolveAndFill's
 * case), the rewrite is staged here as one more part of the round: every live row, committed or
 * written by an earlier part, read through the key index, which holds both. Returns that part
 * (the caller takes its index changes, as for any part), or null.
 */
export async function evolveInRound(
  host: SchemaChangeHost,
  schema: TableSchema,
): Promise<StagedChange | null> {
  const st = await host.open(host.identOf(schema)); // not reloaded: its key index holds the earlier parts
  const m = st.metadata;
  const where = identText(st.ident);
  const plan = planEvolution(m, schema, where);
  if (!plan) return null;
  const oldFields = currentSchema(m).fields;
  const events: ChangeEvent[] = [];
  if (plan.rewrites && st.index) {
    checkNotPartitionedBy(m, plan.next.casts, where);
    const keys = [...st.index.entriesLive()].map((e) => e.key);
    for (const row of (await storedRows(host.io, st, keys)).values())
      events.push(updateEvent(schema, rewrittenRow(row, oldFields, plan.next, plan.fills), events.length));
  }
  st.pendingBase ??= m;
  st.metadata = withEvolvedSchema(m, plan.next);
  if (events.length === 0) return null;
  return host.stage(schema, collapseByKey(events, schema.primaryKey));
}

/** A stored row (read with the old fields) as the evolved schema holds it: cast and filled. */
function rewrittenRow(
  row: Row,
  oldFields: readonly IcebergField[],
  next: Evolution,
  fills: readonly Fill[],
): Row {
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
  return after;
}

/** The update that writes a rewritten row in place of the stored one. */
function updateEvent(schema: TableSchema, after: Row, seq: number): ChangeEvent {
  const before: Row = {};
  for (const k of schema.primaryKey) before[k] = after[k] ?? null;
  return {
    op: 'u',
    table: { schema: schema.schema, table: schema.table },
    position: { lsn: 0n, seq },
    txId: 0,
    commitTimeMs: 0,
    schemaVersion: schema.version,
    before,
    after,
    unchanged: [],
    snapshot: false,
  };
}

/**
 * `onIncompatibleSchema: rebuild`: one commit gives the table a schema built afresh for
 * `schema` (new field ids after every id used so far, so old snapshots keep their meaning), a
 * partition spec on it, and a snapshot that holds no file: the table is empty, its history
 * intact for time travel. The snapshot carries the previous one's tokens and records
 * REBUILT_PROPERTY; a second call for the same version does nothing. The mode stays the one
 * the table was built in.
 */
export async function rebuildTable(
  host: SchemaChangeHost,
  schema: TableSchema,
  partition: readonly PartitionConfig[] = [],
): Promise<void> {
  const st = await host.open(host.identOf(schema), true);
  const m = st.metadata;
  const where = identText(st.ident);
  if (m.properties[REBUILT_PROPERTY] === String(schema.version)) return;
  const next = rebuiltMetadata(m, schema, partition, where);
  const empty = emptyChange(st.ident, st.metadataLocation);
  const props = {
    ...carriedTokens(m),
    [COMMIT_ID_PROPERTY]: randomUUID(),
    [REBUILT_PROPERTY]: String(schema.version),
  };
  const b = await host.build(next, st.metadataLocation, empty, props, true);
  const out = await swapOne(host, st, b.metadataLocation, b.metadata, 'rebuild');
  recordCommitted(host.catalog, st, out, b.metadata, b.metadataLocation);
  // reloaded (an empty key index, the new spec's partitions) at its next use
  host.forget(st.ident);
}

/**
 * Swaps one table from `base` (its metadata at st.metadataLocation; st.metadata unless given)
 * to the new metadata; anything but a landed commit throws (a conflict: certainly not committed).
 */
async function swapOne(
  host: SchemaChangeHost,
  st: TableState,
  next: string,
  nextMetadata: TableMetadata,
  what: string,
  base: TableMetadata = st.metadata,
) {
  const out = await swapMetadata(host.catalog, host.io, [
    { table: st.ident, expected: st.metadataLocation, next, expectedMetadata: base, nextMetadata },
  ]);
  if (out.kind !== 'committed')
    throw new TidemarkError(
      out.kind === 'conflict' ? 'commit_failed' : 'commit_state_unknown',
      `table ${identText(st.ident)}: ${what} not committed (${out.kind})`,
    );
  return out;
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
async function evolveAndFill(
  host: SchemaChangeHost,
  st: TableState,
  schema: TableSchema,
  next: Evolution,
  fills: readonly Fill[],
): Promise<void> {
  const m = st.metadata;
  const where = identText(st.ident);
  const oldFields = currentSchema(m).fields;
  const events: ChangeEvent[] = [];
  for await (const { row } of scanLiveRows(host.io, m, where, oldFields))
    events.push(updateEvent(schema, rewrittenRow(row, oldFields, next, fills), events.length));
  const evolved = withEvolvedSchema(m, next);
  st.metadata = evolved;
  try {
    const staged = await host.stage(schema, collapseByKey(events, schema.primaryKey));
    const props = {
      ...carriedTokens(m),
      [COMMIT_ID_PROPERTY]: randomUUID(),
      ...(fills.length > 0 ? { 'tidemark.filled-columns': fills.map((f) => f.name).join(',') } : {}),
      ...(next.casts.length > 0
        ? { 'tidemark.cast-columns': next.casts.map((c) => c.to.name).join(',') }
        : {}),
    };
    const b = await host.build(evolved, st.metadataLocation, staged, props);
    const out = await swapOne(
      host,
      st,
      b.metadataLocation,
      b.metadata,
      'schema change with rewritten rows',
      m,
    );
    if (recordCommitted(host.catalog, st, out, b.metadata, b.metadataLocation)) host.forget(st.ident);
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
 * The offset tokens of the current snapshot, for a snapshot that moves none (a schema rewrite,
 * a rebuild): the tokens are read from the current snapshot, so it must carry them on.
 */
function carriedTokens(m: TableMetadata): Record<string, string> {
  return Object.fromEntries(
    Object.entries(currentSnapshot(m)?.summary ?? {}).filter(([k]) => k.startsWith('tidemark.token.')),
  );
}

/** `m` with the evolved schema current (a new schema id) and the attnum map that goes with it. */
function withEvolvedSchema(m: TableMetadata, next: Evolution): TableMetadata {
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
