import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { readToEnd } from '../../src/log/read-to-end';
import { readWithPyIceberg } from '../integration/iceberg/iceberg-fixtures';
import { createTestDatabase, kafkaBrokers, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, runCli, startTidemark, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

const MASK_KEY = 'k3y-for-the-mask-test-0123456789';
const hmac = (text: string) => createHmac('sha256', MASK_KEY).update(text).digest('hex');
/** Every secret value in the source contains one of these; no byte tidemark writes may. */
const MARKERS = ['secret-mail', 'SSN-', 'hidden-note'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

const leaks = (text: string) => MARKERS.filter((m) => text.includes(m));

/**
 * Column exclusion and masking through the production path (Kafka, uncompressed so that its
 * bytes can be searched; Iceberg; a PostgreSQL warehouse): an excluded column never leaves the
 * source, a masked one leaves it only as an HMAC (keys and joins still work). The test searches
 * every Kafka message, every value read back from both sinks, every file written and every log
 * line (debug level) for the secret values, snapshot rows, streamed rows, a TOAST-unchanged
 * update and a REPLICA IDENTITY FULL delete included.
 */
describe('tables.<t>.exclude and .mask', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    src = await createTestDatabase('e2e_msrc');
    wh = await createTestDatabase('e2e_mwh');
    await psql(
      src.url,
      `CREATE TABLE people (id int PRIMARY KEY, email text, ssn text, name text, note text);
       ALTER TABLE people REPLICA IDENTITY FULL;
       INSERT INTO people SELECT g, 'secret-mail-' || g || '@example.com', 'SSN-' || g, 'name ' || g,
         CASE WHEN g = 1 THEN repeat('hidden-note ', 2000) ELSE 'hidden-note ' || g END
       FROM generate_series(1, 50) g;`,
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-mask-'));
  });
  afterAll(async () => {
    await killAllTidemarks();
    await src.drop();
    await wh.drop();
  });

  it('keeps excluded columns and masked values out of Kafka, both sinks, files and logs', async () => {
    const port = await freePort();
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.people"], heartbeatIntervalMs: 500, maskKey: \${MASK_KEY} }
log: { kind: kafka, brokers: \${TIDEMARK_KAFKA_BROKERS}, partitions: 2, compression: none }
offsets: { kind: redis, url: \${TIDEMARK_REDIS_URL} }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
tables:
  public.people: { exclude: [ssn], mask: [email, note] }
observe: { port: ${port}, logLevel: debug }
`,
    );
    const env = { SRC_URL: src.url, WH_URL: wh.url, MASK_KEY };
    const proc = startTidemark(['run', '--config', config], env, port);
    await proc.ready(90_000);
    await psql(
      src.url,
      `INSERT INTO people VALUES (51, 'secret-mail-51@example.com', 'SSN-51', 'name 51', 'hidden-note 51');
       UPDATE people SET name = 'renamed' WHERE id = 1;  -- note is TOASTed and unchanged
       UPDATE people SET email = 'secret-mail-new@example.com', ssn = 'SSN-new' WHERE id = 2;
       DELETE FROM people WHERE id = 3;`,
    );
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const until = Date.now() + 60_000;
    let rows = await psql<Record<string, unknown>>(wh.url, 'SELECT * FROM people ORDER BY id').catch(
      () => [],
    );
    while ((rows.length !== 50 || rows[0]?.name !== 'renamed') && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 300));
      rows = await psql<Record<string, unknown>>(wh.url, 'SELECT * FROM people ORDER BY id').catch(() => []);
    }

    // THEN the warehouse has no ssn column, and email and note as HMACs (the TOASTed note kept)
    expect(rows).toHaveLength(50);
    expect(Object.keys(rows[0]!).filter((c) => !c.startsWith('_tidemark'))).toEqual([
      'id',
      'email',
      'name',
      'note',
    ]);
    expect(rows[0]).toMatchObject({ id: 1, name: 'renamed', email: hmac('secret-mail-1@example.com') });
    expect(rows[0]!.note).toBe(hmac('hidden-note '.repeat(2000)));
    expect(rows[1]).toMatchObject({ id: 2, email: hmac('secret-mail-new@example.com') });
    expect(rows.find((r) => r.id === 3)).toBeUndefined();
    expect(leaks(JSON.stringify(rows))).toEqual([]);

    // AND Iceberg, read by PyIceberg, holds the same
    const ice = await readWithPyIceberg(`sqlite:///${dir}/catalog.db`, 'public.people');
    expect(ice.rows).toHaveLength(50);
    const first = (ice.rows as Record<string, unknown>[]).find((r) => r.id === 1)!;
    expect(Object.keys(first).sort()).toEqual(['email', 'id', 'name', 'note']);
    expect(first.note).toBe(hmac('hidden-note '.repeat(2000)));
    expect(leaks(JSON.stringify(ice.rows))).toEqual([]);

    // AND no Kafka message of the pipeline (changes, schemas, watermarks) carries a secret
    const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${src.name}.`));
    await admin.disconnect();
    let bytes = '';
    let messages = 0;
    await readToEnd(kafka, topics, ({ message }) => {
      messages++;
      bytes += `${message.key?.toString('latin1') ?? ''}${message.value?.toString('latin1') ?? ''}`;
      for (const h of Object.values(message.headers ?? {})) bytes += String(h);
    });
    expect(messages).toBeGreaterThan(50);
    expect(bytes).toContain(hmac('secret-mail-51@example.com'));
    expect(leaks(bytes)).toEqual([]);

    // AND `verify` agrees, comparing the masked values
    const verified = await runCli(['verify', '--config', config, '--json'], env);
    expect(JSON.parse(verified.stdout).agree).toBe(true);
    expect(leaks(verified.stdout + verified.stderr)).toEqual([]);

    expect(await proc.terminate()).toBe(0);
    // AND no file written (catalog, metadata, manifests; Parquet is compressed, hence the reads
    // above) and no log line holds one
    for (const f of filesUnder(dir)) expect([f, leaks(readFileSync(f).toString('latin1'))]).toEqual([f, []]);
    expect(proc.stderr()).toContain('"level":20'); // debug lines were written
    expect(leaks(proc.stderr() + proc.stdout())).toEqual([]);
  }, 300_000);

  it('refuses to exclude a key column, naming the key', async () => {
    const config = writeConfig(
      dir,
      'bad.yaml',
      `pipeline: ${src.name}_bad
source: { url: \${SRC_URL}, tables: ["public.people"] }
log: { kind: embedded }
offsets: { kind: file, path: ${dir}/bad-offsets.json }
sinks: { warehouse: { kind: duckdb, path: ${dir}/bad.duckdb } }
tables:
  public.people: { exclude: [id] }
`,
    );
    const err = await runCli(['run', '--config', config], { SRC_URL: src.url });
    expect(err.code).toBe(2);
    expect(err.stderr).toContain('config key "tables.public.people.exclude": id is part of the key');
  }, 60_000);
});
