import type { Client } from 'pg';
import { describeType } from '../core/column-type';
import { TidemarkError } from '../core/errors';
import type { ColumnSchema, TableRef, TableSchema } from '../core/table-schema';
import { tableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import { followedInPlace } from '../sink/text-casts';
import { type ColumnPolicy, hmacMasker, type Masker, NO_COLUMN_POLICY } from './column-policy';
import { type CatalogColumn, listColumns, listTables } from './setup/catalog';
import { checkColumnNames } from './setup/checks';
import type { SourceStateStore } from './state-store';
import { PgTypeCatalog, type ResolvedType } from './types/pg-type-catalog';

export interface ColumnSource {
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

/** The replica identity of a Relation message: its kind and the columns flagged as key. */
export interface ReplicaIdentityColumns {
  readonly kind: 'd' | 'n' | 'f' | 'i';
  readonly columns: readonly string[];
}

export interface SourceTable {
  readonly schema: TableSchema;
  /** Array element delimiter per column (only differs from ',' for box[]). */
  readonly delimiters: readonly string[];
  /** Per column of `schema`: its index in the published row (pgoutput's tuple), which also holds excluded columns. */
  readonly tupleIndex: readonly number[];
  /** Per column: for a masked column, what its text becomes before it leaves the source. */
  readonly maskers: readonly (Masker | null)[];
}

/**
 * Builds and versions table schemas. The same columns (from the catalog at snapshot time or
 * from a Relation message while streaming) always give the same schema; a change of columns,
 * types or nullability gives version + 1. The last schema per table is kept in the state store,
 * so versions survive restarts and replays decode with the version they had.
 */
export class TableSchemas {
  private readonly types: PgTypeCatalog;
  private readonly current = new Map<string, SourceTable>();
  private readonly warnedTypes = new Set<string>();

  constructor(
    private readonly client: Client,
    private readonly state: SourceStateStore,
    private readonly slot: string,
    private readonly keys: Map<string, string[]>,
    private readonly logger: Logger,
    /** Told of every new version of a table seen after the first (for the schema-change metric). */
    private readonly onChanged: (table: string) => void = () => {},
    private readonly policy: ColumnPolicy = NO_COLUMN_POLICY,
    /**
     * Told of a new version whose added columns hold values the stream never carried for the
     * existing rows (a default Postgres computed row by row: see `fills`); resolves once a copy
     * of the table that brings them is asked for. Awaited before the version is recorded, so a
     * crash in between asks again (one copy too many, never one too few).
     */
    private readonly onRowsComputed: (
      table: string,
      columns: readonly string[],
    ) => Promise<void> = async () => {},
  ) {
    this.types = new PgTypeCatalog(client);
    this.masker = policy.maskKey ? hmacMasker(policy.maskKey) : null;
  }

  private readonly masker: Masker | null;

  /** Checks the table's exclude/mask lists against its columns and key. */
  private columnPolicy(key: string, names: readonly string[]): { exclude: Set<string>; mask: Set<string> } {
    const { exclude, mask } = this.policy.columns(key);
    for (const [what, list] of [
      ['exclude', exclude],
      ['mask', mask],
    ] as const) {
      const unknown = list.filter((c) => !names.includes(c));
      if (unknown.length > 0)
        throw new TidemarkError(
          'config',
          `config key "tables.${key}.${what}": no column ${unknown.join(', ')} in ${key}`,
        );
    }
    const keyExcluded = exclude.filter((c) => this.keys.get(key)?.includes(c));
    if (keyExcluded.length > 0)
      throw new TidemarkError(
        'config',
        `config key "tables.${key}.exclude": ${keyExcluded.join(', ')} is part of the key, which every change needs`,
        { fix: 'mask it instead (tables.<t>.mask): the sinks then key the rows by its HMAC' },
      );
    if (mask.length > 0 && !this.masker)
      throw new TidemarkError('config', `config key "tables.${key}.mask" needs source.maskKey`);
    return { exclude: new Set(exclude), mask: new Set(mask) };
  }

  /**
   * A Relation message names the replica identity's columns as Postgres had them at that point of
   * the WAL. Under the default identity (the primary key) or an identity index, other columns than
   * the mirrored key mean the key changed (ALTER TABLE … ADD PRIMARY KEY): the new schema version
   * carries the new key, which each sink follows as its `onIncompatibleSchema` policy says (stop,
   * or rebuild). Keeping the old key would fold rows the source now tells apart. The order is the
   * key's own when the catalog still has it (a Relation message lists columns in table order).
   */
  private async followKey(key: string, relationOid: number, identity: ReplicaIdentityColumns): Promise<void> {
    if (identity.kind !== 'd' && identity.kind !== 'i') return; // FULL: the key is configured or the primary key
    const current = this.keys.get(key);
    const flagged = identity.columns;
    if (!current || flagged.length === 0) return;
    const sameSet = (a: readonly string[]) =>
      a.length === flagged.length && a.every((c) => flagged.includes(c));
    if (sameSet(current)) return;
    const t = (await listTables(this.client)).find((x) => x.oid === relationOid);
    const catalog = identity.kind === 'i' ? t?.identityIndex : t?.primaryKey;
    const next = catalog && sameSet(catalog) ? catalog : [...flagged];
    this.logger.warn({ table: key, from: current, to: next }, 'table key changed in the source');
    this.keys.set(key, next);
  }

  /**
   * Columns added since `previous` whose existing rows are not null in Postgres: a constant
   * DEFAULT (the rows read the stored missing value) is carried as the column's `fill`; a default
   * Postgres computed row by row (a volatile one such as gen_random_uuid() or clock_timestamp()
   * rewrites the table, and a rewrite is not in the stream) cannot be followed from the stream:
   * those columns are returned, for a copy of the table to bring their values. A column keeps the
   * fill it had in earlier versions.
   */
  private fills(
    previous: TableSchema,
    columns: ColumnSchema[],
    catalog: ReadonlyMap<string, CatalogColumn>,
    maskers: readonly (Masker | null)[],
  ): string[] {
    const before = new Map(previous.columns.map((c) => [c.attnum, c]));
    const computed: string[] = [];
    columns.forEach((c, i) => {
      const old = before.get(c.attnum);
      if (old) {
        if (old.fill !== undefined) columns[i] = { ...c, fill: old.fill };
        return;
      }
      const cat = catalog.get(c.name);
      // A masked column's default reaches the sinks masked, like its values.
      if (cat?.missingText != null)
        columns[i] = { ...c, fill: maskers[i]?.(cat.missingText) ?? cat.missingText };
      // No stored missing value: computed per row, or a default set after the column was added
      // (its rows are null, and a copy finds them so); either way a copy is right.
      else if (cat?.hasDefault) computed.push(c.name);
    });
    return computed;
  }

  /**
   * `cast-to-string`: a column whose type changed since `previous` in a way the sinks cannot
   * follow in place becomes text in the sinks (sink/text-casts.ts); one flagged before stays
   * flagged. A key column is not cast (its rows would change identity): the sinks refuse that
   * change and the table stops, as under `stop`.
   */
  private casts(
    key: string,
    previous: TableSchema,
    columns: ColumnSchema[],
    primaryKey: readonly string[],
  ): void {
    const before = new Map(previous.columns.map((c) => [c.attnum, c]));
    columns.forEach((c, i) => {
      const old = before.get(c.attnum);
      if (!old) return;
      if (old.castToText) {
        columns[i] = { ...c, castToText: true };
        return;
      }
      if (followedInPlace(old.type, c.type)) return;
      if (primaryKey.includes(c.name)) {
        this.logger.warn(
          { table: key, column: c.name, from: old.pgType, to: c.pgType },
          'key column changed type: cast-to-string does not apply to key columns; the sinks will stop the table',
        );
        return;
      }
      columns[i] = { ...c, castToText: true };
      this.logger.warn(
        { table: key, column: c.name, from: old.pgType, to: c.pgType },
        'column changed type in a way the sinks cannot follow: mirrored as text from now on (cast-to-string)',
      );
    });
  }

  get(t: TableRef): SourceTable | undefined {
    return this.current.get(tableKey(t));
  }

  /**
   * The schema for these columns; `changed` is true when it is a new version that must be
   * published before any event uses it.
   */
  async resolve(
    t: TableRef,
    relationOid: number,
    cols: readonly ColumnSource[],
    identity?: ReplicaIdentityColumns,
  ): Promise<{ table: SourceTable; changed: boolean }> {
    const key = tableKey(t);
    if (identity) await this.followKey(key, relationOid, identity);
    const catalog = new Map((await listColumns(this.client, relationOid)).map((c) => [c.name, c]));
    const policy = this.columnPolicy(
      key,
      cols.map((c) => c.name),
    );
    const columns: ColumnSchema[] = [];
    const delimiters: string[] = [];
    const tupleIndex: number[] = [];
    const maskers: (Masker | null)[] = [];
    for (const [i, c] of cols.entries()) {
      if (policy.exclude.has(c.name)) continue;
      tupleIndex.push(i);
      if (policy.mask.has(c.name)) {
        const cat = catalog.get(c.name);
        const pgType = (await this.types.resolve(c.typeOid, c.typeMod)).pgType;
        columns.push({
          name: c.name,
          attnum: cat?.attnum ?? i + 1,
          type: { kind: 'text' },
          pgType: `${pgType} (masked)`,
          nullable: !(cat?.notNull ?? false),
        });
        delimiters.push(',');
        maskers.push(this.masker);
        continue;
      }
      maskers.push(null);
      const resolved: ResolvedType = await this.types.resolve(c.typeOid, c.typeMod);
      if (resolved.fallback && !this.warnedTypes.has(resolved.pgType)) {
        this.warnedTypes.add(resolved.pgType);
        this.logger.warn(
          { table: key, column: c.name, pgType: resolved.pgType },
          'type has no exact mapping: mirrored as its text form',
        );
      }
      const cat = catalog.get(c.name);
      columns.push({
        name: c.name,
        attnum: cat?.attnum ?? i + 1,
        type: resolved.type,
        pgType: resolved.pgType,
        nullable: !(cat?.notNull ?? false),
      });
      delimiters.push(await this.types.delimiter(c.typeOid));
    }
    checkColumnNames(
      key,
      columns.map((c) => c.name),
    );
    const primaryKey = [...(this.keys.get(key) ?? [])].filter((k) => columns.some((c) => c.name === k));
    const previous = this.current.get(key)?.schema ?? (await this.stored(key));
    const computed = previous ? this.fills(previous, columns, catalog, maskers) : [];
    if (previous && this.policy.castsToText?.(key)) this.casts(key, previous, columns, primaryKey);
    const candidate = { schema: t.schema, table: t.table, columns, primaryKey };
    const same = previous !== null && fingerprint(previous) === fingerprint({ ...candidate, version: 0 });
    const schema: TableSchema = {
      ...candidate,
      version: same ? previous.version : (previous?.version ?? 0) + 1,
    };
    const table = { schema, delimiters, tupleIndex, maskers };
    this.current.set(key, table);
    if (!same) {
      if (computed.length > 0) await this.onRowsComputed(key, computed);
      await this.state.set(this.stateKey(key), JSON.stringify(schema));
      if (previous) {
        const describe = (s: TableSchema) =>
          s.columns.map((c) => `${c.name} ${c.pgType}${c.nullable ? '' : ' not null'}`);
        this.logger.info(
          {
            table: key,
            from: previous.version,
            to: schema.version,
            before: describe(previous),
            after: describe(schema),
          },
          'table schema changed',
        );
        this.onChanged(key);
      }
    }
    return { table, changed: !same || !this.published.has(key) };
  }

  private readonly published = new Set<string>();
  markPublished(t: TableRef): void {
    this.published.add(tableKey(t));
  }

  /** The last schema recorded for a table (from this run or an earlier one), or null. */
  async stored(key: string): Promise<TableSchema | null> {
    const text = await this.state.get(this.stateKey(key));
    return text ? (JSON.parse(text) as TableSchema) : null;
  }

  private stateKey(table: string): string {
    return `source:${this.slot}:schema:${table}`;
  }
}

function fingerprint(s: TableSchema): string {
  return JSON.stringify([
    s.columns.map((c) => [
      c.name,
      describeType(c.type),
      c.type.kind === 'json' && c.type.binary,
      c.nullable,
      c.attnum,
    ]),
    s.primaryKey,
  ]);
}
