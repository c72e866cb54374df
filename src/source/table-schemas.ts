import type { Client } from 'pg';
import { describeType } from '../core/column-type';
import type { ColumnSchema, TableRef, TableSchema } from '../core/table-schema';
import { tableKey } from '../core/table-schema';
import type { Logger } from '../observe/logger';
import { type CatalogColumn, listColumns } from './setup/catalog';
import type { SourceStateStore } from './state-store';
import { PgTypeCatalog, type ResolvedType } from './types/pg-type-catalog';

export interface ColumnSource {
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

export interface SourceTable {
  readonly schema: TableSchema;
  /** Array element delimiter per column (only differs from ',' for box[]). */
  readonly delimiters: readonly string[];
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
    private readonly keys: ReadonlyMap<string, readonly string[]>,
    private readonly logger: Logger,
    /** Told of every new version of a table seen after the first (for the schema-change metric). */
    private readonly onChanged: (table: string) => void = () => {},
  ) {
    this.types = new PgTypeCatalog(client);
  }

  /**
   * Columns added since `previous` whose existing rows are not null in Postgres: a constant
   * DEFAULT (the rows read the stored missing value) is carried as the column's `fill`; a default
   * Postgres computed row by row (a table rewrite) cannot be followed from the stream, and is
   * reported. A column keeps the fill it had in earlier versions.
   */
  private fills(
    key: string,
    previous: TableSchema,
    columns: ColumnSchema[],
    catalog: ReadonlyMap<string, CatalogColumn>,
  ): void {
    const before = new Map(previous.columns.map((c) => [c.attnum, c]));
    columns.forEach((c, i) => {
      const old = before.get(c.attnum);
      if (old) {
        if (old.fill !== undefined) columns[i] = { ...c, fill: old.fill };
        return;
      }
      const cat = catalog.get(c.name);
      if (cat?.missingText != null) columns[i] = { ...c, fill: cat.missingText };
      else if (cat?.hasDefault)
        this.logger.warn(
          { table: key, column: c.name },
          'column added with a default but no stored value for existing rows: if Postgres computed one per row when adding it (a volatile default rewrites the table), the stream does not carry those values and existing rows stay null in the sinks until they change; re-snapshot the table to refresh them',
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
  ): Promise<{ table: SourceTable; changed: boolean }> {
    const key = tableKey(t);
    const catalog = new Map((await listColumns(this.client, relationOid)).map((c) => [c.name, c]));
    const columns: ColumnSchema[] = [];
    const delimiters: string[] = [];
    for (const [i, c] of cols.entries()) {
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
    const primaryKey = [...(this.keys.get(key) ?? [])].filter((k) => columns.some((c) => c.name === k));
    const previous = this.current.get(key)?.schema ?? (await this.stored(key));
    if (previous) this.fills(key, previous, columns, catalog);
    const candidate = { schema: t.schema, table: t.table, columns, primaryKey };
    const same = previous !== null && fingerprint(previous) === fingerprint({ ...candidate, version: 0 });
    const schema: TableSchema = {
      ...candidate,
      version: same ? previous.version : (previous?.version ?? 0) + 1,
    };
    const table = { schema, delimiters };
    this.current.set(key, table);
    if (!same) {
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

  private async stored(key: string): Promise<TableSchema | null> {
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
