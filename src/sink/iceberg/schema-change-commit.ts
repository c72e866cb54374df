import { randomUUID } from 'node:crypto';
import type { ChangeEvent, Row } from '../../core/change-event';
import type { Value } from '../../core/column-type';
import { TidemarkError } from '../../core/errors';
import type { TableSchema } from '../../core/table-schema';
import { type CollapsedBatch, collapseByKey } from '../collapse';
import { PartRefused } from '../parted-rounds';
import { fillValue } from '../schema-projection';
import { castText } from '../text-casts';
import type { Catalog, TableIdent } from './catalog';
import { identOf, identText } from './catalog';
import type { FileIO } from './file-io';
import { columnTypeOfIceberg, type IcebergField } from './iceberg-types';
import { swapMetadata } from './metadata-swap';
import type { PartitionConfig } from './partitioning';
import { ATTNUMS_PROPERTY, evolveSchema } from './schema-evolution';
import { COMMIT_ID_PROPERTY } from './snapshot-builder';
import type { buildOnLive } from './snapshot-chain';
import type { StagedChange } from './staged-change';
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
 *
 * `inRound`: between two parts of a round in parts (sink-target.ts PartedRound.evolve). The
 * cached state, whose key index holds the earlier parts' rows, is kept and not reloaded; a
 * change that must rewrite the rows (a filled or cast column) is refused (PartRefused), since
 * the earlier parts' rows are in no snapshot it could rewrite.
 */
export async function evolveTable(
  host: SchemaChangeHost,
  schema: TableSchema,
  inRound = false,
): Promise<boolean> {
  const st = await host.open(identOf(schema), !inRound);
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
  const rewrites = (fills.length > 0 || next.casts.length > 0) && mode !== 'append';
  if (rewrites && inRound)
    throw new PartRefused(
      `iceberg: table ${where}: a column ${fills.length > 0 ? `added with a default (${fills.map((f) => f.name).join(', ')})` : 'cast to text'} rewrites the rows, which cannot be done between the parts of a round`,
    );
  if (rewrites && currentSnapshot(m)) {
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
  const out = await swapOne(host, st, file, updated, 'schema change').catch((e: unknown) => {
    // Another writer moved the table: the round is given up and read again, on a fresh state.
    if (inRound) host.forget(st.ident);
    throw e;
  });
  if (recordCommitted(host.catalog, st, out, updated, file)) {
    host.forget(st.ident);
    // The round's key index went with the cached state: its next parts could not be written.
    if (inRound)
      throw new TidemarkError(
        'transient',
        `table ${where}: schema change committed, but the catalog did not return the new metadata; the round is read again`,
      );
  }
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
export async function rebuildTable(
  host: SchemaChangeHost,
  schema: TableSchema,
  partition: readonly PartitionConfig[] = [],
): Promise<void> {
  const st = await host.open(identOf(schema), true);
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
  next: NonNullable<ReturnType<typeof evolveSchema>>,
  fills: ReadonlyArray<{ name: string; value: Value }>,
): Promise<void> {
  const m = st.metadata;
  const where = identText(st.ident);
  const oldFields = currentSchema(m).fields;
  const events: ChangeEvent[] = [];
  let seq = 0;
  for await (const { row } of scanLiveRows(host.io, m, where, oldFields)) {
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
