import Module from 'node:module';
import { promisify } from 'node:util';
import { gzip, unzip } from 'node:zlib';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { TidemarkError } from '../core/errors';
import {
  encodeBatch,
  encodeRecords,
  type RecordInput,
  type SizedRecord,
  sizeRecord,
} from './kafka-record-batch';
import { fastDecodeRecord } from './kafka-record-decoder';
import { produceRequestV3 } from './kafkajs-produce-request';

/**
 * kafkajs's produce and fetch paths, made cheaper without changing a byte on the wire or a field
 * of what consumers get (kafkajs is unmaintained, so its modules are replaced rather than fixed
 * upstream):
 * - Record() returns a sized record instead of encoding it into its own Encoder, and
 *   RecordBatch() writes all of a batch's records into one buffer (kafka-record-batch.ts);
 * - the produce request (v3, under v4 to v7) sizes records from the messages without copying
 *   each into a new object first (kafkajs-produce-request.ts);
 * - gzip runs at level 1: on a CPU-bound source the few % of bytes level 6 saves on JSON
 *   envelopes cost about three times the compression time;
 * - fetched records are decoded without BigInt arithmetic (kafka-record-decoder.ts).
 * Imported before kafkajs's request modules load (it requires them lazily, at the first produce
 * or fetch); the broker checks every batch's CRC, so a wrong encoding cannot pass silently. The
 * e2e tests run through these (a test runner with a module system of its own keeps kafkajs's).
 */
interface KafkajsLong {
  value: bigint;
}
interface BatchArgs {
  compression?: number;
  firstOffset?: KafkajsLong;
  firstTimestamp?: number;
  maxTimestamp?: number;
  partitionLeaderEpoch?: number;
  lastOffsetDelta?: number;
  transactional?: boolean;
  producerId?: KafkajsLong;
  producerEpoch?: number;
  firstSequence?: number;
  records?: SizedRecord[];
}
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const COMPRESSION_CODEC_MASK = 0x07;
const TRANSACTIONAL_MASK = 0x10;
const gzipAsync = promisify(gzip);
const unzipAsync = promisify(unzip);

const fastGzip: Codec = {
  compress: (encoder) => gzipAsync(encoder.buffer, { level: 1 }),
  decompress: (buffer) => unzipAsync(buffer),
};

/** The codec kafkajs holds for `compression` (gzip: ours once installed); log.compression allows none and gzip. */
function lookupCodec(compression: number): Codec {
  const make = (CompressionCodecs as Record<number, (() => Codec) | undefined>)[compression];
  if (!make)
    throw new TidemarkError('config', `Kafka compression codec ${compression} is not available`, {
      fix: 'set log.compression to gzip or none',
    });
  return make();
}

type EncoderLike = { buf: Buffer; buffer: Buffer; size(): number };
let kafkajsRecordBatch: ((a: BatchArgs) => Promise<EncoderLike>) | null = null;

export async function fastRecordBatch(a: BatchArgs): Promise<EncoderLike> {
  const compression = a.compression ?? CompressionTypes.None;
  const records = a.records ?? [];
  // Records kafkajs encoded itself (its Record module loaded before ours): its own batch code.
  if (kafkajsRecordBatch && records.some((r) => r.sizedRecord !== true)) return kafkajsRecordBatch(a);
  let body = encodeRecords(records);
  if (compression !== CompressionTypes.None) body = await lookupCodec(compression).compress({ buffer: body });
  const now = Date.now();
  const buf = encodeBatch(
    {
      attributes: (compression & COMPRESSION_CODEC_MASK) | (a.transactional ? TRANSACTIONAL_MASK : 0),
      lastOffsetDelta: a.lastOffsetDelta ?? 0,
      firstTimestamp: a.firstTimestamp ?? now,
      maxTimestamp: a.maxTimestamp ?? now,
      producerId: a.producerId?.value ?? -1n,
      producerEpoch: a.producerEpoch ?? 0,
      firstSequence: a.firstSequence ?? 0,
      partitionLeaderEpoch: a.partitionLeaderEpoch ?? 0,
      firstOffset: a.firstOffset?.value ?? 0n,
      recordCount: records.length,
    },
    body,
  );
  // The produce request takes it as an Encoder: it checks `buf`, then reads `buffer` and size().
  return { buf, buffer: buf, size: () => buf.length };
}

/** Puts `exports` in the require cache as the module at `path`; false where that has no effect. */
function replaceModule(path: string, exports: unknown): boolean {
  const m = new Module(path);
  m.filename = path;
  m.loaded = true;
  m.exports = exports;
  require.cache[path] = m;
  // A module system of its own (jest's) ignores require.cache.
  return require(path) === exports;
}

function installFastFetch(): void {
  let recordDecoderPath: string;
  let batchDecoderPath: string;
  try {
    recordDecoderPath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder');
    batchDecoderPath = require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder');
  } catch {
    return;
  }
  // The batch decoder holds the record decoder from its own load on: too late after that.
  if (require.cache[batchDecoderPath] || require.cache[recordDecoderPath]) return;
  replaceModule(recordDecoderPath, fastDecodeRecord);
}

function install(): void {
  let recordPath: string;
  let batchPath: string;
  try {
    recordPath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0');
    batchPath = require.resolve('kafkajs/src/protocol/recordBatch/v0');
  } catch {
    return; // kafkajs laid out differently: keep its own encoder
  }
  const producePath = require.resolve('kafkajs/src/protocol/requests/produce/v3/request');
  // Too late once the produce request module holds kafkajs's own functions; both or neither.
  if (require.cache[producePath] || require.cache[recordPath]) return;
  // Where the cache has no effect (jest), kafkajs stays whole: both functions or neither.
  if (!replaceModule(recordPath, (r: RecordInput) => sizeRecord(r))) return;
  const batchModule = require(batchPath) as { RecordBatch: (a: BatchArgs) => Promise<EncoderLike> };
  kafkajsRecordBatch = batchModule.RecordBatch;
  batchModule.RecordBatch = fastRecordBatch;
  // The request itself, so that it sizes records without copying each message first.
  replaceModule(
    producePath,
    produceRequestV3(
      require('kafkajs/src/protocol/encoder'),
      require('kafkajs/src/utils/long'),
      (require('kafkajs/src/protocol/requests/apiKeys') as { Produce: number }).Produce,
      fastRecordBatch as never,
    ),
  );
  (CompressionCodecs as Record<number, () => Codec>)[CompressionTypes.GZIP] = () => fastGzip;
}

install();
installFastFetch();
