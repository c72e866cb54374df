import type { Client } from 'pg';
import type { Config } from '../config/load';
import type { Row } from '../core/change-event';
import { TidemarkError } from '../core/errors';
import { formatLsn, type Lsn } from '../core/lsn';
import { encodeKey } from '../core/row-key';
import { type TableRef, type TableSchema, tableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import { openOffsetStore } from '../offsets/open';
import { castText, sinkSchema } from '../sink/text-casts';
import { valueText } from '../sink/warehouse/pg-copy-text';
import { columnPolicyOf } from '../source/column-policy';
import { listColumns, listTables, qualified, quoteIdent } from '../source/setup/catalog';
import { tableKeyColumns } from '../source/setup/checks';
import { MemoryStateStore } from '../source/state-store';
import { type SourceTable, TableSchemas } from '../source/table-schemas';
import { ChangeOverlay } from './change-overlay';
import { compareTable, type KeyDifference, type RangeCounts, type Side } from './compare-table';
import { IcebergAtCut, icebergCut } from './iceberg-at-cut';
import { hashRanges, integerRanges, type KeyRanges } from './key-ranges';
import { pgRows, pgRowsAt } from './pg-rows';
import { SourceAtCut } from './source-at-cut';
import { openWarehouseAtCut, type WarehouseAtCut, warehouseCut } from './warehouse-at-cut';

export type SinkName = 'iceberg' | 'warehouse';

export interface VerifyOptions {
  /** Tables to compare ("schema.table", or a bare name in any schema); all published ones when empty. */
  readonly tables: readonly string[];
  readonly sinks: readonly SinkName[];
  /** How long to wait for the sinks to commit a cut at or after the source snapshot. */
  readonly waitMs: number;
  /** Key ranges per table. */
  readonly ranges: number;
  /** Differing keys to list per table. */
  readonly show: number;
}

export interface TableReport {
  readonly table: string;
  readonly key: readonly string[];
  readonly agree: boolean;
  readonly rows: Record<string, number>;
  readonly checksums: Record<string, string>;
  readonly differingRanges: readonly RangeCounts[];
  readonly differences: readonly KeyDifference[];
  /** Source changes between the snapshot and the cut laid over the snapshot rows. */
  readonly changesApplied: number;
  readonly notes: readonly string[];
}

export interface VerifyReport {
  readonly pipeline: string;
  readonly sourceSnapshotLsn: string;
  /** The cut every sink is read at; null when the sinks have committed nothing yet. */
  readonly cutLsn: string | null;
  /**
   * True when the comparison is exact: the sinks committed a cut at or after the source
   * snapshot, so the source is compared as of that same cut. False when they had not within
   * the wait: the source as it is now is compared with their last cut, and a difference may
   * be a change they have not committed yet.
   */
  readonly exact: boolean;
  readonly sinks: readonly SinkName[];
  readonly agree: boolean;
  readonly tables: readonly TableReport[];
  readonly notes: readonly string[];
}

/**
 * `tidemark verify`: compares the source with each sink at one consistent cut, per table and
 * per key range, by row count and an order-independent checksum over every column, and names
 * the first differing keys. Reads only: nothing in the pipeline changes.
 */
export async function runVerify(config: Config, opts: VerifyOptions, logger: Logger): Promise<VerifyReport> {
  const sinks = opts.sinks.length > 0 ? opts.sinks : configuredSinks(config);
  for (const s of sinks)
    if (!(s === 'iceberg' ? config.sinks.iceberg : config.sinks.warehouse))
      throw new TidemarkError('config', `--sink ${s}: the config has no sinks.${s}`);
  if (sinks.length === 0)
    throw new TidemarkError('config', 'the config has no sink to verify (sinks.iceberg, sinks.warehouse)');

  const source = await SourceAtCut.open(config);
  const closers: (() => Promise<void>)[] = [() => source.close()];
  try {
    const tables = await publishedSourceTables(config, source.reader, opts.tables, logger);
    const refs = tables.map((t) => t.source.schema);
    const notes: string[] = [];

    const reached = await waitForSinks(config, sinks, refs, source.snapshotLsn, opts.waitMs);
    let warehouse: WarehouseAtCut | null = null;
    if (sinks.includes('warehouse')) {
      warehouse = await openWarehouseAtCut(config.sinks.warehouse!);
      const w = warehouse;
      closers.push(() => w.close());
    }
    // The warehouse transaction fixes the cut; Iceberg commits each cut first and time travels to it.
    const cut = warehouse ? warehouse.cut : reached.iceberg;
    if (warehouse && sinks.includes('iceberg') && cut !== null) {
      const ice = await waitForCut(() => icebergCut(config.sinks.iceberg!, refs), cut, opts.waitMs);
      if (ice === null || ice < cut)
        notes.push(
          `the Iceberg tables' last cut ${ice === null ? '(none)' : formatLsn(ice)} is before the warehouse's ${formatLsn(cut)}: Iceberg is read at its last cut`,
        );
    }
    const exact = cut !== null && cut >= source.snapshotLsn;
    if (!exact)
      notes.push(
        `the sinks committed no cut at or after the source snapshot ${formatLsn(source.snapshotLsn)} within ${opts.waitMs / 1000} s (last: ${cut === null ? 'none' : formatLsn(cut)}): the source as of that snapshot is compared; a difference may be a change not committed yet, or none if the source was idle`,
      );

    const events = exact ? await source.changesUpTo(cut, new Map(tables.map((t) => [t.oid, t.source]))) : [];
    const iceberg = sinks.includes('iceberg') ? await IcebergAtCut.open(config.sinks.iceberg!) : null;
    if (iceberg) closers.push(() => iceberg.close());

    const reports: TableReport[] = [];
    for (const t of tables) {
      const s = t.source.schema;
      const name = tableKey(s);
      const overlay = new ChangeOverlay(s.primaryKey);
      let changes = 0;
      for (const e of events)
        if (e.table.schema === s.schema && e.table.table === s.table) {
          overlay.apply(e);
          changes++;
        }
      await fillPending(source, t.source, overlay);
      const tableNotes: string[] = [];
      // Columns cast to text (sink/text-casts.ts) are compared as the sinks hold them.
      const view = sinkSchema(s);
      const sides: Side[] = [
        { name: 'source', rows: () => castRows(sourceRows(source, t.source, overlay), s) },
      ];
      if (iceberg) {
        const at = await iceberg.table(view, cut ?? 0n);
        tableNotes.push(...at.notes.map((n) => `iceberg: ${n}`));
        if (at.mode !== 'append') sides.push({ name: 'iceberg', rows: at.rows });
      }
      if (warehouse) {
        const at = await warehouse.table(view, config.tableOptions(name).mode);
        tableNotes.push(...at.notes.map((n) => `warehouse: ${n}`));
        if (config.tableOptions(name).mode !== 'append') sides.push({ name: 'warehouse', rows: at.rows });
      }
      if (config.tableOptions(name).snapshot === 'never' && sides.length > 1) {
        // Its rows from before it was mirrored were never copied: only the sinks can agree.
        sides.shift();
        tableNotes.push(
          `snapshot never: the sinks hold the rows changed since the table was mirrored, not the older ones; ${sides.length > 1 ? 'Iceberg and the warehouse are compared with each other, not with the source' : 'one sink: nothing to compare it with'}`,
        );
      }
      const ranges = await keyRanges(source, t.source, overlay, opts.ranges);
      const columns = view.columns.map((c) => ({ name: c.name, type: c.type }));
      const result = await compareTable(columns, s.primaryKey, ranges, sides, opts.show);
      logger.info({ table: name, agree: result.agree, rows: result.rows }, 'table verified');
      reports.push({ table: name, key: s.primaryKey, changesApplied: changes, notes: tableNotes, ...result });
    }
    return {
      pipeline: config.pipeline,
      sourceSnapshotLsn: formatLsn(source.snapshotLsn),
      cutLsn: cut === null ? null : formatLsn(cut),
      exact,
      sinks,
      agree: reports.every((r) => r.agree),
      tables: reports,
      notes,
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
  }
}

function configuredSinks(config: Config): SinkName[] {
  const out: SinkName[] = [];
  if (config.sinks.iceberg) out.push('iceberg');
  if (config.sinks.warehouse) out.push('warehouse');
  return out;
}

export interface VerifiedTable {
  readonly oid: number;
  readonly source: SourceTable;
}

/**
 * The publication's tables (those asked for), with their schemas and keys as the source sees them
 * and the columns the pipeline casts to text (from its last schemas in the offset store).
 */
export async function publishedSourceTables(
  config: Config,
  c: Client,
  wanted: readonly string[],
  logger: Logger,
): Promise<VerifiedTable[]> {
  const published = (
    await c.query('SELECT schemaname AS s, tablename AS t FROM pg_publication_tables WHERE pubname = $1', [
      config.source.publication,
    ])
  ).rows.map((r: { s: string; t: string }) => `${r.s}.${r.t}`);
  if (published.length === 0)
    throw new TidemarkError('source_setup', `publication ${config.source.publication} has no tables`, {
      fix: 'run the pipeline once (it creates the publication), or check source.publication',
    });
  for (const w of wanted)
    if (!published.some((p) => p === w || p.endsWith(`.${w}`)))
      throw new TidemarkError(
        'config',
        `--table ${w}: not a table of publication ${config.source.publication}`,
        {
          fix: `choose one of ${published.join(', ')}`,
        },
      );
  const chosen = published
    .filter((p) => wanted.length === 0 || wanted.some((w) => p === w || p.endsWith(`.${w}`)))
    .sort();
  const catalog = await listTables(c);
  const keys = new Map<string, string[]>();
  const found = chosen.map((name) => catalog.find((t) => `${t.schema}.${t.table}` === name)!);
  for (const t of found) {
    const cols = (await listColumns(c, t.oid)).map((x) => x.name);
    keys.set(tableKey(t), tableKeyColumns(t, cols, config.source.keys[tableKey(t)], logger));
  }
  // The pipeline's own last schemas carry which columns it casts to text (ColumnSchema.castToText).
  const state = new MemoryStateStore();
  try {
    const store = openOffsetStore(config);
    try {
      for (const t of found) {
        const stored = await store.get(`source:${config.source.slot}:schema:${tableKey(t)}`);
        if (stored) await state.set(`source:verify:schema:${tableKey(t)}`, stored);
      }
    } finally {
      await store.close();
    }
  } catch (e) {
    logger.warn(
      { err: (e as Error).message },
      'the offset store cannot be read: columns the pipeline casts to text are compared as their source type',
    );
  }
  const schemas = new TableSchemas(c, state, 'verify', keys, logger, () => {}, columnPolicyOf(config));
  const out: VerifiedTable[] = [];
  for (const t of found) {
    const { table } = await schemas.resolve(t, t.oid, await listColumns(c, t.oid));
    out.push({ oid: t.oid, source: table });
  }
  return out;
}

async function waitForCut(read: () => Promise<Lsn | null>, target: Lsn, waitMs: number): Promise<Lsn | null> {
  const until = Date.now() + waitMs;
  for (;;) {
    const cut = await read();
    if ((cut !== null && cut >= target) || Date.now() >= until) return cut;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits (up to `waitMs`) until every sink committed a cut at or after `target`. */
async function waitForSinks(
  config: Config,
  sinks: readonly SinkName[],
  refs: readonly TableRef[],
  target: Lsn,
  waitMs: number,
): Promise<{ iceberg: Lsn | null; warehouse: Lsn | null }> {
  const read = async () => ({
    iceberg: sinks.includes('iceberg') ? await icebergCut(config.sinks.iceberg!, refs) : null,
    warehouse: sinks.includes('warehouse') ? await warehouseCut(config.sinks.warehouse!) : null,
  });
  const until = Date.now() + waitMs;
  for (;;) {
    const cuts = await read();
    const behind = sinks.some((s) => cuts[s] === null || cuts[s]! < target);
    if (!behind || Date.now() >= until) return cuts;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Source rows with the values of columns cast to text as the sinks write them. */
async function* castRows(
  rows: AsyncIterable<readonly Row[]>,
  s: TableSchema,
): AsyncGenerator<readonly Row[]> {
  const cast = s.columns.filter((c) => c.castToText);
  for await (const batch of rows) {
    if (cast.length === 0) {
      yield batch;
      continue;
    }
    yield batch.map((r) => {
      const out: Row = { ...r };
      for (const c of cast) if (c.name in r) out[c.name] = castText(r[c.name] ?? null, c.type);
      return out;
    });
  }
}

/** The snapshot rows with the window's changes laid over them: the table as of the cut. */
async function* sourceRows(
  source: SourceAtCut,
  t: SourceTable,
  overlay: ChangeOverlay,
): AsyncGenerator<readonly Row[]> {
  const s = t.schema;
  if (!overlay.truncated) {
    const sql = `SELECT ${s.columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${qualified(s)}`;
    for await (const batch of pgRows(source.reader, sql, textColumns(t), tableKey(s))) {
      yield overlay.size === 0 ? batch : batch.filter((r) => !overlay.covers(encodeKey(r, s.primaryKey)));
    }
  }
  const rest = [...overlay.rows()];
  if (rest.length > 0) yield rest;
}

function textColumns(t: SourceTable) {
  return t.schema.columns.map((c, i) => ({
    name: c.name,
    type: c.type,
    delimiter: t.delimiters[i],
    mask: t.maskers[i] ?? undefined,
  }));
}

/** Reads, in the snapshot, the rows whose TOASTed values the window's changes did not carry. */
async function fillPending(source: SourceAtCut, t: SourceTable, overlay: ChangeOverlay): Promise<void> {
  const keys = overlay.pendingLookups();
  if (keys.length === 0) return;
  const s = t.schema;
  const cols = s.primaryKey.map((k) => s.columns.find((c) => c.name === k)!);
  const sql = `SELECT ${s.columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${qualified(s)} WHERE ${cols
    .map((c, i) => `${quoteIdent(c.name)} = $${i + 1}`)
    .join(' AND ')}`;
  const found = new Map<string, Row>();
  for (const k of keys) {
    const params = cols.map((c) => valueText(k[c.name]!, c.type));
    for (const r of await pgRowsAt(source.reader, sql, params, textColumns(t), tableKey(s)))
      found.set(encodeKey(r, s.primaryKey), r);
  }
  overlay.fill(found);
}

async function keyRanges(
  source: SourceAtCut,
  t: SourceTable,
  overlay: ChangeOverlay,
  wanted: number,
): Promise<KeyRanges> {
  const s = t.schema;
  const col = s.primaryKey.length === 1 ? s.columns.find((c) => c.name === s.primaryKey[0]) : undefined;
  if (!col || !['int16', 'int32', 'int64'].includes(col.type.kind)) return hashRanges(wanted);
  const r = await source.reader.query(
    `SELECT min(${quoteIdent(col.name)})::text AS lo, max(${quoteIdent(col.name)})::text AS hi FROM ${qualified(s)}`,
  );
  let lo: bigint | null = r.rows[0].lo === null || overlay.truncated ? null : BigInt(r.rows[0].lo);
  let hi: bigint | null = r.rows[0].hi === null || overlay.truncated ? null : BigInt(r.rows[0].hi);
  for (const row of overlay.rows()) {
    const v = BigInt(row[col.name] as number | bigint);
    if (lo === null || v < lo) lo = v;
    if (hi === null || v > hi) hi = v;
  }
  return lo === null || hi === null ? hashRanges(wanted) : integerRanges(col.name, lo, hi, wanted);
}
