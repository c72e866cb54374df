import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { type Config, parseConfig } from '../config/load';
import { TidemarkError } from '../core/errors';
import { parseLsn } from '../core/lsn';
import { type Running, runPipeline } from '../main';
import { createRegistry } from '../observe/metrics';
import { createDemoDatabase, databaseUrl } from './demo-database';
import { currentWalLsn, mirrorCounts, type TableCounts } from './mirror-counts';
import { ProgressDisplay } from './progress-display';
import { SHOP_TABLES, seedSizes } from './shop-schema';
import { ShopWorkload } from './shop-workload';

export interface DemoOptions {
  /** A PostgreSQL server with wal_level=logical; the demo creates its own database there. */
  readonly sourceUrl: string;
  /** Where the Iceberg tables, the DuckDB file and the offsets go (emptied first). */
  readonly dir: string;
  readonly database: string;
  readonly scale: number;
  readonly ratePerSecond: number;
  /** Stop by itself after this many seconds; 0 runs until Ctrl-C. */
  readonly durationSeconds: number;
  readonly out?: NodeJS.WriteStream;
}

/** Marks a folder as the demo's own, so that a second run may empty it. */
const MARKER = '.tidemark-demo';

function prepareDir(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(join(dir, MARKER))) {
    throw new TidemarkError('config', `the demo folder ${dir} is not empty and was not made by the demo`, {
      fix: 'pass --dir with a new or empty folder',
    });
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER), 'made by `tidemark demo`; emptied by the next demo run\n');
}

function demoConfig(dir: string, pipeline: string, sourceUrl: string): Config {
  const yaml = `pipeline: ${pipeline}
source: { url: "\${TIDEMARK_DEMO_SOURCE_URL}", tables: ["public.*"] }
log: { kind: embedded }
offsets: { kind: file, path: "${dir}/offsets.json" }
sinks:
  commitIntervalMs: 1000
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: "${dir}/lake" }
  warehouse: { kind: duckdb, path: "${dir}/warehouse.duckdb" }
observe: { port: 0, logLevel: warn }
`;
  writeFileSync(join(dir, 'tidemark.yaml'), yaml);
  return parseConfig(yaml, { ...process.env, TIDEMARK_DEMO_SOURCE_URL: sourceUrl }, 'demo config');
}

/**
 * `tidemark demo`: a throw-away shop database with a live workload, mirrored by tidemark in
 * embedded mode into a local Iceberg folder and a DuckDB file, with a progress display. Ctrl-C
 * (or --duration) stops the workload, lets the sinks catch up, stops tidemark gracefully and
 * prints row counts side by side and where to look.
 */
export async function runDemo(o: DemoOptions): Promise<TableCounts[]> {
  const out = o.out ?? process.stdout;
  const say = (line: string) => out.write(`${line}\n`);
  const dir = resolve(o.dir);
  prepareDir(dir);
  const totals = await createDemoDatabase(o.sourceUrl, o.database, seedSizes(o.scale), say);
  const dbUrl = databaseUrl(o.sourceUrl, o.database);
  const config = demoConfig(dir, o.database, dbUrl);

  const registry = createRegistry(config.pipeline);
  let running: Running | null = null;
  const workload = new ShopWorkload(dbUrl, o.ratePerSecond);
  const display = new ProgressDisplay(
    { registry, running: () => running, workload: () => workload.stats, snapshotTotals: totals },
    out,
  );

  let requestStop!: (why: string) => void;
  const stopRequested = new Promise<string>((r) => (requestStop = r));
  let stopWhen!: (why: string) => void;
  const pipelineStop = new Promise<string>((r) => (stopWhen = r));
  let pipelineEnded = false;
  let signals = 0;
  const onSignal = (sig: string) => {
    if (++signals > 1) process.exit(130);
    requestStop(sig);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const timer =
    o.durationSeconds > 0 ? setTimeout(() => requestStop('duration'), o.durationSeconds * 1000) : null;

  // Stopping: the workload first, then wait until the slot is confirmed past the last write
  // (in embedded mode that means both sinks committed it), then a graceful stop of tidemark.
  const drained = stopRequested.then(async (why) => {
    await workload.stop();
    const end = await currentWalLsn(dbUrl);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !pipelineEnded) {
      const confirmed = running?.source?.status().confirmedLsn;
      if (confirmed && parseLsn(confirmed) >= end) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    stopWhen(why);
  });

  say(`mirroring ${[...totals.keys()].join(', ')} into ${dir}`);
  await workload.start();
  display.start();
  try {
    await runPipeline(config, 'all', {
      registry,
      onRunning: (r) => (running = r),
      stopWhen: pipelineStop,
      handleSignals: false,
    });
  } finally {
    pipelineEnded = true;
    requestStop('stopped');
    await drained;
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await display.stop();
  }

  const counts = await mirrorCounts(config, 'public', SHOP_TABLES);
  // A slot left behind would retain WAL on this server for ever; the demo is not resumed.
  await dropSlot(dbUrl, config.source.slot);
  say('');
  say('rows after the last cut       source   DuckDB  Iceberg');
  for (const c of counts) {
    say(
      `  ${c.table.padEnd(24)} ${String(c.source).padStart(9)} ${String(c.warehouse ?? '-').padStart(8)} ${String(c.iceberg ?? '-').padStart(8)}`,
    );
  }
  say('');
  say(`Iceberg tables: ${dir}/lake (SQLite catalog ${dir}/catalog.db, catalog name "tidemark")`);
  say(`DuckDB file:    ${dir}/warehouse.duckdb`);
  say(`config used:    ${dir}/tidemark.yaml (the source URL comes from TIDEMARK_DEMO_SOURCE_URL)`);
  say(
    `source:         database ${o.database} (kept; its replication slot ${config.source.slot} was dropped)`,
  );
  say('');
  say('Look at them (DuckDB CLI; Python with pyiceberg, e.g. the venv scripts/setup.d/20-pyiceberg makes):');
  say(
    `  duckdb ${dir}/warehouse.duckdb "SELECT status, count(*), sum(total) FROM public.orders GROUP BY 1 ORDER BY 1"`,
  );
  say(
    `  python3 -c 'from pyiceberg.catalog.sql import SqlCatalog; t = SqlCatalog("tidemark", uri="sqlite:///${dir}/catalog.db").load_table("public.orders"); print(t.scan().to_arrow().group_by("status").aggregate([("id", "count"), ("total", "sum")]))'`,
  );
  return counts;
}

async function dropSlot(url: string, slot: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
  } finally {
    await c.end();
  }
}
