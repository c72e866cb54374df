import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PYTHON } from '../integration/iceberg/iceberg-fixtures';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

/** One live file of a table as an independent reader sees it in the manifests (tagged values). */
export interface InspectedFile {
  readonly path: string;
  readonly records: number;
  readonly partition: Readonly<Record<string, unknown>>;
  /** Per column name (list elements as "ints.element"). */
  readonly valueCounts: Readonly<Record<string, number>>;
  readonly nullValueCounts: Readonly<Record<string, number>>;
  readonly nanValueCounts: Readonly<Record<string, number>>;
  readonly lowerBounds: Readonly<Record<string, unknown>>;
  readonly upperBounds: Readonly<Record<string, unknown>>;
}

/** What test/python/inspect_table.py prints: data and delete files, and the scans of each filter. */
export interface PyIcebergInspection {
  readonly files: readonly (InspectedFile & {
    /** 0 data, 1 position deletes. */
    readonly content: number;
    /** Codecs of the Parquet column chunks, as pyarrow reads the footer. */
    readonly compression: readonly string[];
    /** Distinct partition tuples PyIceberg's transforms compute from a data file's own rows. */
    readonly rowPartitions?: readonly Record<string, unknown>[];
  })[];
  readonly scans: readonly { filter: string; files: readonly string[]; rows: unknown[] }[];
}

/** Inspects a table with PyIceberg (SqlCatalog) and pyarrow; `filters` are PyIceberg row filters. */
export async function inspectWithPyIceberg(
  catalogUri: string,
  ident: string,
  filters: readonly string[] = [],
): Promise<PyIcebergInspection> {
  const script = join(ROOT, 'test', 'python', 'inspect_table.py');
  const args = [script, catalogUri, 'tidemark', ident, ...filters.map((f) => `--filter=${f}`)];
  const { stdout } = await run(PYTHON, args, { maxBuffer: 1 << 28 });
  return JSON.parse(stdout) as PyIcebergInspection;
}

/** What test/java's InspectTable prints: live data files, delete files, and each filter's scan. */
export interface JavaInspection {
  readonly files: readonly InspectedFile[];
  readonly deleteFiles: readonly string[];
  readonly scans: readonly { files: readonly string[]; rows: unknown[] }[];
}

/**
 * Inspects a table with Apache Iceberg's Java library (JdbcCatalog); `filters` are expressions in
 * Iceberg's JSON form (ExpressionParser), e.g. {type: 'eq', term: 'id', value: 3}, `true`, or
 * that JSON as a string (a long past 2^53 as a number literal).
 */
export async function inspectWithJava(
  jdbc: { readonly url: string; readonly user: string; readonly password: string },
  ident: string,
  filters: readonly (object | boolean | string)[] = [],
): Promise<JavaInspection> {
  const java = join(ROOT, 'test', 'java', 'target');
  const args = ['-cp', `${join(java, 'classes')}:${join(java, 'lib', '*')}`];
  args.push('dev.tidemark.icebergreader.InspectTable', jdbc.url, jdbc.user, jdbc.password, 'tidemark', ident);
  const { stdout } = await run(
    'java',
    [...args, ...filters.map((f) => (typeof f === 'string' ? f : JSON.stringify(f)))],
    {
      maxBuffer: 1 << 28,
    },
  );
  return JSON.parse(stdout) as JavaInspection;
}
