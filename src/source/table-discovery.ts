import type { Client } from 'pg';
import type { Config } from '../config/load';
import { PeriodicTask } from '../core/periodic-task';
import { parseTableKey, type TableRef, tableKey } from '../core/table-schema';
import type { ChangeLogWriter } from '../log/change-log';
import type { Logger } from '../observe/logger';
import {
  clearRecreatedTables,
  mirroredTablesKey,
  readDroppedTables,
  tableOidsKey,
  writeDroppedTables,
} from './dropped-tables';
import { PartitionWatch } from './partition-watch';
import { type CatalogTable, listColumns, listTables, qualified, quoteIdent } from './setup/catalog';
import { tableKeyColumns } from './setup/checks';
import { ensurePublication } from './setup/publication';
import { patternsTake, selectTables } from './setup/table-patterns';
import type { SourceStateStore } from './state-store';
import { emitRefreshRequest } from './table-refresh';
import type { TableSchemas } from './table-schemas';

export interface DiscoveryDeps {
  readonly client: Client;
  readonly config: Config;
  readonly state: SourceStateStore;
  readonly schemas: TableSchemas;
  /** Key columns per table, shared with `schemas` (a new table's key is added to it). */
  readonly keys: Map<string, string[]>;
  readonly log: ChangeLogWriter;
  readonly logger: Logger;
  readonly onAdded?: (table: string) => void;
  /** Told the number of tables recorded as dropped, whenever it changes. */
  readonly onDropped?: (count: number) => void;
}

/**
 * Tables that come to match `source.tables` after the pipeline started (created later, or
 * matched by a pattern edited before a restart) join it while the rest keeps streaming: added
 * to the publication, their schema published and topic created, then copied by a table refresh
 * (the watermark method of table-refresh.ts, requested through the WAL after the publication
 * change committed, so every change from then on is streamed and none is lost between the copy
 * and the stream; with `source.snapshot: never` it is streamed only). A table that cannot be mirrored (no key, no SELECT privilege) is reported
 * once and left out; the others go on.
 */
export class TableDiscovery {
  private readonly mirrored = new Set<string>();
  private readonly refused = new Set<string>();
  /** The relation oid of each mirrored table: another oid under the same name is another table. */
  private readonly oids = new Map<string, number>();
  private readonly periodic = new PeriodicTask(
    () => this.check(),
    (e) => this.d.logger.warn({ err: e.message }, 'looking for new tables failed; will retry'),
  );

  private readonly partitions: PartitionWatch;

  constructor(private readonly d: DiscoveryDeps) {
    this.partitions = new PartitionWatch(d.client, d.logger, async (table) => {
      if (d.config.copiesOnItsOwn(table)) await this.requestCopy(table, 'partition attached');
      else d.logger.warn({ table }, 'snapshot is never for this table: the attached rows are not copied');
    });
  }

  /**
   * Takes the tables mirrored from the start. Returns those to copy: the ones the recorded set
   * (from an earlier run) lacks, added while the pipeline was stopped, and the recorded ones
   * `putBack` names (the publication had lost them: their changes since were never streamed).
   * Without a recorded set (the first run) there are none: the initial snapshot covers every table.
   */
  async start(
    initial: readonly TableRef[],
    catalog: ReadonlyArray<TableRef & { readonly oid: number }>,
    putBack: readonly TableRef[] = [],
  ): Promise<TableRef[]> {
    const recorded = await this.d.state.get(mirroredTablesKey(this.d.config.source.slot));
    const before = recorded === null ? null : new Set(JSON.parse(recorded) as string[]);
    const oids = new Map(catalog.map((t) => [tableKey(t), t.oid]));
    for (const t of initial) {
      this.mirrored.add(tableKey(t));
      this.oids.set(tableKey(t), oids.get(tableKey(t))!);
    }
    // Dropped (or renamed) while the pipeline was stopped: still marked, as if it had been running.
    const recordedOids = JSON.parse(
      (await this.d.state.get(tableOidsKey(this.d.config.source.slot))) ?? '{}',
    ) as Record<string, number | null>;
    for (const [k, o] of Object.entries(recordedOids))
      if (!oids.has(k) && o !== null) this.formerOids.set(k, o);
    if (before) await this.noticeDropped([...before].filter((k) => !oids.has(k)));
    await this.record();
    await this.partitions.check([...this.mirrored]);
    if (before === null) return [];
    const left = putBack.filter((t) => before.has(tableKey(t)));
    for (const t of left) this.warnLeftPublication(tableKey(t));
    return [...initial.filter((t) => !before.has(tableKey(t))), ...left];
  }

