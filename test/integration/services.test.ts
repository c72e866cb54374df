import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load';
import { createTestDatabase, kafkaBrokers, psql, redisUrl, uniqueName } from '../support/services';

/** Proof that `scripts/services up` gives the tests what they rely on, against the real servers. */
describe('the local services started by scripts/services', () => {
  it('PostgreSQL has logical WAL and can create and drop a pgoutput slot', async () => {
    const db = await createTestDatabase('svc');
    try {
      const [wal] = await psql<{ wal_level: string }>(db.url, 'SHOW wal_level');
      expect(wal!.wal_level).toBe('logical');
      const [slots] = await psql<{ max_replication_slots: string }>(db.url, 'SHOW max_replication_slots');
      expect(Number(slots!.max_replication_slots)).toBeGreaterThanOrEqual(64);
      const slot = uniqueName('svc');
      await psql(db.url, `SELECT * FROM pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
      const created = await psql(
        db.url,
        'SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      expect(created).toEqual([{ plugin: 'pgoutput', database: db.name }]);
      await psql(db.url, `SELECT pg_drop_replication_slot('${slot}')`);
      expect(await psql(db.url, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).toEqual(
        [],
      );
    } finally {
      await db.drop();
    }
  });

  it('PostgreSQL accepts a password-authenticated replication connection on 127.0.0.1', async () => {
    const db = await createTestDatabase('svc');
    // replication: 'database' opens a walsender session, which pg_hba's `host replication` line governs.
    const c = new Client({ connectionString: db.url, replication: 'database' } as ConstructorParameters<
      typeof Client
    >[0]);
    try {
      await c.connect();
      const res = await c.query('IDENTIFY_SYSTEM');
      expect(res.rows[0].dbname).toBe(db.name);
      expect(res.rows[0].xlogpos).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    } finally {
      await c.end();
      await db.drop();
    }
  });

  it('Redis stores and returns a value', async () => {
    const r = new Redis(redisUrl());
    try {
      const key = `${uniqueName('svc')}:k`;
      await r.set(key, 'v', 'EX', 60);
      expect(await r.get(key)).toBe('v');
      expect(await r.del(key)).toBe(1);
    } finally {
      await r.quit();
    }
  });

  it('Kafka takes idempotent acks=all writes to a 3-partition topic and serves them back', async () => {
    const kafka = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const topic = uniqueName('svc');
    const admin = kafka.admin();
    await admin.connect();
    const consumer = kafka.consumer({ groupId: uniqueName('svc') });
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({
        topic,
        acks: -1,
        messages: [0, 1, 2].map((p) => ({ partition: p, key: `k${p}`, value: `m${p}` })),
      });
      await producer.disconnect();
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets.map((o) => Number(o.high))).toEqual([1, 1, 1]);

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const got = await new Promise<string[]>((resolve) => {
        const seen: string[] = [];
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            seen.push(`${partition}:${message.key}:${message.value}`);
            if (seen.length === 3) resolve(seen.sort());
          },
        });
      });
      expect(got).toEqual(['0:k0:m0', '1:k1:m1', '2:k2:m2']);
    } finally {
      await consumer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});

/** No Docker engine runs here, so the compose file is checked for what can be checked without one. */
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8'));

  it('defines Postgres 15 with logical WAL, Kafka 3.9.1, Redis 7 and tidemark built from the Dockerfile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['kafka', 'postgres', 'redis', 'tidemark']);
    expect(compose.services.postgres.image).toBe('postgres:15');
    expect(compose.services.postgres.command).toContain('wal_level=logical');
    expect(compose.services.kafka.image).toBe('apache/kafka:3.9.1');
    expect(compose.services.redis.image).toBe('redis:7');
    expect(compose.services.tidemark.build).toBe('.');
    expect(compose.services.tidemark.command).toEqual(['run', '--config', '/config/tidemark.yaml']);
  });

  it("embeds a tidemark config that the config schema accepts with the service's environment", () => {
    // Compose turns $${X} into ${X}; tidemark then fills ${X} in from its environment.
    const text = String(compose.configs['tidemark-config'].content).replace(/\$\$/g, '$');
    const env = compose.services.tidemark.environment as Record<string, string>;
    const config = parseConfig(text, env, 'docker-compose.yml tidemark-config');
    expect(config.pipeline).toBe('compose_demo');
    expect(config.log).toMatchObject({ kind: 'kafka', brokers: ['kafka:29092'] });
    expect(config.offsets.kind).toBe('redis');
    expect(String(config.source.url)).toBe('postgres://tidemark:***@postgres:5432/tidemark');
  });
});
