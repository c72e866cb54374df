import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PYTHON } from '../../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, psql, type TestDatabase } from '../../support/services';
import {
  freePort,
  killAllTidemarks,
  runCli,
  startTidemark,
  type TidemarkProcess,
  writeConfig,
} from '../../support/tidemark-process';
import { waitForSlot } from './shop-mirror';

export type Mode = 'embedded' | 'kafka';

/**
 * The log, offsets and sinks sections of the schema-change tests' config: embedded with a
 * DuckDB warehouse and a SQLite Iceberg catalog in `dir`, or Kafka with a PostgreSQL warehouse
 * (${WH_URL}, `whUrl`) that also holds the Iceberg SQL catalog; and PyIceberg's URI for that catalog.
 */
export function schemaChangeSinks(
  mode: Mode,
  dir: string,
  whUrl: string,
): { yaml: string; catalogUri: string } {
  if (mode === 'embedded')
    return {
      yaml: `log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 200
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: duckdb, path: ${dir}/warehouse.duckdb }`,
      catalogUri: `sqlite:///${dir}/catalog.db`,
    };
  const u = new URL(whUrl);
  return {
    yaml: `log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 200
  iceberg: { catalog: { kind: sql, url: \${WH_URL} }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }`,
    catalogUri: `postgresql+psycopg2://${u.username}:${u.password}@${u.host}${u.pathname}`,
  };
}

export interface SnapshotSchemas {
  snapshots: Array<{ snapshot: number; cut: string | null; columns: string[]; rows: number }>;
  current: Array<Record<string, unknown>>;
}

/** Every snapshot of `table` read through PyIceberg (test/python/snapshot_schemas.py), and its current rows. */
export async function icebergSnapshots(catalogUri: string, table: string): Promise<SnapshotSchemas> {
  const script = join(__dirname, '..', '..', 'python', 'snapshot_schemas.py');
  const { stdout } = await promisify(execFile)(PYTHON, [script, catalogUri, 'tidemark', table], {
    maxBuffer: 1 << 26,
  });
  return JSON.parse(stdout) as SnapshotSchemas;
}

export interface SchemaChangeStack {
  readonly db: TestDatabase;
  readonly wh: TestDatabase | null;
  readonly dir: string;
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
  readonly port: number;
  readonly catalogUri: string;
}

/**
 * A source database made with `ddl`, and a config mirroring all its tables to both sinks
 * (`schemaChangeSinks`) with `extra` config lines; `drop()` removes what it made.
 */
export async function schemaChangeStack(
  mode: Mode,
  prefix: string,
  ddl: string,
  extra = '',
): Promise<SchemaChangeStack & { drop(): Promise<void> }> {
  const db = await createTestDatabase(prefix);
  await psql(db.url, ddl);
  const dir = mkdtempSync(join(tmpdir(), `tm-${prefix}-`));
  const port = await freePort();
  const wh = mode === 'kafka' ? await createTestDatabase(`${prefix}wh`) : null;
  const { yaml: sinks, catalogUri } = schemaChangeSinks(mode, dir, wh?.url ?? 'postgres://unused/x');
  const config = writeConfig(
    dir,
    'tidemark.yaml',
    `pipeline: ${db.name}
source: { url: "\${SRC_URL}", tables: ["public.*"], heartbeatIntervalMs: 500 }
${sinks}
${extra}
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
  );
  const env = { SRC_URL: db.url, WH_URL: wh?.url ?? '', TIDEMARK_METRICS_PORT: String(port) };
  return {
    db,
    wh,
    dir,
    config,
    env,
    port,
    catalogUri,
    drop: async () => {
      await killAllTidemarks();
      await db.drop();
      await wh?.drop();
    },
  };
}

/** `tidemark run` on the stack's config, once ready and its slot confirmed past the setup. */
export async function startStackPipeline(
  stack: SchemaChangeStack,
): Promise<{ proc: TidemarkProcess; slot: string }> {
  const proc = startTidemark(['run', '--config', stack.config], stack.env, stack.port);
  await proc.ready(90_000);
  const slot = `tidemark_${stack.db.name}`;
  await waitForSlot(stack.db.url, slot);
  return { proc, slot };
}

/** Updates of the `steady` table (id 1..50, v int) until `stop()`: the table that must go on. */
export function steadyWrites(url: string): { stop: () => Promise<number> } {
  let writing = true;
  const run = (async () => {
    let i = 0;
    for (; writing; i++) {
      await psql(url, 'UPDATE steady SET v = v + 1 WHERE id = $1', [1 + (i % 50)]);
      await new Promise((r) => setTimeout(r, 20));
    }
    return i;
  })();
  return {
    stop: async () => {
      writing = false;
      return run;
    },
  };
}

/** `tidemark verify --json`: [table, agrees] per table. */
export async function verifiedTables(stack: SchemaChangeStack): Promise<Array<[string, boolean]>> {
  const verify = await runCli(['verify', '--config', stack.config, '--json', '--wait', '20'], stack.env);
  const report = JSON.parse(verify.stdout) as { tables: Array<{ table: string; agree: boolean }> };
  return report.tables.map((t) => [t.table, t.agree]);
}
