import { gunzipSync } from 'node:zlib';
import { crc32c } from '../../../src/log/crc32c';
import { varintSize, writeVarint } from '../../../src/log/kafka-record-batch';

// kafkajs's own encoder and decoder, loaded before the fast produce module: with the record
// module already loaded, that module leaves kafkajs as it is, so these stay the originals.
const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0');
const { RecordBatch: kafkajsRecordBatch } = require('kafkajs/src/protocol/recordBatch/v0');
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C');
const Long = require('kafkajs/src/utils/long');
const { fastRecordBatch } = require('../../../src/log/kafkajs-fast-paths');
const { sizeRecord } = require('../../../src/log/kafka-record-batch');

const messages = [
  { key: Buffer.from('{"id":1}'), value: Buffer.from('{"after":{"id":1}}'), headers: { a: '0/16B3748:0' } },
  { key: null, value: Buffer.from('truncate'), headers: { 'tidemark.position': '0/1:1', v: '3' } },
  { key: 'tëxt key ✓', value: 'ünïcode value', headers: { multi: ['x', 'yy'], empty: '' } },
  { key: Buffer.alloc(0), value: null, headers: {} },
  { key: Buffer.from('big'), value: Buffer.alloc(70_000, 7), headers: undefined },
];

function batchArgs(records: unknown[], compression: number) {
  return {
    compression,
    records,
    firstTimestamp: 1_764_650_000_000,
    maxTimestamp: 1_764_650_000_123,
    producerId: Long.fromValue(4242),
    producerEpoch: 3,
    firstSequence: 1_000_001,
    transactional: false,
    lastOffsetDelta: records.length - 1,
  };
}

const deltas = (m: (typeof messages)[number], i: number) => ({
  ...m,
  offsetDelta: i * 300, // multi-byte varints
  timestampDelta: i === 2 ? -5 : i * 100_000,
});

describe('Kafka record batch encoder', () => {
  test('an uncompressed batch is byte for byte what kafkajs encodes', async () => {
    const theirs = await kafkajsRecordBatch(batchArgs(messages.map(deltas).map(kafkajsRecord), 0));
    const ours = await fastRecordBatch(batchArgs(messages.map(deltas).map(sizeRecord), 0));
    expect(ours.buf.equals(theirs.buffer)).toBe(true);
    expect(ours.size()).toBe(theirs.size());
  });

  test('a gzip batch holds the same records as kafkajs encodes, and a valid CRC', async () => {
    const theirs: Buffer = (await kafkajsRecordBatch(batchArgs(messages.map(deltas).map(kafkajsRecord), 1)))
      .buffer;
    const ours: Buffer = (await fastRecordBatch(batchArgs(messages.map(deltas).map(sizeRecord), 1))).buf;
    // Same header fields apart from the length and CRC (compressed bytes differ by level).
    expect(ours.subarray(12, 17).equals(theirs.subarray(12, 17))).toBe(true);
    expect(ours.subarray(21, 61).equals(theirs.subarray(21, 61))).toBe(true);
    expect(ours.readUInt32BE(17)).toBe(kafkajsCrc32c(ours.subarray(21)));
    expect(ours.readInt32BE(8)).toBe(ours.length - 12);
    expect(gunzipSync(ours.subarray(61)).equals(gunzipSync(theirs.subarray(61)))).toBe(true);
  });

  test('CRC-32C agrees with kafkajs on every length around the 8-byte stride', () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff));
    for (let n = 0; n <= 40; n++)
      expect(crc32c(data.subarray(0, n))).toBe(kafkajsCrc32c(data.subarray(0, n)));
    expect(crc32c(data)).toBe(kafkajsCrc32c(data));
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283); // the standard check value
  });

  test('varints: zigzag sizes and bytes, negative and past 32 bits', () => {
    const cases: Array<[number, number[]]> = [
      [0, [0]],
      [-1, [1]],
      [1, [2]],
      [63, [126]],
      [64, [128, 1]],
      [-65, [129, 1]],
      [300, [216, 4]],
    ];
    for (const [n, bytes] of cases) {
      const buf = Buffer.alloc(10);
      expect(writeVarint(buf, 0, n)).toBe(bytes.length);
      expect([...buf.subarray(0, bytes.length)]).toEqual(bytes);
      expect(varintSize(n)).toBe(bytes.length);
    }
    const big = 2 ** 40 + 5;
    expect(varintSize(big)).toBe(Math.ceil(Math.log2(big * 2 + 1) / 7));
  });
});

describe('Kafka record decoder', () => {
  const Decoder = require('kafkajs/src/protocol/decoder');
  const kafkajsRecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder');
  const { fastDecodeRecord } = require('../../../src/log/kafka-record-decoder');
  const records = [
    { key: Buffer.from('k'), value: Buffer.from('v'), headers: { a: '1', b: ['x', 'y', 'z'] } },
    { key: null, value: 'ünïcode', headers: {} },
    { key: 'k2', value: null, headers: { 'tidemark.position': '0/16B3748:12' } },
  ].map((m, i) => ({ ...m, offsetDelta: i * 200, timestampDelta: i === 1 ? -3 : i * 70_000 }));
  const contexts = [
    { firstOffset: '0', firstTimestamp: '1764650000000', magicByte: 2, timestampType: 0 },
    { firstOffset: '9007199254740990', firstTimestamp: '1764650000000', magicByte: 2, isControlBatch: true },
    { firstOffset: '42', firstTimestamp: '1', magicByte: 2, timestampType: 1, maxTimestamp: '1764650000999' },
  ];

  test('decodes what kafkajs decodes, field for field, offsets past 2^53 included', () => {
    for (const ctx of contexts) {
      for (const r of records) {
        const body = () => new Decoder(new Decoder(kafkajsRecord(r).buffer).readVarIntBytes());
        const ours = fastDecodeRecord(body(), ctx);
        expect(ours).toEqual(kafkajsRecordDecoder(body(), ctx));
      }
    }
    expect(
      fastDecodeRecord(
        new Decoder(new Decoder(kafkajsRecord(records[2]).buffer).readVarIntBytes()),
        contexts[1],
      ).offset,
    ).toBe('9007199254741390');
  });
});
