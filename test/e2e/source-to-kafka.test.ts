import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import type { ChangeEvent } from '../../src/core/change-event';
import { parseLsn } from '../../src/core/lsn';
import { formatPosition } from '../../src/core/position';
import { decodeEnvelope } from '../../src/log/envelope';
import { readToEnd } from '../../src/log/read-to-end';
import { SchemaRegistry } from '../../src/log/schema-registry';
import { tableTopic } from '../../src/log/topics';
import { collapseByKey } from '../../src/sink/collapse';
import { dropTestDatabase } from '../support/services';
import { freePort, startTidemark, type TidemarkProcess, writeConfig } from '../support/tidemark-process';

/**
 * The source half of the product through the real CLI: Postgres (wal_level=logical) →
 * tidemark --role source → a real Kafka broker, with kill -9 at random moments.
 */
const adminUrl = process.env.TIDEMARK_PG_URL!;
const brokers = process.env.TIDEMARK_KAFKA_BROKERS!;
const kafka = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING });

interface Fixture {
  db: string;
  url: string;
  pipeline: string;
  dir: string;
  config: string;
}

/** Every fixture database, dropped with its slot once the file's tests ran. */
const created: string[] = [];
afterAll(async () => {
  for (const db of created) await dropTestDatabase(db).catch(() => {});
});

async function createFixture(ddl: string, extra = ''): Promise<Fixture> {
  const id = randomUUID().slice(0, 8);
  const db = `e2e_src_${id}`;
  created.push(db);
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const url = withDatabase(adminUrl, db);
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query(ddl);
  await c.end();
  const dir = mkdtempSync(join(tmpdir(), 'tm-e2e-'));
  const pipeline = `e2e_${id}`;
  const config = writeConfig(
    dir,
    'tidemark.yaml',
    `pipeline: ${pipeline}
source:
  url: \${SRC_URL}
  tables: ["public.*"]
  heartbeatIntervalMs: 500
  watermarkIntervalMs: 200
${extra}
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 3 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
  );
  return { db, url, pipeline, dir, config };
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function run(f: Fixture): Promise<TidemarkProcess> {
  const port = await freePort();
  const p = startTidemark(
    ['run', '--config', f.config, '--role', 'source'],
    { SRC_URL: f.url, TIDEMARK_METRICS_PORT: String(port) },
    port,
  );
  return p;
}

async function readChanges(f: Fixture, tables: string[]): Promise<Array<{ ev: ChangeEvent; raw: string }>> {
  const registry = new SchemaRegistry(kafka, f.pipeline);
  await registry.refresh();
  const out: Array<{ ev: ChangeEvent; raw: string }> = [];
  await readToEnd(
    kafka,
    tables.map((t) => tableTopic(f.pipeline, { schema: 'public', table: t })),
    ({ message }) => {
      const ev = decodeEnvelope(message.value!, (s, t, v) => registry.get(s, t, v));
      const { ts_ms: _ignored, ...stable } = JSON.parse(message.value!.toString());
      out.push({ ev, raw: JSON.stringify(stable) });
    },
  );
  return out;
}

describe('source → Kafka, end to end through the CLI', () => {
  it('loses nothing and repeats only with identical positions under kill -9 during a write load', async () => {
    // GIVEN a database with a keyed table and a TOAST-sized column
    const f = await createFixture(`
      CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(12,2) NOT NULL, note text);
    `);
    const c = new Client({ connectionString: f.url });
    await c.connect();

    // WHEN tidemark runs, and a workload runs while tidemark is killed with SIGKILL at random moments
    let proc = await run(f);
    await proc.ready();
    let stop = false;
    let changes = 0;
    const workload = (async () => {
      let next = 1;
      while (!stop) {
        await c.query('BEGIN');
        await c.query('INSERT INTO accounts VALUES ($1, 100, $2), ($3, 50, NULL)', [
          next,
          'x'.repeat(next % 7 === 0 ? 9000 : 10),
          next + 1,
        ]);
        await c.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [next]);
        if (next > 4) await c.query('DELETE FROM accounts WHERE id = $1', [next - 3]);
        await c.query('COMMIT');
        changes += next > 4 ? 4 : 3;
        next += 2;
      }
    })();
    for (let kill = 0; kill < 4; kill++) {
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
      await proc.kill9();
      proc = await run(f);
      await proc.ready();
    }
    stop = true;
    await workload;
    const endLsn = parseLsn((await c.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l);
    // Wait (on the slot, not on a clock) until the source has acknowledged everything written.
    for (;;) {
      const r = await c.query(
        'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1',
        [`tidemark_${f.pipeline}`],
      );
      if (parseLsn(r.rows[0].l) >= endLsn) break;
      await new Promise((r2) => setTimeout(r2, 200));
    }
    await proc.terminate();

    // THEN every committed change is in Kafka, each distinct position exactly once in content
    const got = await readChanges(f, ['accounts']);
    const byPosition = new Map<string, string>();
    for (const { ev, raw } of got) {
      const key = formatPosition(ev.position);
      const seen = byPosition.get(key);
      if (seen !== undefined) expect(raw).toBe(seen);
      byPosition.set(key, raw);
    }
    expect(byPosition.size).toBe(changes);
    // and applying them in position order gives exactly the source table
    const ordered = [...new Map(got.map((g) => [formatPosition(g.ev.position), g.ev])).values()].sort(
      (a, b) =>
        a.position.lsn < b.position.lsn
          ? -1
          : a.position.lsn > b.position.lsn
            ? 1
            : a.position.seq - b.position.seq,
    );
    const mirror = new Map<string, unknown>();
    for (const ch of collapseByKey(ordered, ['id']).changes) {
      if (ch.kind === 'upsert') mirror.set(String(ch.row.id), ch.row);
    }
    const source = (await c.query('SELECT id, balance::text AS balance, note FROM accounts ORDER BY id'))
      .rows;
    expect([...mirror.values()].sort((a, b) => (a as { id: number }).id - (b as { id: number }).id)).toEqual(
      source,
    );
    await c.end();
  });
});
