import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { createTestDatabase, pgUrl, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, startTidemark, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

const ROOT = join(__dirname, '..', '..');

/**
 * The source role of the README's "Least privilege" section, and nothing more: LOGIN
 * REPLICATION, SELECT on the mirrored tables, a publication its owner created. tidemark mirrors
 * with exactly that role. Its password, given only through the environment, appears in no log
 * line (at debug level), in no /metrics sample and in no `status --json` output, nor in the error
 * a wrong password gives.
 */
describe('least privilege and secrets', () => {
  let db: TestDatabase;
  const role = `tm_least_${randomBytes(4).toString('hex')}`;
  const password = `Pw-${randomBytes(12).toString('hex')}`;
  afterAll(async () => {
    await killAllTidemarks();
    await db?.drop();
    await psql(pgUrl(), `DROP ROLE IF EXISTS ${role}`);
  });

  it('mirrors with exactly the documented grants, and never shows the password', async () => {
    // GIVEN the grants of the README, made by the database owner
    db = await createTestDatabase('e2e_least');
    await psql(db.url, 'CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await psql(db.url, 'CREATE TABLE private_notes (id int PRIMARY KEY, secret text)');
    const pipeline = db.name;
    await psql(pgUrl(), `CREATE ROLE ${role} LOGIN REPLICATION PASSWORD '${password}'`);
    await psql(db.url, `GRANT SELECT ON public.orders TO ${role}`);
    await psql(db.url, `CREATE PUBLICATION tidemark_${pipeline} FOR TABLE public.orders`);
    const u = new URL(db.url);
    u.username = role;
    u.password = password;
    const srcUrl = u.toString();

    const dir = mkdtempSync(join(tmpdir(), 'tm-least-'));
    const port = await freePort();
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${pipeline}
source: { url: "\${SRC_URL}", tables: [public.orders], heartbeatIntervalMs: 300 }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/offsets.json }
sinks:
  commitIntervalMs: 200
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: duckdb, path: ${dir}/warehouse.duckdb }
observe: { port: \${TIDEMARK_METRICS_PORT}, logLevel: debug }
`,
    );
    await psql(db.url, `INSERT INTO orders SELECT g, 'before ' || g FROM generate_series(1, 50) g`);

    // WHEN tidemark runs as that role while rows change
    const proc = startTidemark(
      ['run', '--config', config],
      { SRC_URL: srcUrl, TIDEMARK_METRICS_PORT: String(port) },
      port,
    );
    await proc.ready(90_000);
    await psql(db.url, `UPDATE orders SET note = 'after' WHERE id <= 10`);
    await psql(db.url, 'DELETE FROM orders WHERE id > 45');
    await psql(db.url, `INSERT INTO orders VALUES (100, 'new')`);
    await waitForSlot(db.url, `tidemark_${pipeline}`, 60_000);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(await proc.terminate()).toBe(0);

    // THEN the mirror equals the source
    const expected = await psql<{ id: number; note: string }>(
      db.url,
      'SELECT id, note FROM orders ORDER BY id',
    );
    expect(expected).toHaveLength(46);
    const instance = await DuckDBInstance.create(`${dir}/warehouse.duckdb`);
    const c = await instance.connect();
    try {
      const got = (await c.runAndReadAll('SELECT id, note FROM public.orders ORDER BY id')).getRowObjectsJS();
      expect(got.map((r) => ({ id: Number(r.id), note: r.note }))).toEqual(expected);
    } finally {
      c.closeSync();
      instance.closeSync();
    }

    // AND the password is nowhere: logs, metrics, status --json
    const status = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'bin', 'tidemark'), 'status', '--config', config, '--json'],
      { cwd: ROOT, env: { ...process.env, SRC_URL: srcUrl, TIDEMARK_METRICS_PORT: '0' } },
    );
    expect(proc.stderr()).toMatch(/"msg":"tidemark running"/); // the log was read
    expect(JSON.parse(status.stdout).pipeline).toBe(pipeline);
    for (const [where, text] of [
      ['log', proc.stderr()],
      ['/metrics', metrics],
      ['status --json', status.stdout + status.stderr],
    ] as const) {
      expect({ where, leaks: text.includes(password) }).toEqual({ where, leaks: false });
    }

    // AND a wrong password is one clear error that does not echo the configured one
    const wrong = new URL(srcUrl);
    wrong.password = `${password}-wrong`;
    const bad = startTidemark(['run', '--config', config], {
      SRC_URL: wrong.toString(),
      TIDEMARK_METRICS_PORT: '0',
    });
    expect(await bad.exited).not.toBe(0);
    expect(bad.stderr()).toMatch(/password authentication failed/);
    expect(bad.stderr().includes(password)).toBe(false);
  }, 240_000);
});
