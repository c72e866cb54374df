import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { parseLsn } from '../../src/core/lsn';
import { createTestDatabase, type TestDatabase, uniqueName } from '../support/services';
import { freePort, startTidemark, writeConfig } from '../support/tidemark-process';

/**
 * The source through the real CLI when things go wrong: a Kafka broker that stops mid-load
 * (the slot must not be confirmed past what Kafka acknowledged), and start-up errors that must
 * be one clear message with a meaningful exit code.
 */
const ROOT = join(__dirname, '..', '..');

function config(dir: string, pipeline: string, tables = '["public.*"]'): string {
  return writeConfig(
    dir,
    `${pipeline}.yaml`,
    `pipeline: ${pipeline}
source:
  url: \${SRC_URL}
  tables: ${tables}
  heartbeatIntervalMs: 300
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2 }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
observe: { port: \${TIDEMARK_METRICS_PORT} }
`,
  );
}

async function confirmed(c: Client, slot: string): Promise<bigint> {
  const r = await c.query(
    'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return r.rows[0]?.l ? parseLsn(r.rows[0].l) : 0n;
}

describe('source outages and start-up errors through the CLI', () => {
  let db: TestDatabase;
  const dir = mkdtempSync(join(tmpdir(), 'tm-outage-'));
  beforeEach(async () => {
    db = await createTestDatabase('e2e_out');
  });
  afterEach(async () => {
    await db.drop();
  });

  it('does not confirm the slot past what Kafka acknowledged while the broker is down', async () => {
    // GIVEN a running source that has shipped a first transaction
    const c = new Client({ connectionString: db.url });
    c.on('error', () => {}); // the database is dropped under it if the test fails
    await c.connect();
    await c.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    const pipeline = uniqueName('out');
    const slot = `tidemark_${pipeline}`;
    const port = await freePort();
    let proc = startTidemark(
      ['run', '--config', config(dir, pipeline), '--role', 'source'],
      { SRC_URL: db.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
    await proc.ready();
    await c.query(`INSERT INTO t VALUES (0, 'before')`);
    const before = parseLsn((await c.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l);
    while ((await confirmed(c, slot)) < before) await new Promise((r) => setTimeout(r, 100));
    try {
      // WHEN the broker stops and writes go on
      execFileSync('bash', [join(ROOT, 'scripts', 'services'), 'down', 'kafka'], { stdio: 'ignore' });
      // Nothing written from here on can have been acknowledged by Kafka. (A heartbeat that Kafka
      // acknowledged just before it stopped may still be confirmed a moment later: that is right.)
      const brokerGoneAt = parseLsn(
        (await c.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l,
      );
      for (let i = 1; i <= 50; i++) await c.query(`INSERT INTO t VALUES ($1, 'during')`, [i]);
      // keepalives and heartbeats keep arriving for a while; the slot must not pass that point
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 150));
        expect(await confirmed(c, slot)).toBeLessThanOrEqual(brokerGoneAt);
      }
    } finally {
      execFileSync('bash', [join(ROOT, 'scripts', 'services'), 'up', 'kafka'], { stdio: 'ignore' });
    }
    // THEN, with the broker back, everything arrives. The source may give up during the outage,
    // before or after the broker is back: like Kubernetes, restart it whenever it has exited.
    let exited = false;
    const watch = (p: typeof proc) => void p.exited.then(() => (exited = true));
    watch(proc);
    const end = parseLsn((await c.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l);
    while ((await confirmed(c, slot)) < end) {
      if (exited) {
        exited = false;
        proc = startTidemark(
          ['run', '--config', config(dir, pipeline), '--role', 'source'],
          { SRC_URL: db.url, TIDEMARK_METRICS_PORT: String(port) },
          port,
        );
        watch(proc);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await proc.terminate()).toBe(0);
    await c.end();
  }, 240_000);

  it.each([
    [
      'a config key with a bad value',
      'snapshot: initial',
      'snapshot: maybe',
      2,
      /config key "source\.snapshot"/,
    ],
    ['a table that does not exist', '', '', 3, /source table public\.nope does not exist/],
    [
      'a table without a primary key',
      '',
      '',
      3,
      /public\.loose has no primary key and no REPLICA IDENTITY FULL/,
    ],
  ])('exits with a clear message for %s', async (what, from, to, code, message) => {
    const c = new Client({ connectionString: db.url });
    await c.connect();
    await c.query('CREATE TABLE loose (a int)');
    await c.end();
    const pipeline = uniqueName('bad');
    const tables = what.includes('exist') ? '[public.nope]' : '["public.*"]';
    const file = config(dir, pipeline, tables);
    if (from)
      writeConfig(
        dir,
        `${pipeline}.yaml`,
        readFileSync(file, 'utf8').replace('heartbeatIntervalMs: 300', `heartbeatIntervalMs: 300\n  ${to}`),
      );
    const port = await freePort();
    const proc = startTidemark(
      ['run', '--config', file, '--role', 'source'],
      { SRC_URL: db.url, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
    expect(await proc.exited).toBe(code);
    expect(proc.stderr()).toMatch(message);
    expect(proc.stderr()).toMatch(/fix:|must be|expected/i);
  });
});
