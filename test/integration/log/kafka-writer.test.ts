import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { ChangeEvent, Op, Row } from '../../../src/core/change-event';
import type { TableSchema } from '../../../src/core/table-schema';
import { decodeEnvelope, NEW_KEY_HEADER, OLD_KEY_HEADER, POSITION_HEADER } from '../../../src/log/envelope';
import { KafkaChangeLogWriter } from '../../../src/log/kafka-writer';
import { readToEnd } from '../../../src/log/read-to-end';
import { SchemaRegistry } from '../../../src/log/schema-registry';
import { tableTopic, watermarkTopic } from '../../../src/log/topics';
import { decodeWatermark, type Watermark } from '../../../src/log/watermark';
import { silentLogger } from '../../../src/observe/logger';

const orders: TableSchema = {
  schema: 'public',
  table: 'orders',
  version: 1,
  primaryKey: ['id'],
  columns: [
    { name: 'id', attnum: 1, type: { kind: 'int32' }, pgType: 'integer', nullable: false },
    { name: 'note', attnum: 2, type: { kind: 'text' }, pgType: 'text', nullable: true },
  ],
};

function change(op: Op, lsn: bigint, seq: number, row: Row): ChangeEvent {
  return {
    op,
    table: { schema: 'public', table: 'orders' },
    position: { lsn, seq },
    txId: Number(lsn),
    commitTimeMs: 1000,
    schemaVersion: 1,
    before: op === 'd' || op === 'u' ? { id: row.id! } : null,
    after: op === 'd' || op === 't' ? null : row,
    unchanged: [],
    snapshot: false,
  };
}

