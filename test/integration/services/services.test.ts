import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { createTestDatabase, psql } from '../../support/services';

describe('the local services started by scripts/services', () => {
  it('PostgreSQL has logical WAL and can create a pgoutput slot', async () => {
    const db = await createTestDatabase('svc');
    try {
      expect((await psql<{ wal_level: string }>(db.url, 'SHOW wal_level'))[0]!.wal_level).toBe('logical');
      const slot = `svc_${randomUUID().slice(0, 8)}`;
      const [row] = await psql<{ plugin: string }>(db.url, `SELECT * FROM pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
      expect(row).toBeDefined();
      const slots = await psql<{ plugin: string }>(db.url, 'SELECT plugin FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      expect(slots).toEqual([{ plugin: 'pgoutput' }]);
      await psql(db.url, `SELECT pg_drop_replication_slot('${slot}')`);
    } finally {
      await db.drop();
    }
  });

  it('Redis stores and returns a value', async () => {
    const r = new Redis(process.env.TIDEMARK_REDIS_URL!);
    const key = `svc:${randomUUID()}`;
    await r.set(key, 'v', 'EX', 60);
    expect(await r.get(key)).toBe('v');
    await r.quit();
  });

  it('Kafka takes idempotent acks=all writes to a 3-partition topic and serves them back', async () => {
    const kafka = new Kafka({ brokers: process.env.TIDEMARK_KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
    const topic = `svc-${randomUUID().slice(0, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [0, 1, 2].map((p) => ({ partition: p, value: `m${p}` })) });
    await producer.disconnect();
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets.map((o) => Number(o.high)).sort()).toEqual([1, 1, 1]);
    const consumer = kafka.consumer({ groupId: `svc-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got = await new Promise<string[]>((resolve) => {
      const seen: string[] = [];
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value!.toString());
          if (seen.length === 3) resolve(seen.sort());
        },
      });
    });
    expect(got).toEqual(['m0', 'm1', 'm2']);
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  });
});