  private warnLeftPublication(table: string): void {
    this.d.logger.warn(
      { table, publication: this.d.config.source.publication },
      `table had been taken out of the publication outside tidemark: its changes since were not streamed; it is published again${this.d.config.copiesOnItsOwn(table) ? ' and copied again' : ', and with snapshot never not copied: its rows changed meanwhile differ in the sinks (tidemark snapshot --table copies it)'}`,
    );
  }

  /** True while `table` ("schema.table") is mirrored. */
  isMirrored(table: string): boolean {
    return this.mirrored.has(table);
  }

  /** Checks for new tables every `source.discoverEveryMs` (0: only the check at start). */
  schedule(): void {
    const every = this.d.config.source.discoverEveryMs;
    if (every > 0) this.periodic.start(every);
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  /**
   * Marks the mirrored tables that no longer exist as dropped, then adds every table that matches
   * the patterns and is not mirrored yet (a dropped one created again included).
   */
  async check(): Promise<string[]> {
    return this.exclusive(() => this.checkNow());
  }

  /** Runs `fn` after every earlier check or admission: the stream and the timer both add tables. */
  private lock: Promise<unknown> = Promise.resolve();
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /**
   * Called by the stream for every Relation message, before its changes: true when the table's
   * changes are mirrored. A table the mirror does not know under this name is a mirrored table
   * renamed in the source (the publication holds it by oid, so its changes stream at once): it is
   * followed as the old name dropped (kept and marked in the sinks) and, when `source.tables`
   * takes the new name, a table joining under it (key, topic, schema, then a copy); otherwise it
   * leaves the publication and its changes are passed over.
   */
  async admit(ref: TableRef, oid: number): Promise<boolean> {
    const key = tableKey(ref);
    if (this.mirrored.has(key) && this.oids.get(key) === oid) return true;
    return this.exclusive(async () => {
      if (this.mirrored.has(key) && this.oids.get(key) === oid) return true;
      // A name the table had before a rename the stream has not passed yet (the check saw the
      // rename first, or it happened while the pipeline was stopped): its changes still go to
      // the old name, whose sink tables are marked once they are in.
      if (this.formerOids.get(key) === oid) {
        await this.readyFormer(key);
        return true;
      }
      const { client, config, logger } = this.d;
      const was = [...this.oids].find(([k, o]) => o === oid && k !== key)?.[0];
      if (was) {
        this.logRename(was, key);
        await this.noticeDropped([was]);
      }
      if (!patternsTake(config.source.tables, ref) || this.refused.has(key)) {
        // its changes stop reaching the stream once the publication lets go of it
        await client
          .query(`ALTER PUBLICATION ${quoteIdent(config.source.publication)} DROP TABLE ${qualified(ref)}`)
          .catch((e: Error) =>
            logger.warn({ table: key, err: e.message }, 'could not take the table out of the publication'),
          );
        return false;
      }
      const t = (await listTables(client)).find((x) => x.oid === oid);
      return t ? this.add(t) : false;
    });
  }

  private logRename(from: string, to: string): void {
    this.d.logger.warn({ from, to }, 'table renamed in the source: followed as a drop and a new table');
  }

  /** Names mirrored tables had before they were dropped or renamed, with their oid. */
  private readonly formerOids = new Map<string, number>();

  /** The key and topic of a former name, known again after a restart (from its last recorded schema). */
  private async readyFormer(key: string): Promise<void> {
    if (this.d.keys.has(key)) return;
    const last = await this.d.schemas.stored(key);
    if (!last) return;
    this.d.keys.set(key, [...last.primaryKey]);
    await this.d.log.ensureTables([last]);
  }

  private async checkNow(): Promise<string[]> {
    const { client, config } = this.d;
    const catalog = await listTables(client);
    const oids = new Map(catalog.map((t) => [tableKey(t), t.oid]));
    // Gone, or dropped and created again between two checks (another table under the old name:
    // not in the publication any more, its old rows still in the sinks).
    const gone = [...this.mirrored].filter((k) => oids.get(k) !== this.oids.get(k));
    for (const k of gone) {
      const renamed = catalog.find((t) => t.oid === this.oids.get(k));
      if (renamed) this.logRename(k, tableKey(renamed));
    }
    await this.noticeDropped(gone);
    let matching: TableRef[];
    try {
      matching = selectTables(config.source.tables, catalog);
    } catch {
      return []; // a named table dropped since the start: not this check's business
    }
    const fresh = catalog.filter(
      (t) =>
        matching.some((m) => m.schema === t.schema && m.table === t.table) &&
        !this.mirrored.has(tableKey(t)) &&
        !this.refused.has(tableKey(t)),
    );
    const added: string[] = [];
    for (const t of fresh) if (await this.add(t)) added.push(tableKey(t));
    // Taken out of the publication by hand (ALTER PUBLICATION): put back, and copied again.
    const putBack =
      this.mirrored.size === 0
        ? []
        : await ensurePublication(
            client,
            config.source.publication,
            [...this.mirrored].map(parseTableKey),
            this.d.logger,
          );
    for (const t of putBack) {
      this.warnLeftPublication(tableKey(t));
      if (config.copiesOnItsOwn(tableKey(t)))
        await this.requestCopy(tableKey(t), 'put back into the publication');
    }
    await this.partitions.check([...this.mirrored]);
    return added;
  }

  /**
   * Adds one table that `source.tables` takes: its key, schema and topic first (once the
   * publication names it, its changes stream at once), then the publication, then a copy. False
   * when it cannot be mirrored (no key...): reported once and left out.
   */
  private async add(t: CatalogTable): Promise<boolean> {
    const { client, config, logger } = this.d;
    const key = tableKey(t);
    this.oids.set(key, t.oid);
    const cols = await listColumns(client, t.oid);
    try {
      this.d.keys.set(
        key,
        tableKeyColumns(
          t,
          cols.map((c) => c.name),
          config.source.keys[key],
          logger,
        ),
      );
    } catch (e) {
      this.refused.add(key);
      this.oids.delete(key);
      logger.error(
        { table: key, err: (e as Error).message, fix: (e as { fix?: string }).fix },
        'new table matches source.tables but cannot be mirrored: left out',
      );
      return false;
    }
    const { table } = await this.d.schemas.resolve(t, t.oid, cols);
    await this.d.log.ensureTables([table.schema]);
    await this.d.log.publishSchema(table.schema);
    this.d.schemas.markPublished(table.schema);
    await clearRecreatedTables(client, this.d.state, config.source.slot, [key], logger);
    await ensurePublication(
      client,
      config.source.publication,
      [...this.mirrored, key].map(parseTableKey),
      logger,
    );
    this.mirrored.add(key);
    await this.record();
    // snapshot never (the pipeline's or the table's) means no copy at all: the table's changes
    // from now on are streamed.
    if (config.copiesOnItsOwn(key)) await this.requestCopy(key, 'table joined the pipeline');
    logger.info(
      { table: key },
      config.copiesOnItsOwn(key)
        ? 'new table joined the pipeline, copied while streaming goes on'
        : 'new table joined the pipeline, streamed only (snapshot never): its rows from before are not copied',
    );
    this.d.onAdded?.(key);
    return true;
  }

  /**
   * Mirrored tables gone from the source (DROP TABLE; Postgres took them out of the publication
   * itself): no change of theirs can follow, so they leave the mirrored set and are recorded as
   * dropped, for the sinks to mark. Their rows stay in the sinks.
   */
  private async noticeDropped(gone: readonly string[]): Promise<void> {
    if (gone.length === 0) return;
    const { client, config, logger } = this.d;
    const slot = config.source.slot;
    const lsn = (await client.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn as string;
    const dropped = await readDroppedTables(this.d.state, slot);
    const at = new Date().toISOString();
    for (const table of gone) {
      const oid = this.oids.get(table);
      if (oid !== undefined) this.formerOids.set(table, oid);
      this.mirrored.delete(table);
      this.oids.delete(table);
      if (!dropped.some((d) => d.table === table)) dropped.push({ table, droppedAt: at, noticedAtLsn: lsn });
      logger.warn(
        { table, noticedAtLsn: lsn },
        'table dropped in the source: its sink tables keep their rows and are marked as dropped',
      );
    }
    await writeDroppedTables(this.d.state, slot, dropped);
    await this.record();
    this.d.onDropped?.(dropped.length);
  }

  /** Asks the stream for a table refresh, through the WAL (acted on once it is read there). */
  async requestCopy(table: string, reason: string): Promise<void> {
    await emitRefreshRequest(this.d.client, this.d.config.source.slot, table, reason);
  }

  private async record(): Promise<void> {
    const slot = this.d.config.source.slot;
    const mirrored = [...this.mirrored].sort();
    await this.d.state.set(mirroredTablesKey(slot), JSON.stringify(mirrored));
    await this.d.state.set(
      tableOidsKey(slot),
      JSON.stringify(Object.fromEntries(mirrored.map((k) => [k, this.oids.get(k) ?? null]))),
    );
  }
}
