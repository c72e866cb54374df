import type { Client } from 'pg';
import type { ColumnType } from '../../core/column-type';

interface PgTypeRow {
  oid: number;
  typname: string;
  nspname: string;
  typtype: string; // b base, d domain, e enum, c composite, r range, p pseudo, m multirange
  typcategory: string;
  typelem: number;
  typbasetype: number;
  typtypmod: number;
  typdelim: string;
}

export interface ResolvedType {
  readonly type: ColumnType;
  /** How Postgres names it, with modifiers: "numeric(12,2)", "public.mood[]". */
  readonly pgType: string;
  /** True when no exact mapping exists and the value is mirrored as its text form. */
  readonly fallback: boolean;
}

/** Built-in types by name (pg_catalog), with their typmod rules. */
function builtin(name: string, typmod: number): { type: ColumnType; pgType: string } | null {
  switch (name) {
    case 'bool':
      return { type: { kind: 'bool' }, pgType: 'boolean' };
    case 'int2':
      return { type: { kind: 'int16' }, pgType: 'smallint' };
    case 'int4':
      return { type: { kind: 'int32' }, pgType: 'integer' };
    case 'int8':
      return { type: { kind: 'int64' }, pgType: 'bigint' };
    case 'oid':
      return { type: { kind: 'int64' }, pgType: 'oid' };
    case 'float4':
      return { type: { kind: 'float32' }, pgType: 'real' };
    case 'float8':
      return { type: { kind: 'float64' }, pgType: 'double precision' };
    case 'numeric': {
      if (typmod < 4) return { type: { kind: 'numeric' }, pgType: 'numeric' };
      const precision = ((typmod - 4) >> 16) & 0xffff;
      let scale = (typmod - 4) & 0xffff;
      if (scale > 0x7fff) scale -= 0x10000; // negative scale (Postgres 15)
      const pgType = `numeric(${precision},${scale})`;
      // A negative scale rounds to tens, hundreds…: the values are integers of precision - scale digits.
      return scale < 0
        ? { type: { kind: 'decimal', precision: precision - scale, scale: 0 }, pgType }
        : { type: { kind: 'decimal', precision, scale }, pgType };
    }
    case 'text':
    case 'name':
    case 'char':
      return { type: { kind: 'text' }, pgType: name === 'text' ? 'text' : name };
    case 'varchar':
      return typmod >= 4
        ? { type: { kind: 'text', maxLength: typmod - 4 }, pgType: `varchar(${typmod - 4})` }
        : { type: { kind: 'text' }, pgType: 'varchar' };
    case 'bpchar':
      return typmod >= 4
        ? { type: { kind: 'text', maxLength: typmod - 4, fixed: true }, pgType: `char(${typmod - 4})` }
        : { type: { kind: 'text', fixed: true }, pgType: 'bpchar' };
    case 'bytea':
      return { type: { kind: 'bytes' }, pgType: 'bytea' };
    case 'uuid':
      return { type: { kind: 'uuid' }, pgType: 'uuid' };
    case 'json':
      return { type: { kind: 'json' }, pgType: 'json' };
    case 'jsonb':
      return { type: { kind: 'json', binary: true }, pgType: 'jsonb' };
    case 'date':
      return { type: { kind: 'date' }, pgType: 'date' };
    case 'time':
      return { type: { kind: 'time' }, pgType: 'time' };
    case 'timetz':
      return { type: { kind: 'timetz' }, pgType: 'timetz' };
    case 'timestamp':
      return { type: { kind: 'timestamp' }, pgType: 'timestamp' };
    case 'timestamptz':
      return { type: { kind: 'timestamptz' }, pgType: 'timestamptz' };
    case 'interval':
      return { type: { kind: 'interval' }, pgType: 'interval' };
    default:
      return null;
  }
}

/**
 * Resolves type oids (from Relation messages or the catalog) to tidemark column types, reading
 * pg_type once per oid: built-ins, enums (as their labels), domains (as their base type, typmod
 * included), arrays of any of these. Anything else (money, inet, geometric, ranges, composites,
 * extension types) is mirrored as its Postgres text form and reported as a fallback.
 */
export class PgTypeCatalog {
  private readonly rows = new Map<number, PgTypeRow>();

  constructor(private readonly client: Client) {}

  async resolve(oid: number, typmod: number): Promise<ResolvedType> {
    const row = await this.row(oid);
    if (row.typtype === 'd') {
      const base = await this.resolve(row.typbasetype, typmod >= 0 ? typmod : row.typtypmod);
      return { ...base, pgType: `${row.nspname}.${row.typname} (${base.pgType})` };
    }
    if (row.typtype === 'e')
      return {
        type: { kind: 'enum', typeName: `${row.nspname}.${row.typname}` },
        pgType: `${row.nspname}.${row.typname}`,
        fallback: false,
      };
    if (row.typcategory === 'A' && row.typelem !== 0) {
      const elem = await this.resolve(row.typelem, typmod);
      if (elem.type.kind === 'list') return elem;
      return {
        type: { kind: 'list', element: elem.type },
        pgType: `${elem.pgType}[]`,
        fallback: elem.fallback,
      };
    }
    if (row.nspname === 'pg_catalog') {
      const b = builtin(row.typname, typmod);
      if (b) return { ...b, fallback: false };
    }
    return {
      type: { kind: 'text' },
      pgType: row.nspname === 'pg_catalog' ? row.typname : `${row.nspname}.${row.typname}`,
      fallback: true,
    };
  }

  /** The array element delimiter of a type (',' for all but box). */
  async delimiter(oid: number): Promise<string> {
    const row = await this.row(oid);
    return row.typcategory === 'A' ? (await this.row(row.typelem)).typdelim : row.typdelim;
  }

  private async row(oid: number): Promise<PgTypeRow> {
    let row = this.rows.get(oid);
    if (!row) {
      const r = await this.client.query<PgTypeRow>(
        `SELECT t.oid::int AS oid, t.typname, n.nspname, t.typtype, t.typcategory, t.typelem::int AS typelem,
                t.typbasetype::int AS typbasetype, t.typtypmod, t.typdelim
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1`,
        [oid],
      );
      row = r.rows[0];
      if (!row) throw new Error(`type oid ${oid} not found in pg_type`);
      this.rows.set(oid, row);
    }
    return row;
  }
}
