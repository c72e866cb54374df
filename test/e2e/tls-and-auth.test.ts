import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { redisKeys } from '../../src/offsets/redis-keys';
import { createTestDatabase, kafkaBrokers, psql, type TestDatabase } from '../support/services';
import { freePort, killAllTidemarks, runCli, startTidemark, writeConfig } from '../support/tidemark-process';
import { waitForSlot } from './support/shop-mirror';

const REDIS_PASSWORD = 'redis-pass-for-the-tls-test';

/** `?sslmode=verify-full`: TLS, the certificate checked against the private CA and the host name. */
const verifyFull = (url: string) =>
  `${url}${url.includes('?') ? '&' : '?'}sslmode=verify-full&sslrootcert=${process.env.TIDEMARK_TLS_CA}`;

/**
 * Every connection tidemark makes, encrypted and authenticated: Postgres (source, its
 * replication connection, the warehouse) with sslmode=verify-full; Kafka over TLS with
 * SASL/SCRAM-SHA-512 (the broker's secured listener, scripts/services); Redis over TLS with a
 * password. The mirror works, Postgres reports TLS on every tidemark backend, and wrong Kafka
 * or Redis credentials stop tidemark at start with exit 2 and a sentence naming them.
 */
describe('TLS, SASL and Redis AUTH', () => {
  let src: TestDatabase;
  let wh: TestDatabase;
  let dir: string;
  let redis: ChildProcess;
  let redisPort: number;
  const yaml = (port: number, kafkaPasswordVar: string, redisUrlVar: string) => `pipeline: ${src.name}
source: { url: \${SRC_URL}, tables: ["public.orders"], heartbeatIntervalMs: 500 }
log:
  kind: kafka
  brokers: \${TIDEMARK_KAFKA_SECURE_BROKERS}
  partitions: 2
  ssl: { caFile: \${TIDEMARK_TLS_CA} }
  sasl: { mechanism: scram-sha-512, username: \${TIDEMARK_KAFKA_SCRAM_USER}, password: \${${kafkaPasswordVar}} }
offsets: { kind: redis, url: \${${redisUrlVar}}, caFile: \${TIDEMARK_TLS_CA} }
sinks:
  commitIntervalMs: 300
  iceberg: { catalog: { kind: sql, url: "sqlite://${dir}/catalog.db" }, location: ${dir}/lake }
  warehouse: { kind: postgres, url: \${WH_URL} }
observe: { port: ${port} }
`;
  const env = () => ({
    SRC_URL: verifyFull(src.url),
    WH_URL: verifyFull(wh.url),
    REDIS_TLS_URL: `rediss://:${REDIS_PASSWORD}@127.0.0.1:${redisPort}`,
    REDIS_WRONG_URL: `rediss://:not-the-password@127.0.0.1:${redisPort}`,
    WRONG_KAFKA_PASSWORD: 'not-the-password',
  });

  beforeAll(async () => {
    src = await createTestDatabase('e2e_tlssrc');
    wh = await createTestDatabase('e2e_tlswh');
    await psql(
      src.url,
      'CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2)); INSERT INTO orders VALUES (1, 9.50)',
    );
    dir = mkdtempSync(join(tmpdir(), 'tm-tls-'));
    redisPort = await freePort();
    const tls = join(process.env.TIDEMARK_SERVICES_DIR!, 'tls');
    redis = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--requirepass',
        REDIS_PASSWORD,
        '--tls-cert-file',
        join(tls, 'server.crt'),
        '--tls-key-file',
        join(tls, 'server.key'),
        '--tls-ca-cert-file',
        join(tls, 'ca.crt'),
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    await new Promise((r) => setTimeout(r, 500));
  });
  afterAll(async () => {
    await killAllTidemarks();
    redis?.kill('SIGKILL');
    await src.drop();
    await wh.drop();
  });

  it('mirrors with every connection encrypted and authenticated', async () => {
    const port = await freePort();
    const config = writeConfig(
      dir,
      'tidemark.yaml',
      yaml(port, 'TIDEMARK_KAFKA_SCRAM_PASSWORD', 'REDIS_TLS_URL'),
    );
    const proc = startTidemark(['run', '--config', config], env(), port);
    await proc.ready(90_000);
    await psql(src.url, 'INSERT INTO orders VALUES (2, 20.00); UPDATE orders SET total = 10.00 WHERE id = 1');
    await waitForSlot(src.url, `tidemark_${src.name}`);
    const until = Date.now() + 60_000;
    const read = () =>
      psql(wh.url, 'SELECT id, total::text AS total FROM orders ORDER BY id').catch(() => []);
    let rows = await read();
    while (
      JSON.stringify(rows) !==
        JSON.stringify([
          { id: 1, total: '10.00' },
          { id: 2, total: '20.00' },
        ]) &&
      Date.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 300));
      rows = await read();
    }
    // THEN the mirror is right
    expect(rows).toEqual([
      { id: 1, total: '10.00' },
      { id: 2, total: '20.00' },
    ]);
    // AND every tidemark backend in both databases (the replication connection too) uses TLS
    const backends = await psql<{ app: string; kind: string; ssl: boolean }>(
      src.url,
      `SELECT a.application_name AS app, a.backend_type AS kind, s.ssl
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
        WHERE a.datname IN ('${src.name}', '${wh.name}') AND a.pid <> pg_backend_pid()
          AND a.application_name NOT LIKE 'psql%'`,
    );
    expect(backends.some((b) => b.kind === 'walsender')).toBe(true);
    expect(backends.length).toBeGreaterThanOrEqual(3);
    expect(backends.filter((b) => !b.ssl)).toEqual([]);
    // AND the tokens are in the password-protected Redis over TLS
    const r = new Redis(`rediss://:${REDIS_PASSWORD}@127.0.0.1:${redisPort}`, {
      tls: { ca: [readFileSync(process.env.TIDEMARK_TLS_CA!, 'utf8')] },
    });
    const tokens = await r.hgetall(redisKeys(src.name).tokens);
    r.disconnect();
    expect(Object.keys(tokens).length).toBeGreaterThan(0);
    // AND the changes went through the cluster that the secured listener fronts
    const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(`${src.name}.public.orders`);
    await admin.disconnect();
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBeGreaterThanOrEqual(3);

    expect(await proc.terminate()).toBe(0);
    const logs = proc.stderr();
    expect(logs).not.toContain(REDIS_PASSWORD);
    expect(logs).not.toContain(process.env.TIDEMARK_KAFKA_SCRAM_PASSWORD!);
  }, 180_000);

  it.each([
    ['Kafka', 'WRONG_KAFKA_PASSWORD', 'REDIS_TLS_URL', 'refused the SASL credentials of user "tidemark"'],
    [
      'Redis',
      'TIDEMARK_KAFKA_SCRAM_PASSWORD',
      'REDIS_WRONG_URL',
      'Redis refused the credentials of offsets.url',
    ],
  ])(
    'stops at start with exit 2 when %s refuses the credentials',
    async (_what, kafkaVar, redisVar, message) => {
      const config = writeConfig(dir, `bad-${kafkaVar}.yaml`, yaml(await freePort(), kafkaVar, redisVar));
      const err = await runCli(['run', '--config', config], env(), 120_000);
      expect(err.stderr).toContain(message);
      expect(err.code).toBe(2);
      expect(err.stderr).not.toContain('not-the-password');
    },
    150_000,
  );
});
