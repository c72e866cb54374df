/**
 * `npm run bench`: tidemark against the physical limits of this machine, measured side by side
 * in one run so that the ratios hold on a noisy machine. Prints each figure as it comes and
 * writes bench/results/<time>.json and .md, and bench/results/latest.md (committed, linked from
 * the README). Figures are printed, never asserted.
 *
 * BENCH_SCALE (default 1) scales every size; BENCH_FULL=1 adds the 10M-row snapshot;
 * BENCH_CPU_PROF=<folder> writes a V8 CPU profile per tidemark process; BENCH_ONLY=kafka,big,
 * small,embedded,huge,snapshot,pgbench,files,writer runs only those parts (and leaves latest.md alone).
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { writerFigures } from './iceberg-writer';
import { currentLsn, dropDatabases, freshDatabase, withClient } from './lib/bench-table';
import { goalNotes } from './lib/goals';
import { type LatencyFigures, measureLatency } from './lib/latency';
import {
  copyOutSeconds,
  createRawSlot,
  dropRawSlot,
  kafkaProducerRate,
  recvlogicalSeconds,
} from './lib/limits';
import { machineInfo } from './lib/machine';
import { historyRows, initPgbench, runPgbench } from './lib/pgbench';
import type { ProcessUsage } from './lib/process-usage';
import { type Figure, writeReport } from './lib/report';
import { TidemarkRun, watching, writeConfig } from './lib/tidemark-run';
import { untilConfirmed, untilRowCount, untilRowVisible } from './lib/waits';

const ROOT = join(__dirname, '..');
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
/** The log's compression (tidemark's default is gzip); BENCH_COMPRESSION=none to compare. */
const COMPRESSION = process.env.BENCH_COMPRESSION ?? 'gzip';
const n = (x: number) => Math.max(1000, Math.round(x * SCALE));

function servicesEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  const text = readFileSync(join(ROOT, '.services', 'env'), 'utf8');
  for (const m of text.matchAll(/^(?:export )?(\w+)=["']?([^"'\n]*)/gm)) out[m[1]!] = m[2]!;
  return {
    ...out,
    ...Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k.startsWith('TIDEMARK_')) as [string, string][],
    ),
  };
}

const env = servicesEnv();
const PG = env.TIDEMARK_PG_URL!;
const PG_BIN = env.TIDEMARK_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const tag = Date.now().toString(36);
const work = mkdtempSync(join(tmpdir(), 'tm-bench-'));
const figures: Figure[] = [];
const notes: string[] = [];

function record(f: Figure): void {
  figures.push(f);
  const extra = f.detail ? ` (${f.detail})` : '';
  process.stdout.write(`${f.group} | ${f.name}: ${f.value.toLocaleString('en-US')} ${f.unit}${extra}\n`);
}

function usageFigures(group: string, who: string, u: ProcessUsage | null, changes: number): void {
  if (!u) return;
  record({ group, name: `${who} peak RSS`, value: Math.round(u.peakRssMiB), unit: 'MiB' });
  record({
    group,
    name: `${who} CPU per million changes`,
    value: Math.round((u.cpuSeconds / changes) * 1e6 * 10) / 10,
    unit: 'CPU-s',
  });
}