describe('KafkaChangeLogWriter against a real broker', () => {
  const kafka = new Kafka({
    brokers: process.env.TIDEMARK_KAFKA_BROKERS!.split(','),
    logLevel: logLevel.NOTHING,
  });
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const watermarks: Watermark[] = [];
  const writer = new KafkaChangeLogWriter({
    kafka,
    topicPrefix: prefix,
    partitions: 3,
    replicationFactor: 1,
    compression: 'gzip',
    envelope: { name: prefix, db: 'app' },
    logger: silentLogger,
    onWatermark: async (w) => void watermarks.push(w),
  });
  afterAll(() => writer.close());

  it('stores envelopes in commit order per key, with positions in headers and exact watermarks', async () => {
    // GIVEN a table topic with 3 partitions and its schema published
    await writer.start();
    await writer.ensureTables([orders]);
    await writer.publishSchema(orders);

    // WHEN three transactions are appended without waiting, and a watermark is cut after the second
    const t1 = [change('c', 100n, 0, { id: 1, note: 'a' }), change('c', 100n, 1, { id: 2, note: 'b' })];
    const t2 = [change('u', 200n, 0, { id: 1, note: 'a2' }), change('t', 200n, 1, {})];
    const t3 = [change('c', 300n, 0, { id: 3, note: 'c' }), change('d', 300n, 1, { id: 2 })];
    await Promise.all([writer.append(t1), writer.append(t2), writer.append(t3)]);
    await writer.publishWatermark(200n);

    // THEN every event reads back equal, per partition in append order; the truncate is in every partition
    const registry = new SchemaRegistry(kafka, prefix);
    await registry.refresh();
    expect(registry.get('public', 'orders', 1)).toEqual(orders);
    const got: Array<{ partition: number; offset: number; ev: ChangeEvent; header: string }> = [];
    await readToEnd(kafka, [tableTopic(prefix, orders)], ({ partition, message }) => {
      got.push({
        partition,
        offset: Number(message.offset),
        ev: decodeEnvelope(message.value!, (s, t, v) => registry.get(s, t, v)),
        header: message.headers![POSITION_HEADER]!.toString(),
      });
    });
    expect(
      got
        .filter((g) => g.ev.op === 't')
        .map((g) => g.partition)
        .sort(),
    ).toEqual([0, 1, 2]);
    const keyed = got.filter((g) => g.ev.op !== 't');
    expect(
      keyed
        .map((g) => g.ev)
        .sort((a, b) => Number(a.position.lsn - b.position.lsn) || a.position.seq - b.position.seq),
    ).toEqual([...t1, t2[0]!, ...t3]);
    for (const p of [0, 1, 2]) {
      const inPartition = got.filter((g) => g.partition === p).sort((a, b) => a.offset - b.offset);
      const lsns = inPartition.map((g) => g.ev.position.lsn);
      expect(lsns).toEqual([...lsns].sort((a, b) => Number(a - b)));
    }
    expect(
      got.every((g) => g.header === `0/${g.ev.position.lsn.toString(16).toUpperCase()}#${g.ev.position.seq}`),
    ).toBe(true);

    // and the watermark names, per partition, the last offset holding a change <= 200
    const w = watermarks[0]!;
    expect(w.lsn).toBe(200n);
    const topic = tableTopic(prefix, orders);
    for (const p of [0, 1, 2]) {
      const upTo200 = got.filter((g) => g.partition === p && g.ev.position.lsn <= 200n).map((g) => g.offset);
      expect(w.offsets[topic]?.[p]).toBe(Math.max(...upTo200));
    }
    const onTopic: Watermark[] = [];
    await readToEnd(
      kafka,
      [watermarkTopic(prefix)],
      ({ message }) => void onTopic.push(decodeWatermark(message.value!.toString())),
    );
    expect(onTopic).toEqual([w]);
  });

  it('marks a key change as Debezium does: the delete names the new key, the create the old one', async () => {
    // GIVEN an update of key 2 to 5 (a delete and a create) and a plain insert, in one transaction
    const moved: ChangeEvent[] = [
      { ...change('d', 500n, 0, { id: 2 }), newKey: { id: 5 } },
      { ...change('c', 500n, 1, { id: 5, note: 'moved' }), before: { id: 2 } },
      change('c', 500n, 2, { id: 6, note: 'plain' }),
    ];
    // WHEN appended
    await writer.append(moved);
    // THEN the delete carries __debezium.newkey, the create __debezium.oldkey, the insert neither
    const byPosition = new Map<string, { newKey?: string; oldKey?: string }>();
    await readToEnd(kafka, [tableTopic(prefix, orders)], ({ message }) => {
      const h = message.headers!;
      byPosition.set(h[POSITION_HEADER]!.toString(), {
        newKey: h[NEW_KEY_HEADER]?.toString(),
        oldKey: h[OLD_KEY_HEADER]?.toString(),
      });
    });
    expect(byPosition.get('0/1F4#0')).toEqual({ newKey: '{"id":5}', oldKey: undefined });
    expect(byPosition.get('0/1F4#1')).toEqual({ newKey: undefined, oldKey: '{"id":2}' });
    expect(byPosition.get('0/1F4#2')).toEqual({ newKey: undefined, oldKey: undefined });
  });

  it('refuses an event whose schema version was never published', async () => {
    const ev = { ...change('c', 400n, 0, { id: 9, note: 'x' }), schemaVersion: 7 };
    await expect(writer.append([ev])).rejects.toThrow(/no schema version 7 published for public\.orders/);
  });

  it('sends a transaction larger than the broker takes in one batch, uncompressed, in order', async () => {
    // GIVEN an uncompressed writer (the broker refuses any partition batch over 1 MiB)
    const plain = new KafkaChangeLogWriter({
      kafka,
      topicPrefix: `${prefix}plain`,
      partitions: 2,
      replicationFactor: 1,
      compression: 'none',
      envelope: { name: prefix, db: 'app' },
      logger: silentLogger,
    });
    try {
      await plain.start();
      await plain.ensureTables([orders]);
      await plain.publishSchema(orders);
      // WHEN one append carries 6,000 changes of about 1 KB (about 3 MB per partition)
      const note = 'x'.repeat(1000);
      const big = Array.from({ length: 6000 }, (_, i) => change('c', 500n, i, { id: i, note }));
      await plain.append(big);
      // THEN all of them are in Kafka, each partition in position order
      const seen: Array<{ partition: number; offset: number; seq: number }> = [];
      const registry = new SchemaRegistry(kafka, `${prefix}plain`);
      await registry.refresh();
      await readToEnd(kafka, [tableTopic(`${prefix}plain`, orders)], ({ partition, message }) => {
        const ev = decodeEnvelope(message.value!, (s, t, v) => registry.get(s, t, v));
        seen.push({ partition, offset: Number(message.offset), seq: ev.position.seq });
      });
      expect(seen).toHaveLength(6000);
      for (const p of [0, 1]) {
        const seqs = seen
          .filter((x) => x.partition === p)
          .sort((a, b) => a.offset - b.offset)
          .map((x) => x.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    } finally {
      await plain.close();
    }
  });
});
