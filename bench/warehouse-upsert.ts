/**
 * Warehouse upsert throughput: rows/s of `commitRound` per adapter for batches of 1k, 10k and
 * 100k changes (90% updates of existing keys, 10% inserts) on a 10-column table holding 1M rows.
 * Run: npx tsx bench/warehouse-upsert.ts [duckdb|postgres ...]  (postgres needs TIDEMARK_PG_URL
 * or .services/env from scripts/services). Figures are printed, never asserted.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DEFAULT_TABLE_OPTIONS } from '../src/config/schema';
import type { ChangeEvent } from '../src/core/change-event';
import type { TableSchema } from '../src/core/table-schema';
import { openWarehouse } from '../src/sink/warehouse/open';
import type { Warehouse } from '../src/sink/warehouse/warehouse';

const EXISTING = Number(process.env.BENCH_EXISTING ?? 1_000_000);
const BATCHES = [1_000, 10_000, 100_000];
const LOAD_CHUNK = 100_000;

const schema: TableSchema = {
  schema: 'public',
  table: 'bench_orders',
  version: 1,
  primaryKey: ['id'],
  columns: [
    ['id', { kind: 'int64' }],
    ['customer', { kind: 'int32' }],
    ['status', { kind: 'text' }],
    ['amount', { kind: 'decimal', precision: 12, scale: 2 }],
    ['created_at', { kind: 'timestamptz' }],
    ['paid', { kind: 'bool' }],
    ['weight', { kind: 'float64' }],
    ['note', { kind: 'text' }],
    ['version', { kind: 'int64' }],
    ['ship_date', { kind: 'date' }],
  ].map(([name, type], i) => ({
    name: name as string,
    attnum: i + 1,
    type: type as never,
    pgType: '',
    nullable: i > 0,
  })),
};

let lsn = 0x1000000n;
function row(id: number, v: number) {
  return {
    id: BigInt(id),
    customer: id % 10_000,
    status: v % 2 ? 'paid' : 'open',
    amount: `${(id % 100_000) + v}.25`,
    created_at: 1_700_000_000_000_000n + BigInt(id) * 1000n,
    paid: v % 2 === 1,
    weight: id / 7,
    note: `order ${id} v${v}`,
    version: BigInt(v),
    ship_date: 19_000 + (id % 1000),
  };
}
function events(ids: number[], v: number, op: 'c' | 'u'): ChangeEvent[] {
  lsn += 0x1000n;
  return ids.map((id, seq) => ({
    op,
    table: schema,
    position: { lsn, seq },
    txId: 1,
    commitTimeMs: Date.now(),
    schemaVersion: 1,
    before: op === 'u' ? { id: BigInt(id) } : null,
    after: row(id, v),
    unchanged: [],
    snapshot: false,
  }));
}
let token: string | null = null;
async function commit(w: Warehouse, evs: ChangeEvent[]): Promise<void> {
  const next = `${lsn}`;
  await w.commitRound({
    cutLsn: lsn,
    commitId: next,
    tokens: [{ channel: 'bench', expected: token, next }],
    tables: [
      {
        schema,
        events: evs,
        options: { ...DEFAULT_TABLE_OPTIONS, onError: 'stop' },
      },
    ],
  });
  token = next;
}

async function bench(kind: 'duckdb' | 'postgres'): Promise<void> {
  token = null;
  let cleanup = async () => {};
  let w: Warehouse;
  if (kind === 'duckdb') {
    const dir = mkdtempSync(join(tmpdir(), 'wh-bench-'));
    w = await openWarehouse({ kind, path: join(dir, 'bench.duckdb') });
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const admin = pgUrl();
    const db = `bench_wh_${Date.now()}`;
    await sql(admin, `CREATE DATABASE ${db}`);
    const u = new URL(admin);
    u.pathname = `/${db}`;
    w = await openWarehouse({ kind, url: u.toString() });
    cleanup = async () => sql(admin, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
  try {
    await w.prepareTables([{ schema, options: { mode: 'mirror' } as never }]);
    const t0 = Date.now();
    for (let start = 0; start < EXISTING; start += LOAD_CHUNK) {
      await commit(
        w,
        events(
          Array.from({ length: Math.min(LOAD_CHUNK, EXISTING - start) }, (_, i) => start + i),
          0,
          'c',
        ),
      );
    }
    const loadS = (Date.now() - t0) / 1000;
    console.log(
      `${kind}: loaded ${EXISTING} rows in ${loadS.toFixed(1)} s (${Math.round(EXISTING / loadS)} rows/s, batches of ${LOAD_CHUNK})`,
    );
    let nextId = EXISTING;
    for (const size of BATCHES) {
      const updates = Array.from({ length: Math.floor(size * 0.9) }, () =>
        Math.floor(Math.random() * EXISTING),
      );
      const unique = [...new Set(updates)];
      const inserts = Array.from({ length: size - unique.length }, () => nextId++);
      const evs = [...events(unique, 1, 'u'), ...events(inserts, 1, 'c')];
      const started = process.hrtime.bigint();
      await commit(w, evs);
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      console.log(
        `${kind}: batch of ${evs.length} changes (${unique.length} updates, ${inserts.length} inserts) on ${EXISTING} rows: ${secs.toFixed(3)} s, ${Math.round(evs.length / secs)} rows/s`,
      );
    }
  } finally {
    await w.close();
    await cleanup();
  }
}

function pgUrl(): string {
  if (process.env.TIDEMARK_PG_URL) return process.env.TIDEMARK_PG_URL;
  const env = join(__dirname, '..', '.services', 'env');
  const m = existsSync(env) ? /TIDEMARK_PG_URL=(\S+)/.exec(readFileSync(env, 'utf8')) : null;
  if (!m) throw new Error('TIDEMARK_PG_URL is not set and .services/env is missing: run scripts/services up');
  return m[1]!;
}

async function sql(url: string, text: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const kinds = (process.argv.slice(2).length ? process.argv.slice(2) : ['duckdb', 'postgres']) as (
    | 'duckdb'
    | 'postgres'
  )[];
  for (const k of kinds) await bench(k);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