async function plainDatabase(name: string): Promise<string> {
  await withClient(PG, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  const u = new URL(PG);
  u.pathname = `/${name}`;
  return u.toString();
}

function kafkaConfig(
  name: string,
  snapshot: 'initial' | 'never',
  tables = '"public.bench_rows"',
  extra = '',
): string {
  return writeConfig(
    work,
    name,
    `pipeline: ${name}
source: { url: "\${SRC_URL}", tables: [${tables}], snapshot: ${snapshot} }
log: { kind: kafka, brokers: "\${TIDEMARK_KAFKA_BROKERS}", partitions: 3, compression: ${COMPRESSION} }
offsets: { kind: redis, url: "\${TIDEMARK_REDIS_URL}" }
sinks:
  iceberg: { catalog: { kind: sql, url: "\${WH_URL}" }, location: ${work}/lake-${name} }
  warehouse: { kind: postgres, url: "\${WH_URL}" }
observe: { port: \${TIDEMARK_METRICS_PORT}, logLevel: warn }
${extra}`,
  );
}

/** `duckdbMemoryLimit`: sinks.warehouse.memoryLimit (DuckDB's own 80% of memory when not given). */
function embeddedConfig(name: string, duckdbMemoryLimit?: string): string {
  return writeConfig(
    work,
    name,
    `pipeline: ${name}
source: { url: "\${SRC_URL}", tables: ["public.bench_rows"], snapshot: never }
log: { kind: embedded }
offsets: { kind: file, path: ${work}/${name}-offsets.json }
sinks:
  iceberg: { catalog: { kind: sql, url: "sqlite://${work}/${name}-catalog.db" }, location: ${work}/lake-${name} }
  warehouse: { kind: duckdb, path: ${work}/${name}.duckdb${duckdbMemoryLimit ? `, memoryLimit: ${duckdbMemoryLimit}` : ''} }
observe: { port: \${TIDEMARK_METRICS_PORT}, logLevel: warn }
`,
  );
}

/** Starts the source role once so that its slot exists before the changes are written. */
async function createTidemarkSlot(
  config: string,
  srcUrl: string,
  whUrl: string,
  role: 'source' | 'all',
): Promise<void> {
  const p = await TidemarkRun.start('slot-setup', config, role, { ...env, SRC_URL: srcUrl, WH_URL: whUrl });
  await p.ready();
  await p.stop();
}

/**
 * Streaming: `changes` rows written in transactions of `perTx` after both slots exist; the raw
 * slot read (pg_recvlogical) first, then tidemark's source and sink roles started together.
 */
async function streaming(label: string, short: string, changes: number, perTx: number): Promise<void> {
  const group = `stream: ${label}`;
  const name = `b${tag}_${short}`;
  const src = await freshDatabase(PG, name);
  const wh = await plainDatabase(`${name}_wh`);
  const config = kafkaConfig(name, 'never');
  await createTidemarkSlot(config, src, wh, 'source');
  await createRawSlot(src, 'bench_raw', 'bench_raw_pub', 'bench_rows');
  let t = performance.now();
  await withClient(src, (c) => c.query('CALL bench_insert(1, $1, $2)', [changes, perTx]));
  record({
    group,
    name: 'written by Postgres (server-side procedure)',
    value: Math.round(changes / ((performance.now() - t) / 1000)),
    unit: 'changes/s',
  });
  const end = await currentLsn(src);

  const recv = await recvlogicalSeconds(PG_BIN, src, 'bench_raw', 'bench_raw_pub', end);
  const limit = Math.round(changes / recv);
  record({ group, name: 'limit: pg_recvlogical (pgoutput) to /dev/null', value: limit, unit: 'changes/s' });
  await dropRawSlot(src, 'bench_raw');

  const runEnv = { ...env, SRC_URL: src, WH_URL: wh };
  const source = await TidemarkRun.start(`${name}-source`, config, 'source', runEnv);
  const sink = await TidemarkRun.start(`${name}-sink`, config, 'sink', runEnv);
  await Promise.all([source.ready(), sink.ready()]);
  t = performance.now();
  const sourceDone = watching([source, sink], untilConfirmed(src, `tidemark_${name}`, end, 1_800_000));
  const sinkDone = watching([source, sink], untilRowVisible(wh, changes, 1_800_000));
  const tSource = (await sourceDone) - t;
  const sourceUsage = source.usage();
  const tSink = (await sinkDone) - t;
  const sourceRate = Math.round(changes / (tSource / 1000));
  const e2e = Math.round(changes / (tSink / 1000));
  record({
    group,
    name: 'tidemark source → Kafka',
    value: sourceRate,
    unit: 'changes/s',
    detail: `${pct(sourceRate, limit)} of the slot read`,
  });
  record({
    group,
    name: 'tidemark end to end into Iceberg + PostgreSQL warehouse',
    value: e2e,
    unit: 'changes/s',
    detail: `${pct(e2e, limit)} of the slot read; goal 50,000`,
  });
  usageFigures(group, 'source', sourceUsage, changes);
  await source.stop();
  usageFigures(group, 'sink', await sink.stop(), changes);
}

async function embedded(
  label: string,
  short: string,
  changes: number,
  perTx: number,
  duckdbMemoryLimit?: string,
): Promise<void> {
  const group = `stream: embedded mode (no Kafka), ${label}${duckdbMemoryLimit ? `, DuckDB memoryLimit ${duckdbMemoryLimit}` : ''}`;
  const name = `b${tag}_${short}`;
  const src = await freshDatabase(PG, name);
  const config = embeddedConfig(name, duckdbMemoryLimit);
  await createTidemarkSlot(config, src, '', 'all');
  await withClient(src, (c) => c.query('CALL bench_insert(1, $1, $2)', [changes, perTx]));
  const end = await currentLsn(src);
  const p = await TidemarkRun.start(`${name}-all`, config, 'all', { ...env, SRC_URL: src });
  await p.ready();
  const t = performance.now();
  // Embedded mode confirms the slot only once both sinks committed.
  const done = (await watching([p], untilConfirmed(src, `tidemark_${name}`, end, 1_800_000))) - t;
  const rate = Math.round(changes / (done / 1000));
  record({ group, name: 'tidemark end to end into Iceberg + DuckDB', value: rate, unit: 'changes/s' });
  usageFigures(group, 'process', await p.stop(), changes);
}

/** Initial snapshot into both sinks, then a mixed load on top, then latency at fixed rates. */
async function snapshotMixedLatency(rows: number, mixed: number): Promise<LatencyFigures[]> {
  const group = `snapshot: ${rows.toLocaleString('en-US')} rows`;
  const name = `b${tag}_snap`;
  const src = await freshDatabase(PG, name);
  const wh = await plainDatabase(`${name}_wh`);
  await withClient(src, (c) => c.query('CALL bench_insert(1, $1, 100000)', [rows]));
  await withClient(src, (c) => c.query('VACUUM ANALYZE bench_rows'));
  const copy = await copyOutSeconds(PG_BIN, src, 'bench_rows');
  const limit = Math.round(rows / copy);
  record({ group, name: 'limit: COPY TO STDOUT > /dev/null, one connection', value: limit, unit: 'rows/s' });

  const config = kafkaConfig(name, 'initial');
  const runEnv = { ...env, SRC_URL: src, WH_URL: wh };
  const t = performance.now();
  const source = await TidemarkRun.start(`${name}-source`, config, 'source', runEnv);
  const sink = await TidemarkRun.start(`${name}-sink`, config, 'sink', runEnv);
  const done = (await watching([source, sink], untilRowCount(wh, rows, 3_600_000))) - t;
  const rate = Math.round(rows / (done / 1000));
  record({
    group,
    name: 'tidemark snapshot into Iceberg + PostgreSQL warehouse (from process start)',
    value: rate,
    unit: 'rows/s',
    detail: `${pct(rate, limit)} of COPY; goal 200,000`,
  });
  usageFigures(group, 'source', source.usage(), rows);
  usageFigures(group, 'sink', sink.usage(), rows);
  await Promise.all([source.ready(), sink.ready()]);

  const mg = `mixed load on ${rows.toLocaleString('en-US')} rows: 60% updates, 20% inserts, 20% deletes, 10 per transaction`;
  const t0 = performance.now();
  await withClient(src, (c) => c.query('CALL bench_mixed($1, $2, $3, 10)', [rows, rows + 1, mixed]));
  const written = performance.now();
  await withClient(src, (c) =>
    c.query(`INSERT INTO bench_rows VALUES (-1, 1, 1, 'marker', 'm', NULL, now(), '{}', true, 1)`),
  );
  const visible = await watching([source, sink], untilRowVisible(wh, -1, 1_800_000));
  record({
    group: mg,
    name: 'written by Postgres (server-side procedure)',
    value: Math.round(mixed / ((written - t0) / 1000)),
    unit: 'changes/s',
  });
  record({
    group: mg,
    name: 'tidemark end to end, write start → all visible',
    value: Math.round(mixed / ((visible - t0) / 1000)),
    unit: 'changes/s',
  });
  record({
    group: mg,
    name: 'behind when the writes ended',
    value: Math.round(visible - written),
    unit: 'ms',
  });
  const latencies: LatencyFigures[] = [];
  let firstId = 100_000_000;
  for (const r of [1_000, 5_000, 10_000]) {
    const l = await measureLatency(src, wh, r, 15, firstId);
    firstId += 10_000_000;
    latencies.push(l);
    record({
      group: 'latency: source commit → visible in both sinks (Kafka path, 10-row transactions, 15 s each)',
      name: `at ${r.toLocaleString('en-US')} changes/s`,
      value: l.p99Ms,
      unit: 'ms p99',
      detail: `p50 ${l.p50Ms} ms, p95 ${l.p95Ms} ms, max ${l.maxMs} ms, achieved ${l.achievedChangesPerSecond.toLocaleString('en-US')} changes/s`,
    });
  }
  await source.stop();
  await sink.stop();
  return latencies;
}

const PGBENCH_CLIENTS = 4;
const PGBENCH_SECONDS = 30;

/**
 * A multi-table load from PostgreSQL's own pgbench (its TPC-B-like script: three updates and an
 * insert over four tables per transaction, 4 clients as fast as they go for 30 s) through the
 * Kafka path, after the snapshot of its tables; pgbench_history has no key, so it is mirrored as
 * a change history (append mode). Done when the warehouse holds every history row.
 */
async function pgbenchLoad(): Promise<void> {
  const scale = Math.max(1, Math.round(4 * SCALE));
  const name = `b${tag}_pgb`;
  const src = await plainDatabase(name);
  const wh = await plainDatabase(`${name}_wh`);
  await initPgbench(PG_BIN, src, scale);
  const config = kafkaConfig(
    name,
    'initial',
    '"public.pgbench_*"',
    'tables:\n  public.pgbench_history: { mode: append }\n',
  );
  const runEnv = { ...env, SRC_URL: src, WH_URL: wh };
  const source = await TidemarkRun.start(`${name}-source`, config, 'source', runEnv);
  const sink = await TidemarkRun.start(`${name}-sink`, config, 'sink', runEnv);
  await watching([source, sink], untilRowCount(wh, scale * 100_000, 1_800_000, 'public.pgbench_accounts'));
  const group = `pgbench: TPC-B-like, 4 changes over 4 tables per transaction, ${PGBENCH_CLIENTS} clients, ${PGBENCH_SECONDS} s (scale ${scale})`;
  const before = { source: source.usage(), sink: sink.usage() };
  const t0 = performance.now();
  const r = await runPgbench(PG_BIN, src, PGBENCH_CLIENTS, PGBENCH_SECONDS);
  const written = performance.now();
  const visible = await watching(
    [source, sink],
    untilRowCount(wh, await historyRows(src), 1_800_000, 'public.pgbench_history'),
  );
  const changes = r.transactions * 4;
  record({
    group,
    name: 'written by pgbench',
    value: Math.round(changes / r.seconds),
    unit: 'changes/s',
    detail: `${Math.round(r.transactions / r.seconds).toLocaleString('en-US')} transactions/s`,
  });
  record({
    group,
    name: 'tidemark end to end, write start → all visible',
    value: Math.round(changes / ((visible - t0) / 1000)),
    unit: 'changes/s',
  });
  record({ group, name: 'behind when the writes ended', value: Math.round(visible - written), unit: 'ms' });
  for (const [who, p] of [
    ['source', source],
    ['sink', sink],
  ] as const) {
    const now = p.usage();
    const was = before[who];
    if (!now || !was) continue;
    usageFigures(
      group,
      who,
      { cpuSeconds: now.cpuSeconds - was.cpuSeconds, peakRssMiB: now.peakRssMiB },
      changes,
    );
  }
  await source.stop();
  await sink.stop();
}

const FILES_ROWS = 200_000;
const FILES_SECONDS = 90;
const FILES_COMMIT_MS = 100;

/**
 * Iceberg files per table after many small commits, with and without automatic maintenance:
 * the embedded pipeline, asked to commit every 100 ms, runs under a steady mixed load (2,000
 * changes/s in 10-change transactions) for 90 s; then the data and delete files of the current
 * snapshot are counted. The number of commits is printed with it (a round takes longer than
 * 100 ms here, so it is the commit time that sets it).
 */
async function filesWithAndWithoutCompaction(): Promise<void> {
  const group = `Iceberg files per table after ${FILES_SECONDS} s of back-to-back small commits (mixed load, 2,000 changes/s, commitIntervalMs ${FILES_COMMIT_MS})`;
  for (const compactAtFiles of [0, 100]) {
    const name = `b${tag}_files${compactAtFiles}`;
    const src = await freshDatabase(PG, name);
    await withClient(src, (c) => c.query('CALL bench_insert(1, $1, 100000)', [FILES_ROWS]));
    const config = writeConfig(
      work,
      name,
      `pipeline: ${name}
source: { url: "\${SRC_URL}", tables: ["public.bench_rows"], snapshot: initial }
log: { kind: embedded }
offsets: { kind: file, path: ${work}/${name}-offsets.json }
sinks:
  commitIntervalMs: ${FILES_COMMIT_MS}
  iceberg:
    catalog: { kind: sql, url: "sqlite://${work}/${name}-catalog.db" }
    location: ${work}/lake-${name}
    maintenance: { compactAtFiles: ${compactAtFiles}, checkEveryMs: 5000 }
  warehouse: { kind: duckdb, path: ${work}/${name}.duckdb }
observe: { port: \${TIDEMARK_METRICS_PORT}, logLevel: warn }
`,
    );
    const p = await TidemarkRun.start(`${name}-all`, config, 'all', { ...env, SRC_URL: src });
    await p.ready();
    await watching([p], untilRowsCommitted(p, FILES_ROWS, 600_000));
    const commitsBefore = await p.metric('tidemark_sink_commits_total');
    const t0 = performance.now();
    for (let i = 0; performance.now() - t0 < FILES_SECONDS * 1000; i++) {
      const due = t0 + i * 100;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      // 200 changes every 100 ms; a moving modulus picks other keys each time
      await withClient(src, (c) =>
        c.query('CALL bench_mixed($1, $2, 200, 10)', [FILES_ROWS - (i % 997), 10_000_000 + i * 100]),
      );
    }
    await new Promise((r) => setTimeout(r, 2000));
    const commits = (await p.metric('tidemark_sink_commits_total')) - commitsBefore;
    await p.stop();
    const files = await icebergFiles(`sqlite://${work}/${name}-catalog.db`);
    if (files)
      record({
        group,
        name:
          compactAtFiles === 0
            ? 'without automatic compaction'
            : `automatic compaction at ${compactAtFiles} files`,
        value: files.data + files.deletes,
        unit: 'files',
        detail: `${files.data} data, ${files.deletes} position-delete, after ${Math.round(commits)} commits`,
      });
  }
}

/** Resolves once the process has committed at least `rows` changes. */
async function untilRowsCommitted(p: TidemarkRun, rows: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await p.metric('tidemark_sink_changes_total')) < rows) {
    if (Date.now() > until) throw new Error(`fewer than ${rows} changes committed within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Data and delete files of the current Iceberg snapshot, from its summary. */
async function icebergFiles(catalogUrl: string): Promise<{ data: number; deletes: number } | null> {
  const { openCatalog } = await import('../src/sink/iceberg/open-catalog');
  const catalog = await openCatalog({ kind: 'sql', url: catalogUrl, name: 'tidemark' });
  try {
    const location = await catalog.currentLocation({ namespace: 'public', name: 'bench_rows' });
    if (!location) return null;
    const meta = JSON.parse(readFileSync(new URL(location), 'utf8'));
    const snap = meta.snapshots.find(
      (s: { 'snapshot-id': number }) => s['snapshot-id'] === meta['current-snapshot-id'],
    );
    return {
      data: Number(snap?.summary?.['total-data-files'] ?? 0),
      deletes: Number(snap?.summary?.['total-delete-files'] ?? 0),
    };
  } finally {
    await catalog.close();
  }
}

async function kafkaLimit(records: number): Promise<void> {
  const brokers = env.TIDEMARK_KAFKA_BROKERS!;
  const admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const topic = `bench-perf-${tag}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  await admin.disconnect();
  for (const compression of ['none', 'gzip']) {
    const rate = await kafkaProducerRate(env.TIDEMARK_KAFKA_LIBS!, brokers, topic, records, 200, compression);
    record({
      group: 'the log',
      name: `limit: Kafka ProducerPerformance, 200-byte records, acks=all, ${compression}`,
      value: Math.round(rate),
      unit: 'records/s',
    });
  }
}

function pct(a: number, b: number): string {
  return `${Math.round((a / b) * 100)}%`;
}

async function main(): Promise<void> {
  const machine = machineInfo(PG_BIN, '3.9.1');
  process.stdout.write(
    `tidemark bench on ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, scale ${SCALE}\n`,
  );
  const only = process.env.BENCH_ONLY?.split(',');
  const want = (part: string) => !only || only.includes(part);
  if (want('kafka')) await kafkaLimit(n(1_000_000));
  if (want('big')) await streaming('large transactions (100k rows each)', 'big', n(1_000_000), 100_000);
  if (want('small')) await streaming('single-row transactions', 'small', n(200_000), 1);
  if (want('embedded')) await embedded('large transactions', 'emb', n(1_000_000), 100_000);
  if (want('huge')) {
    // The memory goals: the source's RSS through one 1M-row transaction, and the sinks' bounded
    // by their buffers (the transaction is larger than the 200,000-row default: written in parts).
    const rows = n(1_000_000);
    const label = `one ${rows.toLocaleString('en-US')}-row transaction`;
    await streaming(label, 'huge', rows, rows);
    // DuckDB's memory is bounded only when configured (OPERATIONS.md, "Sink memory and large transactions").
    await embedded(label, 'hugeemb', rows, rows, '256MiB');
  }
  if (want('snapshot')) await snapshotMixedLatency(n(1_000_000), n(200_000));
  if (want('pgbench')) await pgbenchLoad();
  if (want('files')) await filesWithAndWithoutCompaction();
  if (want('writer')) {
    const catalogDb = `b${tag}_catalog`;
    for (const f of await writerFigures(n(1_000_000), 100, await plainDatabase(catalogDb))) record(f);
    await withClient(PG, (c) => c.query(`DROP DATABASE IF EXISTS ${catalogDb} WITH (FORCE)`));
  }
  if (process.env.BENCH_FULL === '1') {
    notes.push('BENCH_FULL=1: the 10M-row snapshot ran as well.');
    await snapshotMixedLatency(n(10_000_000), n(200_000));
  } else {
    notes.push('The 10M-row snapshot runs with BENCH_FULL=1 (about 15 minutes here); not in this run.');
  }
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  // Only a full run replaces latest.md: a page mixing parts of several runs would break the ratios.
  const out = writeReport(
    dir,
    { machine, scale: SCALE, figures, notes: [...goalNotes(figures), ...notes] },
    { latest: !only },
  );
  process.stdout.write(
    `\nwrote ${out.json} and ${out.markdown}${only ? ' (BENCH_ONLY: latest.md left as it was)' : ' (and bench/results/latest.md)'}\n`,
  );
}

/**
 * The run's databases, slots and Kafka topics go, whatever happened (the processes are gone by
 * then): a broker left with thousands of partitions from earlier runs measured a third slower.
 */
async function cleanUp(): Promise<void> {
  const dropped = await dropDatabases(PG, `b${tag}_`).catch((e: unknown) => {
    process.stderr.write(`bench: could not drop the run's databases: ${(e as Error).message}\n`);
    return [];
  });
  if (dropped.length > 0)
    process.stdout.write(`dropped ${dropped.length} bench database(s) and their slots\n`);
  const topics = await deleteRunTopics().catch((e: unknown) => {
    process.stderr.write(`bench: could not delete the run's topics: ${(e as Error).message}\n`);
    return 0;
  });
  if (topics > 0) process.stdout.write(`deleted ${topics} bench topic(s)\n`);
}

async function deleteRunTopics(): Promise<number> {
  const admin = new Kafka({
    brokers: env.TIDEMARK_KAFKA_BROKERS!.split(','),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter(
      (t) => t.startsWith(`b${tag}_`) || t === `bench-perf-${tag}`,
    );
    if (topics.length > 0) await admin.deleteTopics({ topics });
    return topics.length;
  } finally {
    await admin.disconnect();
  }
}

main().then(
  async () => {
    await cleanUp();
    process.exit(0);
  },
  async (e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    await cleanUp();
    process.exit(1);
  },
);
